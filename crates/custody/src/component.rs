//! One custodian's key component and its text form.
//!
//! The text form is meant to be printed, read aloud and typed back, e.g.
//!
//! ```text
//! SKC1-0203-9F3A-12C0-77B1-0E4D-0001-0203-...(16 groups)...-1E1F-942A-7F50
//! ```
//!
//! `SKC` ("Sigil Key Component") and the format version `1`, then 46 bytes as 92
//! uppercase hex digits in groups of four:
//!
//! | bytes | field | example |
//! |---|---|---|
//! | 1 | component index x, 1..=255 | `02` |
//! | 1 | threshold M | `03` |
//! | 8 | master-key id | `9F3A-12C0-77B1-0E4D` |
//! | 32 | Shamir share y | 16 groups |
//! | 4 | checksum | `942A-7F50` |
//!
//! The checksum is the first 4 bytes of SHA-256 over the label
//! `"sigil key component v1\0"` and the 42 bytes before it, so a mistyped digit is
//! caught when the component is entered (a random typo passes with probability
//! 2⁻³²). It protects against typing errors, not against a forged component: that
//! is caught by the check values.
//!
//! On input, dashes and white space anywhere are ignored and letters may be in
//! either case.

use std::fmt;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::master_key::{MASTER_KEY_LEN, Secret32, new_secret32};
use crate::{ComponentFormatError, Kcv, MASTER_KEY_ID_LEN, MasterKeyId};

/// Longest text accepted by [`KeyComponent::parse`], in bytes (the canonical form is 119).
pub const MAX_COMPONENT_TEXT_LEN: usize = 512;

const PREFIX: &str = "SKC";
const FORMAT_VERSION: char = '1';
const CHECKSUM_LEN: usize = 4;
const CHECKSUM_LABEL: &[u8] = b"sigil key component v1\0";
/// Index, threshold, master-key id and share: what the checksum covers.
const BODY_LEN: usize = 2 + MASTER_KEY_ID_LEN + MASTER_KEY_LEN;
const PAYLOAD_LEN: usize = BODY_LEN + CHECKSUM_LEN;
const HEX_DIGITS: usize = PAYLOAD_LEN * 2;
const GROUP_LEN: usize = 4;
const TEXT_LEN: usize = PREFIX.len() + 1 + HEX_DIGITS + HEX_DIGITS.div_ceil(GROUP_LEN);

/// One custodian's share of the master key (Shamir secret sharing over GF(2⁸)).
///
/// Holds a secret: the share is wiped on drop, `Debug` shows only the public fields, and
/// the text form comes out of [`KeyComponent::to_text`] only, never out of `Display`.
pub struct KeyComponent {
    index: u8,
    threshold: u8,
    key_id: MasterKeyId,
    share: Secret32,
}

impl KeyComponent {
    pub(crate) fn new(index: u8, threshold: u8, key_id: MasterKeyId, share: Secret32) -> Self {
        Self {
            index,
            threshold,
            key_id,
            share,
        }
    }

    /// Reads the text form of a component, as a custodian typed or pasted it.
    ///
    /// This checks the format and the checksum only; whether the component belongs to
    /// this deployment is the [`Unsealer`](crate::Unsealer)'s job.
    ///
    /// # Errors
    /// A [`ComponentFormatError`] saying what is wrong (never echoing the text).
    pub fn parse(text: &str) -> Result<Self, ComponentFormatError> {
        if text.len() > MAX_COMPONENT_TEXT_LEN {
            return Err(ComponentFormatError::TooLong {
                len: text.len(),
                max: MAX_COMPONENT_TEXT_LEN,
            });
        }
        let mut chars = text
            .chars()
            .zip(1..)
            .filter(|(c, _)| !(c.is_whitespace() || *c == '-'));

        for expected in PREFIX.chars() {
            match chars.next() {
                Some((c, _)) if c.eq_ignore_ascii_case(&expected) => {}
                _ => return Err(ComponentFormatError::MissingPrefix),
            }
        }
        match chars.next() {
            Some((FORMAT_VERSION, _)) => {}
            Some((found, _)) => return Err(ComponentFormatError::UnsupportedVersion { found }),
            None => {
                return Err(ComponentFormatError::WrongLength {
                    found: 0,
                    expected: HEX_DIGITS,
                });
            }
        }

        let mut digits = Zeroizing::new([0u8; HEX_DIGITS]);
        let mut found = 0usize;
        for (character, position) in chars {
            if !character.is_ascii_hexdigit() {
                return Err(ComponentFormatError::InvalidCharacter {
                    character,
                    position,
                });
            }
            if let Some(slot) = digits.get_mut(found) {
                // ASCII, checked just above.
                *slot = character as u8;
            }
            found += 1;
        }
        if found != HEX_DIGITS {
            return Err(ComponentFormatError::WrongLength {
                found,
                expected: HEX_DIGITS,
            });
        }

        let mut payload = Zeroizing::new([0u8; PAYLOAD_LEN]);
        hex::decode_to_slice(&digits[..], &mut payload[..]).map_err(|_| {
            ComponentFormatError::WrongLength {
                found,
                expected: HEX_DIGITS,
            }
        })?;
        Self::from_payload(&payload)
    }

    fn from_payload(payload: &[u8; PAYLOAD_LEN]) -> Result<Self, ComponentFormatError> {
        let (body, checksum) = payload.split_at(BODY_LEN);
        if checksum_of(body) != checksum {
            return Err(ComponentFormatError::ChecksumMismatch);
        }
        let Some((&[index, threshold], rest)) = body.split_first_chunk::<2>() else {
            return Err(ComponentFormatError::ChecksumMismatch);
        };
        let Some((key_id, share_bytes)) = rest.split_first_chunk::<MASTER_KEY_ID_LEN>() else {
            return Err(ComponentFormatError::ChecksumMismatch);
        };
        if index == 0 || threshold == 0 {
            return Err(ComponentFormatError::ZeroIndexOrThreshold);
        }
        let mut share = new_secret32();
        share.copy_from_slice(share_bytes);
        Ok(Self::new(
            index,
            threshold,
            MasterKeyId::from_bytes(*key_id),
            share,
        ))
    }

    /// The canonical text form, `SKC1-` followed by 23 groups of 4 hex digits.
    ///
    /// This is the secret a custodian keeps: print it for them, never log it.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut payload = Zeroizing::new([0u8; PAYLOAD_LEN]);
        let (body, checksum) = payload.split_at_mut(BODY_LEN);
        for (slot, byte) in body.iter_mut().zip(
            [self.index, self.threshold]
                .iter()
                .chain(self.key_id.as_bytes())
                .chain(self.share.iter()),
        ) {
            *slot = *byte;
        }
        checksum.copy_from_slice(&checksum_of(body));

        let mut digits = Zeroizing::new([0u8; HEX_DIGITS]);
        // Cannot fail: the output is exactly twice the input.
        let _ = hex::encode_to_slice(&payload[..], &mut digits[..]);
        digits.make_ascii_uppercase();

        let mut text = Zeroizing::new(String::with_capacity(TEXT_LEN));
        text.push_str(PREFIX);
        text.push(FORMAT_VERSION);
        for group in digits.chunks(GROUP_LEN) {
            text.push('-');
            text.extend(group.iter().map(|&b| char::from(b)));
        }
        text
    }

    /// The component's index x (1..=255): which custodian's component this is.
    pub fn index(&self) -> u8 {
        self.index
    }

    /// The threshold M: how many components rebuild the master key.
    pub fn threshold(&self) -> u8 {
        self.threshold
    }

    /// The id of the master key this component is a share of.
    pub fn key_id(&self) -> MasterKeyId {
        self.key_id
    }

    /// The component's own check value: the AES KCV of its 32 share bytes, shown
    /// next to the component so custodian and server can confirm it without reading it.
    pub fn kcv(&self) -> Kcv {
        Kcv::of_aes256_key(&self.share)
    }

    pub(crate) fn share(&self) -> &[u8; MASTER_KEY_LEN] {
        &self.share
    }
}

impl fmt::Debug for KeyComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyComponent")
            .field("index", &self.index)
            .field("threshold", &self.threshold)
            .field("key_id", &self.key_id)
            .field("kcv", &self.kcv())
            .finish_non_exhaustive()
    }
}

fn checksum_of(body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let digest = Sha256::new()
        .chain_update(CHECKSUM_LABEL)
        .chain_update(body)
        .finalize();
    let mut checksum = [0u8; CHECKSUM_LEN];
    for (out, byte) in checksum.iter_mut().zip(digest.iter()) {
        *out = *byte;
    }
    checksum
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sample() -> KeyComponent {
        let mut share = new_secret32();
        for (i, b) in share.iter_mut().enumerate() {
            *b = (i * 7) as u8;
        }
        KeyComponent::new(2, 3, MasterKeyId::from_bytes([0x9F; 8]), share)
    }

    /// Same fields, new checksum: what a forged or corrupted-but-retyped component looks like.
    pub(crate) fn with_share_byte_flipped(c: &KeyComponent) -> KeyComponent {
        let mut share = new_secret32();
        share.copy_from_slice(c.share());
        share[0] ^= 0x01;
        KeyComponent::new(c.index(), c.threshold(), c.key_id(), share)
    }

    #[test]
    fn text_form_is_grouped_and_round_trips() {
        let c = sample();
        let text = c.to_text();
        assert_eq!(text.len(), TEXT_LEN);
        assert!(text.starts_with("SKC1-0203-9F9F-9F9F-9F9F-9F9F-0007-0E15-"));
        assert_eq!(text.split('-').count(), 24);
        let back = KeyComponent::parse(&text).unwrap();
        assert_eq!(back.to_text(), text);
        assert_eq!(
            (back.index(), back.threshold(), back.key_id(), back.kcv()),
            (2, 3, c.key_id(), c.kcv())
        );
    }

    /// Pins the format. Written by an independent encoder (Python `hashlib`, following the
    /// module documentation); also the fuzz seed `fuzz/corpus/key_component/valid_2_of_3`.
    #[test]
    fn known_answer_vector() {
        const VECTOR: &str = "SKC1-0203-9F3A-12C0-77B1-0E4D-0001-0203-0405-0607-0809-0A0B-\
                              0C0D-0E0F-1011-1213-1415-1617-1819-1A1B-1C1D-1E1F-942A-7F50";
        let c = KeyComponent::parse(VECTOR).unwrap();
        assert_eq!((c.index(), c.threshold()), (2, 3));
        assert_eq!(c.key_id().to_string(), "9F3A12C077B10E4D");
        assert!(c.share().iter().copied().eq(0..32));
        // The share's KCV as `openssl enc -aes-256-ecb` computes it (docs/key-custody.md).
        assert_eq!(c.kcv().to_string(), "F29000");
        assert_eq!(*c.to_text(), VECTOR);
    }

    #[test]
    fn separators_and_case_are_ignored() {
        let text = sample().to_text();
        let loose = text
            .to_lowercase()
            .replace('-', " ")
            .replacen(' ', "\n  ", 3);
        assert_eq!(KeyComponent::parse(&loose).unwrap().to_text(), text);
        let tight = text.replace('-', "");
        assert_eq!(KeyComponent::parse(&tight).unwrap().to_text(), text);
    }

    #[test]
    fn every_single_digit_typo_is_caught() {
        let text = sample().to_text();
        for (pos, c) in text.char_indices().skip(5).filter(|(_, c)| *c != '-') {
            let replacement = if c == '0' { '1' } else { '0' };
            let mut typo = text.to_string();
            typo.replace_range(pos..=pos, &replacement.to_string());
            assert_eq!(
                KeyComponent::parse(&typo).unwrap_err(),
                ComponentFormatError::ChecksumMismatch,
                "typo at {pos}"
            );
        }
    }

    #[test]
    fn malformed_text_gets_a_precise_error() {
        let text = sample().to_text();
        let parse = |s: &str| KeyComponent::parse(s).unwrap_err();
        assert_eq!(parse(""), ComponentFormatError::MissingPrefix);
        assert_eq!(parse("SKX1-0000"), ComponentFormatError::MissingPrefix);
        assert_eq!(
            parse(&text.replacen("SKC1", "SKC2", 1)),
            ComponentFormatError::UnsupportedVersion { found: '2' }
        );
        assert_eq!(
            parse("SKC"),
            ComponentFormatError::WrongLength {
                found: 0,
                expected: 92
            }
        );
        assert_eq!(
            parse(&text[..text.len() - 5]),
            ComponentFormatError::WrongLength {
                found: 88,
                expected: 92
            }
        );
        assert_eq!(
            parse(&format!("{}-ABCD", &*text)),
            ComponentFormatError::WrongLength {
                found: 96,
                expected: 92
            }
        );
        assert_eq!(
            parse(&text.replacen("-0203-", "-02O3-", 1)),
            ComponentFormatError::InvalidCharacter {
                character: 'O',
                position: 8
            }
        );
        assert_eq!(
            parse(&"A".repeat(MAX_COMPONENT_TEXT_LEN + 1)),
            ComponentFormatError::TooLong {
                len: MAX_COMPONENT_TEXT_LEN + 1,
                max: MAX_COMPONENT_TEXT_LEN
            }
        );
    }

    #[test]
    fn zero_index_or_threshold_is_refused_even_with_a_valid_checksum() {
        let c = sample();
        for (index, threshold) in [(0, 3), (2, 0)] {
            let mut share = new_secret32();
            share.copy_from_slice(c.share());
            let forged = KeyComponent::new(index, threshold, c.key_id(), share).to_text();
            assert_eq!(
                KeyComponent::parse(&forged).unwrap_err(),
                ComponentFormatError::ZeroIndexOrThreshold
            );
        }
    }

    #[test]
    fn debug_hides_the_share() {
        let c = sample();
        let debug = format!("{c:?}");
        assert!(debug.contains("index: 2") && debug.contains(&c.kcv().to_string()));
        assert!(!debug.contains("0007"));
    }

    #[test]
    fn flipped_share_keeps_a_valid_checksum_but_changes_the_kcv() {
        let c = sample();
        let bad = with_share_byte_flipped(&c);
        let reparsed = KeyComponent::parse(&bad.to_text()).unwrap();
        assert_ne!(reparsed.kcv(), c.kcv());
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_text(s in any::<String>()) {
            let _ = KeyComponent::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_component_like_text(s in "(?i)skc1[-0-9a-fA-F \n]{0,130}[g-zG-Z!]?") {
            if let Ok(c) = KeyComponent::parse(&s) {
                prop_assert_eq!(KeyComponent::parse(&c.to_text()).unwrap().to_text(), c.to_text());
            }
        }

        #[test]
        fn any_component_round_trips(index in 1u8.., threshold in 1u8.., id in any::<[u8; 8]>(), bytes in any::<[u8; 32]>()) {
            let mut share = new_secret32();
            share.copy_from_slice(&bytes);
            let c = KeyComponent::new(index, threshold, MasterKeyId::from_bytes(id), share);
            let back = KeyComponent::parse(&c.to_text()).unwrap();
            prop_assert_eq!(back.share(), c.share());
            prop_assert_eq!((back.index(), back.threshold(), back.key_id()), (index, threshold, c.key_id()));
        }
    }
}
