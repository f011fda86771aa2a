//! Reading X.509 signature algorithm identifiers and verifying signatures made with them.
//!
//! Used for CSR self-signatures and for checking certificates while building a chain.

use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5912, rfc8410};
use der::Sequence;
use der::asn1::Null;
use sigil_keys::{HashAlgorithm, KeyFamily, PublicKeyInfo, RsaPadding};
use spki::AlgorithmIdentifierOwned;

use crate::PkiError;

/// `RSASSA-PSS-params` (RFC 4055 §3.1).
///
/// ```text
/// RSASSA-PSS-params ::= SEQUENCE {
///     hashAlgorithm      [0] HashAlgorithm DEFAULT sha1Identifier,
///     maskGenAlgorithm   [1] MaskGenAlgorithm DEFAULT mgf1SHA1Identifier,
///     saltLength         [2] INTEGER DEFAULT 20,
///     trailerField       [3] INTEGER DEFAULT 1 }
/// ```
#[derive(Clone, Debug, Sequence)]
struct RsaPssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_gen: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt_length: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer_field: Option<u32>,
}

/// `id-mgf1` (RFC 4055 §2.2).
const ID_MGF_1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");

/// What a signature algorithm identifier means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SignatureParams {
    pub(crate) family: KeyFamily,
    /// The hash (ignored for Ed25519).
    pub(crate) hash: HashAlgorithm,
    pub(crate) padding: RsaPadding,
}

/// Maps a signature `AlgorithmIdentifier` to the parameters `sigil_keys` verifies with.
///
/// RSASSA-PSS is accepted only in the form every verifier agrees on: the same
/// SHA-2 hash for the message and MGF1, a salt as long as the digest, trailer 1.
pub(crate) fn signature_params(
    algorithm: &AlgorithmIdentifierOwned,
) -> Result<SignatureParams, PkiError> {
    let unsupported = || PkiError::UnsupportedSignatureAlgorithm(algorithm.oid);
    let no_params = algorithm.parameters.is_none();
    let null_or_absent = no_params
        || algorithm
            .parameters
            .as_ref()
            .is_some_and(|p| p.decode_as::<Null>().is_ok());
    let (family, hash, padding) = match algorithm.oid {
        rfc5912::SHA_256_WITH_RSA_ENCRYPTION if null_or_absent => {
            (KeyFamily::Rsa, HashAlgorithm::Sha256, RsaPadding::Pkcs1v15)
        }
        rfc5912::SHA_384_WITH_RSA_ENCRYPTION if null_or_absent => {
            (KeyFamily::Rsa, HashAlgorithm::Sha384, RsaPadding::Pkcs1v15)
        }
        rfc5912::SHA_512_WITH_RSA_ENCRYPTION if null_or_absent => {
            (KeyFamily::Rsa, HashAlgorithm::Sha512, RsaPadding::Pkcs1v15)
        }
        rfc5912::ECDSA_WITH_SHA_256 if no_params => (
            KeyFamily::Ecdsa,
            HashAlgorithm::Sha256,
            RsaPadding::Pkcs1v15,
        ),
        rfc5912::ECDSA_WITH_SHA_384 if no_params => (
            KeyFamily::Ecdsa,
            HashAlgorithm::Sha384,
            RsaPadding::Pkcs1v15,
        ),
        rfc5912::ECDSA_WITH_SHA_512 if no_params => (
            KeyFamily::Ecdsa,
            HashAlgorithm::Sha512,
            RsaPadding::Pkcs1v15,
        ),
        rfc8410::ID_ED_25519 if no_params => (
            KeyFamily::Ed25519,
            HashAlgorithm::Sha512,
            RsaPadding::Pkcs1v15,
        ),
        rfc5912::ID_RSASSA_PSS => {
            let params = algorithm
                .parameters
                .as_ref()
                .ok_or_else(unsupported)?
                .decode_as::<RsaPssParams>()
                .map_err(|_| unsupported())?;
            (
                KeyFamily::Rsa,
                pss_hash(&params).ok_or_else(unsupported)?,
                RsaPadding::Pss,
            )
        }
        _ => return Err(unsupported()),
    };
    Ok(SignatureParams {
        family,
        hash,
        padding,
    })
}

fn pss_hash(params: &RsaPssParams) -> Option<HashAlgorithm> {
    let hash = digest_algorithm(params.hash.as_ref()?)?;
    let mgf = params.mask_gen.as_ref()?;
    if mgf.oid != ID_MGF_1 {
        return None;
    }
    let mgf_hash = mgf
        .parameters
        .as_ref()?
        .decode_as::<AlgorithmIdentifierOwned>()
        .ok()?;
    if digest_algorithm(&mgf_hash)? != hash {
        return None;
    }
    let salt_ok = params.salt_length.unwrap_or(20) as usize == hash.digest_len();
    let trailer_ok = params.trailer_field.unwrap_or(1) == 1;
    (salt_ok && trailer_ok).then_some(hash)
}

/// A SHA-2 digest `AlgorithmIdentifier`, with absent or NULL parameters.
fn digest_algorithm(id: &AlgorithmIdentifierOwned) -> Option<HashAlgorithm> {
    let params_ok = id
        .parameters
        .as_ref()
        .is_none_or(|p| p.decode_as::<Null>().is_ok());
    params_ok
        .then(|| HashAlgorithm::from_oid(&id.oid))
        .flatten()
}

/// Verifies `signature` over `message` with the key in `spki_der`, made with `algorithm`.
///
/// Returns the parsed key. A key of a different family than the signature
/// algorithm, or of an unsupported type, is an error.
pub(crate) fn verify(
    spki_der: &[u8],
    algorithm: &AlgorithmIdentifierOwned,
    message: &[u8],
    signature: &[u8],
) -> Result<PublicKeyInfo, VerifyError> {
    let params = signature_params(algorithm).map_err(VerifyError::Pki)?;
    let key = sigil_keys::inspect_public_key(spki_der)
        .map_err(|e| VerifyError::Pki(PkiError::UnsupportedKey(e)))?;
    if key.algorithm.family() != params.family {
        return Err(VerifyError::Pki(PkiError::UnsupportedSignatureAlgorithm(
            algorithm.oid,
        )));
    }
    sigil_keys::verify_message(spki_der, params.hash, params.padding, message, signature)
        .map_err(|_| VerifyError::BadSignature)?;
    Ok(key)
}

/// Why [`verify`] failed: the inputs were not acceptable, or the signature is wrong.
#[derive(Debug)]
pub(crate) enum VerifyError {
    Pki(PkiError),
    BadSignature,
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::{Any, Encode};
    use sigil_keys::SignatureAlgorithm;

    #[test]
    fn every_algorithm_sigil_writes_is_read_back() {
        for family in [KeyFamily::Rsa, KeyFamily::Ecdsa] {
            for hash in HashAlgorithm::ALL {
                for padding in [RsaPadding::Pkcs1v15, RsaPadding::Pss] {
                    if family == KeyFamily::Ecdsa && padding == RsaPadding::Pss {
                        continue;
                    }
                    let id = SignatureAlgorithm {
                        family,
                        hash,
                        padding,
                    }
                    .algorithm_identifier()
                    .unwrap();
                    let params = signature_params(&id).unwrap();
                    assert_eq!(
                        (params.family, params.hash, params.padding),
                        (family, hash, padding)
                    );
                }
            }
        }
    }

    #[test]
    fn pss_with_other_salt_or_sha1_is_refused() {
        let id = SignatureAlgorithm {
            family: KeyFamily::Rsa,
            hash: HashAlgorithm::Sha256,
            padding: RsaPadding::Pss,
        }
        .algorithm_identifier()
        .unwrap();
        let mut params: RsaPssParams = id.parameters.as_ref().unwrap().decode_as().unwrap();
        params.salt_length = Some(20);
        let salted = AlgorithmIdentifierOwned {
            oid: id.oid,
            parameters: Some(Any::encode_from(&params).unwrap()),
        };
        assert!(signature_params(&salted).is_err());
        let sha1_default = AlgorithmIdentifierOwned {
            oid: id.oid,
            parameters: Some(Any::new(der::Tag::Sequence, Vec::new()).unwrap()),
        };
        assert!(signature_params(&sha1_default).is_err());
        assert!(Any::encode_from(&params).unwrap().to_der().is_ok());
    }

    #[test]
    fn ecdsa_with_parameters_or_md5_is_refused() {
        let md5_rsa = AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.4"),
            parameters: None,
        };
        assert!(matches!(
            signature_params(&md5_rsa),
            Err(PkiError::UnsupportedSignatureAlgorithm(_))
        ));
        let ecdsa_null = AlgorithmIdentifierOwned {
            oid: rfc5912::ECDSA_WITH_SHA_256,
            parameters: Some(Null.into()),
        };
        assert!(signature_params(&ecdsa_null).is_err());
    }
}
