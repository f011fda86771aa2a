//! The permission tables of both listeners, generated from the server's own lists: every
//! HTTPS route (`sigil_server::API_ROUTES`, where a route cannot be declared without its
//! operation) and every Host API command (`Command::KNOWN` with `sigil_server::requirement`)
//! is refused with `NOT_PERMITTED` to a session that lacks what its `Need` names (every other
//! permission granted) and is not refused for permission reasons to a session holding just
//! that (each one of an `AnyOf`, all of an `AllOf`).
//!
//! One deployment per test (the Host API test world, whose HTTPS listener runs too), with
//! one role and one identity per permission set the table needs, usable on both listeners.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod https_common;

use std::collections::{BTreeMap, BTreeSet};

use https_common::{Client, Reply, parse_reply};
use serde_json::{Value, json};
use sigil_domain::{Change, Interface, Permission, Role, RoleClass, RoleDraft, RoleName, RoleType};
use sigil_proto::{Command, ErrorCode, HashAlgorithm, Request, RequestId, Response};
use sigil_server::service::authorize::Need;
use sigil_testkit::hostapi::{PASSWORD, World, assert_code, commit, identity, upload, world_with};

/// The permission sets to log in with for an operation that needs `need`, each with whether
/// the operation must be allowed: for `AnyOf`, every permission but those is refused and each
/// one alone is allowed; for `AllOf`, lacking any one is refused and all of them are allowed.
/// `Nothing` and `Login` are allowed to a session without permissions.
fn cases(need: Need) -> Vec<(BTreeSet<Permission>, bool)> {
    let without = |gone: &[Permission]| -> BTreeSet<Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(|p| !gone.contains(p))
            .collect()
    };
    match need {
        Need::Nothing | Need::Login => vec![(BTreeSet::new(), true)],
        Need::AnyOf(permissions) => {
            assert!(!permissions.is_empty(), "{need:?}");
            let mut cases = vec![(without(permissions), false)];
            cases.extend(
                permissions
                    .iter()
                    .map(|p| ([*p].into_iter().collect(), true)),
            );
            cases
        }
        Need::AllOf(permissions) => {
            assert!(!permissions.is_empty(), "{need:?}");
            let mut cases: Vec<_> = permissions
                .iter()
                .map(|p| (without(&[*p]), false))
                .collect();
            cases.push((permissions.iter().copied().collect(), true));
            cases
        }
    }
}

/// A deployment with one role (on both listeners) and one identity (password [`PASSWORD`])
/// per permission set of `needs`' cases; returns the identity holding each set.
async fn deployment(
    needs: impl Iterator<Item = Need>,
) -> (World, BTreeMap<BTreeSet<Permission>, String>) {
    // Every refusal counts as a failure of the source address: the table makes hundreds.
    let world = world_with(|c| c.failure_limit.limit = 100_000).await;
    let sets: BTreeSet<BTreeSet<Permission>> = needs.flat_map(cases).map(|(set, _)| set).collect();
    let mut holders = BTreeMap::new();
    let mut changes = Vec::new();
    for (i, set) in sets.into_iter().enumerate() {
        let name = format!("perm-set-{i}");
        changes.push(Change::CreateRole(
            Role::new(RoleDraft {
                name: RoleName::new(name.as_str()).unwrap(),
                role_type: RoleType::Application,
                class: RoleClass::Principal,
                logins_required: 1,
                permissions: set.clone(),
                interfaces: [Interface::HostApi, Interface::Https].into_iter().collect(),
            })
            .unwrap(),
        ));
        changes.push(Change::CreateIdentity(Box::new(identity(&name, &[&name]))));
        holders.insert(set, name);
    }
    commit(&world.state(), changes).await;
    (world, holders)
}

// ---- HTTPS --------------------------------------------------------------------------------

/// Every route of the HTTPS API is refused with `403 NOT_PERMITTED` to a session that lacks
/// its permission before its path or body is read, and is not refused for permission reasons
/// to a session holding just that permission; each refusal is audited under the route's
/// action. Routes that need only a login answer `401` without a session; routes that need
/// nothing are not refused to a session without permissions.
#[tokio::test]
async fn every_route_is_refused_without_its_permission_and_allowed_with_it() {
    let routes = sigil_server::API_ROUTES;
    let (world, holders) = deployment(routes.iter().map(|r| r.operation.need)).await;
    let client = Client::new(world.server().https_addr(), &world.root);

    let mut checked = BTreeSet::new();
    for route in routes {
        let path: String = route
            .path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "0000"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let method = route.method.to_ascii_uppercase();
        if route.operation.need == Need::Login {
            let anonymous = client.call(&method, &path, None, Some(json!({}))).await;
            let what = format!("{method} {} without a session", route.path);
            assert_eq!(anonymous.status, 401, "{what}: {anonymous:?}");
            assert_eq!(anonymous.code(), "NOT_LOGGED_IN", "{what}: {anonymous:?}");
        }
        for (set, allowed) in cases(route.operation.need) {
            let what = format!("{method} {} ({set:?})", route.path);
            // A fresh session for every call: `logout` ends the one it is given.
            let holder = &holders[&set];
            let login = client.login(None, holder, PASSWORD).await;
            assert_eq!(login.status, 200, "login of {holder}: {login:?}");
            let token = login.body["session"].as_str().unwrap().to_owned();
            // A body no handler accepts: a refusal must come before the body is read.
            let bytes = client
                .raw_bytes(
                    &method,
                    &format!("/api/v1{path}"),
                    Some(&token),
                    br#"{"unexpected": true}"#,
                )
                .await;
            // The time-stamping route answers DER, not JSON: only a JSON body has an error code.
            let reply = if route.path == "/timestamp" {
                let status = String::from_utf8_lossy(&bytes)
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap();
                Reply {
                    status,
                    body: Value::Null,
                }
            } else {
                parse_reply(&bytes)
            };
            if allowed {
                assert!(
                    reply.status != 401 && reply.status != 403 && reply.code() != "NOT_PERMITTED",
                    "{what} must not be refused for permission: {reply:?}"
                );
            } else {
                assert_eq!(reply.status, 403, "{what} must be refused: {reply:?}");
                assert_eq!(reply.code(), "NOT_PERMITTED", "{what}: {reply:?}");
                assert!(
                    reply.message().contains("needs permission")
                        || reply.message().contains("needs one of the permissions"),
                    "{what}: {reply:?}"
                );
            }
        }
        checked.insert((route.method, route.path));
    }
    assert_eq!(checked.len(), routes.len());

    // Each refusal is in the audit log under the route's action.
    let events = world.state().store.read_audit(0, 100_000).await.unwrap();
    for route in routes {
        if !route.operation.need.permissions().is_empty() {
            assert!(
                events.iter().any(|e| e.action == route.operation.action
                    && e.outcome == "failure"
                    && e.interface.as_deref() == Some("https")),
                "no audited refusal of {} {}",
                route.method,
                route.path
            );
        }
    }
}

// ---- Host API ---------------------------------------------------------------------------

fn not_permitted(answer: &Response) -> bool {
    matches!(answer, Response::Failure(f) if f.code == ErrorCode::NotPermitted)
}

/// A well-formed request of `command` that passes decoding, so the permission table decides:
/// the match is exhaustive, so a new command does not compile until it has a sample here.
fn sample(command: Command) -> Option<Request> {
    let id = || RequestId::new(uuid::Uuid::new_v4().to_string()).unwrap();
    let upload = || upload("no-such-policy", HashAlgorithm::Sha256, &[7; 32]);
    Some(match command {
        Command::Echo => Request::Echo,
        Command::Time => Request::Time,
        Command::Login => Request::Login(sigil_proto::Login {
            identity: "nobody".into(),
            password: sigil_proto::Password::new("not the password"),
        }),
        Command::Capabilities => Request::Capabilities,
        Command::ListPolicies => Request::ListPolicies,
        Command::GetPolicy => Request::GetPolicy {
            policy: "no-such-policy".into(),
        },
        Command::UploadHash => Request::UploadHash(upload()),
        Command::RetrieveHash => Request::RetrieveHash { id: id() },
        Command::UploadAuthenticode => {
            Request::UploadAuthenticode(sigil_proto::AuthenticodeUpload {
                upload: upload(),
                program_name: None,
                program_url: None,
                subject: None,
            })
        }
        Command::RetrieveAuthenticode => Request::RetrieveAuthenticode { id: id() },
        Command::UploadJar => Request::UploadJar(sigil_proto::JarUpload {
            upload: upload(),
            entry_count: None,
            signer_name: None,
        }),
        Command::RetrieveJar => Request::RetrieveJar { id: id() },
        Command::OpenRelease => Request::OpenRelease(sigil_proto::OpenRelease {
            policy: "no-such-policy".into(),
            files: 1,
            metadata: Default::default(),
        }),
        Command::GetRelease => Request::GetRelease {
            id: sigil_proto::ReleaseId::new(uuid::Uuid::new_v4().to_string()).unwrap(),
        },
        Command::UploadOpenPgp => Request::UploadOpenPgp(sigil_proto::OpenPgpUpload {
            upload: upload(),
            created: time::OffsetDateTime::now_utc(),
        }),
        Command::RetrieveOpenPgp => Request::RetrieveOpenPgp { id: id() },
        Command::GetOpenPgpKey => Request::GetOpenPgpKey {
            policy: "no-such-policy".into(),
        },
        Command::Unknown(_) => return None,
    })
}

/// Every Host API command is refused with `NOT_PERMITTED` to a session that lacks its
/// permission and is not refused for permission reasons to a session holding just that
/// permission; commands that need none are answered to a session without permissions.
#[tokio::test]
async fn every_command_is_refused_without_its_permission_and_allowed_with_it() {
    let (world, holders) =
        deployment(Command::KNOWN.iter().map(|c| sigil_server::requirement(*c))).await;
    let mut checked = 0;
    for &command in Command::KNOWN {
        let Some(request) = sample(command) else {
            continue;
        };
        let need = sigil_server::requirement(command);
        assert!(
            matches!(need, Need::Nothing | Need::AnyOf(_)),
            "{command:?}: the Host API table uses only Nothing and AnyOf, not {need:?}"
        );
        for (set, allowed) in cases(need) {
            let mut holder = world.logged_in(&holders[&set]).await;
            let answer = holder.call(request.clone()).await;
            if allowed {
                assert!(
                    !not_permitted(&answer),
                    "{command:?} with {set:?} must not be refused for permission: {answer:?}"
                );
            } else {
                assert_code(&answer, ErrorCode::NotPermitted);
            }
        }
        checked += 1;
    }
    assert_eq!(checked, Command::KNOWN.len());
}
