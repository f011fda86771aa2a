//! Audit events and their hash chain.
//!
//! Each event's hash is SHA-256 over a canonical encoding of all its fields and the previous
//! event's hash (see [`event_hash`]). Editing a stored event breaks its own hash; deleting or
//! moving one breaks the sequence or the link of the next; deleting the *last* events leaves a
//! consistent but shorter chain, so the store also keeps a **chain head** (last sequence number
//! and hash) written in the same transaction as each event, and [`verify_chain`] compares the
//! chain's end with it. Someone who can rewrite both the events and the head can forge a
//! consistent shorter chain: export the head regularly (`sigil audit export`) to anchor it
//! outside the database.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::permission::Interface;
use crate::strenum::str_enum;
use crate::text::truncate;

/// Longest identity, source, action or object text kept in an event (longer text is cut).
pub const AUDIT_TEXT_MAX: usize = 256;
/// Most detail entries per event (more are dropped, with a marker entry).
pub const AUDIT_DETAILS_MAX: usize = 32;
/// Longest detail key.
pub const AUDIT_DETAIL_KEY_MAX: usize = 64;
/// Longest detail value.
pub const AUDIT_DETAIL_VALUE_MAX: usize = 1024;
/// How far [`verify_chain`] looks for the original position of an event that does not match its
/// hash, to tell a reordered event from an edited one.
pub const REORDER_SEARCH_WINDOW: u64 = 4096;

/// The interface recorded for actions taken offline (`sigil identity unlock --data`).
pub const OFFLINE_INTERFACE: &str = "offline";

const DOMAIN_TAG: &[u8] = b"sigil-audit-v1\0";

str_enum! {
    /// How an audited action ended.
    pub enum Outcome ("audit outcome") {
        /// It happened.
        Success = "success",
        /// It was refused or failed.
        Failure = "failure",
    }
}

/// An event before it is chained: what the service knows. Text fields are cut to their limits
/// rather than refused, so that auditing never fails on a long input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditDraft {
    time: OffsetDateTime,
    identity: Option<String>,
    source: Option<String>,
    interface: Option<&'static str>,
    action: String,
    object: Option<String>,
    outcome: Outcome,
    details: BTreeMap<String, String>,
}

impl AuditDraft {
    /// An event for `action` (e.g. `login`, `request.approve`) at `time`.
    pub fn new(time: OffsetDateTime, action: &str, outcome: Outcome) -> Self {
        Self {
            time,
            identity: None,
            source: None,
            interface: None,
            action: truncate(action, AUDIT_TEXT_MAX).to_owned(),
            object: None,
            outcome,
            details: BTreeMap::new(),
        }
    }

    /// Who acted (the claimed name for a failed login).
    #[must_use]
    pub fn identity(mut self, identity: &str) -> Self {
        self.identity = Some(truncate(identity, AUDIT_TEXT_MAX).to_owned());
        self
    }

    /// The peer address.
    #[must_use]
    pub fn source(mut self, source: &str) -> Self {
        self.source = Some(truncate(source, AUDIT_TEXT_MAX).to_owned());
        self
    }

    /// The interface.
    #[must_use]
    pub fn interface(mut self, interface: Interface) -> Self {
        self.interface = Some(interface.as_str());
        self
    }

    /// The interface of a break-glass action taken with the server stopped, on the data
    /// directory itself ([`OFFLINE_INTERFACE`]).
    #[must_use]
    pub fn offline(mut self) -> Self {
        self.interface = Some(OFFLINE_INTERFACE);
        self
    }

    /// What was acted on (a request id, an identity name, ...).
    #[must_use]
    pub fn object(mut self, object: &str) -> Self {
        self.object = Some(truncate(object, AUDIT_TEXT_MAX).to_owned());
        self
    }

    /// A detail. Never put a secret here.
    #[must_use]
    pub fn detail(mut self, key: &str, value: &str) -> Self {
        let key = truncate(key, AUDIT_DETAIL_KEY_MAX).to_owned();
        if self.details.len() < AUDIT_DETAILS_MAX || self.details.contains_key(&key) {
            self.details
                .insert(key, truncate(value, AUDIT_DETAIL_VALUE_MAX).to_owned());
        } else {
            self.details
                .insert("truncated".to_owned(), "more details dropped".to_owned());
        }
        self
    }

    /// The action.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// Chains the draft after `head`: sequence `head.seq + 1`, previous hash `head.hash`.
    pub fn seal(self, head: &ChainHead) -> AuditEvent {
        let mut event = AuditEvent {
            seq: head.seq.saturating_add(1),
            time: self.time,
            identity: self.identity,
            source: self.source,
            interface: self.interface.map(str::to_owned),
            action: self.action,
            object: self.object,
            outcome: self.outcome.as_str().to_owned(),
            details: self.details,
            prev_hash: head.hash,
            hash: [0; 32],
        };
        event.hash = event_hash(&event, event.seq);
        event
    }
}

/// A chained event, as stored. Text fields hold exactly what was recorded (interface and
/// outcome as their stable strings), so that verification works on whatever is in the
/// database, even values a tamperer made unparsable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// When (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub time: OffsetDateTime,
    /// Who.
    pub identity: Option<String>,
    /// Peer address.
    pub source: Option<String>,
    /// Interface (`host-api`, `https`), if any.
    pub interface: Option<String>,
    /// Action.
    pub action: String,
    /// Object.
    pub object: Option<String>,
    /// Outcome (`success`, `failure`).
    pub outcome: String,
    /// Details.
    pub details: BTreeMap<String, String>,
    /// Hash of the previous event (zeros for the first), hex.
    #[serde(with = "hex_32")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9a-f]{64}$"))]
    pub prev_hash: [u8; 32],
    /// Hash of this event, hex.
    #[serde(with = "hex_32")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9a-f]{64}$"))]
    pub hash: [u8; 32],
}

impl AuditEvent {
    /// The chain head this event makes.
    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.seq,
            hash: self.hash,
        }
    }
}

mod hex_32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(text.as_bytes(), &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

/// The last sequence number and hash of a chain. [`ChainHead::GENESIS`] is the anchor of a
/// complete chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// Sequence number of the last event (0 before the first).
    pub seq: u64,
    /// Its hash (zeros before the first).
    #[serde(with = "hex_32")]
    pub hash: [u8; 32],
}

impl ChainHead {
    /// The head of an empty chain.
    pub const GENESIS: Self = Self {
        seq: 0,
        hash: [0; 32],
    };
}

fn put_str(h: &mut Sha256, s: &str) {
    // Lengths are bounded far below u32::MAX by the draft limits; saturate to stay total.
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    h.update(len.to_be_bytes());
    h.update(s.as_bytes());
}

fn put_opt(h: &mut Sha256, s: Option<&str>) {
    match s {
        None => h.update([0u8]),
        Some(s) => {
            h.update([1u8]);
            put_str(h, s);
        }
    }
}

/// SHA-256 over the canonical encoding of `event` taken at sequence number `seq`:
///
/// ```text
/// "sigil-audit-v1\0" || seq (u64 BE) || time (i128 BE, Unix nanoseconds)
/// || opt(identity) || opt(source) || opt(interface) || str(action) || opt(object)
/// || str(outcome) || count (u32 BE) || { str(key) || str(value) } in key order
/// || prev_hash (32 bytes)
/// ```
/// where `str(x)` = length (u32 BE) || UTF-8 bytes and `opt(x)` = `00` for none or `01` ||
/// `str(x)`. Every field is length-prefixed or fixed-size, so two different events never
/// encode to the same bytes.
pub fn event_hash(event: &AuditEvent, seq: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(DOMAIN_TAG);
    h.update(seq.to_be_bytes());
    h.update(event.time.unix_timestamp_nanos().to_be_bytes());
    put_opt(&mut h, event.identity.as_deref());
    put_opt(&mut h, event.source.as_deref());
    put_opt(&mut h, event.interface.as_deref());
    put_str(&mut h, &event.action);
    put_opt(&mut h, event.object.as_deref());
    put_str(&mut h, &event.outcome);
    h.update(
        u32::try_from(event.details.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    for (k, v) in &event.details {
        put_str(&mut h, k);
        put_str(&mut h, v);
    }
    h.update(event.prev_hash);
    h.finalize().into()
}

/// How the chain is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakKind {
    /// The event's fields do not match its hash: it was edited.
    Altered,
    /// The event is intact but was moved: its contents hash correctly at `original_seq`.
    Reordered {
        /// Where it belongs.
        original_seq: u64,
    },
    /// The event with this sequence number is missing (deleted); the next one found is `found`.
    Missing {
        /// The next sequence number present.
        found: u64,
    },
    /// An event with an already-seen or smaller sequence number appears here.
    OutOfOrder {
        /// The sequence number found.
        found: u64,
    },
    /// The event is intact but does not chain to the previous one: the previous event was
    /// replaced (with a recomputed hash), or events were removed and renumbered.
    Unlinked,
    /// Events from this sequence number up to `head_seq` are missing at the end of the chain.
    TailMissing {
        /// The stored head's sequence number.
        head_seq: u64,
    },
    /// The last event does not match the stored chain head (the head or the event was replaced).
    HeadMismatch,
    /// Events go beyond the stored chain head (the head was rolled back or events were appended
    /// outside Sigil).
    BeyondHead {
        /// The stored head's sequence number.
        head_seq: u64,
    },
}

/// The first place where a chain is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub struct ChainBreak {
    /// The sequence number of the first bad event.
    pub seq: u64,
    /// What is wrong there.
    pub kind: BreakKind,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seq = self.seq;
        match self.kind {
            BreakKind::Altered => write!(
                f,
                "audit event {seq} was altered: its contents do not match its hash"
            ),
            BreakKind::Reordered { original_seq } => write!(
                f,
                "audit event {seq} was reordered: the event found there belongs at position {original_seq}"
            ),
            BreakKind::Missing { found } => write!(
                f,
                "audit event {seq} is missing (deleted): the next event present is {found}"
            ),
            BreakKind::OutOfOrder { found } => write!(
                f,
                "audit event {seq} is out of order: found sequence number {found} where {seq} was expected"
            ),
            BreakKind::Unlinked => write!(
                f,
                "audit event {seq} does not chain to the event before it: that event was replaced or events were removed"
            ),
            BreakKind::TailMissing { head_seq } => write!(
                f,
                "audit events {seq} to {head_seq} are missing: deleted from the end of the log"
            ),
            BreakKind::HeadMismatch => write!(
                f,
                "audit event {seq} does not match the stored chain head: it or the head was replaced"
            ),
            BreakKind::BeyondHead { head_seq } => write!(
                f,
                "audit event {seq} lies beyond the stored chain head ({head_seq}): the head was rolled back or events were added outside Sigil"
            ),
        }
    }
}

/// Verifies a chain one event at a time (for exports too large to hold in memory).
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    last: ChainHead,
}

impl ChainVerifier {
    /// Starts after `anchor` ([`ChainHead::GENESIS`] for a whole chain, or a trusted earlier head).
    pub fn new(anchor: ChainHead) -> Self {
        Self { last: anchor }
    }

    /// Checks the next event.
    pub fn push(&mut self, event: &AuditEvent) -> Result<(), ChainBreak> {
        let expected = self.last.seq.saturating_add(1);
        if event.seq < expected {
            return Err(ChainBreak {
                seq: expected,
                kind: BreakKind::OutOfOrder { found: event.seq },
            });
        }
        if event.seq > expected {
            return Err(ChainBreak {
                seq: expected,
                kind: BreakKind::Missing { found: event.seq },
            });
        }
        if event_hash(event, event.seq) != event.hash {
            let low = event.seq.saturating_sub(REORDER_SEARCH_WINDOW).max(1);
            let high = event.seq.saturating_add(REORDER_SEARCH_WINDOW);
            let kind = (low..=high)
                .filter(|&s| s != event.seq)
                .find(|&s| event_hash(event, s) == event.hash)
                .map_or(BreakKind::Altered, |original_seq| BreakKind::Reordered {
                    original_seq,
                });
            return Err(ChainBreak {
                seq: event.seq,
                kind,
            });
        }
        if event.prev_hash != self.last.hash {
            return Err(ChainBreak {
                seq: event.seq,
                kind: BreakKind::Unlinked,
            });
        }
        self.last = event.head();
        Ok(())
    }

    /// Ends verification, comparing the end of the chain with the stored `head` when given.
    pub fn finish(self, head: Option<&ChainHead>) -> Result<ChainHead, ChainBreak> {
        let last = self.last;
        match head {
            Some(head) if head.seq > last.seq => Err(ChainBreak {
                seq: last.seq.saturating_add(1),
                kind: BreakKind::TailMissing { head_seq: head.seq },
            }),
            Some(head) if head.seq < last.seq => Err(ChainBreak {
                seq: head.seq.saturating_add(1),
                kind: BreakKind::BeyondHead { head_seq: head.seq },
            }),
            Some(head) if head.hash != last.hash => Err(ChainBreak {
                seq: head.seq,
                kind: BreakKind::HeadMismatch,
            }),
            _ => Ok(last),
        }
    }
}

/// Verifies `events` (in sequence order) after `anchor` and, when given, against the stored
/// chain `head`. Returns the verified head, or the first break.
pub fn verify_chain<'a>(
    anchor: ChainHead,
    events: impl IntoIterator<Item = &'a AuditEvent>,
    head: Option<&ChainHead>,
) -> Result<ChainHead, ChainBreak> {
    let mut verifier = ChainVerifier::new(anchor);
    for event in events {
        verifier.push(event)?;
    }
    verifier.finish(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chain(n: u64) -> Vec<AuditEvent> {
        let mut head = ChainHead::GENESIS;
        (0..n)
            .map(|i| {
                let mut d = AuditDraft::new(
                    OffsetDateTime::UNIX_EPOCH + time::Duration::nanoseconds(i as i64 * 1_000_123),
                    if i % 2 == 0 {
                        "login"
                    } else {
                        "request.upload"
                    },
                    if i % 3 == 0 {
                        Outcome::Failure
                    } else {
                        Outcome::Success
                    },
                )
                .identity(&format!("user{}", i % 4))
                .source("127.0.0.1:5000")
                .object(&format!("obj{i}"))
                .detail("n", &i.to_string());
                if i % 2 == 1 {
                    d = d.interface(Interface::HostApi);
                }
                let e = d.seal(&head);
                head = e.head();
                e
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies_against_head() {
        let events = chain(10);
        let head = events.last().unwrap().head();
        assert_eq!(
            verify_chain(ChainHead::GENESIS, &events, Some(&head)),
            Ok(head)
        );
        assert_eq!(
            verify_chain(ChainHead::GENESIS, &[], Some(&ChainHead::GENESIS)),
            Ok(ChainHead::GENESIS)
        );
        // A suffix verifies from a trusted earlier head.
        assert_eq!(
            verify_chain(events[4].head(), &events[5..], Some(&head)),
            Ok(head)
        );
    }

    #[test]
    fn encoding_is_unambiguous() {
        let mut a = chain(1).remove(0);
        let mut b = a.clone();
        a.identity = Some("ab".into());
        a.source = Some("c".into());
        b.identity = Some("a".into());
        b.source = Some("bc".into());
        assert_ne!(event_hash(&a, 1), event_hash(&b, 1));
        b.identity = None;
        b.source = Some("ab".into());
        a.source = None;
        assert_ne!(event_hash(&a, 1), event_hash(&b, 1));
    }

    #[test]
    fn names_each_kind_of_break() {
        let events = chain(8);
        let head = events.last().unwrap().head();
        let check =
            |evs: &[AuditEvent]| verify_chain(ChainHead::GENESIS, evs, Some(&head)).unwrap_err();

        let mut edited = events.clone();
        edited[3].outcome = "success".into();
        edited[3].action = "request.approve".into();
        assert_eq!(
            check(&edited),
            ChainBreak {
                seq: 4,
                kind: BreakKind::Altered
            }
        );

        let mut deleted = events.clone();
        deleted.remove(2);
        assert_eq!(
            check(&deleted),
            ChainBreak {
                seq: 3,
                kind: BreakKind::Missing { found: 4 }
            }
        );

        // Swapping the sequence numbers of two rows, then reading in sequence order.
        let mut swapped = events.clone();
        swapped[2].seq = 6;
        swapped[5].seq = 3;
        swapped.sort_by_key(|e| e.seq);
        assert_eq!(
            check(&swapped),
            ChainBreak {
                seq: 3,
                kind: BreakKind::Reordered { original_seq: 6 }
            }
        );

        let tail = &events[..6];
        assert_eq!(
            check(tail),
            ChainBreak {
                seq: 7,
                kind: BreakKind::TailMissing { head_seq: 8 }
            }
        );

        // An event replaced with a recomputed, self-consistent hash breaks the next link.
        let mut forged = events.clone();
        forged[4].identity = Some("mallory".into());
        forged[4].hash = event_hash(&forged[4], 5);
        assert_eq!(
            check(&forged),
            ChainBreak {
                seq: 6,
                kind: BreakKind::Unlinked
            }
        );

        let short_head = events[5].head();
        assert_eq!(
            verify_chain(ChainHead::GENESIS, &events, Some(&short_head)).unwrap_err(),
            ChainBreak {
                seq: 7,
                kind: BreakKind::BeyondHead { head_seq: 6 }
            }
        );
        let wrong_head = ChainHead {
            seq: 8,
            hash: [1; 32],
        };
        assert_eq!(
            verify_chain(ChainHead::GENESIS, &events, Some(&wrong_head))
                .unwrap_err()
                .kind,
            BreakKind::HeadMismatch
        );
        assert!(
            check(&edited)
                .to_string()
                .contains("audit event 4 was altered")
        );
    }

    #[test]
    fn draft_bounds_text() {
        let mut d = AuditDraft::new(
            OffsetDateTime::UNIX_EPOCH,
            &"a".repeat(1000),
            Outcome::Success,
        )
        .identity(&"é".repeat(500));
        for i in 0..100 {
            d = d.detail(&i.to_string(), &"v".repeat(5000));
        }
        let e = d.seal(&ChainHead::GENESIS);
        assert_eq!(e.action.len(), AUDIT_TEXT_MAX);
        assert!(e.identity.unwrap().len() <= AUDIT_TEXT_MAX);
        assert!(e.details.len() <= AUDIT_DETAILS_MAX + 1);
        assert!(
            e.details
                .values()
                .all(|v| v.len() <= AUDIT_DETAIL_VALUE_MAX)
        );
    }

    #[derive(Debug, Clone)]
    enum Mutation {
        Field(usize, u8),
        Delete(usize),
        Swap(usize, usize),
    }

    fn mutation(n: usize) -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (0..n, 0u8..9).prop_map(|(i, f)| Mutation::Field(i, f)),
            (0..n).prop_map(Mutation::Delete),
            (0..n, 0..n)
                .prop_filter("distinct", |(a, b)| a != b)
                .prop_map(|(a, b)| Mutation::Swap(a.min(b), a.max(b))),
        ]
    }

    proptest! {
        /// Any single edit, deletion or swap of stored rows is detected, and the break names the
        /// first affected event.
        #[test]
        fn any_single_mutation_is_detected(m in mutation(12)) {
            let events = chain(12);
            let head = events.last().unwrap().head();
            let mut evs = events.clone();
            let first_bad = match m {
                Mutation::Field(i, f) => {
                    let e = &mut evs[i];
                    match f {
                        0 => e.time += time::Duration::nanoseconds(1),
                        1 => e.identity = None,
                        2 => e.source = Some("10.0.0.1".into()),
                        3 => e.interface = Some("https".into()),
                        4 => e.action.push('x'),
                        5 => e.object = Some("other".into()),
                        6 => e.outcome = "success-ish".into(),
                        7 => { e.details.insert("extra".into(), String::new()); }
                        _ => e.prev_hash[0] ^= 1,
                    }
                    events[i].seq
                }
                Mutation::Delete(i) => { evs.remove(i); events[i].seq }
                Mutation::Swap(a, b) => {
                    let (sa, sb) = (evs[a].seq, evs[b].seq);
                    evs[a].seq = sb;
                    evs[b].seq = sa;
                    evs.sort_by_key(|e| e.seq);
                    sa
                }
            };
            let err = verify_chain(ChainHead::GENESIS, &evs, Some(&head)).unwrap_err();
            prop_assert_eq!(err.seq, first_bad, "{}", err);
        }
    }
}
