//! Every response view reads the JSON the server writes and writes it back unchanged (also
//! with its optional fields left out), so a client that re-serialises a view prints what the
//! server sent.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sigil_api::admin::{AuditEvent, Settings};
use sigil_api::keys::{ImportedView, KeyView};
use sigil_api::login::Health;
use sigil_api::pki::{CaView, CertificateView};
use sigil_api::releases::ReleaseView;
use sigil_api::requests::RequestView;

fn round_trip<T: DeserializeOwned + Serialize>(sent: Value) {
    let view: T = serde_json::from_value(sent.clone())
        .unwrap_or_else(|e| unreachable!("{sent} does not read as the view: {e}"));
    assert_eq!(serde_json::to_value(&view).ok(), Some(sent));
}

/// `value` with `key` set (`value` is an object).
fn with(mut value: Value, key: &str, field: Value) -> Value {
    if let Some(map) = value.as_object_mut() {
        map.insert(key.to_owned(), field);
    }
    value
}

fn certificate(chain: bool) -> Value {
    let mut c = json!({
        "serial": "1f", "subject": "CN=a", "issuer": "root", "external": false,
        "profile": "code-signing", "not_before": "2026-01-01T00:00:00Z",
        "not_after": "2027-01-01T00:00:00Z", "key_id": null,
        "revocation": {"at": "2026-02-01T00:00:00Z", "reason": "superseded"},
        "pem": "-----BEGIN CERTIFICATE-----\n",
    });
    if chain {
        c = with(c, "chain_pem", json!("-----BEGIN CERTIFICATE-----\n"));
    }
    c
}

#[test]
fn pki_views() {
    round_trip::<CertificateView>(certificate(true));
    round_trip::<CertificateView>(certificate(false));
    round_trip::<CaView>(json!({
        "name": "root", "parent": null, "key_id": "k", "certificate_pem": "p",
        "subject": "CN=root", "not_after": null,
    }));
    let key = json!({
        "key_id": "k", "algorithm": "ec-p256", "purpose": "code-signing", "backend": "software",
        "created": "2026-01-01T00:00:00Z", "public_key_pem": "p", "certificates": ["1f"],
    });
    round_trip::<KeyView>(key);
    round_trip::<ImportedView>(json!({"key_id": "k", "certificate": certificate(true)}));
}

fn request(decided: bool) -> Value {
    let mut r = json!({
        "id": "r", "state": "pending", "policy": "p", "format": "raw", "hash": "sha256",
        "digest": "00", "requester": "ci", "created": "t", "expires": "t", "age_secs": 3,
        "approvals_required": 1, "approval_group": null,
        "approvals": [{"approver": "a", "at": "t", "comment": ""}],
        "reason": null, "release_id": null,
        "metadata": {
            "file_name": "a.exe", "file_size": 1, "build_url": null, "commit": null,
            "description": null, "program_name": null, "program_url": null,
            "entry_count": null, "signer_name": null,
        },
    });
    if decided {
        for (k, v) in [
            ("denied_by", "b"),
            ("state_at", "t"),
            ("result", "00"),
            ("timestamp", "00"),
        ] {
            r = with(r, k, json!(v));
        }
        let metadata = r.get("metadata").cloned().unwrap_or_default();
        let metadata = with(metadata, "subject", json!("msi"));
        let metadata = with(metadata, "openpgp_created", json!(1_700_000_000));
        r = with(r, "metadata", metadata);
    }
    r
}

#[test]
fn request_and_release_views() {
    round_trip::<RequestView>(request(false));
    round_trip::<RequestView>(request(true));
    let release = json!({
        "id": "l", "state": "pending", "policy": "p", "requester": "ci", "description": null,
        "build_url": null, "commit": "c", "created": "t", "expires": "t", "age_secs": 0,
        "files_declared": 2, "files_received": 1, "approvals_required": 1,
        "approval_group": "g", "approvals": [],
        "files": [{
            "request_id": "r", "file_name": null, "file_size": 5, "format": "raw",
            "hash": "sha256", "digest": "00", "state": "pending",
        }],
    });
    round_trip::<ReleaseView>(release.clone());
    let release = with(release, "denied_by", json!("b"));
    round_trip::<ReleaseView>(with(release, "reason", json!("no")));
}

#[test]
fn admin_views() {
    for timestamp_certificate in [json!(null), json!("1f")] {
        round_trip::<Settings>(json!({
            "allow_export_with_password": false, "lockout_threshold": 5,
            "timestamp_certificate": timestamp_certificate,
        }));
    }
    round_trip::<AuditEvent>(json!({
        "seq": 1, "time": "2026-12-04T15:44:28.123456789Z", "identity": null,
        "source": "127.0.0.1:1", "interface": "https", "action": "login", "object": null,
        "outcome": "success", "details": {"k": "v"}, "prev_hash": "00", "hash": "11",
    }));
    round_trip::<Health>(json!({"status": "ok", "version": "0.1.0"}));
}
