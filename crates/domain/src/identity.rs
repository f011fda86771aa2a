//! Identities and how they prove who they are: argon2id passwords, API keys, client-certificate
//! binding, lockout after repeated failures, and the login decision as a pure function.

use std::collections::BTreeSet;
use std::fmt;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::lockout::LockoutPolicy;
use crate::names::{IdentityName, RoleName};
use crate::permission::Interface;
use crate::role::Role;
use crate::strenum::str_enum;

/// Shortest accepted password, in bytes.
pub const PASSWORD_MIN_LEN: usize = 12;
/// Longest accepted password, in bytes (bounds the work an unauthenticated peer can cause).
pub const PASSWORD_MAX_LEN: usize = 1024;
/// Bytes of random salt per password hash.
pub const SALT_LEN: usize = 16;
/// Longest accepted PHC string loaded from storage.
pub const PHC_MAX_LEN: usize = 512;

str_enum! {
    /// Whether an identity is a person or an application.
    pub enum IdentityKind ("identity kind") {
        /// A person (administrator, approver, auditor).
        Person = "person",
        /// An application (a build system).
        Application = "application",
    }
}

/// An identity as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Unique name; equals the client certificate CN when `require_client_certificate` is set.
    pub name: IdentityName,
    /// Person or application.
    pub kind: IdentityKind,
    /// A disabled identity cannot log in.
    pub enabled: bool,
    /// Set after too many consecutive failed logins; in force until `locked_until` (always,
    /// when that is unset: a lock from before temporary locks), cleared by a successful login
    /// after it ends or by an administrator's unlock.
    pub locked: bool,
    /// When the lock ends by itself.
    #[serde(default)]
    pub locked_until: Option<OffsetDateTime>,
    /// Consecutive failed logins since the last success or unlock.
    pub failed_logins: u32,
    /// Roles held.
    pub roles: BTreeSet<RoleName>,
    /// Password hash, if the identity has a password.
    pub password: Option<PasswordHash>,
    /// When set, the TLS client certificate's CN must equal the identity name.
    pub require_client_certificate: bool,
}

impl Identity {
    /// A new enabled, unlocked identity without roles or credentials.
    pub fn new(name: IdentityName, kind: IdentityKind) -> Self {
        Self {
            name,
            kind,
            enabled: true,
            locked: false,
            locked_until: None,
            failed_logins: 0,
            roles: BTreeSet::new(),
            password: None,
            require_client_certificate: false,
        }
    }

    /// What an administrator's unlock does: clears the lock and the failure counter.
    pub fn unlock(&mut self) {
        self.locked = false;
        self.locked_until = None;
        self.failed_logins = 0;
    }

    /// Whether the identity is locked at `now` (a temporary lock that ended is not).
    pub fn is_locked(&self, now: OffsetDateTime) -> bool {
        self.locked && self.locked_until.is_none_or(|until| now < until)
    }

    /// Whether one of `roles` held by this identity grants an `admin:*` permission.
    pub fn is_administrator(&self, roles: &[Role]) -> bool {
        use crate::permission::Permission as P;
        const ADMIN: [P; 6] = [
            P::AdminIdentities,
            P::AdminRoles,
            P::AdminGroups,
            P::AdminPolicies,
            P::AdminCommands,
            P::AdminSettings,
        ];
        roles
            .iter()
            .any(|role| self.roles.contains(role.name()) && ADMIN.iter().any(|p| role.grants(*p)))
    }
}

/// Why a credential could not be created or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The password is shorter than [`PASSWORD_MIN_LEN`].
    #[error("password is too short: use at least {PASSWORD_MIN_LEN} characters")]
    PasswordTooShort,
    /// The password is longer than [`PASSWORD_MAX_LEN`].
    #[error("password is too long: use at most {PASSWORD_MAX_LEN} bytes")]
    PasswordTooLong,
    /// The argon2 parameters are out of range.
    #[error("argon2 parameters are invalid: {0}")]
    Params(String),
    /// A stored password hash is not an argon2id PHC string.
    #[error("stored password hash is not a valid argon2id PHC string")]
    BadHash,
    /// An API key does not have the `sigil_<id>_<secret>` form.
    #[error("API key is malformed: expected {API_KEY_PREFIX}<16 hex>_<64 hex>")]
    BadApiKey,
}

/// argon2id cost parameters for new password hashes. Verification reads the parameters from
/// the stored hash, so raising them later affects only new and changed passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl PasswordParams {
    /// The OWASP recommendation for argon2id (19 MiB, 2 passes, 1 lane).
    pub const RECOMMENDED: Self = Self {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    /// The cheapest parameters argon2 accepts. For tests only: these protect nothing.
    pub const INSECURE_FOR_TESTS: Self = Self {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };

    fn hasher(&self) -> Result<Argon2<'static>, CredentialError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| CredentialError::Params(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self::RECOMMENDED
    }
}

/// An argon2id password hash in PHC string form (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`),
/// with its own random salt.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Reads a stored PHC string, refusing anything that is not argon2id.
    pub fn from_phc(phc: String) -> Result<Self, CredentialError> {
        if phc.len() > PHC_MAX_LEN {
            return Err(CredentialError::BadHash);
        }
        let parsed = argon2::PasswordHash::new(&phc).map_err(|_| CredentialError::BadHash)?;
        if parsed.algorithm.as_str() != "argon2id" {
            return Err(CredentialError::BadHash);
        }
        Ok(Self(phc))
    }

    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

impl TryFrom<String> for PasswordHash {
    type Error = CredentialError;

    fn try_from(phc: String) -> Result<Self, CredentialError> {
        Self::from_phc(phc)
    }
}

impl From<PasswordHash> for String {
    fn from(hash: PasswordHash) -> Self {
        hash.0
    }
}

fn check_password_len(password: &[u8]) -> Result<(), CredentialError> {
    if password.len() < PASSWORD_MIN_LEN {
        return Err(CredentialError::PasswordTooShort);
    }
    if password.len() > PASSWORD_MAX_LEN {
        return Err(CredentialError::PasswordTooLong);
    }
    Ok(())
}

/// Hashes a new password with argon2id and a fresh random salt from `rng`.
pub fn hash_password<R: CryptoRng + ?Sized>(
    password: &[u8],
    params: &PasswordParams,
    rng: &mut R,
) -> Result<PasswordHash, CredentialError> {
    check_password_len(password)?;
    let mut salt = [0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    hash_with_salt(password, params, &salt)
}

fn hash_with_salt(
    password: &[u8],
    params: &PasswordParams,
    salt: &[u8],
) -> Result<PasswordHash, CredentialError> {
    let hash = params
        .hasher()?
        .hash_password_with_salt(password, salt)
        .map_err(|e| CredentialError::Params(e.to_string()))?;
    Ok(PasswordHash(hash.to_string()))
}

/// Whether `password` matches `hash` (argon2's own comparison of the outputs is constant-time).
pub fn verify_password(password: &[u8], hash: &PasswordHash) -> bool {
    if password.len() > PASSWORD_MAX_LEN {
        return false;
    }
    let Ok(parsed) = argon2::PasswordHash::new(&hash.0) else {
        return false;
    };
    Argon2::default().verify_password(password, &parsed).is_ok()
}

/// Text that starts every API key.
pub const API_KEY_PREFIX: &str = "sigil_";
/// Random bytes in an API key id (shown as hex; the id is the indexed lookup key).
pub const API_KEY_ID_BYTES: usize = 8;
/// Random bytes in an API key secret.
pub const API_KEY_SECRET_BYTES: usize = 32;
/// Length of a whole API key token.
pub const API_KEY_LEN: usize =
    API_KEY_PREFIX.len() + 2 * API_KEY_ID_BYTES + 1 + 2 * API_KEY_SECRET_BYTES;

/// The public, indexed part of an API key: 16 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ApiKeyId(String);

impl ApiKeyId {
    /// Reads a key id (16 lowercase hex characters).
    pub fn new(text: String) -> Result<Self, CredentialError> {
        if text.len() == 2 * API_KEY_ID_BYTES && is_lower_hex(&text) {
            Ok(Self(text))
        } else {
            Err(CredentialError::BadApiKey)
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ApiKeyId {
    type Error = CredentialError;

    fn try_from(text: String) -> Result<Self, CredentialError> {
        Self::new(text)
    }
}

impl From<ApiKeyId> for String {
    fn from(id: ApiKeyId) -> Self {
        id.0
    }
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// An API key as stored: only the SHA-256 of the whole token is kept. The token has 256 bits
/// of entropy, so a fast hash is enough (no dictionary to guess from).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Public id, also part of the token.
    pub id: ApiKeyId,
    /// The identity the key logs in.
    pub identity: IdentityName,
    /// SHA-256 of the whole token.
    pub secret_hash: [u8; 32],
    /// Free text to tell keys apart (bounded by [`API_KEY_LABEL_MAX`]).
    pub label: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

/// Longest API key label, in bytes.
pub const API_KEY_LABEL_MAX: usize = 128;

impl ApiKeyRecord {
    /// Whether `token` is this key (constant-time comparison of the hashes).
    pub fn matches(&self, token: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        bool::from(digest.ct_eq(&self.secret_hash))
    }
}

/// A freshly generated API key: show `token` once, store `record`.
#[derive(Debug)]
pub struct NewApiKey {
    /// The whole key, to hand to the user once.
    pub token: Zeroizing<String>,
    /// What to store.
    pub record: ApiKeyRecord,
}

/// Generates an API key `sigil_<id>_<secret>` for `identity`.
pub fn generate_api_key<R: CryptoRng + ?Sized>(
    identity: IdentityName,
    label: &str,
    now: OffsetDateTime,
    rng: &mut R,
) -> NewApiKey {
    let mut id = [0u8; API_KEY_ID_BYTES];
    rng.fill_bytes(&mut id);
    let mut secret = Zeroizing::new([0u8; API_KEY_SECRET_BYTES]);
    rng.fill_bytes(secret.as_mut());
    let id = hex::encode(id);
    let token = Zeroizing::new(format!("{API_KEY_PREFIX}{id}_{}", hex::encode(*secret)));
    let record = ApiKeyRecord {
        id: ApiKeyId(id),
        identity,
        secret_hash: Sha256::digest(token.as_bytes()).into(),
        label: crate::text::truncate(label, API_KEY_LABEL_MAX).to_owned(),
        created: now,
    };
    NewApiKey { token, record }
}

/// The key id of a presented token, to look its record up.
pub fn api_key_id(token: &str) -> Result<ApiKeyId, CredentialError> {
    let rest = token
        .strip_prefix(API_KEY_PREFIX)
        .filter(|_| token.len() == API_KEY_LEN)
        .ok_or(CredentialError::BadApiKey)?;
    let (id, secret) = rest.split_once('_').ok_or(CredentialError::BadApiKey)?;
    if secret.len() != 2 * API_KEY_SECRET_BYTES || !is_lower_hex(secret) {
        return Err(CredentialError::BadApiKey);
    }
    ApiKeyId::new(id.to_owned())
}

/// What a peer presented to log in.
#[derive(Debug, Clone, Copy)]
pub enum Secret<'a> {
    /// A password.
    Password(&'a [u8]),
    /// An API key token and the record found under its id (`None` when no key has that id).
    ApiKey {
        /// The presented token.
        token: &'a str,
        /// The stored record for [`api_key_id`] of the token.
        record: Option<&'a ApiKeyRecord>,
    },
}

/// Everything the login decision needs, gathered by the service.
#[derive(Debug, Clone, Copy)]
pub struct LoginAttempt<'a> {
    /// The identity found under the presented name (`None` if there is none).
    pub identity: Option<&'a Identity>,
    /// The roles of that identity (others are ignored).
    pub roles: &'a [Role],
    /// The presented secret.
    pub secret: Secret<'a>,
    /// The CN of the TLS client certificate, if the connection has one.
    pub peer_cn: Option<&'a str>,
    /// The interface the login arrives on.
    pub interface: Interface,
    /// Consecutive failures that lock the identity (the `lockout_threshold` setting).
    pub lockout_threshold: u32,
    /// How long locks last, and whether administrators need their certificate over HTTPS.
    pub lockout: LockoutPolicy,
    /// The time of the attempt (locks end by themselves).
    pub now: OffsetDateTime,
    /// Parameters of a dummy hash computed for unknown names, so that they take as long as
    /// known ones.
    pub password_params: PasswordParams,
}

/// Why a login was refused. `AuthFailed` is the same for an unknown name and a wrong secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoginRefusal {
    /// Unknown identity or wrong secret.
    #[error("authentication failed: check the identity name and its password or API key")]
    AuthFailed,
    /// Locked after too many failed logins.
    #[error(
        "identity is locked after too many failed logins: wait for the lock to end, or ask an administrator to unlock it"
    )]
    Locked,
    /// Disabled by an administrator.
    #[error("identity is disabled: ask an administrator to enable it")]
    Disabled,
    /// The identity requires a client certificate whose CN equals its name.
    #[error(
        "the client certificate does not belong to this identity: its CN must equal the identity name"
    )]
    CertMismatch,
    /// None of the identity's roles may be used on this interface.
    #[error("none of this identity's roles may be used on this interface")]
    InterfaceNotAllowed,
}

/// The change to the stored failure counter a login causes. The store applies it atomically
/// (`failed_logins = failed_logins + 1` in SQL), so concurrent failures all count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginStateChange {
    /// Success: reset the counter to 0.
    Reset,
    /// A wrong secret: add one failure, and lock until `lock_until` when the counter reaches
    /// `lock_threshold`.
    Failure {
        /// The lockout threshold in force.
        lock_threshold: u32,
        /// The end of the lock this failure starts, if it reaches the threshold.
        lock_until: OffsetDateTime,
    },
}

/// The outcome of [`decide_login`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginDecision {
    /// Success or the refusal to report.
    pub result: Result<(), LoginRefusal>,
    /// What to persist, if anything (nothing for unknown names and refusals that check no secret).
    pub state_change: Option<LoginStateChange>,
    /// Whether this attempt locks the identity (for the audit event).
    pub locks_now: bool,
}

impl LoginDecision {
    fn refuse(refusal: LoginRefusal) -> Self {
        Self {
            result: Err(refusal),
            state_change: None,
            locks_now: false,
        }
    }
}

/// Decides a login. The secret is checked first, whatever the identity's state, so that
/// every attempt costs one password verification (a dummy one for unknown names) and a
/// wrong secret answers `AuthFailed` whether the identity is unknown, disabled, locked or
/// bound to another certificate: only the holder of the right secret learns the state.
/// Then: disabled; locked; certificate binding; interfaces.
///
/// A wrong secret counts towards lockout only for an enabled, unlocked identity whose
/// certificate binding holds (a peer without the bound certificate cannot lock it out). The
/// binding holds when the identity does not require a certificate, or the connection's
/// certificate CN equals its name; with [`LockoutPolicy::admin_requires_certificate`], every
/// administrator requires one on HTTPS. A lock lasts [`LockoutPolicy::lock_duration`] of the
/// failures past the threshold since the last success (see [`crate::lockout`]).
pub fn decide_login(attempt: &LoginAttempt<'_>) -> LoginDecision {
    // Burns the time of one password verification, so that an unknown name or an identity
    // without a password cannot be told from a wrong password by timing.
    let dummy_hash = |password: &[u8]| {
        let _ = hash_with_salt(password, &attempt.password_params, &[0u8; SALT_LEN]);
        false
    };
    let Some(identity) = attempt.identity else {
        if let Secret::Password(password) = attempt.secret {
            dummy_hash(password);
        }
        return LoginDecision::refuse(LoginRefusal::AuthFailed);
    };
    let secret_ok = match attempt.secret {
        Secret::Password(password) => match &identity.password {
            Some(hash) => verify_password(password, hash),
            None => dummy_hash(password),
        },
        Secret::ApiKey { token, record } => record.is_some_and(|record| {
            // Evaluate both sides so that a wrong owner takes as long as a wrong secret.
            let owner = record.identity == identity.name;
            record.matches(token) & owner
        }),
    };
    let certificate_required = identity.require_client_certificate
        || (attempt.lockout.admin_requires_certificate
            && attempt.interface == Interface::Https
            && identity.is_administrator(attempt.roles));
    let certificate_ok = !certificate_required || attempt.peer_cn == Some(identity.name.as_str());
    let locked = identity.is_locked(attempt.now);
    if !secret_ok {
        if !identity.enabled || locked || !certificate_ok {
            return LoginDecision::refuse(LoginRefusal::AuthFailed);
        }
        let threshold = attempt.lockout_threshold.max(1);
        let failures = identity.failed_logins.saturating_add(1);
        let step = failures.saturating_sub(threshold);
        return LoginDecision {
            result: Err(LoginRefusal::AuthFailed),
            state_change: Some(LoginStateChange::Failure {
                lock_threshold: threshold,
                lock_until: attempt.now.saturating_add(
                    time::Duration::try_from(attempt.lockout.lock_duration(step))
                        .unwrap_or(time::Duration::MAX),
                ),
            }),
            locks_now: failures >= threshold,
        };
    }
    if !identity.enabled {
        return LoginDecision::refuse(LoginRefusal::Disabled);
    }
    if locked {
        return LoginDecision::refuse(LoginRefusal::Locked);
    }
    if !certificate_ok {
        return LoginDecision::refuse(LoginRefusal::CertMismatch);
    }
    let usable = attempt
        .roles
        .iter()
        .any(|role| identity.roles.contains(role.name()) && role.allows(attempt.interface));
    if !usable {
        return LoginDecision::refuse(LoginRefusal::InterfaceNotAllowed);
    }
    LoginDecision {
        result: Ok(()),
        state_change: (identity.failed_logins != 0 || identity.locked)
            .then_some(LoginStateChange::Reset),
        locks_now: false,
    }
}

impl LoginStateChange {
    /// Applies the change to an in-memory identity, exactly as the store applies it in SQL.
    pub fn apply(self, identity: &mut Identity) {
        match self {
            Self::Reset => identity.unlock(),
            Self::Failure {
                lock_threshold,
                lock_until,
            } => {
                identity.failed_logins = identity.failed_logins.saturating_add(1);
                if identity.failed_logins >= lock_threshold {
                    identity.locked = true;
                    identity.locked_until = Some(lock_until);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permission::Permission;
    use crate::role::tests::role;

    const PW: &[u8] = b"correct horse battery";

    fn alice() -> (Identity, Vec<Role>) {
        let mut rng = rand::rng();
        let mut id = Identity::new(IdentityName::new("alice").unwrap(), IdentityKind::Person);
        id.password =
            Some(hash_password(PW, &PasswordParams::INSECURE_FOR_TESTS, &mut rng).unwrap());
        let r = role("approver", 1, &[Permission::SigningApprove]);
        id.roles.insert(r.name().clone());
        (id, vec![r])
    }

    fn attempt<'a>(
        identity: Option<&'a Identity>,
        roles: &'a [Role],
        pw: &'a [u8],
    ) -> LoginAttempt<'a> {
        LoginAttempt {
            identity,
            roles,
            secret: Secret::Password(pw),
            peer_cn: None,
            interface: Interface::HostApi,
            lockout_threshold: 3,
            lockout: LockoutPolicy::default(),
            now: OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000),
            password_params: PasswordParams::INSECURE_FOR_TESTS,
        }
    }

    #[test]
    fn password_hash_has_per_identity_salt_and_verifies() {
        let mut rng = rand::rng();
        let a = hash_password(PW, &PasswordParams::INSECURE_FOR_TESTS, &mut rng).unwrap();
        let b = hash_password(PW, &PasswordParams::INSECURE_FOR_TESTS, &mut rng).unwrap();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("$argon2id$"));
        assert!(verify_password(PW, &a));
        assert!(!verify_password(b"wrong password!", &a));
        assert_eq!(
            hash_password(b"short", &PasswordParams::INSECURE_FOR_TESTS, &mut rng),
            Err(CredentialError::PasswordTooShort)
        );
        assert!(PasswordHash::from_phc(a.as_str().to_owned()).is_ok());
        assert!(PasswordHash::from_phc("$pbkdf2$x".into()).is_err());
    }

    #[test]
    fn unknown_and_wrong_password_look_the_same() {
        let (alice, roles) = alice();
        let unknown = decide_login(&attempt(None, &roles, PW));
        let wrong = decide_login(&attempt(Some(&alice), &roles, b"not the password"));
        assert_eq!(unknown.result, wrong.result);
        assert_eq!(unknown.result, Err(LoginRefusal::AuthFailed));
        assert_eq!(unknown.state_change, None);
        assert!(matches!(
            wrong.state_change,
            Some(LoginStateChange::Failure { .. })
        ));
    }

    #[test]
    fn lockout_after_threshold_and_reset_on_success() {
        let (mut alice, roles) = alice();
        for i in 1..=3 {
            let d = decide_login(&attempt(Some(&alice), &roles, b"not the password"));
            assert_eq!(d.locks_now, i == 3);
            d.state_change.unwrap().apply(&mut alice);
        }
        assert!(alice.locked);
        // Even the right password is refused now, and nothing is counted; a wrong one
        // answers as for an unknown name, so the state is no oracle.
        let d = decide_login(&attempt(Some(&alice), &roles, PW));
        assert_eq!(d.result, Err(LoginRefusal::Locked));
        assert_eq!(d.state_change, None);
        let d = decide_login(&attempt(Some(&alice), &roles, b"not the password"));
        assert_eq!(d.result, Err(LoginRefusal::AuthFailed));
        assert_eq!(d.state_change, None);
        assert!(!d.locks_now);
        alice.unlock();
        alice.failed_logins = 2;
        let d = decide_login(&attempt(Some(&alice), &roles, PW));
        assert_eq!(d.result, Ok(()));
        assert_eq!(d.state_change, Some(LoginStateChange::Reset));
    }

    #[test]
    fn lock_ends_by_itself_and_the_next_one_is_longer() {
        let (mut alice, roles) = alice();
        let start = attempt(Some(&alice), &roles, PW).now;
        for _ in 0..3 {
            let d = decide_login(&attempt(Some(&alice), &roles, b"not the password"));
            d.state_change.unwrap().apply(&mut alice);
        }
        assert_eq!(
            alice.locked_until,
            Some(start + time::Duration::seconds(60))
        );
        let mut later = attempt(Some(&alice), &roles, PW);
        later.now = start + time::Duration::seconds(61);
        assert!(alice.is_locked(start));
        assert!(!alice.is_locked(later.now));
        // After the lock, one more failure locks again, for twice as long.
        later.secret = Secret::Password(b"not the password");
        let d = decide_login(&later);
        assert!(d.locks_now);
        let relocked_at = later.now;
        d.state_change.unwrap().apply(&mut alice);
        assert_eq!(
            alice.locked_until,
            Some(relocked_at + time::Duration::seconds(120))
        );
        // The right password after that lock ends logs in and starts over.
        let mut after = attempt(Some(&alice), &roles, PW);
        after.now = relocked_at + time::Duration::seconds(121);
        let d = decide_login(&after);
        assert_eq!(d.result, Ok(()));
        d.state_change.unwrap().apply(&mut alice);
        assert!(!alice.locked);
        assert_eq!(alice.failed_logins, 0);
    }

    #[test]
    fn administrators_need_their_certificate_on_https_when_configured() {
        let (mut admin, _) = alice();
        let r = role("admin", 1, &[Permission::AdminIdentities]);
        admin.roles.insert(r.name().clone());
        let roles = vec![r];
        let mut a = attempt(Some(&admin), &roles, b"not the password");
        a.interface = Interface::Https;
        a.lockout.admin_requires_certificate = true;
        // No certificate: refused as a plain failure, and nothing counted.
        let d = decide_login(&a);
        assert_eq!(d.result, Err(LoginRefusal::AuthFailed));
        assert_eq!(d.state_change, None);
        a.peer_cn = Some("alice");
        assert!(decide_login(&a).state_change.is_some());
        a.lockout.admin_requires_certificate = false;
        a.peer_cn = None;
        assert!(decide_login(&a).state_change.is_some());
    }

    #[test]
    fn disabled_cert_binding_and_interface() {
        let (mut alice, roles) = alice();
        alice.enabled = false;
        assert_eq!(
            decide_login(&attempt(Some(&alice), &roles, PW)).result,
            Err(LoginRefusal::Disabled)
        );
        let wrong = decide_login(&attempt(Some(&alice), &roles, b"not the password"));
        assert_eq!(wrong.result, Err(LoginRefusal::AuthFailed));
        assert_eq!(wrong.state_change, None);
        alice.enabled = true;
        alice.require_client_certificate = true;
        let mut a = attempt(Some(&alice), &roles, PW);
        assert_eq!(decide_login(&a).result, Err(LoginRefusal::CertMismatch));
        // Without the bound certificate a wrong password neither reveals the binding nor
        // counts towards lockout.
        let wrong = decide_login(&attempt(Some(&alice), &roles, b"not the password"));
        assert_eq!(wrong.result, Err(LoginRefusal::AuthFailed));
        assert_eq!(wrong.state_change, None);
        a.peer_cn = Some("mallory");
        assert_eq!(decide_login(&a).result, Err(LoginRefusal::CertMismatch));
        a.peer_cn = Some("alice");
        assert_eq!(decide_login(&a).result, Ok(()));
        let mut draft: crate::role::RoleDraft = roles[0].clone().into();
        draft.interfaces = [Interface::Https].into_iter().collect();
        let https_only = vec![Role::new(draft).unwrap()];
        let a = LoginAttempt {
            roles: &https_only,
            ..a
        };
        assert_eq!(
            decide_login(&a).result,
            Err(LoginRefusal::InterfaceNotAllowed)
        );
    }

    #[test]
    fn api_keys() {
        let (alice, roles) = alice();
        let mut rng = rand::rng();
        let now = OffsetDateTime::UNIX_EPOCH;
        let key = generate_api_key(alice.name.clone(), "ci", now, &mut rng);
        assert_eq!(key.token.len(), API_KEY_LEN);
        assert_eq!(api_key_id(&key.token).unwrap(), key.record.id);
        assert!(key.record.matches(&key.token));
        let login = |token: &str, record: Option<&ApiKeyRecord>| {
            decide_login(&LoginAttempt {
                secret: Secret::ApiKey { token, record },
                ..attempt(Some(&alice), &roles, b"")
            })
            .result
        };
        assert_eq!(login(&key.token, Some(&key.record)), Ok(()));
        let mut forged = key.token.to_string();
        forged.pop();
        forged.push(if key.token.ends_with('0') { '1' } else { '0' });
        assert!(api_key_id(&forged).is_ok());
        assert_eq!(
            login(&forged, Some(&key.record)),
            Err(LoginRefusal::AuthFailed)
        );
        assert_eq!(login(&key.token, None), Err(LoginRefusal::AuthFailed));
        let bob = generate_api_key(IdentityName::new("bob").unwrap(), "", now, &mut rng);
        assert_eq!(
            login(&bob.token, Some(&bob.record)),
            Err(LoginRefusal::AuthFailed)
        );
        assert!(api_key_id("sigil_zz").is_err());
        assert!(api_key_id(&key.token.to_uppercase()).is_err());
    }
}
