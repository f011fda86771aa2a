//! Property tests for cabinets and catalogs: the parsers, digests and verifiers never panic
//! on arbitrary or mutated bytes; a cabinet's digest is the same before and after it gains
//! the signature area (built here independently of the crate, from MS-CAB and the
//! Authenticode reserve layout); a catalog's digest is the hash of its trust list.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Cursor;

use der::asn1::{Any, OctetString, SetOfVec};
use der::{Decode, Encode, Sequence};
use proptest::prelude::*;
use sigil_authenticode::cab::{CabLayout, cab_digest, verify_cab};
use sigil_authenticode::catalog::{Catalog, verify_catalog};
use sigil_keys::HashAlgorithm;

/// An uncompressed-layout cabinet: `folders` CFFOLDER entries pointing into `data`, a
/// CFFILE area of `files_len` bytes, then `data`. Without the signature area.
fn cabinet(folder_starts: &[u16], files_len: u16, data: &[u8]) -> Vec<u8> {
    let header_len = 36 + 8 * folder_starts.len();
    let data_start = header_len + usize::from(files_len);
    let total = data_start + data.len();
    let mut cab = Vec::with_capacity(total);
    cab.extend_from_slice(b"MSCF");
    cab.extend_from_slice(&0u32.to_le_bytes());
    cab.extend_from_slice(&(total as u32).to_le_bytes()); // cbCabinet
    cab.extend_from_slice(&0u32.to_le_bytes());
    cab.extend_from_slice(&(header_len as u32).to_le_bytes()); // coffFiles
    cab.extend_from_slice(&0u32.to_le_bytes());
    cab.extend_from_slice(&[3, 1]); // version 1.3
    cab.extend_from_slice(&(folder_starts.len() as u16).to_le_bytes());
    cab.extend_from_slice(&1u16.to_le_bytes()); // cFiles
    cab.extend_from_slice(&0u16.to_le_bytes()); // flags
    cab.extend_from_slice(&0x1234u16.to_le_bytes()); // setID
    cab.extend_from_slice(&0u16.to_le_bytes()); // iCabinet
    for start in folder_starts {
        let offset = data_start + usize::from(*start) % (data.len() + 1);
        cab.extend_from_slice(&(offset as u32).to_le_bytes());
        cab.extend_from_slice(&[1, 0, 0, 0]); // cCFData, typeCompress
    }
    cab.extend(std::iter::repeat_n(0xaa, usize::from(files_len)));
    cab.extend_from_slice(data);
    cab
}

/// `cab` as it is once signed with a `signature_len`-byte signature: the 24-byte reserve
/// added after the fixed header, offsets moved, the signature (zeros here) appended.
fn with_signature_area(cab: &[u8], signature_len: u32) -> Vec<u8> {
    let grow =
        |at: usize| (u32::from_le_bytes(cab[at..at + 4].try_into().unwrap()) + 24).to_le_bytes();
    let folders = usize::from(u16::from_le_bytes([cab[26], cab[27]]));
    let mut out = cab[..36].to_vec();
    out[8..12].copy_from_slice(&grow(8));
    out[16..20].copy_from_slice(&grow(16));
    out[30] |= 4;
    out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0x10, 0]);
    let content_len = cab.len() as u32 + 24;
    out.extend_from_slice(&content_len.to_le_bytes());
    out.extend_from_slice(&signature_len.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    for i in 0..folders {
        let at = 36 + 8 * i;
        out.extend_from_slice(&grow(at));
        out.extend_from_slice(&cab[at + 4..at + 8]);
    }
    out.extend_from_slice(&cab[36 + 8 * folders..]);
    out.extend(std::iter::repeat_n(0, signature_len as usize));
    out
}

/// Parse, hash and verify; a layout that parses must hash.
fn exercise_cab(bytes: &[u8]) {
    let parsed = CabLayout::parse(&mut Cursor::new(bytes));
    let digest = cab_digest(&mut Cursor::new(bytes), HashAlgorithm::Sha256);
    assert_eq!(
        parsed.is_ok(),
        digest.is_ok(),
        "{parsed:?} / {:?}",
        digest.err()
    );
    if let Ok(layout) = parsed {
        assert!(layout.content_end() <= layout.file_len);
        assert!(layout.files_offset() <= layout.content_end());
    }
    let _ = verify_cab(&mut Cursor::new(bytes));
}

/// A CTL-like SEQUENCE (the parser only needs a SEQUENCE eContent).
#[derive(Sequence)]
struct TrustList {
    identifier: OctetString,
    members: SetOfVec<OctetString>,
}

#[derive(Sequence)]
struct Encap {
    content_type: const_oid::ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    content: Option<Any>,
}

/// An unsigned catalog holding `trust_list`.
fn catalog(trust_list: &TrustList) -> Vec<u8> {
    let encap = Encap {
        content_type: const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.10.1"),
        content: Some(Any::encode_from(trust_list).unwrap()),
    };
    // SignedData { version 1, digestAlgorithms {}, encap, signerInfos {} }
    let mut signed_data = vec![0x02, 0x01, 0x01, 0x31, 0x00];
    signed_data.extend_from_slice(&encap.to_der().unwrap());
    signed_data.extend_from_slice(&[0x31, 0x00]);
    let signed_data = Any::new(der::Tag::Sequence, signed_data).unwrap();
    let content_info = cms::content_info::ContentInfo {
        content_type: const_oid::db::rfc5911::ID_SIGNED_DATA,
        content: signed_data,
    };
    content_info.to_der().unwrap()
}

fn trust_list(identifier: Vec<u8>, members: Vec<Vec<u8>>) -> TrustList {
    let mut set = SetOfVec::new();
    for member in members {
        let _ = set.insert(OctetString::new(member).unwrap());
    }
    TrustList {
        identifier: OctetString::new(identifier).unwrap(),
        members: set,
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        exercise_cab(&bytes);
        let mut cab = b"MSCF".to_vec();
        cab.extend_from_slice(&bytes);
        exercise_cab(&cab);
        if let Ok(catalog) = Catalog::from_der(&bytes) {
            let _ = verify_catalog(&catalog);
        }
    }

    #[test]
    fn digest_is_the_same_before_and_after_the_signature_area(
        folder_starts in proptest::collection::vec(any::<u16>(), 0..6),
        files_len in 0u16..64,
        data in proptest::collection::vec(any::<u8>(), 0..512),
        signature_words in 1u32..64,
    ) {
        let cab = cabinet(&folder_starts, files_len, &data);
        let (layout, unsigned) = cab_digest(&mut Cursor::new(&cab), HashAlgorithm::Sha256).unwrap();
        prop_assert_eq!(layout.signature, None);
        prop_assert_eq!(usize::from(layout.folders), folder_starts.len());
        let signed = with_signature_area(&cab, signature_words * 8);
        let (signed_layout, digest) = cab_digest(&mut Cursor::new(&signed), HashAlgorithm::Sha256).unwrap();
        prop_assert_eq!(digest, unsigned);
        let area = signed_layout.signature.unwrap();
        prop_assert_eq!(area.offset, cab.len() as u64 + 24);
        prop_assert_eq!(area.size, u64::from(signature_words * 8));
    }

    #[test]
    fn mutated_cabinets_never_panic(
        folder_starts in proptest::collection::vec(any::<u16>(), 0..4),
        data in proptest::collection::vec(any::<u8>(), 0..256),
        signed in any::<bool>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut cab = cabinet(&folder_starts, 16, &data);
        if signed {
            cab = with_signature_area(&cab, 16);
        }
        for (at, value) in flips {
            let i = at.index(cab.len());
            cab[i] = value;
        }
        if truncate {
            cab.truncate(cut.index(cab.len() + 1));
        }
        exercise_cab(&cab);
    }

    #[test]
    fn catalog_digest_is_the_hash_of_its_trust_list(
        identifier in proptest::collection::vec(any::<u8>(), 0..32),
        members in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8),
    ) {
        let list = trust_list(identifier, members);
        let der = catalog(&list);
        let parsed = Catalog::from_der(&der).unwrap();
        let list_der = list.to_der().unwrap();
        // The value octets: the SEQUENCE without its tag and length.
        let any = Any::from_der(&list_der).unwrap();
        let value = any.value();
        prop_assert_eq!(parsed.digest(HashAlgorithm::Sha256), HashAlgorithm::Sha256.digest(value));
        prop_assert!(!parsed.is_signed());
        prop_assert!(verify_catalog(&parsed).is_err());
    }

    #[test]
    fn mutated_catalogs_never_panic(
        members in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..4),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut der = catalog(&trust_list(vec![1, 2, 3], members));
        for (at, value) in flips {
            let i = at.index(der.len());
            der[i] = value;
        }
        if let Ok(catalog) = Catalog::from_der(&der) {
            let _ = catalog.digest(HashAlgorithm::Sha384);
            let _ = verify_catalog(&catalog);
        }
    }
}
