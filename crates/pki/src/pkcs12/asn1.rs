//! The RFC 7292 structures Sigil reads and writes, as `der` types.

use const_oid::ObjectIdentifier;
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;

/// `pkcs-12 keyBag` (RFC 7292 §4.2.1): an unencrypted PKCS#8 `PrivateKeyInfo`.
pub(super) const KEY_BAG: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.1");
/// `pkcs8ShroudedKeyBag` (§4.2.2): an `EncryptedPrivateKeyInfo`.
pub(super) const SHROUDED_KEY_BAG: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.2");
/// `certBag` (§4.2.3).
pub(super) const CERT_BAG: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.3");
/// `x509Certificate` cert type (PKCS#9): the certificate's DER in an OCTET STRING.
pub(super) const X509_CERTIFICATE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.22.1");
/// `pkcs-9-at-friendlyName` (a BMPString): the alias keytool shows.
pub(super) const FRIENDLY_NAME: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.20");
/// `pkcs-9-at-localKeyId` (an OCTET STRING) that ties a key bag to its certificate bag.
pub(super) const LOCAL_KEY_ID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");

/// ```text
/// PFX ::= SEQUENCE {
///     version     INTEGER {v3(3)}(v3,...),
///     authSafe    ContentInfo,
///     macData     MacData OPTIONAL }
/// ```
#[derive(Clone, Debug, Sequence)]
pub(super) struct Pfx {
    pub(super) version: u8,
    pub(super) auth_safe: cms::content_info::ContentInfo,
    pub(super) mac_data: Option<MacData>,
}

/// ```text
/// MacData ::= SEQUENCE {
///     mac         DigestInfo,
///     macSalt     OCTET STRING,
///     iterations  INTEGER DEFAULT 1 }
/// ```
#[derive(Clone, Debug, Sequence)]
pub(super) struct MacData {
    pub(super) mac: DigestInfo,
    pub(super) mac_salt: OctetString,
    #[asn1(default = "one")]
    pub(super) iterations: u32,
}

fn one() -> u32 {
    1
}

/// `DigestInfo ::= SEQUENCE { digestAlgorithm DigestAlgorithmIdentifier, digest OCTET STRING }`
#[derive(Clone, Debug, Sequence)]
pub(super) struct DigestInfo {
    pub(super) algorithm: AlgorithmIdentifierOwned,
    pub(super) digest: OctetString,
}

/// ```text
/// SafeBag ::= SEQUENCE {
///     bagId          BAG-TYPE.&id ({PKCS12BagSet}),
///     bagValue       [0] EXPLICIT BAG-TYPE.&Type({PKCS12BagSet}{@bagId}),
///     bagAttributes  SET OF PKCS12Attribute OPTIONAL }
/// ```
#[derive(Clone, Debug, Sequence)]
pub(super) struct SafeBag {
    pub(super) bag_id: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    pub(super) bag_value: Any,
    pub(super) bag_attributes: Option<SetOfVec<Attribute>>,
}

/// `CertBag ::= SEQUENCE { certId BAG-TYPE.&id, certValue [0] EXPLICIT BAG-TYPE.&Type }`
#[derive(Clone, Debug, Sequence)]
pub(super) struct CertBag {
    pub(super) cert_id: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    pub(super) cert_value: OctetString,
}

/// `EncryptedPrivateKeyInfo` (RFC 5958 §3).
#[derive(Clone, Debug, Sequence)]
pub(super) struct EncryptedPrivateKeyInfo {
    pub(super) algorithm: AlgorithmIdentifierOwned,
    pub(super) encrypted_data: OctetString,
}

/// `EncryptedData ::= SEQUENCE { version CMSVersion, encryptedContentInfo EncryptedContentInfo, ... }` (RFC 5652 §8).
#[derive(Clone, Debug, Sequence)]
pub(super) struct EncryptedData {
    pub(super) version: u8,
    pub(super) content: EncryptedContentInfo,
}

/// ```text
/// EncryptedContentInfo ::= SEQUENCE {
///     contentType                 ContentType,
///     contentEncryptionAlgorithm  ContentEncryptionAlgorithmIdentifier,
///     encryptedContent            [0] IMPLICIT EncryptedContent OPTIONAL }
/// ```
#[derive(Clone, Debug, Sequence)]
pub(super) struct EncryptedContentInfo {
    pub(super) content_type: ObjectIdentifier,
    pub(super) algorithm: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub(super) encrypted_content: Option<OctetString>,
}
