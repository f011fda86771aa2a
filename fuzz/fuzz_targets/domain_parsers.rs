//! Fuzzes every `sigil-domain` entry point that reads text a peer or a file controls: names,
//! permissions and other stable strings, API key tokens, serial numbers, command codes, PHC
//! strings, and the JSON of audit events (as `sigil audit verify` reads an export), signing
//! requests, policies and roles.
//!
//! Invariants besides "never panics": whatever parses prints back to the same text (or, for
//! serials, to a normal form that parses to the same value), and an audit event that parses can
//! be verified.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_domain::{
    AuditEvent, ChainHead, CommandCode, HashAlgorithm, IdentityName, Interface, IssuancePolicy,
    PasswordHash, Permission, PolicyAlias, Role, SerialNumber, SigningFormat, SigningRequest,
    api_key_id, verify_chain,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = text.parse::<Permission>() {
        assert_eq!(p.as_str(), text);
    }
    if let Ok(i) = text.parse::<Interface>() {
        assert_eq!(i.as_str(), text);
    }
    let _ = text.parse::<HashAlgorithm>();
    let _ = text.parse::<SigningFormat>();
    if let Ok(name) = IdentityName::new(text) {
        assert_eq!(name.as_str(), text);
    }
    let _ = PolicyAlias::new(text);
    if let Ok(serial) = SerialNumber::from_hex(text) {
        assert_eq!(SerialNumber::from_hex(serial.as_str()).ok(), Some(serial));
    }
    if let Ok(code) = CommandCode::new(text) {
        assert_eq!(code.as_str(), text);
    }
    if let Ok(id) = api_key_id(text) {
        assert!(text.contains(id.as_str()));
    }
    let _ = PasswordHash::from_phc(text.to_owned());
    if let Ok(event) = serde_json::from_str::<AuditEvent>(text) {
        let _ = verify_chain(ChainHead::GENESIS, [&event], Some(&event.head()));
    }
    let _ = serde_json::from_str::<SigningRequest>(text);
    let _ = serde_json::from_str::<IssuancePolicy>(text);
    let _ = serde_json::from_str::<Role>(text);
});
