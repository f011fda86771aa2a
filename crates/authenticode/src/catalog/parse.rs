//! Reading a catalog file and hashing its certificate trust list.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use ::cms::content_info::ContentInfo;
use ::cms::signed_data::{SignedData, SignerInfo};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5911::{ID_MESSAGE_DIGEST, ID_SIGNED_DATA};
use der::asn1::{Any, OctetString};
use der::{Decode, Encode, Tag, Tagged};
use sigil_keys::HashAlgorithm;
use sigil_pki::cms::MAX_SIGNED_DATA_LEN;

use crate::error::{AuthenticodeError, CatalogError, Result};
use crate::prepare::FileIdentity;

/// `szOID_CTL`: the content type of a catalog's SignedData.
pub const MS_CTL_OBJID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.10.1");

/// Largest catalog file read: the CMS layer's limit on a SignedData
/// (`sigil_pki::cms::MAX_SIGNED_DATA_LEN`), which the signed catalog must pass too.
pub const MAX_CATALOG_LEN: u64 = MAX_SIGNED_DATA_LEN as u64;

/// A decoded catalog file.
#[derive(Clone, Debug)]
pub struct Catalog {
    /// The SignedData (with or without signers).
    pub signed_data: SignedData,
    /// The certificate trust list (the eContent SEQUENCE).
    pub trust_list: Any,
}

impl Catalog {
    /// Decodes a catalog file: a DER `ContentInfo` holding a `SignedData` whose eContent is
    /// a certificate trust list, within [`MAX_CATALOG_LEN`] and with nothing after it.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        if der.len() as u64 > MAX_CATALOG_LEN {
            return Err(AuthenticodeError::TooLarge {
                what: "catalog file",
                len: der.len() as u64,
                max: MAX_CATALOG_LEN,
            });
        }
        let not_pkcs7 = |e: der::Error| CatalogError::NotPkcs7 {
            reason: e.to_string(),
        };
        let content_info = ContentInfo::from_der(der).map_err(not_pkcs7)?;
        if content_info.content_type != ID_SIGNED_DATA {
            return Err(CatalogError::NotPkcs7 {
                reason: format!("content type {}", content_info.content_type),
            }
            .into());
        }
        let signed_data: SignedData = content_info.content.decode_as().map_err(not_pkcs7)?;
        let encap = &signed_data.encap_content_info;
        if encap.econtent_type != MS_CTL_OBJID {
            return Err(CatalogError::NotCatalog {
                content_type: encap.econtent_type,
            }
            .into());
        }
        let trust_list = match &encap.econtent {
            Some(ctl) if ctl.tag() == Tag::Sequence => ctl.clone(),
            _ => return Err(CatalogError::NoTrustList.into()),
        };
        Ok(Catalog {
            signed_data,
            trust_list,
        })
    }

    /// Reads and decodes the catalog in `file` (at most [`MAX_CATALOG_LEN`] bytes).
    pub fn read(file: &mut File) -> Result<Self> {
        let mut der = Vec::new();
        file.take(MAX_CATALOG_LEN + 1)
            .read_to_end(&mut der)
            .map_err(AuthenticodeError::io("read the catalog file"))?;
        Self::from_der(&der)
    }

    /// The digest the signature's `messageDigest` covers: the CTL's value octets.
    pub fn digest(&self, algorithm: HashAlgorithm) -> Vec<u8> {
        algorithm.digest(self.trust_list.value())
    }

    /// Whether the catalog is signed (has a SignerInfo).
    pub fn is_signed(&self) -> bool {
        !self.signed_data.signer_infos.0.is_empty()
    }

    /// The DER of the CTL.
    pub(crate) fn trust_list_der(&self) -> Result<Vec<u8>> {
        self.trust_list
            .to_der()
            .map_err(AuthenticodeError::encode("certificate trust list"))
    }
}

/// A catalog read for signing: the digest of its CTL and what embedding needs.
#[derive(Clone, Debug)]
pub struct PreparedCatalog {
    /// The hash algorithm of the digest.
    pub algorithm: HashAlgorithm,
    /// The digest of the CTL (what the server signs).
    pub digest: Vec<u8>,
    /// Whether the catalog was signed already.
    pub signed: bool,
    /// The file's identity while it was read.
    pub identity: FileIdentity,
    /// The CTL (DER), put into the signature as its eContent.
    pub(crate) trust_list: Vec<u8>,
}

/// Reads the catalog at `path`: the digest of its CTL with `algorithm`.
///
/// Refuses what is not a catalog ([`AuthenticodeError::Catalog`]) and a file that changed
/// while it was read ([`AuthenticodeError::FileChanged`]).
pub fn prepare_catalog(path: &Path, algorithm: HashAlgorithm) -> Result<PreparedCatalog> {
    let mut file = File::open(path).map_err(AuthenticodeError::io("open the catalog file"))?;
    let identity = FileIdentity::of(&file)?;
    let catalog = Catalog::read(&mut file)?;
    if FileIdentity::of(&file)? != identity {
        return Err(AuthenticodeError::FileChanged);
    }
    Ok(PreparedCatalog {
        algorithm,
        digest: catalog.digest(algorithm),
        signed: catalog.is_signed(),
        identity,
        trust_list: catalog.trust_list_der()?,
    })
}

/// The `messageDigest` signed attribute of a SignerInfo, if it has one.
pub(crate) fn signed_message_digest(signer: &SignerInfo) -> Option<Vec<u8>> {
    signer
        .signed_attrs
        .iter()
        .flat_map(|attrs| attrs.iter())
        .find(|attr| attr.oid == ID_MESSAGE_DIGEST)
        .and_then(|attr| attr.values.iter().next())
        .and_then(|value| value.decode_as::<OctetString>().ok())
        .map(|digest| digest.as_bytes().to_vec())
}
