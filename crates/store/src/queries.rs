//! The SQL of both backends, written once. This file is compiled twice, as
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
    KeyLocation, ListenerChain, LoginStateChange, PolicyAlias, Release, ReleaseId, RequestFilter,
    RequestId, Revocation, Role, RoleName, SOFTWARE_BACKEND, SealedKey, SerialNumber,
    SessionRecord, Settings, SigningRequest, Store, StoreError,
};
use sqlx::Row;

use super::{Backend, Db, READ_AUDIT, READ_HEAD, SESSION_BEGIN};
use crate::convert::{
    constraint, corrupt, db, from_json, from_ns, hash32, page, parse, to_i64, to_json, to_ns,
    to_u64,
};
use sqlx::Connection;

type Conn = <Db as sqlx::Database>::Connection;
type DbRow = <Db as sqlx::Database>::Row;

fn flag(value: bool) -> i64 {
    i64::from(value)
}

fn not_found(what: &'static str, key: impl std::fmt::Display) -> StoreError {
    StoreError::NotFound {
        what,
        key: key.to_string(),
    }
}

fn get<'r, T>(row: &'r DbRow, column: &'static str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Db> + sqlx::Type<Db>,
{
    row.try_get(column).map_err(db("decoding a row"))
}

// ---------------------------------------------------------------------------------------------
// Writes

/// Applies changes, then chains and inserts the audit events after `head`, in order. The
/// caller owns the transaction and writes the new head (the last event's).
pub(crate) async fn apply_and_audit(
    conn: &mut Conn,
    changes: &[Change],
    audits: Vec<AuditDraft>,
    head: &ChainHead,
) -> StoreResult<Vec<AuditEvent>> {
    if audits.is_empty() {
        return Err(StoreError::Config {
            what: "a commit needs at least one audit event".to_owned(),
        });
    }
    for change in changes {
        apply(conn, change).await?;
    }
    let mut head = *head;
    let mut events = Vec::with_capacity(audits.len());
    for audit in audits {
        let event = audit.seal(&head);
        head = event.head();
        events.push(event);
    }
    insert_events(conn, &events).await?;
    Ok(events)
}

/// The one event of a single-event commit.
pub(crate) fn single(events: StoreResult<Vec<AuditEvent>>) -> StoreResult<AuditEvent> {
    events?.pop().ok_or_else(|| StoreError::Database {
        operation: "committing",
        detail: "the commit returned no audit event".to_owned(),
    })
}

pub(crate) async fn read_head(conn: &mut Conn) -> StoreResult<ChainHead> {
    let row = sqlx::query(READ_HEAD)
        .fetch_one(&mut *conn)
        .await
        .map_err(db("reading the audit chain head"))?;
    Ok(ChainHead {
        seq: to_u64(get(&row, "seq")?, "audit head sequence")?,
        hash: hash32(&get::<Vec<u8>>(&row, "hash")?),
    })
}

pub(crate) async fn write_head(conn: &mut Conn, head: &ChainHead) -> StoreResult<()> {
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(to_i64(head.seq, "audit sequence")?)
        .bind(head.hash.to_vec())
        .execute(&mut *conn)
        .await
        .map_err(db("writing the audit chain head"))?;
    Ok(())
}

/// Columns of one audit event row, in `INSERT` order.
const EVENT_COLUMNS: usize = 11;

/// Inserts `events` (consecutive, in order) with one statement: one round trip to the driver
/// for a commit's events, however many.
async fn insert_events(conn: &mut Conn, events: &[AuditEvent]) -> StoreResult<()> {
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return Ok(());
    };
    let mut sql = String::from(
        "INSERT INTO audit_events (seq, time_ns, identity, source, interface, action, object, \
         outcome, details, prev_hash, hash) VALUES ",
    );
    for row in 0..events.len() {
        if row > 0 {
            sql.push_str(", ");
        }
        let params: Vec<String> = (1..=EVENT_COLUMNS)
            .map(|column| format!("${}", row * EVENT_COLUMNS + column))
            .collect();
        sql.push('(');
        sql.push_str(&params.join(", "));
        sql.push(')');
    }
    // Only placeholders are generated; every value is bound.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for e in events {
        query = query
            .bind(to_i64(e.seq, "audit sequence")?)
            .bind(to_ns(e.time)?)
            .bind(e.identity.as_deref())
            .bind(e.source.as_deref())
            .bind(e.interface.as_deref())
            .bind(e.action.as_str())
            .bind(e.object.as_deref())
            .bind(e.outcome.as_str())
            .bind(to_json(&e.details)?)
            .bind(e.prev_hash.to_vec())
            .bind(e.hash.to_vec());
    }
    query.execute(&mut *conn).await.map_err(constraint(
        "writing audit events",
        || {
            if first.seq == last.seq {
                format!("audit event {} was written concurrently: retry", first.seq)
            } else {
                format!(
                    "audit events {} to {} were written concurrently: retry",
                    first.seq, last.seq
                )
            }
        },
        String::new,
    ))?;
    Ok(())
}

/// A table whose rows are written under optimistic concurrency: `id`, `state`, a JSON `body`
/// and a `revision` that every update checks and bumps (requests and releases).
struct Revisioned {
    /// `UPDATE … SET state = $3, body = $4, revision = revision + 1 WHERE id = $1 AND revision = $2`.
    update: &'static str,
    /// `SELECT id … WHERE id = $1`.
    select: &'static str,
    what: &'static str,
    operation: &'static str,
}

impl Revisioned {
    /// Writes the next revision of row `id`, read at `revision`: a conflict when someone else
    /// changed it since, not found when it is gone.
    async fn update(
        &self,
        conn: &mut Conn,
        id: &str,
        revision: u64,
        state: &str,
        body: String,
    ) -> StoreResult<()> {
        let query = sqlx::query(self.update)
            .bind(id)
            .bind(to_i64(revision, "revision")?)
            .bind(state)
            .bind(body);
        if exec(conn, query, self.operation).await? > 0 {
            return Ok(());
        }
        let exists = sqlx::query(self.select)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db(self.operation))?;
        Err(match exists {
            None => not_found(self.what, id),
            Some(_) => StoreError::Conflict {
                what: format!(
                    "{} {id} was changed at the same time by someone else: reload it and retry",
                    self.what
                ),
            },
        })
    }
}

async fn exec(
    conn: &mut Conn,
    query: sqlx::query::Query<'_, Db, <Db as sqlx::Database>::Arguments>,
    operation: &'static str,
) -> StoreResult<u64> {
    Ok(query
        .execute(&mut *conn)
        .await
        .map_err(db(operation))?
        .rows_affected())
}

async fn apply(conn: &mut Conn, change: &Change) -> StoreResult<()> {
    match change {
        Change::CreateIdentity(identity) => {
            let name = identity.name.as_str();
            sqlx::query(
                "INSERT INTO identities (name, kind, enabled, locked, failed_logins, \
                 password_hash, require_client_certificate, locked_until_ns) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(name)
            .bind(identity.kind.as_str())
            .bind(flag(identity.enabled))
            .bind(flag(identity.locked))
            .bind(i64::from(identity.failed_logins))
            .bind(identity.password.as_ref().map(|p| p.as_str()))
            .bind(flag(identity.require_client_certificate))
            .bind(identity.locked_until.map(to_ns).transpose()?)
            .execute(&mut *conn)
            .await
            .map_err(constraint(
                "creating an identity",
                || format!("identity {name} already exists"),
                String::new,
            ))?;
            insert_identity_roles(conn, identity).await
        }
        Change::UpdateIdentity(identity) => {
            let name = identity.name.as_str();
            let n = exec(
                conn,
                sqlx::query(
                    "UPDATE identities SET kind = $2, enabled = $3, locked = $4, \
                     failed_logins = $5, password_hash = $6, require_client_certificate = $7, \
                     locked_until_ns = $8 WHERE name = $1",
                )
                .bind(name)
                .bind(identity.kind.as_str())
                .bind(flag(identity.enabled))
                .bind(flag(identity.locked))
                .bind(i64::from(identity.failed_logins))
                .bind(identity.password.as_ref().map(|p| p.as_str()))
                .bind(flag(identity.require_client_certificate))
                .bind(identity.locked_until.map(to_ns).transpose()?),
                "updating an identity",
            )
            .await?;
            if n == 0 {
                return Err(not_found("identity", name));
            }
            exec(
                conn,
                sqlx::query("DELETE FROM identity_roles WHERE identity = $1").bind(name),
                "updating an identity's roles",
            )
            .await?;
            insert_identity_roles(conn, identity).await
        }
        Change::DeleteIdentity(name) => {
            let n = exec(
                conn,
                sqlx::query("DELETE FROM identities WHERE name = $1").bind(name.as_str()),
                "deleting an identity",
            )
            .await?;
            if n == 0 {
                return Err(not_found("identity", name));
            }
            Ok(())
        }
        Change::RecordLogin { identity, change } => {
            let query = match change {
                LoginStateChange::Reset => sqlx::query(
                    "UPDATE identities SET failed_logins = 0, locked = 0, \
                         locked_until_ns = NULL WHERE name = $1",
                )
                .bind(identity.as_str()),
                // Every expression reads the old counter: SQL evaluates SET against the old row.
                LoginStateChange::Failure {
                    lock_threshold,
                    lock_until,
                } => sqlx::query(
                    "UPDATE identities SET failed_logins = failed_logins + 1, \
                     locked = CASE WHEN failed_logins + 1 >= $2 THEN 1 ELSE locked END, \
                     locked_until_ns = CASE WHEN failed_logins + 1 >= $2 THEN $3 \
                     ELSE locked_until_ns END \
                     WHERE name = $1",
                )
                .bind(identity.as_str())
                .bind(i64::from(*lock_threshold))
                .bind(to_ns(*lock_until)?),
            };
            if exec(conn, query, "recording a login").await? == 0 {
                return Err(not_found("identity", identity));
            }
            Ok(())
        }
        Change::AddApiKey(key) => {
            sqlx::query(
                "INSERT INTO api_keys (id, identity, secret_hash, label, created_ns) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(key.id.as_str())
            .bind(key.identity.as_str())
            .bind(key.secret_hash.to_vec())
            .bind(key.label.as_str())
            .bind(to_ns(key.created)?)
            .execute(&mut *conn)
            .await
            .map_err(constraint(
                "adding an API key",
                || format!("API key {} already exists: generate a new one", key.id),
                || format!("identity {} does not exist", key.identity),
            ))?;
            Ok(())
        }
        Change::DeleteApiKey(id) => {
            let n = exec(
                conn,
                sqlx::query("DELETE FROM api_keys WHERE id = $1").bind(id.as_str()),
                "deleting an API key",
            )
            .await?;
            if n == 0 {
                return Err(not_found("API key", id));
            }
            Ok(())
        }
        Change::CreateRole(role) => {
            let name = role.name().as_str();
            sqlx::query("INSERT INTO roles (name, body) VALUES ($1, $2)")
                .bind(name)
                .bind(to_json(role)?)
                .execute(&mut *conn)
                .await
                .map_err(constraint(
                    "creating a role",
                    || format!("role {name} already exists"),
                    String::new,
                ))?;
            Ok(())
        }
        Change::UpdateRole(role) => {
            let n = exec(
                conn,
                sqlx::query("UPDATE roles SET body = $2 WHERE name = $1")
                    .bind(role.name().as_str())
                    .bind(to_json(role)?),
                "updating a role",
            )
            .await?;
            if n == 0 {
                return Err(not_found("role", role.name()));
            }
            Ok(())
        }
        Change::DeleteRole(name) => {
            let n = sqlx::query("DELETE FROM roles WHERE name = $1")
                .bind(name.as_str())
                .execute(&mut *conn)
                .await
                .map_err(constraint("deleting a role", String::new, || {
                    format!("role {name} is still held by identities: remove it from them first")
                }))?
                .rows_affected();
            if n == 0 {
                return Err(not_found("role", name));
            }
            Ok(())
        }
        Change::CreateGroup(group) => {
            let name = group.name.as_str();
            sqlx::query("INSERT INTO approval_groups (name) VALUES ($1)")
                .bind(name)
                .execute(&mut *conn)
                .await
                .map_err(constraint(
                    "creating an approval group",
                    || format!("approval group {name} already exists"),
                    String::new,
                ))?;
            insert_members(conn, group).await
        }
        Change::UpdateGroup(group) => {
            let exists = sqlx::query("SELECT name FROM approval_groups WHERE name = $1")
                .bind(group.name.as_str())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db("updating an approval group"))?;
            if exists.is_none() {
                return Err(not_found("approval group", &group.name));
            }
            exec(
                conn,
                sqlx::query("DELETE FROM group_members WHERE group_name = $1")
                    .bind(group.name.as_str()),
                "updating an approval group",
            )
            .await?;
            insert_members(conn, group).await
        }
        Change::DeleteGroup(name) => {
            let n = sqlx::query("DELETE FROM approval_groups WHERE name = $1")
                .bind(name.as_str())
                .execute(&mut *conn)
                .await
                .map_err(constraint(
                    "deleting an approval group",
                    String::new,
                    || {
                        format!(
                            "approval group {name} is still named by policies: change them first"
                        )
                    },
                ))?
                .rows_affected();
            if n == 0 {
                return Err(not_found("approval group", name));
            }
            Ok(())
        }
        Change::CreatePolicy(policy) => {
            let alias = policy.alias().as_str();
            let d = policy.draft();
            sqlx::query(
                "INSERT INTO policies (alias, key_id, certificate, approval_group, body) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(alias)
            .bind(d.key_id.to_string())
            .bind(d.certificate.as_str())
            .bind(d.approval_group.as_ref().map(GroupName::as_str))
            .bind(to_json(policy)?)
            .execute(&mut *conn)
            .await
            .map_err(constraint(
                "creating a policy",
                || format!("policy {alias} already exists"),
                || format!("policy {alias} names a key, certificate or approval group that does not exist"),
            ))?;
            Ok(())
        }
        Change::UpdatePolicy(policy) => {
            let alias = policy.alias().as_str();
            let d = policy.draft();
            let n = sqlx::query(
                "UPDATE policies SET key_id = $2, certificate = $3, approval_group = $4, \
                 body = $5 WHERE alias = $1",
            )
            .bind(alias)
            .bind(d.key_id.to_string())
            .bind(d.certificate.as_str())
            .bind(d.approval_group.as_ref().map(GroupName::as_str))
            .bind(to_json(policy)?)
            .execute(&mut *conn)
            .await
            .map_err(constraint("updating a policy", String::new, || {
                format!(
                    "policy {alias} names a key, certificate or approval group that does not exist"
                )
            }))?
            .rows_affected();
            if n == 0 {
                return Err(not_found("policy", alias));
            }
            Ok(())
        }
        Change::DeletePolicy(alias) => {
            let n = sqlx::query("DELETE FROM policies WHERE alias = $1")
                .bind(alias.as_str())
                .execute(&mut *conn)
                .await
                .map_err(constraint("deleting a policy", String::new, || {
                    format!("policy {alias} has signing requests: it cannot be deleted")
                }))?
                .rows_affected();
            if n == 0 {
                return Err(not_found("policy", alias));
            }
            Ok(())
        }
        Change::CreateRequest(request) => {
            let id = request.id();
            sqlx::query(
                "INSERT INTO signing_requests (id, policy, requester, state, created_ns, \
                 expires_ns, revision, body, release_id, release_index) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9)",
            )
            .bind(id.to_string())
            .bind(request.policy().as_str())
            .bind(request.requester().as_str())
            .bind(request.status().as_str())
            .bind(to_ns(request.created())?)
            .bind(to_ns(request.expires())?)
            .bind(to_json(request)?)
            .bind(request.release().map(|r| r.to_string()))
            .bind(request.release_index().map(i64::from))
            .execute(&mut *conn)
            .await
            .map_err(constraint(
                "creating a signing request",
                || format!("signing request {id} already exists"),
                || format!("policy {} or its release does not exist", request.policy()),
            ))?;
            Ok(())
        }
        Change::CreateRelease(release) => {
            let id = release.id();
            sqlx::query(
                "INSERT INTO releases (id, policy, requester, state, created_ns, revision, body) \
                 VALUES ($1, $2, $3, $4, $5, 0, $6)",
            )
            .bind(id.to_string())
            .bind(release.policy().as_str())
            .bind(release.requester().as_str())
            .bind(release.status().as_str())
            .bind(to_ns(release.created())?)
            .bind(to_json(release)?)
            .execute(&mut *conn)
            .await
            .map_err(constraint(
                "creating a release",
                || format!("release {id} already exists"),
                || format!("policy {} does not exist", release.policy()),
            ))?;
            Ok(())
        }
        Change::UpdateRelease(release) => {
            let row = Revisioned {
                update: "UPDATE releases SET state = $3, body = $4, revision = revision + 1 \
                         WHERE id = $1 AND revision = $2",
                select: "SELECT id FROM releases WHERE id = $1",
                what: "release",
                operation: "updating a release",
            };
            row.update(
                conn,
                &release.id().to_string(),
                release.revision(),
                release.status().as_str(),
                to_json(release)?,
            )
            .await
        }
        Change::UpdateRequest(request) => {
            let row = Revisioned {
                update: "UPDATE signing_requests SET state = $3, body = $4, revision = revision + 1 \
                         WHERE id = $1 AND revision = $2",
                select: "SELECT id FROM signing_requests WHERE id = $1",
                what: "signing request",
                operation: "updating a signing request",
            };
            row.update(
                conn,
                &request.id().to_string(),
                request.revision(),
                request.status().as_str(),
                to_json(request)?,
            )
            .await
        }
        Change::PutSettings(settings) => {
            settings.validate().map_err(|e| StoreError::Conflict {
                what: e.to_string(),
            })?;
            for (key, value) in settings.to_pairs() {
                exec(
                    conn,
                    sqlx::query(
                        "INSERT INTO settings (key, value) VALUES ($1, $2) \
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    )
                    .bind(key)
                    .bind(value),
                    "writing settings",
                )
                .await?;
            }
            Ok(())
        }
        Change::SetCommandEnabled { code, enabled } => {
            let query = if *enabled {
                sqlx::query(
                    "INSERT INTO enabled_commands (code) VALUES ($1) ON CONFLICT DO NOTHING",
                )
            } else {
                sqlx::query("DELETE FROM enabled_commands WHERE code = $1")
            };
            exec(conn, query.bind(code.as_str()), "enabling a command").await?;
            Ok(())
        }
        Change::AddSealedKey(key) => {
            // HSM keys keep an empty `sealed` (see migration 0002) and their object's id/label.
            let (sealed, object_id, label): (&[u8], Option<&[u8]>, Option<&str>) =
                match &key.location {
                    KeyLocation::Software { sealed } => (sealed, None, None),
                    KeyLocation::Hsm {
                        object_id, label, ..
                    } => (&[], Some(object_id), Some(label)),
                };
            sqlx::query(
                "INSERT INTO sealed_keys (id, algorithm, purpose, public_key, sealed, created_ns, \
                 backend, hsm_object_id, hsm_label) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(key.id.to_string())
            .bind(key.algorithm.as_str())
            .bind(key.purpose.as_str())
            .bind(key.public_key_der.as_slice())
            .bind(sealed)
            .bind(to_ns(key.created)?)
            .bind(key.location.backend())
            .bind(object_id)
            .bind(label)
            .execute(&mut *conn)
            .await
            .map_err(constraint(
                "adding a key",
                || format!("key {} already exists", key.id),
                String::new,
            ))?;
            Ok(())
        }
        Change::CreateCa(ca) => {
            let name = ca.name.as_str();
            sqlx::query(
                "INSERT INTO cas (name, key_id, certificate, parent, next_serial, \
                 next_crl_number) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(name)
            .bind(ca.key_id.to_string())
            .bind(ca.certificate_der.as_slice())
            .bind(ca.parent.as_ref().map(CaName::as_str))
            .bind(to_i64(ca.next_serial, "serial counter")?)
            .bind(to_i64(ca.next_crl_number, "CRL number")?)
            .execute(&mut *conn)
            .await
            .map_err(constraint(
                "creating a CA",
                || format!("CA {name} already exists"),
                || format!("CA {name} names a key or parent CA that does not exist"),
            ))?;
            Ok(())
        }
        Change::UpdateCaCounters {
            name,
            next_serial,
            next_crl_number,
        } => {
            let n = exec(
                conn,
                sqlx::query(
                    "UPDATE cas SET \
                     next_serial = CASE WHEN next_serial < $2 THEN $2 ELSE next_serial END, \
                     next_crl_number = CASE WHEN next_crl_number < $3 THEN $3 ELSE next_crl_number END \
                     WHERE name = $1",
                )
                .bind(name.as_str())
                .bind(to_i64(*next_serial, "serial counter")?)
                .bind(to_i64(*next_crl_number, "CRL number")?),
                "updating CA counters",
            )
            .await?;
            if n == 0 {
                return Err(not_found("CA", name));
            }
            Ok(())
        }
        Change::AddCertificate(cert) => {
            let serial = cert.serial.as_str();
            let (issuer, external_issuer, external_chain) = match &cert.issuer {
                CertificateIssuer::Ca(name) => (Some(name.as_str()), None, None),
                CertificateIssuer::External(external) => {
                    let hex_chain: Vec<String> = external.chain.iter().map(hex::encode).collect();
                    (
                        None,
                        Some(external.name.as_str()),
                        Some(to_json(&hex_chain)?),
                    )
                }
            };
            sqlx::query(
                "INSERT INTO certificates (serial, issuer, profile, subject, der, not_before_ns, \
                 not_after_ns, key_id, revoked_ns, revocation_reason, external_issuer, \
                 external_chain) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(serial)
            .bind(issuer)
            .bind(cert.profile.as_str())
            .bind(cert.subject.as_str())
            .bind(cert.der.as_slice())
            .bind(to_ns(cert.not_before)?)
            .bind(to_ns(cert.not_after)?)
            .bind(cert.key_id.map(|k| k.to_string()))
            .bind(cert.revocation.map(|r| to_ns(r.at)).transpose()?)
            .bind(cert.revocation.map(|r| r.reason.as_str()))
            .bind(external_issuer)
            .bind(external_chain)
            .execute(&mut *conn)
            .await
            .map_err(constraint(
                "adding a certificate",
                || format!("a certificate with serial {serial} already exists"),
                || format!("certificate {serial} names a CA or key that does not exist"),
            ))?;
            Ok(())
        }
        Change::RevokeCertificate { serial, revocation } => {
            let n = exec(
                conn,
                sqlx::query(
                    "UPDATE certificates SET revoked_ns = $2, revocation_reason = $3 \
                     WHERE serial = $1 AND revoked_ns IS NULL",
                )
                .bind(serial.as_str())
                .bind(to_ns(revocation.at)?)
                .bind(revocation.reason.as_str()),
                "revoking a certificate",
            )
            .await?;
            if n == 0 {
                let exists = sqlx::query("SELECT serial FROM certificates WHERE serial = $1")
                    .bind(serial.as_str())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db("revoking a certificate"))?;
                return Err(match exists {
                    None => not_found("certificate", serial),
                    Some(_) => StoreError::Conflict {
                        what: format!("certificate {serial} is already revoked"),
                    },
                });
            }
            Ok(())
        }
        Change::PutListenerChain { interface, chain } => {
            let hex_chain: Vec<String> = chain.certificates.iter().map(hex::encode).collect();
            sqlx::query(
                "INSERT INTO listener_chains (interface, key_id, chain) VALUES ($1, $2, $3) \
                 ON CONFLICT (interface) DO UPDATE SET key_id = excluded.key_id, chain = excluded.chain",
            )
            .bind(interface.as_str())
            .bind(chain.key_id.to_string())
            .bind(to_json(&hex_chain)?)
            .execute(&mut *conn)
            .await
            .map_err(constraint("setting a listener chain", String::new, || {
                format!("key {} does not exist", chain.key_id)
            }))?;
            Ok(())
        }
        Change::PutNodeListenerChain {
            node,
            interface,
            chain,
        } => {
            let hex_chain: Vec<String> = chain.certificates.iter().map(hex::encode).collect();
            sqlx::query(
                "INSERT INTO node_listener_chains (node_id, interface, key_id, chain) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (node_id, interface) \
                 DO UPDATE SET key_id = excluded.key_id, chain = excluded.chain",
            )
            .bind(node.as_str())
            .bind(interface.as_str())
            .bind(chain.key_id.to_string())
            .bind(to_json(&hex_chain)?)
            .execute(&mut *conn)
            .await
            .map_err(constraint(
                "setting a node's listener chain",
                String::new,
                || format!("key {} does not exist", chain.key_id),
            ))?;
            Ok(())
        }
        Change::SetDeploymentId(id) => {
            exec(
                conn,
                sqlx::query("INSERT INTO deployment (id, deployment_id) VALUES (1, $1)")
                    .bind(id.as_str()),
                "recording the deployment id",
            )
            .await
            .map_err(|_| StoreError::Conflict {
                what: "the database already belongs to a deployment".to_owned(),
            })?;
            Ok(())
        }
        Change::PutCustodyRecord(body) => {
            exec(
                conn,
                sqlx::query(
                    "INSERT INTO custody (id, body) VALUES (1, $1) \
                     ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                )
                .bind(body.as_str()),
                "writing the custody record",
            )
            .await?;
            Ok(())
        }
        _ => Err(corrupt("this store does not know the requested change")),
    }
}

async fn insert_identity_roles(conn: &mut Conn, identity: &Identity) -> StoreResult<()> {
    for role in &identity.roles {
        sqlx::query("INSERT INTO identity_roles (identity, role) VALUES ($1, $2)")
            .bind(identity.name.as_str())
            .bind(role.as_str())
            .execute(&mut *conn)
            .await
            .map_err(constraint("assigning roles", String::new, || {
                format!("role {role} does not exist")
            }))?;
    }
    Ok(())
}

async fn insert_members(conn: &mut Conn, group: &ApprovalGroup) -> StoreResult<()> {
    for member in &group.members {
        sqlx::query("INSERT INTO group_members (group_name, identity) VALUES ($1, $2)")
            .bind(group.name.as_str())
            .bind(member.as_str())
            .execute(&mut *conn)
            .await
            .map_err(constraint("adding group members", String::new, || {
                format!("identity {member} does not exist")
            }))?;
    }
    Ok(())
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
