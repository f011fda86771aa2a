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
use crate::subject::Subject;

/// `SPC_INDIRECT_DATA_OBJID`: the content type of an Authenticode SignedData.
pub const SPC_INDIRECT_DATA_OBJID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.4");
/// `SPC_PE_IMAGE_DATAOBJ`: the `SpcAttributeTypeAndOptionalValue` type for PE images.
pub const SPC_PE_IMAGE_DATA_OBJID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.15");
/// `SPC_CAB_DATA_OBJID`: the `SpcAttributeTypeAndOptionalValue` type for cabinet files.
pub const SPC_CAB_DATA_OBJID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.25");
/// `SPC_SIPINFO_OBJID`: the `SpcAttributeTypeAndOptionalValue` type naming a SIP by GUID
/// (MSI packages, PowerShell scripts).
pub const SPC_SIPINFO_OBJID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.30");
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

/// The MSI SIP's GUID `000C10F1-0000-0000-C000-000000000046`, as stored (little-endian fields).
pub const SIP_GUID_MSI: [u8; 16] = [
    0xf1, 0x10, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
];
/// The PowerShell SIP's GUID `603BCC1F-4B59-4E08-B724-D2C6297EF351`, as stored.
pub const SIP_GUID_POWERSHELL: [u8; 16] = [
    0x1f, 0xcc, 0x3b, 0x60, 0x59, 0x4b, 0x08, 0x4e, 0xb7, 0x24, 0xd2, 0xc6, 0x29, 0x7e, 0xf3, 0x51,
];

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
/// SpcSipInfo ::= SEQUENCE {
///     dwSIPversion    INTEGER,
///     gSIPguid        OCTET STRING -- 16 bytes
///     dwReserved1..5  INTEGER (5 times)
/// }
/// ```
/// (Not in Microsoft's document; the layout signtool and osslsigncode write for MSI
/// packages, version 1, and PowerShell scripts, version 65536; the reserved fields are 0.)
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SpcSipInfo {
    /// The SIP version.
    pub version: u32,
    /// The SIP's GUID.
    pub guid: OctetString,
    /// Reserved, 0.
    pub reserved1: u32,
    /// Reserved, 0.
    pub reserved2: u32,
    /// Reserved, 0.
    pub reserved3: u32,
    /// Reserved, 0.
    pub reserved4: u32,
    /// Reserved, 0.
    pub reserved5: u32,
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
        Self::for_subject(Subject::Pe, algorithm, image_digest)
    }

    /// The content for a file of kind `subject` with this digest, with the
    /// `SpcIndirectDataContent.data` osslsigncode writes for it: `SpcPeImageData` for a PE
    /// image, `SpcSipInfo` with the SIP's GUID for an MSI package or a PowerShell script, the
    /// obsolete file link under `SPC_CAB_DATA` for a cabinet. A catalog file has no indirect
    /// data (its certificate trust list is the signed content): [`AuthenticodeError::UnsupportedSubject`].
    pub fn for_subject(subject: Subject, algorithm: HashAlgorithm, digest: &[u8]) -> Result<Self> {
        check_digest_len(algorithm, digest)?;
        let data = subject_data(subject)?;
        let content = SpcIndirectDataContent {
            data,
            message_digest: DigestInfo {
                digest_algorithm: AlgorithmIdentifierOwned {
                    oid: algorithm.oid(),
                    parameters: Some(Any::null()),
                },
                digest: OctetString::new(digest)
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

/// The `SpcIndirectDataContent.data` naming `subject`.
fn subject_data(subject: Subject) -> Result<SpcAttributeTypeAndOptionalValue> {
    let any = |value: Result<Any, der::Error>, what| value.map_err(AuthenticodeError::encode(what));
    let (value_type, value) = match subject {
        Subject::Pe => {
            let image_data = SpcPeImageData {
                // includeResources (bit 0), as osslsigncode writes it.
                flags: BitString::new(7, [0x80])
                    .map_err(AuthenticodeError::encode("SpcPeImageData"))?,
                file: Some(obsolete_link()?),
            };
            (
                SPC_PE_IMAGE_DATA_OBJID,
                any(Any::encode_from(&image_data), "SpcPeImageData")?,
            )
        }
        Subject::Cab => (
            SPC_CAB_DATA_OBJID,
            any(Any::encode_from(&obsolete_link()?), "SpcLink")?,
        ),
        Subject::Msi | Subject::Script => {
            let (version, guid) = match subject {
                Subject::Msi => (1, SIP_GUID_MSI),
                _ => (65536, SIP_GUID_POWERSHELL),
            };
            let sip = SpcSipInfo {
                version,
                guid: OctetString::new(guid).map_err(AuthenticodeError::encode("SpcSipInfo"))?,
                reserved1: 0,
                reserved2: 0,
                reserved3: 0,
                reserved4: 0,
                reserved5: 0,
            };
            (
                SPC_SIPINFO_OBJID,
                any(Any::encode_from(&sip), "SpcSipInfo")?,
            )
        }
        Subject::Catalog => {
            return Err(AuthenticodeError::UnsupportedSubject {
                subject,
                reason: "a catalog's certificate trust list is the signed content itself, not an SpcIndirectDataContent",
            });
        }
    };
    Ok(SpcAttributeTypeAndOptionalValue {
        value_type,
        value: Some(value),
    })
}

/// `[2] { [0] IMPLICIT BMPString "<<<Obsolete>>>" }`: the file link of PE and CAB contents.
fn obsolete_link() -> Result<SpcLink> {
    Ok(SpcLink::File(SpcString::Unicode(
        BmpString::from_utf8(OBSOLETE_FILE_LINK).map_err(AuthenticodeError::encode("SpcLink"))?,
    )))
}

/// The subject an `SpcIndirectDataContent.data` names; `None` for one Sigil does not know.
pub(crate) fn content_subject(data: &SpcAttributeTypeAndOptionalValue) -> Option<Subject> {
    match data.value_type {
        oid if oid == SPC_PE_IMAGE_DATA_OBJID => Some(Subject::Pe),
        oid if oid == SPC_CAB_DATA_OBJID => Some(Subject::Cab),
        oid if oid == SPC_SIPINFO_OBJID => {
            let sip: SpcSipInfo = data.value.as_ref()?.decode_as().ok()?;
            match sip.guid.as_bytes() {
                guid if guid == SIP_GUID_MSI => Some(Subject::Msi),
                guid if guid == SIP_GUID_POWERSHELL => Some(Subject::Script),
                _ => None,
            }
        }
        _ => None,
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

/// The file digest recorded in a DER `SpcIndirectDataContent` (of any subject Sigil knows).
pub(crate) fn signed_image_digest(
    content: &SpcIndirectDataContent,
) -> Result<(HashAlgorithm, Vec<u8>)> {
    if content_subject(&content.data).is_none() {
        return Err(AuthenticodeError::malformed(format!(
            "SpcIndirectDataContent is for {} data, which is none of a PE image, an MSI \
             package, a cabinet or a PowerShell script",
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
    fn subject_contents_have_osslsigncode_layout() {
        let data_of = |subject| {
            let content =
                AuthenticodeContent::for_subject(subject, HashAlgorithm::Sha256, &[1; 32]).unwrap();
            let decoded = SpcIndirectDataContent::from_der(content.econtent_der()).unwrap();
            assert_eq!(content_subject(&decoded.data), Some(subject));
            assert_eq!(
                signed_image_digest(&decoded).unwrap(),
                (HashAlgorithm::Sha256, vec![1; 32])
            );
            hex::encode(decoded.data.to_der().unwrap())
        };
        // SEQUENCE { OID 1.3.6.1.4.1.311.2.1.30, SEQUENCE { INTEGER 1, OCTET STRING guid, INTEGER 0 ×5 } }
        assert_eq!(
            data_of(Subject::Msi),
            "3032060a2b060104018237020 11e3024020101 0410f1100c0000000000c000000000000046 020100020100020100020100020100"
                .replace(' ', "")
        );
        assert_eq!(
            data_of(Subject::Script),
            "3034060a2b060104018237020 11e3026020301000004101fcc3b60594b084eb724d2c6297ef351 020100020100020100020100020100"
                .replace(' ', "")
        );
        // SEQUENCE { OID 1.3.6.1.4.1.311.2.1.25, [2] { [0] "<<<Obsolete>>>" } }
        assert_eq!(
            data_of(Subject::Cab),
            "302c060a2b0601040182370201 19a21e801c003c003c003c004f00620073006f006c006500740065003e003e003e"
                .replace(' ', "")
        );
        assert!(matches!(
            AuthenticodeContent::for_subject(Subject::Catalog, HashAlgorithm::Sha256, &[1; 32]),
            Err(AuthenticodeError::UnsupportedSubject {
                subject: Subject::Catalog,
                ..
            })
        ));
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
