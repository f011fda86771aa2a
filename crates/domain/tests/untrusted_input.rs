//! Everything in the domain that reads text a peer or a file controls: it never panics, and
//! what it accepts round-trips. Also: an exported audit log (JSON lines) verifies after export.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use proptest::prelude::*;
use sigil_domain::*;
use time::OffsetDateTime;

/// What the fuzz target also exercises: every parser of the crate on the same input.
fn parse_everything(text: &str) {
    let _ = text.parse::<Permission>();
    let _ = text.parse::<Interface>();
    let _ = text.parse::<HashAlgorithm>();
    let _ = parse_hash(text);
    let _ = text.parse::<SigningFormat>();
    let _ = IdentityName::new(text);
    let _ = PolicyAlias::new(text);
    let _ = SerialNumber::from_hex(text);
    let _ = CommandCode::new(text);
    let _ = api_key_id(text);
    let _ = PasswordHash::from_phc(text.to_owned());
    if let Ok(event) = serde_json::from_str::<AuditEvent>(text) {
        let _ = verify_chain(ChainHead::GENESIS, [&event], None);
    }
    let _ = serde_json::from_str::<SigningRequest>(text);
    let _ = serde_json::from_str::<IssuancePolicy>(text);
    let _ = serde_json::from_str::<Role>(text);
}

proptest! {
    #[test]
    fn parsers_never_panic(text in "\\PC{0,200}") {
        parse_everything(&text);
    }

    #[test]
    fn json_shaped_input_never_panics(
        seq in any::<u64>(),
        action in "\\PC{0,20}",
        hash in "[0-9a-f]{0,70}",
        time in "\\PC{0,40}",
    ) {
        let text = format!(
            r#"{{"seq":{seq},"time":"{time}","identity":null,"source":null,"interface":null,"action":{action:?},"object":null,"outcome":"success","details":{{}},"prev_hash":"{hash}","hash":"{hash}"}}"#
        );
        parse_everything(&text);
    }

    #[test]
    fn serial_round_trip(bytes in proptest::collection::vec(any::<u8>(), 1..=20)) {
        let serial = SerialNumber::from_bytes(&bytes).unwrap();
        prop_assert_eq!(SerialNumber::from_hex(serial.as_str()).unwrap(), serial);
    }
}

#[test]
fn exported_json_lines_verify_and_edits_are_caught() {
    let mut head = ChainHead::GENESIS;
    let mut lines = Vec::new();
    for i in 0..5 {
        let event = AuditDraft::new(
            OffsetDateTime::from_unix_timestamp_nanos(1_764_000_000_987_654_321 + i).unwrap(),
            "request.approve",
            Outcome::Success,
        )
        .identity("alice")
        .interface(Interface::Https)
        .object("5f0c")
        .detail("comment", "ok \"quoted\"\nnewline")
        .seal(&head);
        head = event.head();
        lines.push(serde_json::to_string(&event).unwrap());
    }
    let read = |lines: &[String]| -> Vec<AuditEvent> {
        lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    assert_eq!(
        verify_chain(ChainHead::GENESIS, &read(&lines), Some(&head)),
        Ok(head)
    );
    let mut edited = lines.clone();
    edited[1] = edited[1].replace("alice", "mallory");
    assert_eq!(
        verify_chain(ChainHead::GENESIS, &read(&edited), Some(&head)),
        Err(ChainBreak {
            seq: 2,
            kind: BreakKind::Altered
        })
    );
}
