//! Signing mechanisms: which the module offers, what input each takes, and how the server's
//! signature becomes the mechanism's output. The combined mechanisms hash locally; only the
//! digest goes to the server.

use cryptoki_sys::{
    CK_MECHANISM_TYPE, CK_ULONG, CKG_MGF1_SHA256, CKG_MGF1_SHA384, CKG_MGF1_SHA512, CKM_ECDSA,
    CKM_ECDSA_SHA256, CKM_ECDSA_SHA384, CKM_ECDSA_SHA512, CKM_RSA_PKCS, CKM_RSA_PKCS_PSS,
    CKM_SHA256, CKM_SHA256_RSA_PKCS, CKM_SHA256_RSA_PKCS_PSS, CKM_SHA384, CKM_SHA384_RSA_PKCS,
    CKM_SHA384_RSA_PKCS_PSS, CKM_SHA512, CKM_SHA512_RSA_PKCS, CKM_SHA512_RSA_PKCS_PSS,
};
use der::Decode;
use der::Sequence;
use der::asn1::UintRef;
use sha2::Digest;
use sigil_proto::HashAlgorithm;

use crate::error::ModuleError;
use crate::objects::KeyKind;

/// Every mechanism the token offers.
pub const MECHANISMS: [CK_MECHANISM_TYPE; 12] = [
    CKM_RSA_PKCS,
    CKM_SHA256_RSA_PKCS,
    CKM_SHA384_RSA_PKCS,
    CKM_SHA512_RSA_PKCS,
    CKM_RSA_PKCS_PSS,
    CKM_SHA256_RSA_PKCS_PSS,
    CKM_SHA384_RSA_PKCS_PSS,
    CKM_SHA512_RSA_PKCS_PSS,
    CKM_ECDSA,
    CKM_ECDSA_SHA256,
    CKM_ECDSA_SHA384,
    CKM_ECDSA_SHA512,
];

/// Largest input of a mechanism that does not hash (a DigestInfo or a digest).
const MAX_RAW_INPUT: usize = 1024;

/// The signature scheme of a mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RSA PKCS#1 v1.5.
    Pkcs1,
    /// RSASSA-PSS (MGF1 with the same hash, salt as long as the digest).
    Pss,
    /// ECDSA, output `r‖s`.
    Ecdsa,
}

/// `CK_RSA_PKCS_PSS_PARAMS`, read by the FFI layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PssParams {
    /// `hashAlg`.
    pub hash: CK_MECHANISM_TYPE,
    /// `mgf`.
    pub mgf: CK_ULONG,
    /// `sLen`.
    pub salt_len: CK_ULONG,
}

/// A mechanism as `C_SignInit` accepted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mechanism {
    /// The scheme.
    pub scheme: Scheme,
    /// The hash computed here for a combined mechanism; `None` when the caller hashes.
    pub prehash: Option<HashAlgorithm>,
    /// For PSS, the hash the parameters name.
    pub pss_hash: Option<HashAlgorithm>,
}

/// Why a mechanism cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MechanismError {
    /// Not a mechanism of this token.
    Invalid,
    /// Its parameters are missing or not what the server does.
    Param,
    /// It does not fit the key's type.
    KeyType,
}

fn hash_of(mechanism: CK_MECHANISM_TYPE) -> Option<HashAlgorithm> {
    match mechanism {
        CKM_SHA256 => Some(HashAlgorithm::Sha256),
        CKM_SHA384 => Some(HashAlgorithm::Sha384),
        CKM_SHA512 => Some(HashAlgorithm::Sha512),
        _ => None,
    }
}

fn mgf_of(hash: HashAlgorithm) -> CK_ULONG {
    match hash {
        HashAlgorithm::Sha256 => CKG_MGF1_SHA256,
        HashAlgorithm::Sha384 => CKG_MGF1_SHA384,
        HashAlgorithm::Sha512 => CKG_MGF1_SHA512,
    }
}

impl Mechanism {
    /// Checks a mechanism (and its PSS parameters) against a key.
    pub fn new(
        mechanism: CK_MECHANISM_TYPE,
        pss: Option<PssParams>,
        key: &KeyKind,
    ) -> Result<Self, MechanismError> {
        use HashAlgorithm::{Sha256, Sha384, Sha512};
        let (scheme, prehash) = match mechanism {
            CKM_RSA_PKCS => (Scheme::Pkcs1, None),
            CKM_SHA256_RSA_PKCS => (Scheme::Pkcs1, Some(Sha256)),
            CKM_SHA384_RSA_PKCS => (Scheme::Pkcs1, Some(Sha384)),
            CKM_SHA512_RSA_PKCS => (Scheme::Pkcs1, Some(Sha512)),
            CKM_RSA_PKCS_PSS => (Scheme::Pss, None),
            CKM_SHA256_RSA_PKCS_PSS => (Scheme::Pss, Some(Sha256)),
            CKM_SHA384_RSA_PKCS_PSS => (Scheme::Pss, Some(Sha384)),
            CKM_SHA512_RSA_PKCS_PSS => (Scheme::Pss, Some(Sha512)),
            CKM_ECDSA => (Scheme::Ecdsa, None),
            CKM_ECDSA_SHA256 => (Scheme::Ecdsa, Some(Sha256)),
            CKM_ECDSA_SHA384 => (Scheme::Ecdsa, Some(Sha384)),
            CKM_ECDSA_SHA512 => (Scheme::Ecdsa, Some(Sha512)),
            _ => return Err(MechanismError::Invalid),
        };
        let fits = matches!(
            (scheme, key),
            (Scheme::Pkcs1 | Scheme::Pss, KeyKind::Rsa { .. })
                | (Scheme::Ecdsa, KeyKind::Ec { .. })
        );
        if !fits {
            return Err(MechanismError::KeyType);
        }
        let pss_hash = match scheme {
            Scheme::Pss => {
                let params = pss.ok_or(MechanismError::Param)?;
                let hash = hash_of(params.hash).ok_or(MechanismError::Param)?;
                let consistent = prehash.is_none_or(|h| h == hash)
                    && params.mgf == mgf_of(hash)
                    && usize::try_from(params.salt_len).ok() == Some(hash.digest_len());
                if !consistent {
                    return Err(MechanismError::Param);
                }
                Some(hash)
            }
            _ => None,
        };
        Ok(Self {
            scheme,
            prehash,
            pss_hash,
        })
    }

    /// A fresh input collector for one signing operation.
    pub fn input(&self) -> Input {
        match self.prehash {
            Some(HashAlgorithm::Sha256) => Input::Sha256(sha2::Sha256::new()),
            Some(HashAlgorithm::Sha384) => Input::Sha384(sha2::Sha384::new()),
            Some(HashAlgorithm::Sha512) => Input::Sha512(sha2::Sha512::new()),
            None => Input::Raw(Vec::new()),
        }
    }

    /// The hash algorithm and digest to send, from the collected input.
    pub fn digest(&self, input: Input) -> Result<(HashAlgorithm, Vec<u8>), ModuleError> {
        let raw = match input {
            Input::Sha256(h) => return Ok((HashAlgorithm::Sha256, h.finalize().to_vec())),
            Input::Sha384(h) => return Ok((HashAlgorithm::Sha384, h.finalize().to_vec())),
            Input::Sha512(h) => return Ok((HashAlgorithm::Sha512, h.finalize().to_vec())),
            Input::Raw(raw) => raw,
        };
        match self.scheme {
            Scheme::Pkcs1 => parse_digest_info(&raw),
            Scheme::Pss => {
                let hash = self.pss_hash.unwrap_or(HashAlgorithm::Sha256);
                if raw.len() != hash.digest_len() {
                    return Err(ModuleError::DataLength(format!(
                        "CKM_RSA_PKCS_PSS with {hash} takes a {}-byte digest, not {} bytes",
                        hash.digest_len(),
                        raw.len()
                    )));
                }
                Ok((hash, raw))
            }
            Scheme::Ecdsa => {
                let hash = HashAlgorithm::ALL
                    .iter()
                    .find(|h| h.digest_len() == raw.len())
                    .ok_or_else(|| {
                        ModuleError::DataLength(format!(
                            "CKM_ECDSA takes a SHA-256, SHA-384 or SHA-512 digest (32, 48 or 64 \
                             bytes), not {} bytes",
                            raw.len()
                        ))
                    })?;
                Ok((*hash, raw))
            }
        }
    }

    /// The mechanism's output from the server's signature, checked against the key: RSA
    /// signatures must verify under the requested scheme (a policy signs with one RSA scheme,
    /// which `RAGA` does not tell), ECDSA `Ecdsa-Sig-Value`s become `r‖s`.
    pub fn output(
        &self,
        key: &KeyKind,
        hash: HashAlgorithm,
        digest: &[u8],
        signature: Vec<u8>,
    ) -> Result<Vec<u8>, ModuleError> {
        match (self.scheme, key) {
            (Scheme::Ecdsa, KeyKind::Ec { field_len, .. }) => ecdsa_raw(&signature, *field_len),
            (Scheme::Pkcs1 | Scheme::Pss, KeyKind::Rsa { public, .. }) => {
                let pss = self.scheme == Scheme::Pss;
                let verified = match (pss, hash) {
                    (false, HashAlgorithm::Sha256) => {
                        public.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), digest, &signature)
                    }
                    (false, HashAlgorithm::Sha384) => {
                        public.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha384>(), digest, &signature)
                    }
                    (false, HashAlgorithm::Sha512) => {
                        public.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha512>(), digest, &signature)
                    }
                    (true, HashAlgorithm::Sha256) => {
                        public.verify(rsa::Pss::<sha2::Sha256>::new(), digest, &signature)
                    }
                    (true, HashAlgorithm::Sha384) => {
                        public.verify(rsa::Pss::<sha2::Sha384>::new(), digest, &signature)
                    }
                    (true, HashAlgorithm::Sha512) => {
                        public.verify(rsa::Pss::<sha2::Sha512>::new(), digest, &signature)
                    }
                };
                verified.map_err(|_| {
                    let (asked, other) = if pss {
                        (
                            "RSASSA-PSS",
                            "PKCS#1 v1.5 (CKM_RSA_PKCS, CKM_SHA*_RSA_PKCS)",
                        )
                    } else {
                        (
                            "PKCS#1 v1.5",
                            "RSASSA-PSS (CKM_RSA_PKCS_PSS, CKM_SHA*_RSA_PKCS_PSS)",
                        )
                    };
                    ModuleError::Result(format!(
                        "the policy does not sign with {asked}: its RSA scheme is probably \
                         {other}; use that mechanism or a policy with the other scheme"
                    ))
                })?;
                Ok(signature)
            }
            _ => Err(ModuleError::Result(
                "the mechanism does not fit the key".into(),
            )),
        }
    }
}

/// What a signing operation has been given so far.
#[derive(Debug, Clone)]
pub enum Input {
    /// Hashing SHA-256 here.
    Sha256(sha2::Sha256),
    /// Hashing SHA-384 here.
    Sha384(sha2::Sha384),
    /// Hashing SHA-512 here.
    Sha512(sha2::Sha512),
    /// The caller's digest or DigestInfo.
    Raw(Vec<u8>),
}

impl Input {
    /// Adds data; a mechanism that does not hash takes at most 1 KiB.
    pub fn update(&mut self, data: &[u8]) -> Result<(), ModuleError> {
        match self {
            Self::Sha256(h) => h.update(data),
            Self::Sha384(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
            Self::Raw(raw) => {
                if raw.len().saturating_add(data.len()) > MAX_RAW_INPUT {
                    return Err(ModuleError::DataLength(format!(
                        "this mechanism signs a digest, at most {MAX_RAW_INPUT} bytes: use a \
                         combined mechanism (e.g. CKM_SHA256_RSA_PKCS) to sign data"
                    )));
                }
                raw.extend_from_slice(data);
            }
        }
        Ok(())
    }
}

/// The `DigestInfo` prefixes (with NULL parameters) of the hashes the server signs.
const DIGEST_INFO: [(HashAlgorithm, [u8; 19]); 3] = [
    (
        HashAlgorithm::Sha256,
        [
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
    ),
    (
        HashAlgorithm::Sha384,
        [
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
    ),
    (
        HashAlgorithm::Sha512,
        [
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
    ),
];

/// The hash and digest of a `CKM_RSA_PKCS` input, which must be a DigestInfo.
pub fn parse_digest_info(data: &[u8]) -> Result<(HashAlgorithm, Vec<u8>), ModuleError> {
    for (hash, prefix) in DIGEST_INFO {
        if let Some(digest) = data.strip_prefix(prefix.as_slice())
            && digest.len() == hash.digest_len()
        {
            return Ok((hash, digest.to_vec()));
        }
    }
    Err(ModuleError::Data(format!(
        "CKM_RSA_PKCS signs a DigestInfo of a SHA-256, SHA-384 or SHA-512 digest; these {} \
         bytes are none (the server signs no other hash and no raw data)",
        data.len()
    )))
}

#[derive(Sequence)]
struct EcdsaSig<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

/// `r‖s`, each left-padded to the field length, from a DER `Ecdsa-Sig-Value`.
pub fn ecdsa_raw(der: &[u8], field_len: usize) -> Result<Vec<u8>, ModuleError> {
    let sig = EcdsaSig::from_der(der).map_err(|e| {
        ModuleError::Result(format!(
            "the server sent an ECDSA signature that is not DER: {e}"
        ))
    })?;
    let mut out = vec![0u8; 2 * field_len];
    for (half, value) in out.chunks_mut(field_len).zip([sig.r, sig.s]) {
        let bytes = value.as_bytes();
        let start = field_len.checked_sub(bytes.len()).ok_or_else(|| {
            ModuleError::Result("the server sent an ECDSA signature too long for the key".into())
        })?;
        if let Some(dest) = half.get_mut(start..) {
            dest.copy_from_slice(bytes);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_caller_input_is_parsed_or_refused_never_misread(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok((hash, digest)) = parse_digest_info(&data) {
                prop_assert_eq!(digest.len(), hash.digest_len());
                prop_assert!(data.ends_with(&digest));
                prop_assert_eq!(data.len(), 19 + digest.len());
            }
            let _ = ecdsa_raw(&data, 32);
        }

        #[test]
        fn raw_input_is_capped(parts in proptest::collection::vec(0usize..700, 0..6)) {
            let mut input = Input::Raw(Vec::new());
            let mut total = 0usize;
            for len in parts {
                let added = input.update(&vec![0u8; len]);
                prop_assert_eq!(added.is_ok(), total + len <= MAX_RAW_INPUT);
                if added.is_ok() {
                    total += len;
                }
            }
            let Input::Raw(raw) = input else { unreachable!() };
            prop_assert_eq!(raw.len(), total);
        }
    }

    #[test]
    fn digest_info_is_mapped_to_its_hash() {
        let mut input = DIGEST_INFO[1].1.to_vec();
        input.extend([7u8; 48]);
        let (hash, digest) = parse_digest_info(&input).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(hash, HashAlgorithm::Sha384);
        assert_eq!(digest, vec![7u8; 48]);
        input.push(0);
        assert!(parse_digest_info(&input).is_err());
        assert!(parse_digest_info(&[7u8; 32]).is_err());
    }

    #[test]
    fn ecdsa_der_becomes_fixed_width_r_and_s() {
        // r = 0x0102 (short), s = 0x80 (needs a leading zero in DER).
        let der = [0x30, 0x08, 0x02, 0x02, 0x01, 0x02, 0x02, 0x02, 0x00, 0x80];
        let raw = ecdsa_raw(&der, 4).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(raw, vec![0, 0, 1, 2, 0, 0, 0, 0x80]);
        assert!(ecdsa_raw(&der, 1).is_err());
        assert!(ecdsa_raw(&der[..5], 4).is_err());
    }
}
