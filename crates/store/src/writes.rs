//! The write SQL of every backend, written once. This file is compiled three times: inside
//! `postgres::queries` and `sqlite::queries` (sqlx, where `query` is `sqlx::query`) and as
//! `sqlite::writer::writes`, where `query` is the small synchronous rusqlite adapter of the
//! SQLite writer thread (`sqlite/statement.rs`). The parent supplies `Conn`, `Query`, `query`,
//! `query_owned` (generated SQL), `get` (a column of a row) and `READ_HEAD`.

use sigil_domain::store::StoreResult;
use sigil_domain::{
    ApprovalGroup, AuditDraft, AuditEvent, CaName, CertificateIssuer, ChainHead, Change, GroupName,
    Identity, KeyLocation, LoginStateChange, StoreError,
};

use super::{Conn, Query, READ_HEAD, get, query, query_owned};
use crate::convert::{constraint, corrupt, db, hash32, to_i64, to_json, to_ns, to_u64};
fn flag(value: bool) -> i64 {
    i64::from(value)
}

fn not_found(what: &'static str, key: impl std::fmt::Display) -> StoreError {
    StoreError::NotFound {
        what,
        key: key.to_string(),
    }
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

pub(crate) async fn read_head(conn: &mut Conn) -> StoreResult<ChainHead> {
    let row = query(READ_HEAD)
        .fetch_one(&mut *conn)
        .await
        .map_err(db("reading the audit chain head"))?;
    Ok(ChainHead {
        seq: to_u64(get(&row, "seq")?, "audit head sequence")?,
        hash: hash32(&get::<Vec<u8>>(&row, "hash")?),
    })
}

pub(crate) async fn write_head(conn: &mut Conn, head: &ChainHead) -> StoreResult<()> {
    query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
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
        sql.push_str(if row > 0 { ", (" } else { "(" });
        for column in 1..=EVENT_COLUMNS {
            if column > 1 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(row * EVENT_COLUMNS + column).to_string());
        }
        sql.push(')');
    }
    // Only placeholders are generated; every value is bound.
    let mut statement = query_owned(sql);
    for e in events {
        statement = statement
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
    statement.execute(&mut *conn).await.map_err(constraint(
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
        let statement = query(self.update)
            .bind(id)
            .bind(to_i64(revision, "revision")?)
            .bind(state)
            .bind(body);
        if exec(conn, statement, self.operation).await? > 0 {
            return Ok(());
        }
        let exists = query(self.select)
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

async fn exec(conn: &mut Conn, statement: Query<'_>, operation: &'static str) -> StoreResult<u64> {
    Ok(statement
        .execute(&mut *conn)
        .await
        .map_err(db(operation))?
        .rows_affected())
}

async fn apply(conn: &mut Conn, change: &Change) -> StoreResult<()> {
    match change {
        Change::CreateIdentity(identity) => {
            let name = identity.name.as_str();
            query(
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
                query(
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
                query("DELETE FROM identity_roles WHERE identity = $1").bind(name),
                "updating an identity's roles",
            )
            .await?;
            insert_identity_roles(conn, identity).await
        }
        Change::DeleteIdentity(name) => {
            let n = exec(
                conn,
                query("DELETE FROM identities WHERE name = $1").bind(name.as_str()),
                "deleting an identity",
            )
            .await?;
            if n == 0 {
                return Err(not_found("identity", name));
            }
            Ok(())
        }
        Change::RecordLogin { identity, change } => {
            let statement = match change {
                LoginStateChange::Reset => query(
                    "UPDATE identities SET failed_logins = 0, locked = 0, \
                         locked_until_ns = NULL WHERE name = $1",
                )
                .bind(identity.as_str()),
                // Every expression reads the old counter: SQL evaluates SET against the old row.
                LoginStateChange::Failure {
                    lock_threshold,
                    lock_until,
                } => query(
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
            if exec(conn, statement, "recording a login").await? == 0 {
                return Err(not_found("identity", identity));
            }
            Ok(())
        }
        Change::AddApiKey(key) => {
            query(
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
                query("DELETE FROM api_keys WHERE id = $1").bind(id.as_str()),
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
            query("INSERT INTO roles (name, body) VALUES ($1, $2)")
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
                query("UPDATE roles SET body = $2 WHERE name = $1")
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
            let n = query("DELETE FROM roles WHERE name = $1")
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
            query("INSERT INTO approval_groups (name) VALUES ($1)")
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
            let exists = query("SELECT name FROM approval_groups WHERE name = $1")
                .bind(group.name.as_str())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db("updating an approval group"))?;
            if exists.is_none() {
                return Err(not_found("approval group", &group.name));
            }
            exec(
                conn,
                query("DELETE FROM group_members WHERE group_name = $1").bind(group.name.as_str()),
                "updating an approval group",
            )
            .await?;
            insert_members(conn, group).await
        }
        Change::DeleteGroup(name) => {
            let n = query("DELETE FROM approval_groups WHERE name = $1")
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
            query(
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
            let n = query(
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
            let n = query("DELETE FROM policies WHERE alias = $1")
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
            query(
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
            query(
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
                    query(
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
            let statement = if *enabled {
                query("INSERT INTO enabled_commands (code) VALUES ($1) ON CONFLICT DO NOTHING")
            } else {
                query("DELETE FROM enabled_commands WHERE code = $1")
            };
            exec(conn, statement.bind(code.as_str()), "enabling a command").await?;
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
            query(
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
            query(
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
                query(
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
            query(
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
                query(
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
                let exists = query("SELECT serial FROM certificates WHERE serial = $1")
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
            query(
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
            query(
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
                query("INSERT INTO deployment (id, deployment_id) VALUES (1, $1)")
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
                query(
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
        query("INSERT INTO identity_roles (identity, role) VALUES ($1, $2)")
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
        query("INSERT INTO group_members (group_name, identity) VALUES ($1, $2)")
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
