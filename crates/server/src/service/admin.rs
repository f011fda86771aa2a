//! Administration (both interfaces may call it; the HTTPS API does): identities, roles,
//! approval groups, issuance policies, Host API commands, settings, and reading and verifying
//! the audit log.
//!
//! Every function takes the [`Caller`], checks the permission it needs first (an
//! administrator role with logins-required 2 grants nothing until a second administrator has
//! logged in on the same session), validates, and commits its change together with an audit
//! event. Refusals of a permission are audited too.

use std::collections::BTreeSet;

use sigil_domain::audit::ChainBreak;
use sigil_domain::identity::API_KEY_LABEL_MAX;
use sigil_domain::store::MAX_PAGE;
use sigil_domain::{
    ApprovalGroup, AuditDraft, AuditEvent, CertProfile, ChainHead, ChainVerifier, Change,
    CommandCode, GroupName, HashAlgorithm, Identity, IdentityKind, IdentityName, IssuancePolicy,
    NewApiKey, Outcome, PasswordParams, Permission, PolicyAlias, PolicyDraft, Role, RoleName,
    RsaScheme, SerialNumber, Settings, SigningFormat, generate_api_key, hash_password,
};
use zeroize::Zeroizing;

use crate::paths::generate_password;
use crate::service::ServiceError;
use crate::service::authorize::{Caller, audit, authorize};
use crate::service::operations;
use crate::state::AppState;

/// Length of generated identity passwords (letters and digits, about 143 bits).
pub const GENERATED_PASSWORD_LEN: usize = 24;

/// Hashes a password off the async runtime (argon2id is deliberately slow).
pub async fn hash_password_blocking(
    password: Zeroizing<String>,
    params: PasswordParams,
) -> Result<sigil_domain::PasswordHash, ServiceError> {
    tokio::task::spawn_blocking(move || {
        hash_password(password.as_bytes(), &params, &mut rand::rng())
    })
    .await
    .map_err(|e| ServiceError::internal(format!("password hashing task failed: {e}")))?
    .map_err(|e| ServiceError::Invalid(e.to_string()))
}

// ---- identities ---------------------------------------------------------------------------

/// A new identity.
#[derive(Debug)]
pub struct NewIdentity {
    /// Name.
    pub name: IdentityName,
    /// Person or application.
    pub kind: IdentityKind,
    /// Roles (each must exist).
    pub roles: BTreeSet<RoleName>,
    /// The password; `None` generates one (returned once).
    pub password: Option<Zeroizing<String>>,
    /// Bind the identity to a client certificate whose CN is its name.
    pub require_client_certificate: bool,
}

/// A created identity and, when the server generated it, its password (show it once).
#[derive(Debug)]
pub struct CreatedIdentity {
    /// The stored identity.
    pub identity: Identity,
    /// The generated password.
    pub generated_password: Option<Zeroizing<String>>,
}

/// Changes to an identity; `None` keeps a field.
#[derive(Debug, Default)]
pub struct IdentityUpdate {
    /// New role set.
    pub roles: Option<BTreeSet<RoleName>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// Client-certificate binding.
    pub require_client_certificate: Option<bool>,
}

async fn check_roles_exist(
    state: &AppState,
    roles: &BTreeSet<RoleName>,
) -> Result<(), ServiceError> {
    for role in roles {
        if state.store.get_role(role).await?.is_none() {
            return Err(ServiceError::Invalid(format!(
                "role {role} does not exist: create it first or list roles with GET /api/v1/roles"
            )));
        }
    }
    Ok(())
}

async fn load_identity(state: &AppState, name: &IdentityName) -> Result<Identity, ServiceError> {
    state
        .store
        .get_identity(name)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("identity {name}")))
}

/// All identities (`admin:identities`).
pub async fn list_identities(
    state: &AppState,
    session: &Caller<'_>,
) -> Result<Vec<Identity>, ServiceError> {
    authorize(state, session, &operations::IDENTITY_LIST).await?;
    Ok(state.store.list_identities().await?)
}

/// One identity (`admin:identities`).
pub async fn get_identity(
    state: &AppState,
    session: &Caller<'_>,
    name: &IdentityName,
) -> Result<Identity, ServiceError> {
    authorize(state, session, &operations::IDENTITY_SHOW).await?;
    load_identity(state, name).await
}

/// Creates an identity (`admin:identities`). The password is never logged or audited.
pub async fn create_identity(
    state: &AppState,
    session: &Caller<'_>,
    args: NewIdentity,
) -> Result<CreatedIdentity, ServiceError> {
    authorize(state, session, &operations::IDENTITY_CREATE).await?;
    check_roles_exist(state, &args.roles).await?;
    let (password, generated) = match args.password {
        Some(password) => (password, false),
        None => (generate_password(GENERATED_PASSWORD_LEN), true),
    };
    let hash = hash_password_blocking(password.clone(), state.password_params).await?;
    let mut identity = Identity::new(args.name, args.kind);
    identity.roles = args.roles;
    identity.password = Some(hash);
    identity.require_client_certificate = args.require_client_certificate;
    let draft = audit(state, session, "identity.create", Outcome::Success)
        .object(identity.name.as_str())
        .detail("kind", identity.kind.as_str())
        .detail("roles", &join(&identity.roles))
        .detail(
            "require_client_certificate",
            &identity.require_client_certificate.to_string(),
        )
        .detail("password", if generated { "generated" } else { "given" });
    state
        .store
        .commit(
            vec![Change::CreateIdentity(Box::new(identity.clone()))],
            draft,
        )
        .await?;
    Ok(CreatedIdentity {
        identity,
        generated_password: generated.then_some(password),
    })
}

/// Changes an identity's roles, enabled flag or certificate binding (`admin:identities`).
pub async fn update_identity(
    state: &AppState,
    session: &Caller<'_>,
    name: &IdentityName,
    update: IdentityUpdate,
) -> Result<Identity, ServiceError> {
    authorize(state, session, &operations::IDENTITY_UPDATE).await?;
    let mut identity = load_identity(state, name).await?;
    let mut draft =
        audit(state, session, "identity.update", Outcome::Success).object(name.as_str());
    if let Some(roles) = update.roles {
        check_roles_exist(state, &roles).await?;
        draft = draft.detail("roles", &join(&roles));
        identity.roles = roles;
    }
    if let Some(enabled) = update.enabled {
        draft = draft.detail("enabled", &enabled.to_string());
        identity.enabled = enabled;
    }
    if let Some(bind) = update.require_client_certificate {
        draft = draft.detail("require_client_certificate", &bind.to_string());
        identity.require_client_certificate = bind;
    }
    keep_administrable(state, Some((&identity, false)), None).await?;
    state
        .store
        .commit(
            vec![Change::UpdateIdentity(Box::new(identity.clone()))],
            draft,
        )
        .await?;
    Ok(identity)
}

/// Deletes an identity with its API keys and group memberships (`admin:identities`). An
/// identity cannot delete itself (that would end the ceremony that authorised it).
pub async fn delete_identity(
    state: &AppState,
    session: &Caller<'_>,
    name: &IdentityName,
) -> Result<(), ServiceError> {
    authorize(state, session, &operations::IDENTITY_DELETE).await?;
    if session.has_identity(name) {
        return Err(ServiceError::Conflict(format!(
            "identity {name} is logged in on this session: another administrator must delete it"
        )));
    }
    let existing = load_identity(state, name).await?;
    keep_administrable(state, Some((&existing, true)), None).await?;
    let draft = audit(state, session, "identity.delete", Outcome::Success).object(name.as_str());
    state
        .store
        .commit(vec![Change::DeleteIdentity(name.clone())], draft)
        .await?;
    Ok(())
}

/// Clears an identity's lockout and failure counter (`admin:identities`).
pub async fn unlock_identity(
    state: &AppState,
    session: &Caller<'_>,
    name: &IdentityName,
) -> Result<Identity, ServiceError> {
    authorize(state, session, &operations::IDENTITY_UNLOCK).await?;
    let mut identity = load_identity(state, name).await?;
    identity.unlock();
    let draft = audit(state, session, "identity.unlock", Outcome::Success).object(name.as_str());
    state
        .store
        .commit(
            vec![Change::UpdateIdentity(Box::new(identity.clone()))],
            draft,
        )
        .await?;
    Ok(identity)
}

/// Sets an identity's password (`admin:identities`); `None` generates one, which is returned.
pub async fn set_password(
    state: &AppState,
    session: &Caller<'_>,
    name: &IdentityName,
    password: Option<Zeroizing<String>>,
) -> Result<Option<Zeroizing<String>>, ServiceError> {
    authorize(state, session, &operations::IDENTITY_PASSWORD).await?;
    let mut identity = load_identity(state, name).await?;
    let (password, generated) = match password {
        Some(password) => (password, false),
        None => (generate_password(GENERATED_PASSWORD_LEN), true),
    };
    identity.password =
        Some(hash_password_blocking(password.clone(), state.password_params).await?);
    let draft = audit(state, session, "identity.password", Outcome::Success)
        .object(name.as_str())
        .detail("password", if generated { "generated" } else { "given" });
    state
        .store
        .commit(vec![Change::UpdateIdentity(Box::new(identity))], draft)
        .await?;
    Ok(generated.then_some(password))
}

/// Creates an API key for an identity (`admin:identities`); the token is returned once and
/// only its hash is stored.
pub async fn create_api_key(
    state: &AppState,
    session: &Caller<'_>,
    name: &IdentityName,
    label: &str,
) -> Result<NewApiKey, ServiceError> {
    authorize(state, session, &operations::IDENTITY_API_KEY).await?;
    if label.len() > API_KEY_LABEL_MAX {
        return Err(ServiceError::Invalid(format!(
            "API key label is {} bytes: use at most {API_KEY_LABEL_MAX}",
            label.len()
        )));
    }
    load_identity(state, name).await?;
    let key = generate_api_key(name.clone(), label, state.now(), &mut rand::rng());
    let draft = audit(state, session, "identity.api-key", Outcome::Success)
        .object(name.as_str())
        .detail("key_id", key.record.id.as_str())
        .detail("label", label);
    state
        .store
        .commit(vec![Change::AddApiKey(key.record.clone())], draft)
        .await?;
    Ok(key)
}

/// Whether some role granting `admin:roles` on HTTPS is held by enough enabled identities to
/// be activated: a change that breaks this would leave nobody able to administer roles.
pub fn administrable(roles: &[Role], identities: &[Identity]) -> bool {
    roles.iter().any(|role| {
        role.grants(Permission::AdminRoles)
            && role.allows(sigil_domain::Interface::Https)
            && identities
                .iter()
                .filter(|i| i.enabled && i.roles.contains(role.name()))
                .count()
                >= role.logins_required() as usize
    })
}

/// Refuses a change after which the deployment could no longer be administered. `identity`
/// replaces (or, with `deleted`, removes) the stored identity of that name; `role` replaces
/// the stored role of that name.
async fn keep_administrable(
    state: &AppState,
    identity: Option<(&Identity, bool)>,
    role: Option<&Role>,
) -> Result<(), ServiceError> {
    let mut identities = state.store.list_identities().await?;
    let mut roles = state.store.list_roles().await?;
    let before = administrable(&roles, &identities);
    if let Some((changed, deleted)) = identity {
        identities.retain(|i| i.name != changed.name);
        if !deleted {
            identities.push(changed.clone());
        }
    }
    if let Some(changed) = role {
        roles.retain(|r| r.name() != changed.name());
        roles.push(changed.clone());
    }
    // A deployment that was not administrable may be repaired step by step.
    if before && !administrable(&roles, &identities) {
        return Err(ServiceError::Conflict(
            "refused: after this change no role granting admin:roles on https would have enough enabled identities to log in (the deployment could no longer be administered); add another administrator first".to_owned(),
        ));
    }
    Ok(())
}

// ---- roles --------------------------------------------------------------------------------

async fn load_role(state: &AppState, name: &RoleName) -> Result<Role, ServiceError> {
    state
        .store
        .get_role(name)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("role {name}")))
}

fn role_audit(draft: AuditDraft, role: &Role) -> AuditDraft {
    draft
        .object(role.name().as_str())
        .detail("type", role.role_type().as_str())
        .detail("logins_required", &role.logins_required().to_string())
        .detail("permissions", &join(role.permissions()))
        .detail("interfaces", &join(role.interfaces()))
}

/// All roles (`admin:roles`).
pub async fn list_roles(state: &AppState, session: &Caller<'_>) -> Result<Vec<Role>, ServiceError> {
    authorize(state, session, &operations::ROLE_LIST).await?;
    Ok(state.store.list_roles().await?)
}

/// Creates a role (`admin:roles`).
pub async fn create_role(
    state: &AppState,
    session: &Caller<'_>,
    role: Role,
) -> Result<Role, ServiceError> {
    authorize(state, session, &operations::ROLE_CREATE).await?;
    let draft = role_audit(
        audit(state, session, "role.create", Outcome::Success),
        &role,
    );
    state
        .store
        .commit(vec![Change::CreateRole(role.clone())], draft)
        .await?;
    Ok(role)
}

/// Replaces a role's definition (`admin:roles`). Sessions already open keep the definition
/// they logged in with.
pub async fn update_role(
    state: &AppState,
    session: &Caller<'_>,
    role: Role,
) -> Result<Role, ServiceError> {
    authorize(state, session, &operations::ROLE_UPDATE).await?;
    load_role(state, role.name()).await?;
    keep_administrable(state, None, Some(&role)).await?;
    let draft = role_audit(
        audit(state, session, "role.update", Outcome::Success),
        &role,
    );
    state
        .store
        .commit(vec![Change::UpdateRole(role.clone())], draft)
        .await?;
    Ok(role)
}

/// Deletes a role no identity holds (`admin:roles`).
pub async fn delete_role(
    state: &AppState,
    session: &Caller<'_>,
    name: &RoleName,
) -> Result<(), ServiceError> {
    authorize(state, session, &operations::ROLE_DELETE).await?;
    load_role(state, name).await?;
    let holders: Vec<String> = state
        .store
        .list_identities()
        .await?
        .into_iter()
        .filter(|i| i.roles.contains(name))
        .map(|i| i.name.to_string())
        .collect();
    if !holders.is_empty() {
        return Err(ServiceError::Conflict(format!(
            "role {name} is held by {}: remove it from them first",
            holders.join(", ")
        )));
    }
    let draft = audit(state, session, "role.delete", Outcome::Success).object(name.as_str());
    state
        .store
        .commit(vec![Change::DeleteRole(name.clone())], draft)
        .await?;
    Ok(())
}

// ---- commands and settings ----------------------------------------------------------------

/// Host API commands and whether each is enabled (`admin:commands`). `known` lists the
/// commands the server implements; enabled codes the server does not know are listed too.
pub async fn list_commands(
    state: &AppState,
    session: &Caller<'_>,
    known: &[CommandCode],
) -> Result<Vec<(CommandCode, bool)>, ServiceError> {
    authorize(state, session, &operations::COMMAND_LIST).await?;
    let enabled = state.store.enabled_commands().await?;
    let mut all: BTreeSet<CommandCode> = known.iter().copied().collect();
    all.extend(enabled.iter().copied());
    Ok(all
        .into_iter()
        .map(|code| (code, enabled.contains(&code)))
        .collect())
}

/// Enables or disables a Host API command (`admin:commands`).
pub async fn set_command(
    state: &AppState,
    session: &Caller<'_>,
    code: CommandCode,
    enabled: bool,
) -> Result<(), ServiceError> {
    authorize(state, session, &operations::COMMAND_SET).await?;
    let draft = audit(state, session, "command.set", Outcome::Success)
        .object(code.as_str())
        .detail("enabled", &enabled.to_string());
    state
        .store
        .commit(vec![Change::SetCommandEnabled { code, enabled }], draft)
        .await?;
    Ok(())
}

/// The settings (`admin:settings`).
pub async fn get_settings(
    state: &AppState,
    session: &Caller<'_>,
) -> Result<Settings, ServiceError> {
    authorize(state, session, &operations::SETTINGS_SHOW).await?;
    Ok(state.store.settings().await?)
}

/// Changes to the settings; `None` keeps a value.
#[derive(Debug, Default, Clone)]
pub struct SettingsUpdate {
    /// Allow exporting private keys as password-protected PKCS#12.
    pub allow_export_with_password: Option<bool>,
    /// Failed logins before lockout.
    pub lockout_threshold: Option<u32>,
    /// The time-stamping certificate: `Some(None)` disables the TSA.
    pub timestamp_certificate: Option<Option<SerialNumber>>,
}

/// Changes settings (`admin:settings`).
pub async fn update_settings(
    state: &AppState,
    session: &Caller<'_>,
    update: SettingsUpdate,
) -> Result<Settings, ServiceError> {
    authorize(state, session, &operations::SETTINGS_UPDATE).await?;
    let mut settings = state.store.settings().await?;
    if let Some(allow) = update.allow_export_with_password {
        settings.allow_export_with_password = allow;
    }
    if let Some(threshold) = update.lockout_threshold {
        settings.lockout_threshold = threshold;
    }
    if let Some(serial) = update.timestamp_certificate {
        // A certificate that cannot sign time-stamps now is refused here rather than on the
        // first client's request.
        if let Some(serial) = &serial {
            crate::service::timestamp::check_certificate(state, serial).await?;
        }
        settings.timestamp_certificate = serial;
    }
    settings
        .validate()
        .map_err(|e| ServiceError::Invalid(e.to_string()))?;
    let mut draft = audit(state, session, "settings.update", Outcome::Success);
    for (key, value) in settings.to_pairs() {
        draft = draft.detail(key, &value);
    }
    state
        .store
        .commit(vec![Change::PutSettings(settings.clone())], draft)
        .await?;
    Ok(settings)
}

// ---- approval groups ----------------------------------------------------------------------

async fn check_members(state: &AppState, group: &ApprovalGroup) -> Result<(), ServiceError> {
    if group.members.len() > sigil_domain::group::MAX_GROUP_MEMBERS {
        return Err(ServiceError::Invalid(format!(
            "group {} has {} members: at most {} are allowed",
            group.name,
            group.members.len(),
            sigil_domain::group::MAX_GROUP_MEMBERS
        )));
    }
    for member in &group.members {
        if state.store.get_identity(member).await?.is_none() {
            return Err(ServiceError::Invalid(format!(
                "identity {member} does not exist: create it before adding it to a group"
            )));
        }
    }
    Ok(())
}

/// All approval groups (`admin:groups`).
pub async fn list_groups(
    state: &AppState,
    session: &Caller<'_>,
) -> Result<Vec<ApprovalGroup>, ServiceError> {
    authorize(state, session, &operations::GROUP_LIST).await?;
    Ok(state.store.list_groups().await?)
}

/// Creates an approval group (`admin:groups`).
pub async fn create_group(
    state: &AppState,
    session: &Caller<'_>,
    group: ApprovalGroup,
) -> Result<ApprovalGroup, ServiceError> {
    authorize(state, session, &operations::GROUP_CREATE).await?;
    check_members(state, &group).await?;
    let draft = audit(state, session, "group.create", Outcome::Success)
        .object(group.name.as_str())
        .detail("members", &join(&group.members));
    state
        .store
        .commit(vec![Change::CreateGroup(group.clone())], draft)
        .await?;
    Ok(group)
}

/// Replaces a group's members (`admin:groups`).
pub async fn update_group(
    state: &AppState,
    session: &Caller<'_>,
    group: ApprovalGroup,
) -> Result<ApprovalGroup, ServiceError> {
    authorize(state, session, &operations::GROUP_UPDATE).await?;
    if state.store.get_group(&group.name).await?.is_none() {
        return Err(ServiceError::NotFound(format!("group {}", group.name)));
    }
    check_members(state, &group).await?;
    let draft = audit(state, session, "group.update", Outcome::Success)
        .object(group.name.as_str())
        .detail("members", &join(&group.members));
    state
        .store
        .commit(vec![Change::UpdateGroup(group.clone())], draft)
        .await?;
    Ok(group)
}

/// Deletes a group no policy names (`admin:groups`).
pub async fn delete_group(
    state: &AppState,
    session: &Caller<'_>,
    name: &GroupName,
) -> Result<(), ServiceError> {
    authorize(state, session, &operations::GROUP_DELETE).await?;
    if state.store.get_group(name).await?.is_none() {
        return Err(ServiceError::NotFound(format!("group {name}")));
    }
    let users: Vec<String> = state
        .store
        .list_policies()
        .await?
        .into_iter()
        .filter(|p| p.approval_group() == Some(name))
        .map(|p| p.alias().to_string())
        .collect();
    if !users.is_empty() {
        return Err(ServiceError::Conflict(format!(
            "group {name} approves for policies {}: change or delete them first",
            users.join(", ")
        )));
    }
    let draft = audit(state, session, "group.delete", Outcome::Success).object(name.as_str());
    state
        .store
        .commit(vec![Change::DeleteGroup(name.clone())], draft)
        .await?;
    Ok(())
}

// ---- issuance policies --------------------------------------------------------------------

/// A new issuance policy; the key comes from the certificate.
#[derive(Debug, Clone)]
pub struct NewPolicy {
    /// Alias.
    pub alias: PolicyAlias,
    /// Serial of a code-signing certificate with a Sigil-held key.
    pub certificate: SerialNumber,
    /// RSA scheme.
    pub rsa_scheme: RsaScheme,
    /// Approvals required (0 = signed at once).
    pub approvals_required: u32,
    /// Approval group (required when approvals are).
    pub approval_group: Option<GroupName>,
    /// Allowed hashes (at least one).
    pub hashes: BTreeSet<HashAlgorithm>,
    /// Allowed formats (at least one).
    pub formats: BTreeSet<SigningFormat>,
    /// Request lifetime in seconds.
    pub request_lifetime_secs: u32,
    /// Roles whose sessions may use the policy (each must exist).
    pub roles: BTreeSet<RoleName>,
    /// Every signature carries a time-stamp from Sigil's TSA (which must be enabled).
    pub timestamp_required: bool,
}

/// Validates a policy against the store: the certificate exists, is a valid code-signing
/// certificate with a Sigil-held key and not revoked; the group and roles exist.
async fn validate_policy(
    state: &AppState,
    args: NewPolicy,
) -> Result<IssuancePolicy, ServiceError> {
    let certificate = state
        .store
        .get_certificate(&args.certificate)
        .await?
        .ok_or_else(|| {
            ServiceError::Invalid(format!(
                "certificate {} does not exist: issue a code-signing certificate first (POST /api/v1/certificates)",
                args.certificate
            ))
        })?;
    let key_id = certificate.key_id.ok_or_else(|| {
        ServiceError::Invalid(format!(
            "certificate {} has no Sigil-held key: issue one with a generated key (key_algorithm) to sign with it",
            args.certificate
        ))
    })?;
    if certificate.profile != CertProfile::CodeSigning {
        return Err(ServiceError::Invalid(format!(
            "certificate {} has profile {}: policies sign with code-signing certificates",
            args.certificate, certificate.profile
        )));
    }
    if certificate.revocation.is_some() {
        return Err(ServiceError::Invalid(format!(
            "certificate {} is revoked: issue a new one",
            args.certificate
        )));
    }
    if certificate.not_after <= state.now() {
        return Err(ServiceError::Invalid(format!(
            "certificate {} expired on {}: issue a new one",
            args.certificate, certificate.not_after
        )));
    }
    if let Some(group) = &args.approval_group
        && state.store.get_group(group).await?.is_none()
    {
        return Err(ServiceError::Invalid(format!(
            "approval group {group} does not exist: create it first (POST /api/v1/groups)"
        )));
    }
    check_roles_exist(state, &args.roles).await?;
    if args.timestamp_required
        && let Err(e) = crate::service::timestamp::available(state).await
    {
        let ServiceError::Invalid(why) = e else {
            return Err(e);
        };
        return Err(ServiceError::Invalid(format!(
            "policy {} requires time-stamps, but the server's time-stamping authority is not usable ({why}): enable it first (sigil settings set --timestamp-certificate SERIAL)",
            args.alias
        )));
    }
    IssuancePolicy::new(PolicyDraft {
        alias: args.alias,
        certificate: args.certificate,
        key_id,
        rsa_scheme: args.rsa_scheme,
        approvals_required: args.approvals_required,
        approval_group: args.approval_group,
        hashes: args.hashes,
        formats: args.formats,
        request_lifetime_secs: args.request_lifetime_secs,
        roles: args.roles,
        timestamp_required: args.timestamp_required,
    })
    .map_err(|e| ServiceError::Invalid(e.to_string()))
}

/// All policies (`admin:policies`).
pub async fn list_policies(
    state: &AppState,
    session: &Caller<'_>,
) -> Result<Vec<IssuancePolicy>, ServiceError> {
    authorize(state, session, &operations::POLICY_LIST).await?;
    Ok(state.store.list_policies().await?)
}

/// One policy (`admin:policies`).
pub async fn get_policy(
    state: &AppState,
    session: &Caller<'_>,
    alias: &PolicyAlias,
) -> Result<IssuancePolicy, ServiceError> {
    authorize(state, session, &operations::POLICY_SHOW).await?;
    state
        .store
        .get_policy(alias)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("policy {alias}")))
}

/// Creates an issuance policy (`admin:policies`).
pub async fn create_policy(
    state: &AppState,
    session: &Caller<'_>,
    args: NewPolicy,
) -> Result<IssuancePolicy, ServiceError> {
    authorize(state, session, &operations::POLICY_CREATE).await?;
    let policy = validate_policy(state, args).await?;
    let draft = policy_audit(
        audit(state, session, "policy.create", Outcome::Success),
        &policy,
    );
    state
        .store
        .commit(vec![Change::CreatePolicy(Box::new(policy.clone()))], draft)
        .await?;
    Ok(policy)
}

/// Replaces a policy's definition (`admin:policies`), validated as on creation. Requests
/// already submitted keep the approvals and group they were created with.
pub async fn update_policy(
    state: &AppState,
    session: &Caller<'_>,
    args: NewPolicy,
) -> Result<IssuancePolicy, ServiceError> {
    authorize(state, session, &operations::POLICY_UPDATE).await?;
    if state.store.get_policy(&args.alias).await?.is_none() {
        return Err(ServiceError::NotFound(format!("policy {}", args.alias)));
    }
    let policy = validate_policy(state, args).await?;
    let draft = policy_audit(
        audit(state, session, "policy.update", Outcome::Success),
        &policy,
    );
    state
        .store
        .commit(vec![Change::UpdatePolicy(Box::new(policy.clone()))], draft)
        .await?;
    Ok(policy)
}

fn policy_audit(draft: AuditDraft, policy: &IssuancePolicy) -> AuditDraft {
    let d = policy.draft();
    draft
        .object(d.alias.as_str())
        .detail("certificate", d.certificate.as_str())
        .detail("approvals_required", &d.approvals_required.to_string())
        .detail(
            "approval_group",
            d.approval_group.as_ref().map_or("", GroupName::as_str),
        )
        .detail("hashes", &join(d.hashes.iter().map(|h| h.name())))
        .detail("formats", &join(&d.formats))
        .detail("roles", &join(&d.roles))
        .detail("timestamp_required", &d.timestamp_required.to_string())
}

/// Deletes a policy no request refers to (`admin:policies`).
pub async fn delete_policy(
    state: &AppState,
    session: &Caller<'_>,
    alias: &PolicyAlias,
) -> Result<(), ServiceError> {
    authorize(state, session, &operations::POLICY_DELETE).await?;
    if state.store.get_policy(alias).await?.is_none() {
        return Err(ServiceError::NotFound(format!("policy {alias}")));
    }
    let draft = audit(state, session, "policy.delete", Outcome::Success).object(alias.as_str());
    state
        .store
        .commit(vec![Change::DeletePolicy(alias.clone())], draft)
        .await?;
    Ok(())
}

// ---- audit --------------------------------------------------------------------------------

/// Up to `limit` audit events from sequence number `from` (`audit:read`).
pub async fn read_audit(
    state: &AppState,
    session: &Caller<'_>,
    from: u64,
    limit: u32,
) -> Result<Vec<AuditEvent>, ServiceError> {
    authorize(state, session, &operations::AUDIT_READ).await?;
    let limit = if limit == 0 {
        MAX_PAGE
    } else {
        limit.min(MAX_PAGE)
    };
    Ok(state.store.read_audit(from, limit).await?)
}

/// The newest `last` audit events (at most a page), oldest first (`audit:read`).
pub async fn read_audit_last(
    state: &AppState,
    session: &Caller<'_>,
    last: u32,
) -> Result<Vec<AuditEvent>, ServiceError> {
    authorize(state, session, &operations::AUDIT_READ).await?;
    let last = last.clamp(1, MAX_PAGE);
    let head = state.store.audit_head().await?.seq;
    let from = head.saturating_sub(u64::from(last) - 1).max(1);
    Ok(state.store.read_audit(from, last).await?)
}

/// The result of verifying the whole audit chain.
#[derive(Debug, Clone)]
pub struct ChainReport {
    /// Events checked.
    pub events: u64,
    /// The stored head's sequence number.
    pub head_seq: u64,
    /// The first break, if any.
    pub broken: Option<ChainBreak>,
}

/// Verifies the whole audit chain against the stored head (`audit:read`), page by page.
pub async fn verify_audit(
    state: &AppState,
    session: &Caller<'_>,
) -> Result<ChainReport, ServiceError> {
    authorize(state, session, &operations::AUDIT_VERIFY).await?;
    // Read to the end, then the head; events appended meanwhile are read on the next pass,
    // so a head beyond the last event read means events are missing at the end.
    let mut verifier = ChainVerifier::new(ChainHead::GENESIS);
    let mut events = 0u64;
    let mut last_seq = 0u64;
    let mut broken = None;
    let head = loop {
        let page = state
            .store
            .read_audit(last_seq.saturating_add(1), MAX_PAGE)
            .await?;
        if page.is_empty() {
            let head = state.store.audit_head().await?;
            if head.seq <= last_seq || last_seq == u64::MAX {
                break head;
            }
            // Appended while reading: read them too (or find them missing).
            let more = state
                .store
                .read_audit(last_seq.saturating_add(1), 1)
                .await?;
            if more.is_empty() {
                break head;
            }
            continue;
        }
        let mut stop = false;
        for event in &page {
            if let Err(e) = verifier.push(event) {
                broken = Some(e);
                stop = true;
                break;
            }
            events += 1;
            last_seq = event.seq;
        }
        if stop {
            break state.store.audit_head().await?;
        }
    };
    if broken.is_none()
        && let Err(e) = verifier.clone().finish(Some(&head))
    {
        broken = Some(e);
    }
    let outcome = if broken.is_some() {
        Outcome::Failure
    } else {
        Outcome::Success
    };
    let mut draft = audit(state, session, "audit.verify", outcome)
        .detail("events", &events.to_string())
        .detail("head_seq", &head.seq.to_string());
    if let Some(b) = &broken {
        draft = draft.detail("break", &b.to_string());
    }
    state.store.commit(Vec::new(), draft).await?;
    Ok(ChainReport {
        events,
        head_seq: head.seq,
        broken,
    })
}

fn join<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_domain::{Interface, RoleClass, RoleDraft, RoleType};

    fn admin_role(logins: u32) -> Role {
        Role::new(RoleDraft {
            name: RoleName::new("administrator").unwrap(),
            role_type: RoleType::Administrator,
            class: RoleClass::Principal,
            logins_required: logins,
            permissions: [Permission::AdminRoles].into_iter().collect(),
            interfaces: [Interface::Https].into_iter().collect(),
        })
        .unwrap()
    }

    fn admin(name: &str, enabled: bool) -> Identity {
        let mut i = Identity::new(IdentityName::new(name).unwrap(), IdentityKind::Person);
        i.roles.insert(RoleName::new("administrator").unwrap());
        i.enabled = enabled;
        i
    }

    #[test]
    fn administrable_needs_enough_enabled_holders() {
        let two = [admin_role(2)];
        assert!(administrable(&two, &[admin("a", true), admin("b", true)]));
        assert!(!administrable(&two, &[admin("a", true), admin("b", false)]));
        assert!(!administrable(&two, &[admin("a", true)]));
        assert!(administrable(&[admin_role(1)], &[admin("a", true)]));
        assert!(!administrable(&[], &[admin("a", true)]));
    }
}
