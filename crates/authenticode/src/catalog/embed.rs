//! Completing the server's detached signature with the catalog's CTL and writing the
//! signed catalog (client side).

use std::path::Path;

use ::cms::content_info::ContentInfo;
use ::cms::signed_data::SignedData;
use const_oid::db::rfc5911::ID_SIGNED_DATA;
use der::asn1::Any;
use der::{Decode, Encode};
use sigil_keys::HashAlgorithm;
use sigil_pki::cms::{self, VerifyContent};

use super::parse::{Catalog, MS_CTL_OBJID, PreparedCatalog, signed_message_digest};
use crate::embed::{EmbedMode, Placement};
use crate::error::{AuthenticodeError, CatalogError, Result};
use crate::file::{reopen, replace_output};
use crate::signature::{AuthenticodeSignature, first_der_element, hex};
use crate::subject::Subject;

impl PreparedCatalog {
    /// Puts the catalog's CTL into the signature `pkcs7_der` (the server's detached
    /// SignedData over the CTL's digest, or one that encapsulates this very CTL) and writes
    /// the result as the signed catalog to `output` (which may be `input`) atomically.
    ///
    /// Refuses a signature over another digest ([`AuthenticodeError::DigestMismatch`]), one
    /// for another kind of file ([`AuthenticodeError::WrongSubject`]), one that does not
    /// verify, [`EmbedMode::Append`] on a signed catalog
    /// ([`CatalogError::NestingUnsupported`]), and a file that changed since it was prepared
    /// ([`AuthenticodeError::FileChanged`]); on any error the output is left as it was.
    pub fn embed(
        &self,
        input: &Path,
        output: &Path,
        pkcs7_der: &[u8],
        mode: EmbedMode,
    ) -> Result<Placement> {
        if mode == EmbedMode::Append && self.signed {
            return Err(CatalogError::NestingUnsupported.into());
        }
        let signed = self.complete(pkcs7_der)?;
        let mut source = reopen(input, &self.identity)?;
        if Catalog::read(&mut source)?.trust_list_der()? != self.trust_list {
            return Err(AuthenticodeError::FileChanged);
        }
        replace_output(&source, output, |file| {
            use std::io::Write;
            file.write_all(&signed)
                .map_err(AuthenticodeError::io("write the signed catalog"))
        })?;
        Ok(if self.signed {
            Placement::Replaced
        } else {
            Placement::Primary
        })
    }

    /// The signed catalog: `pkcs7_der` with this catalog's CTL as its eContent, checked.
    fn complete(&self, pkcs7_der: &[u8]) -> Result<Vec<u8>> {
        if first_der_element(pkcs7_der)?.len() != pkcs7_der.len() {
            return Err(AuthenticodeError::malformed(
                "trailing bytes after the PKCS#7 ContentInfo",
            ));
        }
        let mut content_info = ContentInfo::from_der(pkcs7_der).map_err(|e| {
            AuthenticodeError::malformed(format!("ContentInfo does not decode: {e}"))
        })?;
        if content_info.content_type != ID_SIGNED_DATA {
            return Err(AuthenticodeError::malformed(format!(
                "content type is {}, not signedData",
                content_info.content_type
            )));
        }
        let mut signed_data: SignedData = content_info.content.decode_as().map_err(|e| {
            AuthenticodeError::malformed(format!("SignedData does not decode: {e}"))
        })?;
        if signed_data.encap_content_info.econtent_type != MS_CTL_OBJID {
            // An Authenticode signature for another kind of file says which.
            return Err(match AuthenticodeSignature::from_der(pkcs7_der) {
                Ok(other) => AuthenticodeError::WrongSubject {
                    expected: Subject::Catalog,
                    found: other.subject,
                },
                Err(_) => CatalogError::NotCatalog {
                    content_type: signed_data.encap_content_info.econtent_type,
                }
                .into(),
            });
        }
        let [signer] = signed_data.signer_infos.0.as_slice() else {
            return Err(AuthenticodeError::malformed(format!(
                "the signature has {} signers; a catalog signature has one",
                signed_data.signer_infos.0.len()
            )));
        };
        let algorithm = HashAlgorithm::from_oid(&signer.digest_alg.oid).ok_or(
            AuthenticodeError::UnsupportedDigestAlgorithm {
                oid: signer.digest_alg.oid,
            },
        )?;
        let signed_digest = signed_message_digest(signer)
            .ok_or_else(|| AuthenticodeError::malformed("the signer has no messageDigest"))?;
        if algorithm != self.algorithm || signed_digest != self.digest {
            return Err(AuthenticodeError::DigestMismatch {
                algorithm: self.algorithm,
                signed: hex(&signed_digest),
                actual: hex(&self.digest),
            });
        }
        let trust_list = Any::from_der(&self.trust_list)
            .map_err(AuthenticodeError::encode("certificate trust list"))?;
        match &signed_data.encap_content_info.econtent {
            Some(econtent) if *econtent != trust_list => {
                return Err(AuthenticodeError::malformed(
                    "the signature encapsulates another certificate trust list",
                ));
            }
            _ => signed_data.encap_content_info.econtent = Some(trust_list),
        }
        content_info.content =
            Any::encode_from(&signed_data).map_err(AuthenticodeError::encode("SignedData"))?;
        let der = content_info
            .to_der()
            .map_err(AuthenticodeError::encode("signed catalog"))?;
        cms::verify(&der, VerifyContent::Encapsulated)?;
        Ok(der)
    }
}
