//! Administration routes: identities, roles, commands, settings, groups, policies, audit.
//! Each decodes its input, calls the use case's `run` in [`crate::service`] (which checks the
//! permission and audits), and encodes the result.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use sigil_domain::{
    ApprovalGroup, CommandCode, GroupName, IdentityKind, IdentityName, Interface, Permission,
    PolicyAlias, Role, RoleClass, RoleDraft, RoleName, RsaScheme, SerialNumber, SigningFormat,
};
use utoipa::IntoParams;
use zeroize::Zeroizing;

use sigil_api::admin::{
    AuditEvent, BreakView, CommandBody, CommandView, GroupBody, GroupView, PolicyBody, PolicyView,
    RoleBody, RoleView, Settings, SettingsBody, VerifyView,
};

use super::Https;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, Caller, PathArg, QueryArg, parse};
use super::views::{audit_view, group_view, identity_view, policy_view, role_view, settings_view};
use crate::service::audit::read::Window;
use crate::service::{audit, commands, groups, identities, policies, roles, settings};
use sigil_api::identities::{
    ApiKeyBody, ApiKeyView, IdentityView, NewIdentityBody, PasswordBody, PasswordSet,
    UpdateIdentityBody,
};

fn names<T>(items: &[String]) -> Result<BTreeSet<T>, ApiError>
where
    T: std::str::FromStr + Ord,
    T::Err: std::fmt::Display,
{
    items.iter().map(|s| parse::<T>(s)).collect()
}

// ---- identities ---------------------------------------------------------------------------

/// `GET /identities`: every identity.
#[utoipa::path(
    get,
    path = "/identities",
    tag = "identities",
    responses(
        (status = 200, description = "Every identity.", body = Vec<IdentityView>),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:identities`.", body = ErrorBody),
    )
)]
pub(crate) async fn list_identities(
    State(h): State<Https>,
    caller: Caller,
) -> ApiResult<Json<Vec<IdentityView>>> {
    let list = identities::list::run(&h.app, &caller.actor()).await?;
    Ok(Json(list.iter().map(identity_view).collect()))
}

/// `GET /identities/{name}`: one identity.
#[utoipa::path(
    get,
    path = "/identities/{name}",
    tag = "identities",
    params(("name" = String, Path, description = "The identity's name.")),
    responses(
        (status = 200, description = "The identity.", body = IdentityView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:identities`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such identity.", body = ErrorBody),
    )
)]
pub(crate) async fn get_identity(
    State(h): State<Https>,
    caller: Caller,
    PathArg(name): PathArg<String>,
) -> ApiResult<Json<IdentityView>> {
    let name: IdentityName = parse(&name)?;
    let identity = identities::show::run(&h.app, &caller.actor(), &name).await?;
    Ok(Json(identity_view(&identity)))
}

/// `POST /identities`: the password is returned once when the server generated it.
#[utoipa::path(
    post,
    path = "/identities",
    tag = "identities",
    request_body = NewIdentityBody,
    responses(
        (status = 201, description = "Created; `password` is present once when the server generated it.", body = IdentityView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:identities`.", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: the name exists already.", body = ErrorBody),
    )
)]
pub(crate) async fn create_identity(
    State(h): State<Https>,
    caller: Caller,
    Body(body): Body<NewIdentityBody>,
) -> ApiResult<(StatusCode, Json<IdentityView>)> {
    let args = identities::NewIdentity {
        name: parse(&body.name)?,
        kind: parse::<IdentityKind>(&body.kind)?,
        roles: names(&body.roles)?,
        password: body.password.as_ref().map(|p| Zeroizing::new(p.clone())),
        require_client_certificate: body.require_client_certificate,
    };
    let created = identities::create::run(&h.app, &caller.actor(), args).await?;
    let mut view = identity_view(&created.identity);
    view.password = created.generated_password.map(|p| p.to_string());
    Ok((StatusCode::CREATED, Json(view)))
}

/// `PUT /identities/{name}`: changes the given roles, `enabled` or `require_client_certificate`.
#[utoipa::path(
    put,
    path = "/identities/{name}",
    tag = "identities",
    params(("name" = String, Path, description = "The identity's name.")),
    request_body = UpdateIdentityBody,
    responses(
        (status = 200, description = "The identity as changed.", body = IdentityView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:identities`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such identity.", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: the change would leave no administrators able to log in.", body = ErrorBody),
    )
)]
pub(crate) async fn update_identity(
    State(h): State<Https>,
    caller: Caller,
    PathArg(name): PathArg<String>,
    Body(body): Body<UpdateIdentityBody>,
) -> ApiResult<Json<IdentityView>> {
    let name: IdentityName = parse(&name)?;
    let update = identities::IdentityUpdate {
        roles: body.roles.as_deref().map(names).transpose()?,
        enabled: body.enabled,
        require_client_certificate: body.require_client_certificate,
    };
    let identity = identities::update::run(&h.app, &caller.actor(), &name, update).await?;
    Ok(Json(identity_view(&identity)))
}

/// `DELETE /identities/{name}`: deletes an identity.
#[utoipa::path(
    delete,
    path = "/identities/{name}",
    tag = "identities",
    params(("name" = String, Path, description = "The identity's name.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:identities`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such identity.", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: the identity is logged in on this session, or the last administrators would go.", body = ErrorBody),
    )
)]
pub(crate) async fn delete_identity(
    State(h): State<Https>,
    caller: Caller,
    PathArg(name): PathArg<String>,
) -> ApiResult<StatusCode> {
    let name: IdentityName = parse(&name)?;
    identities::delete::run(&h.app, &caller.actor(), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /identities/{name}/unlock`: clears the lock after failed logins.
#[utoipa::path(
    post,
    path = "/identities/{name}/unlock",
    tag = "identities",
    params(("name" = String, Path, description = "The identity's name.")),
    responses(
        (status = 200, description = "The identity, its lock and failure counter cleared.", body = IdentityView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:identities`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such identity.", body = ErrorBody),
    )
)]
pub(crate) async fn unlock_identity(
    State(h): State<Https>,
    caller: Caller,
    PathArg(name): PathArg<String>,
) -> ApiResult<Json<IdentityView>> {
    let name: IdentityName = parse(&name)?;
    let identity = identities::unlock::run(&h.app, &caller.actor(), &name).await?;
    Ok(Json(identity_view(&identity)))
}

/// `POST /identities/{name}/password`: sets the given password or generates one (returned once).
#[utoipa::path(
    post,
    path = "/identities/{name}/password",
    tag = "identities",
    params(("name" = String, Path, description = "The identity's name.")),
    request_body = PasswordBody,
    responses(
        (status = 200, description = "Set; `password` is present when the server generated it.", body = PasswordSet),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:identities`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such identity.", body = ErrorBody),
    )
)]
pub(crate) async fn set_password(
    State(h): State<Https>,
    caller: Caller,
    PathArg(name): PathArg<String>,
    Body(body): Body<PasswordBody>,
) -> ApiResult<Json<PasswordSet>> {
    let name: IdentityName = parse(&name)?;
    let password = body.password.as_ref().map(|p| Zeroizing::new(p.clone()));
    let generated = identities::set_password::run(&h.app, &caller.actor(), &name, password).await?;
    Ok(Json(PasswordSet {
        identity: name.to_string(),
        password: generated.map(|p| p.to_string()),
    }))
}

/// `POST /identities/{name}/api-keys`: a new API key (a password for scripts).
#[utoipa::path(
    post,
    path = "/identities/{name}/api-keys",
    tag = "identities",
    params(("name" = String, Path, description = "The identity's name.")),
    request_body = ApiKeyBody,
    responses(
        (status = 201, description = "The new key; its token is shown this once.", body = ApiKeyView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:identities`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such identity.", body = ErrorBody),
    )
)]
pub(crate) async fn create_api_key(
    State(h): State<Https>,
    caller: Caller,
    PathArg(name): PathArg<String>,
    Body(body): Body<ApiKeyBody>,
) -> ApiResult<(StatusCode, Json<ApiKeyView>)> {
    let name: IdentityName = parse(&name)?;
    let key = identities::create_api_key::run(&h.app, &caller.actor(), &name, &body.label).await?;
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyView {
            id: key.record.id.to_string(),
            identity: name.to_string(),
            label: key.record.label.clone(),
            token: key.token.to_string(),
        }),
    ))
}

// ---- roles --------------------------------------------------------------------------------

fn role_from(body: RoleBody, name: &str) -> Result<Role, ApiError> {
    let permissions: BTreeSet<Permission> = names(&body.permissions)?;
    let interfaces: BTreeSet<Interface> = names(&body.interfaces)?;
    Role::new(RoleDraft {
        name: parse::<RoleName>(name)?,
        role_type: parse(&body.role_type)?,
        class: match &body.class {
            Some(c) => parse(c)?,
            None => RoleClass::Principal,
        },
        logins_required: body.logins_required,
        permissions,
        interfaces,
    })
    .map_err(|e| ApiError::invalid(e.to_string()))
}

/// `GET /roles`: every role.
#[utoipa::path(
    get,
    path = "/roles",
    tag = "roles",
    responses(
        (status = 200, description = "Every role.", body = Vec<RoleView>),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:roles`.", body = ErrorBody),
    )
)]
pub(crate) async fn list_roles(
    State(h): State<Https>,
    caller: Caller,
) -> ApiResult<Json<Vec<RoleView>>> {
    let roles = roles::list::run(&h.app, &caller.actor()).await?;
    Ok(Json(roles.iter().map(role_view).collect()))
}

/// `GET /roles/{name}`: one role.
#[utoipa::path(
    get,
    path = "/roles/{name}",
    tag = "roles",
    params(("name" = String, Path, description = "The role's name.")),
    responses(
        (status = 200, description = "The role.", body = RoleView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:roles`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such role.", body = ErrorBody),
    )
)]
pub(crate) async fn get_role(
    State(h): State<Https>,
    caller: Caller,
    PathArg(name): PathArg<String>,
) -> ApiResult<Json<RoleView>> {
    let name: RoleName = parse(&name)?;
    let roles = roles::list::run(&h.app, &caller.actor()).await?;
    let role = roles
        .iter()
        .find(|r| r.name() == &name)
        .ok_or_else(|| ApiError::not_found(format!("role {name} does not exist")))?;
    Ok(Json(role_view(role)))
}

/// `POST /roles`: creates a role.
#[utoipa::path(
    post,
    path = "/roles",
    tag = "roles",
    request_body = RoleBody,
    responses(
        (status = 201, description = "Created.", body = RoleView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:roles`.", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: the name exists already.", body = ErrorBody),
    )
)]
pub(crate) async fn create_role(
    State(h): State<Https>,
    caller: Caller,
    Body(mut body): Body<RoleBody>,
) -> ApiResult<(StatusCode, Json<RoleView>)> {
    let name = body
        .name
        .take()
        .ok_or_else(|| ApiError::invalid("the role needs a \"name\""))?;
    let role = role_from(body, &name)?;
    let role = roles::create::run(&h.app, &caller.actor(), role).await?;
    Ok((StatusCode::CREATED, Json(role_view(&role))))
}

/// `PUT /roles/{name}`: replaces the definition.
#[utoipa::path(
    put,
    path = "/roles/{name}",
    tag = "roles",
    params(("name" = String, Path, description = "The role's name.")),
    request_body = RoleBody,
    responses(
        (status = 200, description = "The role as replaced.", body = RoleView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:roles`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such role.", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: the change would leave no role granting `admin:roles` on HTTPS with enough holders.", body = ErrorBody),
    )
)]
pub(crate) async fn update_role(
    State(h): State<Https>,
    caller: Caller,
    PathArg(name): PathArg<String>,
    Body(body): Body<RoleBody>,
) -> ApiResult<Json<RoleView>> {
    if body.name.as_deref().is_some_and(|n| n != name) {
        return Err(ApiError::invalid(
            "the body's \"name\" differs from the URL: roles cannot be renamed",
        ));
    }
    let role = role_from(body, &name)?;
    let role = roles::update::run(&h.app, &caller.actor(), role).await?;
    Ok(Json(role_view(&role)))
}

/// `DELETE /roles/{name}`: deletes a role no identity holds.
#[utoipa::path(
    delete,
    path = "/roles/{name}",
    tag = "roles",
    params(("name" = String, Path, description = "The role's name.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:roles`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such role.", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: an identity holds the role.", body = ErrorBody),
    )
)]
pub(crate) async fn delete_role(
    State(h): State<Https>,
    caller: Caller,
    PathArg(name): PathArg<String>,
) -> ApiResult<StatusCode> {
    let name: RoleName = parse(&name)?;
    roles::delete::run(&h.app, &caller.actor(), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- commands and settings ----------------------------------------------------------------

fn known_commands() -> Vec<CommandCode> {
    sigil_proto::Command::KNOWN
        .iter()
        .filter_map(|c| CommandCode::new(c.as_str()).ok())
        .collect()
}

/// `GET /commands`: every Host API command, enabled or not.
#[utoipa::path(
    get,
    path = "/commands",
    tag = "commands",
    responses(
        (status = 200, description = "Every Host API command and whether it is enabled.", body = Vec<CommandView>),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:commands`.", body = ErrorBody),
    )
)]
pub(crate) async fn list_commands(
    State(h): State<Https>,
    caller: Caller,
) -> ApiResult<Json<Vec<CommandView>>> {
    let list = commands::list::run(&h.app, &caller.actor(), &known_commands()).await?;
    Ok(Json(
        list.into_iter()
            .map(|(code, enabled)| CommandView {
                code: code.to_string(),
                enabled,
            })
            .collect(),
    ))
}

/// `PUT /commands/{code}`: enables or disables a Host API command.
#[utoipa::path(
    put,
    path = "/commands/{code}",
    tag = "commands",
    params(("code" = String, Path, description = "The four-letter Host API command code, e.g. `RAUO`.")),
    request_body = CommandBody,
    responses(
        (status = 200, description = "The command as set.", body = CommandView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:commands`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: the Host API has no such command.", body = ErrorBody),
    )
)]
pub(crate) async fn set_command(
    State(h): State<Https>,
    caller: Caller,
    PathArg(code): PathArg<String>,
    Body(body): Body<CommandBody>,
) -> ApiResult<Json<CommandView>> {
    let code = CommandCode::new(&code).map_err(|e| ApiError::invalid(e.to_string()))?;
    if !known_commands().contains(&code) {
        return Err(ApiError::not_found(format!(
            "the Host API has no command {code}: GET /api/v1/commands lists them"
        )));
    }
    commands::set::run(&h.app, &caller.actor(), code, body.enabled).await?;
    Ok(Json(CommandView {
        code: code.to_string(),
        enabled: body.enabled,
    }))
}

/// `GET /settings`: the server settings.
#[utoipa::path(
    get,
    path = "/settings",
    tag = "settings",
    responses(
        (status = 200, description = "The settings.", body = Settings),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:settings`.", body = ErrorBody),
    )
)]
pub(crate) async fn get_settings(
    State(h): State<Https>,
    caller: Caller,
) -> ApiResult<Json<Settings>> {
    Ok(Json(settings_view(
        &settings::show::run(&h.app, &caller.actor()).await?,
    )))
}

/// `PUT /settings`: changes the given settings.
#[utoipa::path(
    put,
    path = "/settings",
    tag = "settings",
    request_body = SettingsBody,
    responses(
        (status = 200, description = "The settings as changed.", body = Settings),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:settings`.", body = ErrorBody),
    )
)]
pub(crate) async fn update_settings(
    State(h): State<Https>,
    caller: Caller,
    Body(body): Body<SettingsBody>,
) -> ApiResult<Json<Settings>> {
    let timestamp_certificate = match body.timestamp_certificate.as_deref() {
        None => None,
        Some("") => Some(None),
        Some(serial) => Some(Some(SerialNumber::from_hex(serial).map_err(|e| {
            ApiError::invalid(format!(
                "timestamp_certificate: {e} (or an empty string to disable the TSA)"
            ))
        })?)),
    };
    let update = settings::SettingsUpdate {
        allow_export_with_password: body.allow_export_with_password,
        lockout_threshold: body.lockout_threshold,
        timestamp_certificate,
    };
    Ok(Json(settings_view(
        &settings::update::run(&h.app, &caller.actor(), update).await?,
    )))
}

// ---- groups -------------------------------------------------------------------------------

/// `GET /groups`: every approval group.
#[utoipa::path(
    get,
    path = "/groups",
    tag = "groups",
    responses(
        (status = 200, description = "Every approval group.", body = Vec<GroupView>),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:groups`.", body = ErrorBody),
    )
)]
pub(crate) async fn list_groups(
    State(h): State<Https>,
    caller: Caller,
) -> ApiResult<Json<Vec<GroupView>>> {
    let groups = groups::list::run(&h.app, &caller.actor()).await?;
    Ok(Json(groups.iter().map(group_view).collect()))
}

/// `GET /groups/{name}`: one approval group.
#[utoipa::path(
    get,
    path = "/groups/{name}",
    tag = "groups",
    params(("name" = String, Path, description = "The group's name.")),
    responses(
        (status = 200, description = "The group.", body = GroupView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:groups`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such group.", body = ErrorBody),
    )
)]
pub(crate) async fn get_group(
    State(h): State<Https>,
    caller: Caller,
    PathArg(name): PathArg<String>,
) -> ApiResult<Json<GroupView>> {
    let name: GroupName = parse(&name)?;
    let groups = groups::list::run(&h.app, &caller.actor()).await?;
    let group = groups
        .iter()
        .find(|g| g.name == name)
        .ok_or_else(|| ApiError::not_found(format!("group {name} does not exist")))?;
    Ok(Json(group_view(group)))
}

/// `POST /groups`: creates an approval group.
#[utoipa::path(
    post,
    path = "/groups",
    tag = "groups",
    request_body = GroupBody,
    responses(
        (status = 201, description = "Created.", body = GroupView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:groups`.", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: the name exists already.", body = ErrorBody),
    )
)]
pub(crate) async fn create_group(
    State(h): State<Https>,
    caller: Caller,
    Body(body): Body<GroupBody>,
) -> ApiResult<(StatusCode, Json<GroupView>)> {
    let name = body
        .name
        .as_deref()
        .ok_or_else(|| ApiError::invalid("the group needs a \"name\""))?;
    let group = ApprovalGroup {
        name: parse(name)?,
        members: names(&body.members)?,
    };
    let group = groups::create::run(&h.app, &caller.actor(), group).await?;
    Ok((StatusCode::CREATED, Json(group_view(&group))))
}

/// `PUT /groups/{name}`: replaces the members.
#[utoipa::path(
    put,
    path = "/groups/{name}",
    tag = "groups",
    params(("name" = String, Path, description = "The group's name.")),
    request_body = GroupBody,
    responses(
        (status = 200, description = "The group with its new members.", body = GroupView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:groups`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such group.", body = ErrorBody),
    )
)]
pub(crate) async fn update_group(
    State(h): State<Https>,
    caller: Caller,
    PathArg(name): PathArg<String>,
    Body(body): Body<GroupBody>,
) -> ApiResult<Json<GroupView>> {
    if body.name.as_deref().is_some_and(|n| n != name) {
        return Err(ApiError::invalid(
            "the body's \"name\" differs from the URL: groups cannot be renamed",
        ));
    }
    let group = ApprovalGroup {
        name: parse(&name)?,
        members: names(&body.members)?,
    };
    let group = groups::update::run(&h.app, &caller.actor(), group).await?;
    Ok(Json(group_view(&group)))
}

/// `DELETE /groups/{name}`: deletes a group no policy names.
#[utoipa::path(
    delete,
    path = "/groups/{name}",
    tag = "groups",
    params(("name" = String, Path, description = "The group's name.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:groups`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such group.", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: a policy names the group.", body = ErrorBody),
    )
)]
pub(crate) async fn delete_group(
    State(h): State<Https>,
    caller: Caller,
    PathArg(name): PathArg<String>,
) -> ApiResult<StatusCode> {
    let name: GroupName = parse(&name)?;
    groups::delete::run(&h.app, &caller.actor(), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- policies -----------------------------------------------------------------------------

/// `GET /policies`: every issuance policy.
#[utoipa::path(
    get,
    path = "/policies",
    tag = "policies",
    responses(
        (status = 200, description = "Every issuance policy.", body = Vec<PolicyView>),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:policies`.", body = ErrorBody),
    )
)]
pub(crate) async fn list_policies(
    State(h): State<Https>,
    caller: Caller,
) -> ApiResult<Json<Vec<PolicyView>>> {
    let list = policies::list::run(&h.app, &caller.actor()).await?;
    Ok(Json(list.iter().map(policy_view).collect()))
}

/// `GET /policies/{alias}`: one issuance policy.
#[utoipa::path(
    get,
    path = "/policies/{alias}",
    tag = "policies",
    params(("alias" = String, Path, description = "The policy's alias.")),
    responses(
        (status = 200, description = "The policy.", body = PolicyView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:policies`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such policy.", body = ErrorBody),
    )
)]
pub(crate) async fn get_policy(
    State(h): State<Https>,
    caller: Caller,
    PathArg(alias): PathArg<String>,
) -> ApiResult<Json<PolicyView>> {
    let alias: PolicyAlias = parse(&alias)?;
    let policy = policies::show::run(&h.app, &caller.actor(), &alias).await?;
    Ok(Json(policy_view(&policy)))
}

fn policy_args(body: PolicyBody, alias: &str) -> Result<policies::NewPolicy, ApiError> {
    if body.hashes.is_empty() || body.formats.is_empty() {
        return Err(ApiError::invalid(
            "a policy must allow at least one hash (sha256, sha384, sha512) and one format (hash, authenticode, jar, openpgp)",
        ));
    }
    Ok(policies::NewPolicy {
        alias: parse(alias)?,
        certificate: SerialNumber::from_hex(&body.certificate)
            .map_err(|e| ApiError::invalid(e.to_string()))?,
        rsa_scheme: match &body.rsa_scheme {
            Some(s) => parse::<RsaScheme>(s)?,
            None => RsaScheme::Pkcs1v15,
        },
        approvals_required: body.approvals_required,
        approval_group: body.approval_group.as_deref().map(parse).transpose()?,
        hashes: body
            .hashes
            .iter()
            .map(|h| sigil_domain::parse_hash(h).map_err(|e| ApiError::invalid(e.to_string())))
            .collect::<Result<_, _>>()?,
        formats: names::<SigningFormat>(&body.formats)?,
        request_lifetime_secs: body.request_lifetime_secs,
        roles: names(&body.roles)?,
        timestamp_required: body.timestamp_required,
    })
}

/// `POST /policies`: creates an issuance policy (checked before it is stored).
#[utoipa::path(
    post,
    path = "/policies",
    tag = "policies",
    request_body = PolicyBody,
    responses(
        (status = 201, description = "Created.", body = PolicyView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:policies`.", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: the alias exists already.", body = ErrorBody),
    )
)]
pub(crate) async fn create_policy(
    State(h): State<Https>,
    caller: Caller,
    Body(mut body): Body<PolicyBody>,
) -> ApiResult<(StatusCode, Json<PolicyView>)> {
    let alias = body
        .alias
        .take()
        .ok_or_else(|| ApiError::invalid("the policy needs an \"alias\""))?;
    let args = policy_args(body, &alias)?;
    let policy = policies::create::run(&h.app, &caller.actor(), args).await?;
    Ok((StatusCode::CREATED, Json(policy_view(&policy))))
}

/// `PUT /policies/{alias}`: replaces the definition.
#[utoipa::path(
    put,
    path = "/policies/{alias}",
    tag = "policies",
    params(("alias" = String, Path, description = "The policy's alias.")),
    request_body = PolicyBody,
    responses(
        (status = 200, description = "The policy as replaced.", body = PolicyView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:policies`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such policy.", body = ErrorBody),
    )
)]
pub(crate) async fn update_policy(
    State(h): State<Https>,
    caller: Caller,
    PathArg(alias): PathArg<String>,
    Body(body): Body<PolicyBody>,
) -> ApiResult<Json<PolicyView>> {
    if body.alias.as_deref().is_some_and(|a| a != alias) {
        return Err(ApiError::invalid(
            "the body's \"alias\" differs from the URL: policies cannot be renamed",
        ));
    }
    let args = policy_args(body, &alias)?;
    let policy = policies::update::run(&h.app, &caller.actor(), args).await?;
    Ok(Json(policy_view(&policy)))
}

/// `DELETE /policies/{alias}`: deletes a policy no request refers to.
#[utoipa::path(
    delete,
    path = "/policies/{alias}",
    tag = "policies",
    params(("alias" = String, Path, description = "The policy's alias.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `admin:policies`.", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such policy.", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: signing requests refer to the policy.", body = ErrorBody),
    )
)]
pub(crate) async fn delete_policy(
    State(h): State<Https>,
    caller: Caller,
    PathArg(alias): PathArg<String>,
) -> ApiResult<StatusCode> {
    let alias: PolicyAlias = parse(&alias)?;
    policies::delete::run(&h.app, &caller.actor(), &alias).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- audit --------------------------------------------------------------------------------

/// `GET /audit` query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// The first sequence number to read (default 1).
    #[serde(default)]
    from: Option<u64>,
    /// At most this many events (default 100, at most 1000).
    #[serde(default)]
    limit: Option<u32>,
    /// The newest `last` events (1 to 1000), oldest first; not together with `from` or `limit`.
    #[serde(default)]
    last: Option<u32>,
}

/// `GET /audit?from=&limit=`: events in order from sequence number `from` (default 1);
/// `GET /audit?last=N`: the newest `N`, in order.
#[utoipa::path(
    get,
    path = "/audit",
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "The events, oldest first.", body = Vec<AuditEvent>),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `audit:read`.", body = ErrorBody),
    )
)]
pub(crate) async fn read_audit(
    State(h): State<Https>,
    caller: Caller,
    QueryArg(q): QueryArg<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEvent>>> {
    let events = match (q.last, q.from, q.limit) {
        (Some(last), None, None) => {
            audit::read::run(&h.app, &caller.actor(), Window::Last(last)).await?
        }
        (Some(_), _, _) => {
            return Err(ApiError::invalid(
                "last reads the newest events and takes neither from nor limit: use one or the other",
            ));
        }
        (None, from, limit) => {
            let window = Window::From {
                from: from.unwrap_or(1),
                limit: limit.unwrap_or(100),
            };
            audit::read::run(&h.app, &caller.actor(), window).await?
        }
    };
    Ok(Json(events.into_iter().map(audit_view).collect()))
}

/// `GET /audit/verify`: checks the audit log's hash chain.
#[utoipa::path(
    get,
    path = "/audit/verify",
    tag = "audit",
    responses(
        (status = 200, description = "Whether the hash chain is intact, and where it breaks.", body = VerifyView),
        (status = 403, description = "`NOT_PERMITTED`: the session's active roles lack `audit:read`.", body = ErrorBody),
    )
)]
pub(crate) async fn verify_audit(
    State(h): State<Https>,
    caller: Caller,
) -> ApiResult<Json<VerifyView>> {
    let report = audit::verify::run(&h.app, &caller.actor()).await?;
    Ok(Json(VerifyView {
        ok: report.broken.is_none(),
        events: report.events,
        head_seq: report.head_seq,
        broken: report.broken.map(|b| BreakView {
            seq: b.seq,
            kind: break_kind(&b.kind).to_owned(),
            message: b.to_string(),
        }),
    }))
}

fn break_kind(kind: &sigil_domain::BreakKind) -> &'static str {
    use sigil_domain::BreakKind as K;
    match kind {
        K::Altered => "altered",
        K::Reordered { .. } => "reordered",
        K::Missing { .. } => "missing",
        K::OutOfOrder { .. } => "out-of-order",
        K::Unlinked => "unlinked",
        K::TailMissing { .. } => "tail-missing",
        K::HeadMismatch => "head-mismatch",
        K::BeyondHead { .. } => "beyond-head",
        _ => "broken",
    }
}
