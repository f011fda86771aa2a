//! A read cache in front of the store for what every signing request reads but only an
//! administrator changes: policies, the enabled Host API commands, the settings, each
//! policy certificate's verified chain, and the identities and roles every request's session
//! is re-checked against.
//!
//! Without it a hash-signing request paid ~6 store reads (each a hop to a database thread)
//! and a re-verification of its certificate chain (an ECDSA/RSA verify per link).
//!
//! Only callers that ask for it (`cached_*`, [`CachedStore::chain`]) get cached values: the
//! Host API's per-frame checks and the signing path. The [`Store`] methods stay uncached.
//!
//! Freshness:
//! - **This node**: every write goes through [`CachedStore::commit`]; a commit with any change
//!   other than a request's or a login counter's clears the whole cache once it returns, so the
//!   next read sees the change at once (a revoked/replaced certificate, a changed or deleted
//!   policy, a disabled command, a disabled/deleted identity, a changed role). A login
//!   counter change (which may lock an identity) clears that identity's cached record only.
//! - **Other nodes** sharing a PostgreSQL database: an entry is used for at most [`TTL`], so a
//!   change made elsewhere takes effect here within that time.
//!
//! A read that began before a clearing commit never stores its (possibly old) value: every
//! insert carries the generation read before the store was asked, and is dropped when a commit
//! cleared the cache in between.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use sigil_domain::store::{BoxFuture, StoreResult};
use sigil_domain::{
    ApiKeyId, ApiKeyRecord, ApprovalGroup, AuditDraft, AuditEvent, CaName, CaRecord,
    CertificateRecord, ChainHead, Change, EnabledCommands, GroupName, Identity, IdentityName,
    Interface, IssuancePolicy, KeyId, ListenerChain, PolicyAlias, RequestFilter, RequestId, Role,
    RoleName, SealedKey, SerialNumber, Settings, SigningRequest, Store,
};

/// Longest time an entry is used before it is read again (bounds how long a change made by
/// another node sharing the database goes unseen here).
pub const TTL: Duration = Duration::from_secs(2);

/// A value and when it was read.
struct Entry<T> {
    value: T,
    read_at: Instant,
}

impl<T: Clone> Entry<T> {
    fn fresh(&self, now: Instant) -> Option<T> {
        (now.saturating_duration_since(self.read_at) < TTL).then(|| self.value.clone())
    }
}

/// A policy certificate's chain, checked once: DER, signer first, up to its root.
#[derive(Debug)]
pub struct CachedChain {
    /// The chain as DER, signer first.
    pub der: Vec<Vec<u8>>,
    /// The signer certificate's SubjectPublicKeyInfo (DER), to check raw signatures with.
    pub signer_spki: Vec<u8>,
    /// The same key parsed once, to check each raw signature without parsing it again.
    pub signer_key: sigil_keys::VerifyingKey,
    /// The signer certificate's validity start.
    pub not_before: time::OffsetDateTime,
    /// The signer certificate's validity end.
    pub not_after: time::OffsetDateTime,
    /// Set when the signer certificate is revoked (revoking clears the cache).
    pub revocation: Option<sigil_domain::Revocation>,
    /// The first CA certificate above the signer that its parent revoked (serial, subject,
    /// revocation), if any: nothing is signed under a revoked intermediate either.
    pub issuer_revocation: Option<(sigil_domain::SerialNumber, String, sigil_domain::Revocation)>,
    /// The opened key one of whose signatures was checked against this chain's signer
    /// certificate (compared by identity; weak, so that it does not keep a key alive). See
    /// `signing::Job::raw_signature` for which signatures are checked every time.
    pub checked_key: Mutex<Option<Weak<dyn sigil_keys::SigningKey>>>,
}

#[derive(Default)]
struct Entries {
    /// Bumped by every clearing commit.
    generation: u64,
    policies: HashMap<PolicyAlias, Entry<Option<IssuancePolicy>>>,
    /// Shared, not copied: every Host API frame reads it.
    enabled: Option<Entry<Arc<EnabledCommands>>>,
    settings: Option<Entry<Settings>>,
    chains: HashMap<SerialNumber, Entry<Arc<CachedChain>>>,
    /// Bumped by every commit that clears the identities (a clearing commit or a login
    /// counter change): reads of identities in flight then do not store theirs.
    identity_generation: u64,
    identities: HashMap<IdentityName, Entry<Option<Arc<Identity>>>>,
    roles: Option<Entry<Arc<Vec<Role>>>>,
    api_keys: HashMap<ApiKeyId, Entry<Option<Arc<ApiKeyRecord>>>>,
}

/// The store with the read cache beside it (see the module docs). Implements [`Store`] by
/// passing every call to the inner store (reads there stay fresh: administrators' reads before
/// a change use them) and clearing the cache after commits; the hot paths read through the
/// `cached_*` methods and [`chain`](Self::chain).
pub struct CachedStore {
    inner: Arc<dyn Store>,
    entries: Mutex<Entries>,
    /// Held while a certificate chain is built, so that the requests in flight when a chain
    /// expires wait for one build instead of each building it (a build checks every link's
    /// signature: 64 pipelined requests rebuilding it at each expiry were 5% of the server's
    /// CPU at P-256).
    chain_build: tokio::sync::Mutex<()>,
}

impl CachedStore {
    /// A cache over `inner`, empty.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            entries: Mutex::new(Entries::default()),
            chain_build: tokio::sync::Mutex::new(()),
        }
    }

    fn entries(&self) -> MutexGuard<'_, Entries> {
        // A panic while holding the lock cannot leave the maps half-changed in a way that
        // matters: every entry is replaced whole.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current generation: pass it back to the `put_*` calls of a value read after this.
    pub fn generation(&self) -> u64 {
        self.entries().generation
    }

    /// Drops every entry (and makes reads in flight not store theirs).
    pub fn clear(&self) {
        let mut entries = self.entries();
        let generation = entries.generation.wrapping_add(1);
        let identity_generation = entries.identity_generation.wrapping_add(1);
        *entries = Entries {
            generation,
            identity_generation,
            ..Entries::default()
        };
    }

    /// Drops the cached records of `names` only (their login counter or lock changed); reads
    /// of identities in flight do not store theirs.
    pub fn clear_identities(&self, names: &[IdentityName]) {
        let mut entries = self.entries();
        entries.identity_generation = entries.identity_generation.wrapping_add(1);
        for name in names {
            entries.identities.remove(name);
        }
    }

    /// An identity by name (a missing one is cached too), read through the cache.
    pub async fn cached_identity(&self, name: &IdentityName) -> StoreResult<Option<Arc<Identity>>> {
        let now = Instant::now();
        let generation = {
            let entries = self.entries();
            if let Some(hit) = entries.identities.get(name).and_then(|e| e.fresh(now)) {
                return Ok(hit);
            }
            entries.identity_generation
        };
        let identity = self.inner.get_identity(name).await?.map(Arc::new);
        let mut entries = self.entries();
        if entries.identity_generation == generation {
            entries
                .identities
                .insert(name.clone(), Entry::new(identity.clone()));
        }
        Ok(identity)
    }

    /// An API key record by id (a missing one is cached too), read through the cache.
    pub async fn cached_api_key(&self, id: &ApiKeyId) -> StoreResult<Option<Arc<ApiKeyRecord>>> {
        let now = Instant::now();
        let generation = {
            let entries = self.entries();
            if let Some(hit) = entries.api_keys.get(id).and_then(|e| e.fresh(now)) {
                return Ok(hit);
            }
            entries.generation
        };
        let record = self.inner.get_api_key(id).await?.map(Arc::new);
        let mut entries = self.entries();
        if entries.generation == generation {
            entries
                .api_keys
                .insert(id.clone(), Entry::new(record.clone()));
        }
        Ok(record)
    }

    /// Every role definition, read through the cache.
    pub async fn cached_roles(&self) -> StoreResult<Arc<Vec<Role>>> {
        let now = Instant::now();
        let generation = {
            let entries = self.entries();
            if let Some(hit) = entries.roles.as_ref().and_then(|e| e.fresh(now)) {
                return Ok(hit);
            }
            entries.generation
        };
        let roles = Arc::new(self.inner.list_roles().await?);
        let mut entries = self.entries();
        if entries.generation == generation {
            entries.roles = Some(Entry::new(roles.clone()));
        }
        Ok(roles)
    }

    /// The cached chain of the certificate `serial`, if fresh.
    pub fn chain(&self, serial: &SerialNumber) -> Option<Arc<CachedChain>> {
        let now = Instant::now();
        self.entries().chains.get(serial)?.fresh(now)
    }

    /// Waits until no other chain is being built; hold the guard while building one (after
    /// looking in the cache again: the build waited for may have been this chain's).
    pub async fn chain_build_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.chain_build.lock().await
    }

    /// Keeps the chain of `serial` built from data read at `generation`.
    pub fn put_chain(&self, serial: &SerialNumber, generation: u64, chain: Arc<CachedChain>) {
        let mut entries = self.entries();
        if entries.generation == generation {
            entries.chains.insert(serial.clone(), Entry::new(chain));
        }
    }

    /// A policy by alias (a missing one is cached too), read through the cache.
    pub async fn cached_policy(&self, alias: &PolicyAlias) -> StoreResult<Option<IssuancePolicy>> {
        let now = Instant::now();
        let generation = {
            let entries = self.entries();
            if let Some(hit) = entries.policies.get(alias).and_then(|e| e.fresh(now)) {
                return Ok(hit);
            }
            entries.generation
        };
        let policy = self.inner.get_policy(alias).await?;
        let mut entries = self.entries();
        if entries.generation == generation {
            entries
                .policies
                .insert(alias.clone(), Entry::new(policy.clone()));
        }
        Ok(policy)
    }

    /// The enabled Host API commands, read through the cache.
    pub async fn cached_enabled_commands(&self) -> StoreResult<Arc<EnabledCommands>> {
        let now = Instant::now();
        let generation = {
            let entries = self.entries();
            if let Some(hit) = entries.enabled.as_ref().and_then(|e| e.fresh(now)) {
                return Ok(hit);
            }
            entries.generation
        };
        let enabled = Arc::new(self.inner.enabled_commands().await?);
        let mut entries = self.entries();
        if entries.generation == generation {
            entries.enabled = Some(Entry::new(enabled.clone()));
        }
        Ok(enabled)
    }

    /// The settings, read through the cache.
    pub async fn cached_settings(&self) -> StoreResult<Settings> {
        let now = Instant::now();
        let generation = {
            let entries = self.entries();
            if let Some(hit) = entries.settings.as_ref().and_then(|e| e.fresh(now)) {
                return Ok(hit);
            }
            entries.generation
        };
        let settings = self.inner.settings().await?;
        let mut entries = self.entries();
        if entries.generation == generation {
            entries.settings = Some(Entry::new(settings.clone()));
        }
        Ok(settings)
    }

    /// Runs a commit, then clears the cache when it may have changed a cached value. Cleared
    /// even when the commit failed: its outcome may be unknown (e.g. a lost connection).
    async fn committing<T>(
        &self,
        clears: Clears,
        commit: BoxFuture<'_, StoreResult<T>>,
    ) -> StoreResult<T> {
        let result = crate::metrics::commit(commit).await;
        match clears {
            Clears::Nothing => {}
            Clears::Identities(names) => self.clear_identities(&names),
            Clears::All => self.clear(),
        }
        result
    }
}

impl<T> Entry<T> {
    fn new(value: T) -> Self {
        Self {
            value,
            read_at: Instant::now(),
        }
    }
}

/// What a commit makes stale.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Clears {
    Nothing,
    /// The login counters of these identities changed (a failed login may lock one).
    Identities(Vec<IdentityName>),
    All,
}

/// What `changes` may change of what the cache holds. Requests touch nothing cached; a login
/// counter change touches that identity only (logins are frequent: the rest stays); anything
/// else clears it all.
fn clears(changes: &[Change]) -> Clears {
    let mut names = Vec::new();
    for change in changes {
        match change {
            Change::CreateRequest(_)
            | Change::UpdateRequest(_)
            | Change::CreateRelease(_)
            | Change::UpdateRelease(_) => {}
            Change::RecordLogin { identity, .. } => names.push(identity.clone()),
            _ => return Clears::All,
        }
    }
    if names.is_empty() {
        Clears::Nothing
    } else {
        Clears::Identities(names)
    }
}

impl Store for CachedStore {
    fn commit(
        &self,
        changes: Vec<Change>,
        audit: AuditDraft,
    ) -> BoxFuture<'_, StoreResult<AuditEvent>> {
        let clears = clears(&changes);
        Box::pin(self.committing(clears, self.inner.commit(changes, audit)))
    }

    fn commit_events(
        &self,
        changes: Vec<Change>,
        audits: Vec<AuditDraft>,
    ) -> BoxFuture<'_, StoreResult<Vec<AuditEvent>>> {
        let clears = clears(&changes);
        Box::pin(self.committing(clears, self.inner.commit_events(changes, audits)))
    }

    fn get_identity<'a>(
        &'a self,
        name: &'a IdentityName,
    ) -> BoxFuture<'a, StoreResult<Option<Identity>>> {
        self.inner.get_identity(name)
    }
    fn list_identities(&self) -> BoxFuture<'_, StoreResult<Vec<Identity>>> {
        self.inner.list_identities()
    }
    fn get_api_key<'a>(
        &'a self,
        id: &'a ApiKeyId,
    ) -> BoxFuture<'a, StoreResult<Option<ApiKeyRecord>>> {
        self.inner.get_api_key(id)
    }
    fn list_api_keys<'a>(
        &'a self,
        identity: &'a IdentityName,
    ) -> BoxFuture<'a, StoreResult<Vec<ApiKeyRecord>>> {
        self.inner.list_api_keys(identity)
    }
    fn get_role<'a>(&'a self, name: &'a RoleName) -> BoxFuture<'a, StoreResult<Option<Role>>> {
        self.inner.get_role(name)
    }
    fn list_roles(&self) -> BoxFuture<'_, StoreResult<Vec<Role>>> {
        self.inner.list_roles()
    }
    fn get_group<'a>(
        &'a self,
        name: &'a GroupName,
    ) -> BoxFuture<'a, StoreResult<Option<ApprovalGroup>>> {
        self.inner.get_group(name)
    }
    fn list_groups(&self) -> BoxFuture<'_, StoreResult<Vec<ApprovalGroup>>> {
        self.inner.list_groups()
    }
    fn get_policy<'a>(
        &'a self,
        alias: &'a PolicyAlias,
    ) -> BoxFuture<'a, StoreResult<Option<IssuancePolicy>>> {
        self.inner.get_policy(alias)
    }
    fn list_policies(&self) -> BoxFuture<'_, StoreResult<Vec<IssuancePolicy>>> {
        self.inner.list_policies()
    }
    fn get_request(&self, id: RequestId) -> BoxFuture<'_, StoreResult<Option<SigningRequest>>> {
        self.inner.get_request(id)
    }
    fn list_requests<'a>(
        &'a self,
        filter: &'a RequestFilter,
    ) -> BoxFuture<'a, StoreResult<Vec<SigningRequest>>> {
        self.inner.list_requests(filter)
    }
    fn get_release(
        &self,
        id: sigil_domain::ReleaseId,
    ) -> BoxFuture<'_, StoreResult<Option<sigil_domain::Release>>> {
        self.inner.get_release(id)
    }
    fn list_releases<'a>(
        &'a self,
        filter: &'a RequestFilter,
    ) -> BoxFuture<'a, StoreResult<Vec<sigil_domain::Release>>> {
        self.inner.list_releases(filter)
    }
    fn list_release_requests(
        &self,
        id: sigil_domain::ReleaseId,
    ) -> BoxFuture<'_, StoreResult<Vec<SigningRequest>>> {
        self.inner.list_release_requests(id)
    }
    fn settings(&self) -> BoxFuture<'_, StoreResult<Settings>> {
        self.inner.settings()
    }
    fn enabled_commands(&self) -> BoxFuture<'_, StoreResult<EnabledCommands>> {
        self.inner.enabled_commands()
    }
    fn get_sealed_key(&self, id: KeyId) -> BoxFuture<'_, StoreResult<Option<SealedKey>>> {
        self.inner.get_sealed_key(id)
    }
    fn list_sealed_keys(&self) -> BoxFuture<'_, StoreResult<Vec<SealedKey>>> {
        self.inner.list_sealed_keys()
    }
    fn get_ca<'a>(&'a self, name: &'a CaName) -> BoxFuture<'a, StoreResult<Option<CaRecord>>> {
        self.inner.get_ca(name)
    }
    fn list_cas(&self) -> BoxFuture<'_, StoreResult<Vec<CaRecord>>> {
        self.inner.list_cas()
    }
    fn get_certificate<'a>(
        &'a self,
        serial: &'a SerialNumber,
    ) -> BoxFuture<'a, StoreResult<Option<CertificateRecord>>> {
        self.inner.get_certificate(serial)
    }
    fn list_certificates<'a>(
        &'a self,
        issuer: Option<&'a CaName>,
    ) -> BoxFuture<'a, StoreResult<Vec<CertificateRecord>>> {
        self.inner.list_certificates(issuer)
    }
    fn get_listener_chain(
        &self,
        interface: Interface,
    ) -> BoxFuture<'_, StoreResult<Option<ListenerChain>>> {
        self.inner.get_listener_chain(interface)
    }
    fn get_node_listener_chain<'a>(
        &'a self,
        node: &'a str,
        interface: Interface,
    ) -> BoxFuture<'a, StoreResult<Option<ListenerChain>>> {
        self.inner.get_node_listener_chain(node, interface)
    }
    fn custody_record(&self) -> BoxFuture<'_, StoreResult<Option<String>>> {
        self.inner.custody_record()
    }
    fn read_audit(&self, from_seq: u64, limit: u32) -> BoxFuture<'_, StoreResult<Vec<AuditEvent>>> {
        self.inner.read_audit(from_seq, limit)
    }
    fn audit_head(&self) -> BoxFuture<'_, StoreResult<ChainHead>> {
        self.inner.audit_head()
    }
    fn deployment_id(&self) -> BoxFuture<'_, StoreResult<Option<String>>> {
        self.inner.deployment_id()
    }
    fn create_session<'a>(
        &'a self,
        key: &'a [u8; 32],
        record: &'a sigil_domain::SessionRecord,
        now_ns: i64,
        idle_since: i64,
        max: u32,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        self.inner
            .create_session(key, record, now_ns, idle_since, max)
    }
    fn get_session<'a>(
        &'a self,
        key: &'a [u8; 32],
    ) -> BoxFuture<'a, StoreResult<Option<(sigil_domain::SessionRecord, i64)>>> {
        self.inner.get_session(key)
    }
    fn update_session<'a>(
        &'a self,
        key: &'a [u8; 32],
        record: Option<&'a sigil_domain::SessionRecord>,
        now_ns: i64,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        self.inner.update_session(key, record, now_ns)
    }
    fn delete_session<'a>(&'a self, key: &'a [u8; 32]) -> BoxFuture<'a, StoreResult<bool>> {
        self.inner.delete_session(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_request_and_login_changes_keep_the_cache() {
        let code = sigil_domain::CommandCode::new("RAUO").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            clears(&[Change::SetCommandEnabled {
                code,
                enabled: false
            }]),
            Clears::All
        );
        assert_eq!(
            clears(&[Change::DeletePolicy(
                PolicyAlias::new("release").unwrap_or_else(|e| panic!("{e}"))
            )]),
            Clears::All
        );
        assert_eq!(clears(&[]), Clears::Nothing);
        let login = Change::RecordLogin {
            identity: IdentityName::new("jenkins").unwrap_or_else(|e| panic!("{e}")),
            change: sigil_domain::LoginStateChange::Failure {
                lock_threshold: 5,
                lock_until: time::OffsetDateTime::UNIX_EPOCH,
            },
        };
        // A failed login may lock the identity: the identities go, the rest stays.
        assert_eq!(
            clears(std::slice::from_ref(&login)),
            Clears::Identities(vec![
                IdentityName::new("jenkins").unwrap_or_else(|e| panic!("{e}"))
            ])
        );
        assert_eq!(
            clears(&[
                login,
                Change::DeletePolicy(PolicyAlias::new("a").unwrap_or_else(|e| panic!("{e}")))
            ]),
            Clears::All
        );
    }
}
