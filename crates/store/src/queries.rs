//! The SQL of both backends, written once (the writes are in `writes.rs`). This file is compiled twice, as
//! `sqlite::queries` and `postgres::queries`, with `super::Db` naming the sqlx database:
//! the SQL text is portable (`$n` parameters, `BIGINT`-compatible integers, `ON CONFLICT`),
//! and each copy is concrete code for its driver, so no generic bounds are needed.
//!
//! The parent module supplies `Db`, `Backend` (the store type, with `reader()` and
//! `commit_changes()`), `READ_HEAD` (PostgreSQL adds `FOR UPDATE`) and `READ_AUDIT` (SQLite
//! casts every column, because a row edited with the `sqlite3` shell may hold any type).

use std::collections::{BTreeMap, BTreeSet};

use sigil_domain::store::{BoxFuture, StoreResult};
use sigil_domain::{
    ApiKeyId, ApiKeyRecord, ApprovalGroup, AuditDraft, AuditEvent, CaName, CaRecord,
    CertificateIssuer, CertificateRecord, ChainHead, Change, CommandCode, EnabledCommands,
    ExternalIssuer, GroupName, Identity, IdentityName, Interface, IssuancePolicy, KeyId,
    KeyLocation, ListenerChain, PolicyAlias, Release, ReleaseId, RequestFilter, RequestId,
    Revocation, Role, RoleName, SOFTWARE_BACKEND, SealedKey, SerialNumber, SessionRecord, Settings,
    SigningRequest, Store, StoreError,
};
use sqlx::Row;

use super::{Backend, Db, READ_AUDIT, READ_HEAD, SESSION_BEGIN};
use crate::convert::{corrupt, db, from_json, from_ns, hash32, page, parse, to_json, to_u64};
use sqlx::Connection;

type Conn = <Db as sqlx::Database>::Connection;
type DbRow = <Db as sqlx::Database>::Row;
type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>;
use sqlx::query;

/// A statement whose text was generated (only placeholders are generated; values are bound).
fn query_owned(sql: String) -> Query<'static> {
    query(sqlx::AssertSqlSafe(sql))
}

#[path = "writes.rs"]
mod writes;
pub(crate) use writes::{apply_and_audit, read_head, write_head};

/// The one event of a single-event commit.
pub(crate) fn single(events: StoreResult<Vec<AuditEvent>>) -> StoreResult<AuditEvent> {
    events?.pop().ok_or_else(|| StoreError::Database {
        operation: "committing",
        detail: "the commit returned no audit event".to_owned(),
    })
}

fn get<'r, T>(row: &'r DbRow, column: &'static str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Db> + sqlx::Type<Db>,
{
    row.try_get(column).map_err(db("decoding a row"))
}

// ---------------------------------------------------------------------------------------------
// Reads

/// `SELECT <identity columns> FROM identities <rest>`.
macro_rules! select_identities {
    ($rest:literal) => {
        concat!(
            "SELECT name, kind, enabled, locked, failed_logins, password_hash, \
             require_client_certificate, locked_until_ns FROM identities ",
            $rest
        )
    };
}

fn identity_from_row(row: &DbRow) -> StoreResult<Identity> {
    let name: String = get(row, "name")?;
    let password = get::<Option<String>>(row, "password_hash")?
        .map(|phc| parse_hash(phc, &name))
        .transpose()?;
    let failed: i64 = get(row, "failed_logins")?;
    Ok(Identity {
        name: parse(&name, "identity name")?,
        kind: parse(&get::<String>(row, "kind")?, "identity kind")?,
        enabled: get::<i64>(row, "enabled")? != 0,
        locked: get::<i64>(row, "locked")? != 0,
        locked_until: get::<Option<i64>>(row, "locked_until_ns")?
            .map(from_ns)
            .transpose()?,
        failed_logins: u32::try_from(failed).unwrap_or(u32::MAX),
        roles: BTreeSet::new(),
        password,
        require_client_certificate: get::<i64>(row, "require_client_certificate")? != 0,
    })
}

fn parse_hash(phc: String, name: &str) -> StoreResult<sigil_domain::PasswordHash> {
    sigil_domain::PasswordHash::from_phc(phc)
        .map_err(|e| corrupt(format!("password hash of {name}: {e}")))
}

async fn get_identity(conn: &mut Conn, name: &IdentityName) -> StoreResult<Option<Identity>> {
    let Some(row) = sqlx::query(select_identities!("WHERE name = $1"))
        .bind(name.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("reading an identity"))?
    else {
        return Ok(None);
    };
    let mut identity = identity_from_row(&row)?;
    let rows = sqlx::query("SELECT role FROM identity_roles WHERE identity = $1")
        .bind(name.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(db("reading an identity's roles"))?;
    for row in rows {
        identity
            .roles
            .insert(parse(&get::<String>(&row, "role")?, "role name")?);
    }
    Ok(Some(identity))
}

async fn list_identities(conn: &mut Conn) -> StoreResult<Vec<Identity>> {
    let rows = sqlx::query(select_identities!("ORDER BY name"))
        .fetch_all(&mut *conn)
        .await
        .map_err(db("listing identities"))?;
    let mut identities = rows
        .iter()
        .map(identity_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    let role_rows = sqlx::query("SELECT identity, role FROM identity_roles")
        .fetch_all(&mut *conn)
        .await
        .map_err(db("listing identity roles"))?;
    let mut roles: BTreeMap<String, BTreeSet<RoleName>> = BTreeMap::new();
    for row in role_rows {
        roles
            .entry(get(&row, "identity")?)
            .or_default()
            .insert(parse(&get::<String>(&row, "role")?, "role name")?);
    }
    for identity in &mut identities {
        if let Some(r) = roles.remove(identity.name.as_str()) {
            identity.roles = r;
        }
    }
    Ok(identities)
}

fn api_key_from_row(row: &DbRow) -> StoreResult<ApiKeyRecord> {
    let hash: Vec<u8> = get(row, "secret_hash")?;
    Ok(ApiKeyRecord {
        id: ApiKeyId::new(get(row, "id")?).map_err(corrupt)?,
        identity: parse(&get::<String>(row, "identity")?, "identity name")?,
        secret_hash: <[u8; 32]>::try_from(hash.as_slice())
            .map_err(|_| corrupt("API key hash is not 32 bytes"))?,
        label: get(row, "label")?,
        created: from_ns(get(row, "created_ns")?)?,
    })
}

fn role_from_row(row: &DbRow) -> StoreResult<Role> {
    from_json(&get::<String>(row, "body")?, "role")
}

async fn group_members(conn: &mut Conn, name: &str) -> StoreResult<BTreeSet<IdentityName>> {
    let rows = sqlx::query("SELECT identity FROM group_members WHERE group_name = $1")
        .bind(name)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("reading group members"))?;
    rows.iter()
        .map(|row| parse(&get::<String>(row, "identity")?, "identity name"))
        .collect()
}

fn request_from_row(row: &DbRow) -> StoreResult<SigningRequest> {
    let mut request: SigningRequest = from_json(&get::<String>(row, "body")?, "signing request")?;
    // The indexed state column is authoritative for filters; the body must agree with it.
    let state: String = get(row, "state")?;
    if state != request.status().as_str() {
        return Err(corrupt(format!(
            "signing request {}: state column {state} disagrees with its body",
            request.id()
        )));
    }
    request.set_revision(to_u64(get(row, "revision")?, "request revision")?);
    Ok(request)
}

fn release_from_row(row: &DbRow) -> StoreResult<Release> {
    let mut release: Release = from_json(&get::<String>(row, "body")?, "release")?;
    let state: String = get(row, "state")?;
    if state != release.status().as_str() {
        return Err(corrupt(format!(
            "release {}: state column {state} disagrees with its body",
            release.id()
        )));
    }
    release.set_revision(to_u64(get(row, "revision")?, "release revision")?);
    Ok(release)
}

fn sealed_key_from_row(row: &DbRow) -> StoreResult<SealedKey> {
    Ok(SealedKey {
        id: KeyId(parse(&get::<String>(row, "id")?, "key id")?),
        algorithm: get(row, "algorithm")?,
        purpose: parse(&get::<String>(row, "purpose")?, "key purpose")?,
        public_key_der: get(row, "public_key")?,
        location: key_location_from_row(row)?,
        created: from_ns(get(row, "created_ns")?)?,
    })
}

fn key_location_from_row(row: &DbRow) -> StoreResult<KeyLocation> {
    let backend: String = get(row, "backend")?;
    let object_id: Option<Vec<u8>> = get(row, "hsm_object_id")?;
    let label: Option<String> = get(row, "hsm_label")?;
    if backend == SOFTWARE_BACKEND {
        let sealed: Vec<u8> = get(row, "sealed")?;
        if sealed.is_empty() || object_id.is_some() || label.is_some() {
            return Err(corrupt(
                "a software key record without a sealed key, or with HSM object fields".to_owned(),
            ));
        }
        return Ok(KeyLocation::Software { sealed });
    }
    match (object_id, label) {
        (Some(object_id), Some(label)) if !object_id.is_empty() => Ok(KeyLocation::Hsm {
            hsm: backend,
            object_id,
            label,
        }),
        _ => Err(corrupt(format!(
            "the HSM key record of backend {backend:?} has no object id or label"
        ))),
    }
}

fn ca_from_row(row: &DbRow) -> StoreResult<CaRecord> {
    Ok(CaRecord {
        name: parse(&get::<String>(row, "name")?, "CA name")?,
        key_id: KeyId(parse(&get::<String>(row, "key_id")?, "key id")?),
        certificate_der: get(row, "certificate")?,
        parent: get::<Option<String>>(row, "parent")?
            .map(|p| parse(&p, "CA name"))
            .transpose()?,
        next_serial: to_u64(get(row, "next_serial")?, "serial counter")?,
        next_crl_number: to_u64(get(row, "next_crl_number")?, "CRL number")?,
    })
}

fn listener_chain_from_row(row: &DbRow) -> StoreResult<ListenerChain> {
    let hex_chain: Vec<String> = from_json(&get::<String>(row, "chain")?, "chain")?;
    let certificates = hex_chain
        .iter()
        .map(|c| hex::decode(c).map_err(corrupt))
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(ListenerChain {
        key_id: KeyId(parse(&get::<String>(row, "key_id")?, "key id")?),
        certificates,
    })
}

fn certificate_from_row(row: &DbRow) -> StoreResult<CertificateRecord> {
    let revoked: Option<i64> = get(row, "revoked_ns")?;
    let reason: Option<String> = get(row, "revocation_reason")?;
    let revocation = match (revoked, reason) {
        (Some(at), Some(reason)) => Some(Revocation {
            at: from_ns(at)?,
            reason: parse(&reason, "revocation reason")?,
        }),
        _ => None,
    };
    Ok(CertificateRecord {
        serial: SerialNumber::from_hex(&get::<String>(row, "serial")?).map_err(corrupt)?,
        issuer: certificate_issuer(row)?,
        profile: parse(&get::<String>(row, "profile")?, "certificate profile")?,
        subject: get(row, "subject")?,
        der: get(row, "der")?,
        not_before: from_ns(get(row, "not_before_ns")?)?,
        not_after: from_ns(get(row, "not_after_ns")?)?,
        key_id: get::<Option<String>>(row, "key_id")?
            .map(|k| parse(&k, "key id").map(KeyId))
            .transpose()?,
        revocation,
    })
}

/// A certificate's CA container, or its external issuer and chain.
fn certificate_issuer(row: &DbRow) -> StoreResult<CertificateIssuer> {
    let ca: Option<String> = get(row, "issuer")?;
    let external: Option<String> = get(row, "external_issuer")?;
    let chain: Option<String> = get(row, "external_chain")?;
    match (ca, external, chain) {
        (Some(name), None, None) => Ok(CertificateIssuer::Ca(parse(&name, "CA name")?)),
        (None, Some(name), Some(chain)) => {
            let hex_chain: Vec<String> = from_json(&chain, "certificate chain")?;
            let chain = hex_chain
                .iter()
                .map(|c| hex::decode(c).map_err(corrupt))
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(CertificateIssuer::External(ExternalIssuer { name, chain }))
        }
        _ => Err(corrupt(
            "a certificate row names both or neither of a CA container and an external issuer",
        )),
    }
}

/// A text column of an audit row, read even if an edit left bytes that are not UTF-8 (SQLite
/// allows that); the replacement characters then fail the event's hash check.
fn audit_text(row: &DbRow, column: &'static str) -> StoreResult<Option<String>> {
    match row.try_get::<Option<String>, _>(column) {
        Ok(text) => Ok(text),
        Err(_) => Ok(get::<Option<Vec<u8>>>(row, column)?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())),
    }
}

/// Reads an audit row without failing on tampered values: whatever does not parse is kept in
/// a form that fails the hash check, so `verify` names the event instead of erroring.
fn event_from_row(row: &DbRow) -> StoreResult<AuditEvent> {
    let details_text = audit_text(row, "details")?.unwrap_or_default();
    let details = serde_json::from_str::<BTreeMap<String, String>>(&details_text)
        .unwrap_or_else(|_| BTreeMap::from([("unreadable-details".to_owned(), details_text)]));
    let seq: i64 = get(row, "seq")?;
    Ok(AuditEvent {
        seq: u64::try_from(seq).unwrap_or(0),
        time: from_ns(get(row, "time_ns")?)?,
        identity: audit_text(row, "identity")?,
        source: audit_text(row, "source")?,
        interface: audit_text(row, "interface")?,
        action: audit_text(row, "action")?.unwrap_or_default(),
        object: audit_text(row, "object")?,
        outcome: audit_text(row, "outcome")?.unwrap_or_default(),
        details,
        prev_hash: hash32(&get::<Vec<u8>>(row, "prev_hash")?),
        hash: hash32(&get::<Vec<u8>>(row, "hash")?),
    })
}

// ---------------------------------------------------------------------------------------------
// The trait, implemented once for both backends.

impl Store for Backend {
    fn commit(
        &self,
        changes: Vec<Change>,
        audit: AuditDraft,
    ) -> BoxFuture<'_, StoreResult<AuditEvent>> {
        Box::pin(async move { single(self.commit_changes(changes, vec![audit]).await) })
    }

    fn commit_events(
        &self,
        changes: Vec<Change>,
        audits: Vec<AuditDraft>,
    ) -> BoxFuture<'_, StoreResult<Vec<AuditEvent>>> {
        Box::pin(self.commit_changes(changes, audits))
    }

    fn get_identity<'a>(
        &'a self,
        name: &'a IdentityName,
    ) -> BoxFuture<'a, StoreResult<Option<Identity>>> {
        Box::pin(async move { get_identity(&mut *self.reader().await?, name).await })
    }

    fn list_identities(&self) -> BoxFuture<'_, StoreResult<Vec<Identity>>> {
        Box::pin(async move { list_identities(&mut *self.reader().await?).await })
    }

    fn get_api_key<'a>(
        &'a self,
        id: &'a ApiKeyId,
    ) -> BoxFuture<'a, StoreResult<Option<ApiKeyRecord>>> {
        Box::pin(async move {
            sqlx::query("SELECT * FROM api_keys WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err(db("reading an API key"))?
                .as_ref()
                .map(api_key_from_row)
                .transpose()
        })
    }

    fn list_api_keys<'a>(
        &'a self,
        identity: &'a IdentityName,
    ) -> BoxFuture<'a, StoreResult<Vec<ApiKeyRecord>>> {
        Box::pin(async move {
            sqlx::query("SELECT * FROM api_keys WHERE identity = $1 ORDER BY created_ns, id")
                .bind(identity.as_str())
                .fetch_all(&mut *self.reader().await?)
                .await
                .map_err(db("listing API keys"))?
                .iter()
                .map(api_key_from_row)
                .collect()
        })
    }

    fn get_role<'a>(&'a self, name: &'a RoleName) -> BoxFuture<'a, StoreResult<Option<Role>>> {
        Box::pin(async move {
            sqlx::query("SELECT body FROM roles WHERE name = $1")
                .bind(name.as_str())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err(db("reading a role"))?
                .as_ref()
                .map(role_from_row)
                .transpose()
        })
    }

    fn list_roles(&self) -> BoxFuture<'_, StoreResult<Vec<Role>>> {
        Box::pin(async move {
            sqlx::query("SELECT body FROM roles ORDER BY name")
                .fetch_all(&mut *self.reader().await?)
                .await
                .map_err(db("listing roles"))?
                .iter()
                .map(role_from_row)
                .collect()
        })
    }

    fn get_group<'a>(
        &'a self,
        name: &'a GroupName,
    ) -> BoxFuture<'a, StoreResult<Option<ApprovalGroup>>> {
        Box::pin(async move {
            let mut conn = self.reader().await?;
            let exists = sqlx::query("SELECT name FROM approval_groups WHERE name = $1")
                .bind(name.as_str())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db("reading an approval group"))?;
            if exists.is_none() {
                return Ok(None);
            }
            Ok(Some(ApprovalGroup {
                name: name.clone(),
                members: group_members(&mut conn, name.as_str()).await?,
            }))
        })
    }

    fn list_groups(&self) -> BoxFuture<'_, StoreResult<Vec<ApprovalGroup>>> {
        Box::pin(async move {
            let mut conn = self.reader().await?;
            let names = sqlx::query("SELECT name FROM approval_groups ORDER BY name")
                .fetch_all(&mut *conn)
                .await
                .map_err(db("listing approval groups"))?;
            let mut groups = Vec::with_capacity(names.len());
            for row in names {
                let name: String = get(&row, "name")?;
                groups.push(ApprovalGroup {
                    members: group_members(&mut conn, &name).await?,
                    name: parse(&name, "group name")?,
                });
            }
            Ok(groups)
        })
    }

    fn get_policy<'a>(
        &'a self,
        alias: &'a PolicyAlias,
    ) -> BoxFuture<'a, StoreResult<Option<IssuancePolicy>>> {
        Box::pin(async move {
            sqlx::query("SELECT body FROM policies WHERE alias = $1")
                .bind(alias.as_str())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err(db("reading a policy"))?
                .map(|row| from_json(&get::<String>(&row, "body")?, "policy"))
                .transpose()
        })
    }

    fn list_policies(&self) -> BoxFuture<'_, StoreResult<Vec<IssuancePolicy>>> {
        Box::pin(async move {
            sqlx::query("SELECT body FROM policies ORDER BY alias")
                .fetch_all(&mut *self.reader().await?)
                .await
                .map_err(db("listing policies"))?
                .iter()
                .map(|row| from_json(&get::<String>(row, "body")?, "policy"))
                .collect()
        })
    }

    fn get_request(&self, id: RequestId) -> BoxFuture<'_, StoreResult<Option<SigningRequest>>> {
        Box::pin(async move {
            sqlx::query("SELECT state, revision, body FROM signing_requests WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err(db("reading a signing request"))?
                .as_ref()
                .map(request_from_row)
                .transpose()
        })
    }

    fn list_requests<'a>(
        &'a self,
        filter: &'a RequestFilter,
    ) -> BoxFuture<'a, StoreResult<Vec<SigningRequest>>> {
        Box::pin(async move {
            // NULL parameters disable a filter, so one statement serves every combination.
            sqlx::query(
                "SELECT state, revision, body FROM signing_requests \
                 WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR requester = $2) \
                 AND ($3 IS NULL OR policy = $3) ORDER BY created_ns DESC, id LIMIT $4",
            )
            .bind(filter.state.map(|s| s.as_str()))
            .bind(filter.requester.as_ref().map(IdentityName::as_str))
            .bind(filter.policy.as_ref().map(PolicyAlias::as_str))
            .bind(page(filter.limit))
            .fetch_all(&mut *self.reader().await?)
            .await
            .map_err(db("listing signing requests"))?
            .iter()
            .map(request_from_row)
            .collect()
        })
    }

    fn get_release(&self, id: ReleaseId) -> BoxFuture<'_, StoreResult<Option<Release>>> {
        Box::pin(async move {
            sqlx::query("SELECT state, revision, body FROM releases WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err(db("reading a release"))?
                .as_ref()
                .map(release_from_row)
                .transpose()
        })
    }

    fn list_releases<'a>(
        &'a self,
        filter: &'a RequestFilter,
    ) -> BoxFuture<'a, StoreResult<Vec<Release>>> {
        Box::pin(async move {
            sqlx::query(
                "SELECT state, revision, body FROM releases \
                 WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR requester = $2) \
                 AND ($3 IS NULL OR policy = $3) ORDER BY created_ns DESC, id LIMIT $4",
            )
            .bind(filter.state.map(|s| s.as_str()))
            .bind(filter.requester.as_ref().map(IdentityName::as_str))
            .bind(filter.policy.as_ref().map(PolicyAlias::as_str))
            .bind(page(filter.limit))
            .fetch_all(&mut *self.reader().await?)
            .await
            .map_err(db("listing releases"))?
            .iter()
            .map(release_from_row)
            .collect()
        })
    }

    fn list_release_requests(
        &self,
        id: ReleaseId,
    ) -> BoxFuture<'_, StoreResult<Vec<SigningRequest>>> {
        Box::pin(async move {
            sqlx::query(
                "SELECT state, revision, body FROM signing_requests WHERE release_id = $1 \
                 ORDER BY release_index",
            )
            .bind(id.to_string())
            .fetch_all(&mut *self.reader().await?)
            .await
            .map_err(db("listing the requests of a release"))?
            .iter()
            .map(request_from_row)
            .collect()
        })
    }

    fn settings(&self) -> BoxFuture<'_, StoreResult<Settings>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT key, value FROM settings")
                .fetch_all(&mut *self.reader().await?)
                .await
                .map_err(db("reading settings"))?;
            let pairs = rows
                .iter()
                .map(|row| Ok((get::<String>(row, "key")?, get::<String>(row, "value")?)))
                .collect::<StoreResult<Vec<_>>>()?;
            Settings::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .map_err(corrupt)
        })
    }

    fn enabled_commands(&self) -> BoxFuture<'_, StoreResult<EnabledCommands>> {
        Box::pin(async move {
            sqlx::query("SELECT code FROM enabled_commands")
                .fetch_all(&mut *self.reader().await?)
                .await
                .map_err(db("reading enabled commands"))?
                .iter()
                .map(|row| CommandCode::new(&get::<String>(row, "code")?).map_err(corrupt))
                .collect()
        })
    }

    fn get_sealed_key(&self, id: KeyId) -> BoxFuture<'_, StoreResult<Option<SealedKey>>> {
        Box::pin(async move {
            sqlx::query("SELECT * FROM sealed_keys WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err(db("reading a key"))?
                .as_ref()
                .map(sealed_key_from_row)
                .transpose()
        })
    }

    fn list_sealed_keys(&self) -> BoxFuture<'_, StoreResult<Vec<SealedKey>>> {
        Box::pin(async move {
            sqlx::query("SELECT * FROM sealed_keys ORDER BY created_ns, id")
                .fetch_all(&mut *self.reader().await?)
                .await
                .map_err(db("listing keys"))?
                .iter()
                .map(sealed_key_from_row)
                .collect()
        })
    }

    fn get_ca<'a>(&'a self, name: &'a CaName) -> BoxFuture<'a, StoreResult<Option<CaRecord>>> {
        Box::pin(async move {
            sqlx::query("SELECT * FROM cas WHERE name = $1")
                .bind(name.as_str())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err(db("reading a CA"))?
                .as_ref()
                .map(ca_from_row)
                .transpose()
        })
    }

    fn list_cas(&self) -> BoxFuture<'_, StoreResult<Vec<CaRecord>>> {
        Box::pin(async move {
            sqlx::query("SELECT * FROM cas ORDER BY name")
                .fetch_all(&mut *self.reader().await?)
                .await
                .map_err(db("listing CAs"))?
                .iter()
                .map(ca_from_row)
                .collect()
        })
    }

    fn get_certificate<'a>(
        &'a self,
        serial: &'a SerialNumber,
    ) -> BoxFuture<'a, StoreResult<Option<CertificateRecord>>> {
        Box::pin(async move {
            sqlx::query("SELECT * FROM certificates WHERE serial = $1")
                .bind(serial.as_str())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err(db("reading a certificate"))?
                .as_ref()
                .map(certificate_from_row)
                .transpose()
        })
    }

    fn list_certificates<'a>(
        &'a self,
        issuer: Option<&'a CaName>,
    ) -> BoxFuture<'a, StoreResult<Vec<CertificateRecord>>> {
        Box::pin(async move {
            sqlx::query(
                "SELECT * FROM certificates WHERE ($1 IS NULL OR issuer = $1) ORDER BY serial",
            )
            .bind(issuer.map(CaName::as_str))
            .fetch_all(&mut *self.reader().await?)
            .await
            .map_err(db("listing certificates"))?
            .iter()
            .map(certificate_from_row)
            .collect()
        })
    }

    fn get_listener_chain(
        &self,
        interface: Interface,
    ) -> BoxFuture<'_, StoreResult<Option<ListenerChain>>> {
        Box::pin(async move {
            sqlx::query("SELECT key_id, chain FROM listener_chains WHERE interface = $1")
                .bind(interface.as_str())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err(db("reading a listener chain"))?
                .map(|row| listener_chain_from_row(&row))
                .transpose()
        })
    }

    fn get_node_listener_chain<'a>(
        &'a self,
        node: &'a str,
        interface: Interface,
    ) -> BoxFuture<'a, StoreResult<Option<ListenerChain>>> {
        Box::pin(async move {
            sqlx::query(
                "SELECT key_id, chain FROM node_listener_chains \
                 WHERE node_id = $1 AND interface = $2",
            )
            .bind(node)
            .bind(interface.as_str())
            .fetch_optional(&mut *self.reader().await?)
            .await
            .map_err(db("reading a node's listener chain"))?
            .map(|row| listener_chain_from_row(&row))
            .transpose()
        })
    }

    fn custody_record(&self) -> BoxFuture<'_, StoreResult<Option<String>>> {
        Box::pin(async move {
            sqlx::query("SELECT body FROM custody WHERE id = 1")
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err(db("reading the custody record"))?
                .map(|row| get(&row, "body"))
                .transpose()
        })
    }

    fn read_audit(&self, from_seq: u64, limit: u32) -> BoxFuture<'_, StoreResult<Vec<AuditEvent>>> {
        Box::pin(async move {
            sqlx::query(READ_AUDIT)
                .bind(i64::try_from(from_seq).unwrap_or(i64::MAX))
                .bind(page(limit))
                .fetch_all(&mut *self.reader().await?)
                .await
                .map_err(db("reading audit events"))?
                .iter()
                .map(event_from_row)
                .collect()
        })
    }

    fn audit_head(&self) -> BoxFuture<'_, StoreResult<ChainHead>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&mut *self.reader().await?)
                .await
                .map_err(db("reading the audit chain head"))?;
            Ok(ChainHead {
                seq: to_u64(get(&row, "seq")?, "audit head sequence")?,
                hash: hash32(&get::<Vec<u8>>(&row, "hash")?),
            })
        })
    }

    fn deployment_id(&self) -> BoxFuture<'_, StoreResult<Option<String>>> {
        Box::pin(async move {
            sqlx::query("SELECT deployment_id FROM deployment WHERE id = 1")
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err(db("reading the deployment id"))?
                .map(|row| get(&row, "deployment_id"))
                .transpose()
        })
    }

    fn create_session<'a>(
        &'a self,
        key: &'a [u8; 32],
        record: &'a SessionRecord,
        now_ns: i64,
        idle_since: i64,
        max: u32,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let body = to_json(record)?;
            let mut conn = self.session_writer().await?;
            let mut tx = conn
                .begin_with(SESSION_BEGIN)
                .await
                .map_err(db("starting a session write"))?;
            sqlx::query("DELETE FROM sessions WHERE last_used_ns < $1")
                .bind(idle_since)
                .execute(&mut *tx)
                .await
                .map_err(db("deleting idle sessions"))?;
            let live: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
                .fetch_one(&mut *tx)
                .await
                .map_err(db("counting sessions"))?;
            if live >= i64::from(max) {
                tx.commit()
                    .await
                    .map_err(db("committing a session write"))?;
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO sessions (token_hash, last_used_ns, body) VALUES ($1, $2, $3)",
            )
            .bind(key.to_vec())
            .bind(now_ns)
            .bind(body)
            .execute(&mut *tx)
            .await
            .map_err(db("storing a session"))?;
            tx.commit()
                .await
                .map_err(db("committing a session write"))?;
            Ok(true)
        })
    }

    fn get_session<'a>(
        &'a self,
        key: &'a [u8; 32],
    ) -> BoxFuture<'a, StoreResult<Option<(SessionRecord, i64)>>> {
        Box::pin(async move {
            let Some(row) =
                sqlx::query("SELECT last_used_ns, body FROM sessions WHERE token_hash = $1")
                    .bind(key.to_vec())
                    .fetch_optional(&mut *self.reader().await?)
                    .await
                    .map_err(db("reading a session"))?
            else {
                return Ok(None);
            };
            let record = from_json(&get::<String>(&row, "body")?, "session")?;
            Ok(Some((record, get(&row, "last_used_ns")?)))
        })
    }

    fn update_session<'a>(
        &'a self,
        key: &'a [u8; 32],
        record: Option<&'a SessionRecord>,
        now_ns: i64,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let mut conn = self.session_writer().await?;
            let done = match record {
                Some(record) => sqlx::query(
                    "UPDATE sessions SET body = $2, last_used_ns = $3 WHERE token_hash = $1",
                )
                .bind(key.to_vec())
                .bind(to_json(record)?)
                .bind(now_ns),
                None => sqlx::query("UPDATE sessions SET last_used_ns = $2 WHERE token_hash = $1")
                    .bind(key.to_vec())
                    .bind(now_ns),
            }
            .execute(&mut *conn)
            .await
            .map_err(db("updating a session"))?;
            Ok(done.rows_affected() > 0)
        })
    }

    fn delete_session<'a>(&'a self, key: &'a [u8; 32]) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let done = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                .bind(key.to_vec())
                .execute(&mut *self.session_writer().await?)
                .await
                .map_err(db("deleting a session"))?;
            Ok(done.rows_affected() > 0)
        })
    }
}
