//! The Authenticode-specific ASN.1 structures (server side: what gets signed).
//!
//! From "Windows Authenticode Portable Executable Signature Format" (2008),
//! *Authenticode-Specific Structures*, encoded the way signtool and
//! osslsigncode actually write them (the document differs from practice in
//! places; osslsigncode's encoding is reproduced byte for byte and checked by
//! the tests against `osslsigncode extract-data`).

use const_oid::ObjectIdentifier;
use der::asn1::{Any, AnyRef, BitString, BmpString, Ia5String, OctetString, SetOfVec};
use der::{Choice, Decode, Encode, EncodeValue, Sequence, Tagged};
use sigil_keys::HashAlgorithm;
use x509_cert::attr::Attribute;
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::error::{AuthenticodeError, Result};

/// `SPC_INDIRECT_DATA_OBJID`: the content type of an Authenticode SignedData.
pub const SPC_INDIRECT_DATA_OBJID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.4");
/// `SPC_PE_IMAGE_DATAOBJ`: the `SpcAttributeTypeAndOptionalValue` type for PE images.
pub const SPC_PE_IMAGE_DATA_OBJID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.15");
/// `SPC_SP_OPUS_INFO_OBJID`: signed attribute with the program name and URL.
pub const SPC_SP_OPUS_INFO_OBJID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.12");
/// `SPC_STATEMENT_TYPE_OBJID`: signed attribute with the key purpose.
pub const SPC_STATEMENT_TYPE_OBJID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.11");
/// `SPC_INDIVIDUAL_SP_KEY_PURPOSE_OBJID`: individual (not commercial) code signing.
pub const SPC_INDIVIDUAL_SP_KEY_PURPOSE_OBJID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.21");
/// `SPC_NESTED_SIGNATURE_OBJID`: unsigned attribute holding further (nested) signatures.
pub const SPC_NESTED_SIGNATURE_OBJID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.4.1");

/// The file link signtool and osslsigncode write into `SpcPeImageData`.
pub const OBSOLETE_FILE_LINK: &str = "<<<Obsolete>>>";
/// Longest program name accepted in `SpcSpOpusInfo` (characters).
pub const MAX_PROGRAM_NAME_CHARS: usize = 1024;
/// Longest more-info URL accepted in `SpcSpOpusInfo` (bytes).
pub const MAX_URL_LEN: usize = 2048;

/// ```text
/// SpcIndirectDataContent ::= SEQUENCE {
///     data                    SpcAttributeTypeAndOptionalValue,
///     messageDigest           DigestInfo
/// } --#public—
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SpcIndirectDataContent {
    /// What is signed: for PE images, `SPC_PE_IMAGE_DATAOBJ` with `SpcPeImageData`.
    pub data: SpcAttributeTypeAndOptionalValue,
    /// The image digest.
    pub message_digest: DigestInfo,
}

/// ```text
/// SpcAttributeTypeAndOptionalValue ::= SEQUENCE {
///     type                    ObjectID,
///     value                   [0] EXPLICIT ANY OPTIONAL
/// }
/// ```
/// (In practice the value is written untagged, as here.)
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SpcAttributeTypeAndOptionalValue {
    /// The value's type.
    pub value_type: ObjectIdentifier,
    /// The value.
    #[asn1(optional = "true")]
    pub value: Option<Any>,
}

/// ```text
/// DigestInfo ::= SEQUENCE {
///     digestAlgorithm     AlgorithmIdentifier,
///     digest              OCTETSTRING
/// }
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct DigestInfo {
    /// The hash algorithm (written with NULL parameters, as signtool does).
    pub digest_algorithm: AlgorithmIdentifierOwned,
    /// The image digest.
    pub digest: OctetString,
}

/// ```text
/// SpcPeImageData ::= SEQUENCE {
///    flags                   SpcPeImageFlags DEFAULT { includeResources },
///    file                    SpcLink
/// } --#public--
/// ```
/// In practice `file` is written `[0] EXPLICIT` and `flags` is always present.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SpcPeImageData {
    /// `SpcPeImageFlags ::= BIT STRING { includeResources(0), includeDebugInfo(1), includeImportAddressTable(2) }`.
    pub flags: BitString,
    /// The legacy file link (`<<<Obsolete>>>`), or page hashes.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub file: Option<SpcLink>,
}

/// ```text
/// SpcLink ::= CHOICE {
///     url                     [0] IMPLICIT IA5STRING,
///     moniker                 [1] IMPLICIT SpcSerializedObject,
///     file                    [2] EXPLICIT SpcString
/// } --#public--
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Choice)]
pub enum SpcLink {
    /// A URL.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Url(Ia5String),
    /// A serialized object (used for page hashes).
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true")]
    Moniker(SpcSerializedObject),
    /// A file name.
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    File(SpcString),
}

/// ```text
/// SpcSerializedObject ::= SEQUENCE {
///     classId             SpcUuid,
///     serializedData      OCTETSTRING
/// }
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SpcSerializedObject {
    /// `SpcUuid ::= OCTETSTRING -- 16 bytes`.
    pub class_id: OctetString,
    /// The serialized data.
    pub serialized_data: OctetString,
}

/// ```text
/// SpcString ::= CHOICE {
///     unicode                 [0] IMPLICIT BMPSTRING,
///     ascii                   [1] IMPLICIT IA5STRING
/// }
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Choice)]
pub enum SpcString {
    /// UCS-2 text.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Unicode(BmpString),
    /// ASCII text.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT")]
    Ascii(Ia5String),
}

/// ```text
/// SpcSpOpusInfo ::= SEQUENCE {
///     programName             [0] EXPLICIT SpcString OPTIONAL,
///     moreInfo                [1] EXPLICIT SpcLink OPTIONAL,
/// } --#public--
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SpcSpOpusInfo {
    /// The program's name, shown by Windows when it asks for consent.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub program_name: Option<SpcString>,
    /// A URL with more information about the program.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub more_info: Option<SpcLink>,
}

/// The signed content of an Authenticode signature: a DER `SpcIndirectDataContent`.
///
/// Goes into the SignedData's `eContent` as the SEQUENCE itself (not wrapped in
/// an OCTET STRING); the CMS `messageDigest` attribute is computed over
/// [`message_digest_input`](Self::message_digest_input), the SEQUENCE's
/// contents without its tag and length (RFC 5652 §5.4: "only the octets
/// comprising the value of the eContent").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticodeContent {
    der: Vec<u8>,
    header_len: usize,
}

impl AuthenticodeContent {
    /// The content for a PE image with this image digest.
    pub fn for_pe_image(algorithm: HashAlgorithm, image_digest: &[u8]) -> Result<Self> {
        check_digest_len(algorithm, image_digest)?;
        let image_data = SpcPeImageData {
            // includeResources (bit 0), as osslsigncode writes it.
            flags: BitString::new(7, [0x80])
                .map_err(AuthenticodeError::encode("SpcPeImageData"))?,
            file: Some(SpcLink::File(SpcString::Unicode(
                BmpString::from_utf8(OBSOLETE_FILE_LINK)
                    .map_err(AuthenticodeError::encode("SpcPeImageData"))?,
            ))),
        };
        let content = SpcIndirectDataContent {
            data: SpcAttributeTypeAndOptionalValue {
                value_type: SPC_PE_IMAGE_DATA_OBJID,
                value: Some(
                    Any::encode_from(&image_data)
                        .map_err(AuthenticodeError::encode("SpcPeImageData"))?,
                ),
            },
            message_digest: DigestInfo {
                digest_algorithm: AlgorithmIdentifierOwned {
                    oid: algorithm.oid(),
                    parameters: Some(Any::null()),
                },
                digest: OctetString::new(image_digest)
                    .map_err(AuthenticodeError::encode("DigestInfo"))?,
            },
        };
        let der = content
            .to_der()
            .map_err(AuthenticodeError::encode("SpcIndirectDataContent"))?;
        Self::from_der(der)
    }

    /// Wraps an existing DER `SpcIndirectDataContent` (checked to decode).
    pub fn from_der(der: Vec<u8>) -> Result<Self> {
        SpcIndirectDataContent::from_der(&der).map_err(|e| {
            AuthenticodeError::malformed(format!("SpcIndirectDataContent does not decode: {e}"))
        })?;
        let any = AnyRef::from_der(&der)
            .map_err(|e| AuthenticodeError::malformed(format!("not one DER element: {e}")))?;
        let header_len = der.len() - any.value().len();
        Ok(AuthenticodeContent { der, header_len })
    }

    /// The DER `SpcIndirectDataContent` SEQUENCE (the eContent).
    pub fn econtent_der(&self) -> &[u8] {
        &self.der
    }

    /// The bytes the CMS `messageDigest` attribute is computed over: the SEQUENCE's contents.
    pub fn message_digest_input(&self) -> &[u8] {
        self.der.get(self.header_len..).unwrap_or_default()
    }
}

/// The Authenticode signed attributes besides `contentType` and `messageDigest`.
///
/// `SpcSpOpusInfo` (always present, as signtool writes it; the program name as a
/// BMPString, the URL as an IA5String) and `SpcStatementType` (individual code signing).
pub fn signed_attributes(
    program_name: Option<&str>,
    more_info_url: Option<&str>,
) -> Result<Vec<Attribute>> {
    let program_name = program_name
        .map(|name| {
            if name.chars().count() > MAX_PROGRAM_NAME_CHARS {
                return Err(AuthenticodeError::InvalidText {
                    field: "program name",
                    reason: format!("longer than {MAX_PROGRAM_NAME_CHARS} characters"),
                });
            }
            BmpString::from_utf8(name)
                .map(SpcString::Unicode)
                .map_err(|_| AuthenticodeError::InvalidText {
                    field: "program name",
                    reason: "contains characters outside Unicode's Basic Multilingual Plane (e.g. emoji), which a BMPString cannot hold".into(),
                })
        })
        .transpose()?;
    let more_info = more_info_url
        .map(|url| {
            if url.len() > MAX_URL_LEN {
                return Err(AuthenticodeError::InvalidText {
                    field: "more-info URL",
                    reason: format!("longer than {MAX_URL_LEN} bytes"),
                });
            }
            Ia5String::new(url)
                .map(SpcLink::Url)
                .map_err(|_| AuthenticodeError::InvalidText {
                    field: "more-info URL",
                    reason: "must be ASCII (percent-encode other characters)".into(),
                })
        })
        .transpose()?;
    let opus = SpcSpOpusInfo {
        program_name,
        more_info,
    };
    let statement: Vec<ObjectIdentifier> = vec![SPC_INDIVIDUAL_SP_KEY_PURPOSE_OBJID];
    Ok(vec![
        attribute(SPC_SP_OPUS_INFO_OBJID, &opus, "SpcSpOpusInfo")?,
        attribute(SPC_STATEMENT_TYPE_OBJID, &statement, "SpcStatementType")?,
    ])
}

/// An attribute with one value.
fn attribute<T: EncodeValue + Tagged>(
    oid: ObjectIdentifier,
    value: &T,
    what: &'static str,
) -> Result<Attribute> {
    let value = Any::encode_from(value).map_err(AuthenticodeError::encode(what))?;
    let values = SetOfVec::try_from(vec![value]).map_err(AuthenticodeError::encode(what))?;
    Ok(Attribute { oid, values })
}

/// Checks that a digest has its algorithm's length.
pub(crate) fn check_digest_len(algorithm: HashAlgorithm, digest: &[u8]) -> Result<()> {
    if digest.len() == algorithm.digest_len() {
        Ok(())
    } else {
        Err(AuthenticodeError::DigestLength {
            algorithm,
            expected: algorithm.digest_len(),
            actual: digest.len(),
        })
    }
}

/// The PE image digest recorded in a DER `SpcIndirectDataContent`.
pub(crate) fn signed_image_digest(
    content: &SpcIndirectDataContent,
) -> Result<(HashAlgorithm, Vec<u8>)> {
    if content.data.value_type != SPC_PE_IMAGE_DATA_OBJID {
        return Err(AuthenticodeError::malformed(format!(
            "SpcIndirectDataContent is for {} data, not a PE image ({SPC_PE_IMAGE_DATA_OBJID})",
            content.data.value_type
        )));
    }
    let oid = content.message_digest.digest_algorithm.oid;
    let algorithm = HashAlgorithm::from_oid(&oid)
        .ok_or(AuthenticodeError::UnsupportedDigestAlgorithm { oid })?;
    let digest = content.message_digest.digest.as_bytes().to_vec();
    check_digest_len(algorithm, &digest)?;
    Ok((algorithm, digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pe_content_has_osslsigncode_layout() {
        let content =
            AuthenticodeContent::for_pe_image(HashAlgorithm::Sha256, &[0xab; 32]).unwrap();
        let der = content.econtent_der();
        // SEQUENCE { SEQUENCE { OID 1.3.6.1.4.1.311.2.1.15, SEQUENCE { BIT STRING 0x80/7, [0] { [2] { [0] "<<<Obsolete>>>" } } } } ...
        let expected_prefix = hex::decode(
            "3069303406 0a2b0601040182370201 0f3026030207 80a020a21e801c003c003c003c004f00620073006f006c006500740065003e003e003e"
                .replace(' ', ""),
        )
        .unwrap();
        assert_eq!(&der[..expected_prefix.len()], &expected_prefix[..]);
        let digest_info =
            hex::decode("3031300d0609608648016503040201050004 20".replace(' ', "")).unwrap();
        assert_eq!(
            &der[expected_prefix.len()..der.len() - 32],
            &digest_info[..]
        );
        assert_eq!(content.message_digest_input(), &der[2..]);

        let decoded = SpcIndirectDataContent::from_der(der).unwrap();
        assert_eq!(
            signed_image_digest(&decoded).unwrap(),
            (HashAlgorithm::Sha256, vec![0xab; 32])
        );
    }

    #[test]
    fn wrong_digest_length_is_refused() {
        let err = AuthenticodeContent::for_pe_image(HashAlgorithm::Sha384, &[0; 32]).unwrap_err();
        assert!(matches!(
            err,
            AuthenticodeError::DigestLength {
                expected: 48,
                actual: 32,
                ..
            }
        ));
    }

    #[test]
    fn opus_info_round_trips() {
        let attrs =
            signed_attributes(Some("Sigil Tool ü"), Some("https://example.test/x")).unwrap();
        assert_eq!(attrs[0].oid, SPC_SP_OPUS_INFO_OBJID);
        let opus: SpcSpOpusInfo = attrs[0].values.get(0).unwrap().decode_as().unwrap();
        assert_eq!(
            opus.program_name,
            Some(SpcString::Unicode(
                BmpString::from_utf8("Sigil Tool ü").unwrap()
            ))
        );
        assert_eq!(
            opus.more_info,
            Some(SpcLink::Url(
                Ia5String::new("https://example.test/x").unwrap()
            ))
        );
        // SpcStatementType: SEQUENCE { OID 1.3.6.1.4.1.311.2.1.21 }, as osslsigncode writes it.
        assert_eq!(
            attrs[1].values.get(0).unwrap().to_der().unwrap(),
            hex::decode("300c060a2b060104018237020115").unwrap()
        );
        let empty = signed_attributes(None, None).unwrap();
        assert_eq!(
            empty[0].values.get(0).unwrap().to_der().unwrap(),
            vec![0x30, 0x00]
        );
    }

    #[test]
    fn bad_text_is_refused() {
        assert!(matches!(
            signed_attributes(Some("rocket 🚀"), None),
            Err(AuthenticodeError::InvalidText {
                field: "program name",
                ..
            })
        ));
        assert!(matches!(
            signed_attributes(None, Some("https://exämple.test")),
            Err(AuthenticodeError::InvalidText {
                field: "more-info URL",
                ..
            })
        ));
    }
}
