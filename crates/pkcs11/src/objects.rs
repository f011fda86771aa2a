//! The token's objects: for each policy the identity sees, its certificate, a public key and
//! a private key object (the key never leaves the server: the private object only names it).

use cryptoki_sys::{
    CK_ATTRIBUTE_TYPE, CK_OBJECT_CLASS, CK_OBJECT_HANDLE, CK_ULONG, CKA_ALWAYS_AUTHENTICATE,
    CKA_ALWAYS_SENSITIVE, CKA_CERTIFICATE_CATEGORY, CKA_CERTIFICATE_TYPE, CKA_CLASS, CKA_DECRYPT,
    CKA_DERIVE, CKA_EC_PARAMS, CKA_EC_POINT, CKA_ENCRYPT, CKA_EXTRACTABLE, CKA_ID, CKA_ISSUER,
    CKA_KEY_TYPE, CKA_LABEL, CKA_LOCAL, CKA_MODIFIABLE, CKA_MODULUS, CKA_MODULUS_BITS,
    CKA_NEVER_EXTRACTABLE, CKA_PRIVATE, CKA_PUBLIC_EXPONENT, CKA_PUBLIC_KEY_INFO, CKA_SENSITIVE,
    CKA_SERIAL_NUMBER, CKA_SIGN, CKA_SIGN_RECOVER, CKA_SUBJECT, CKA_TOKEN, CKA_TRUSTED, CKA_UNWRAP,
    CKA_VALUE, CKA_VERIFY, CKA_VERIFY_RECOVER, CKA_WRAP, CKC_X_509, CKK_EC, CKK_RSA,
    CKO_CERTIFICATE, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY,
};
use der::asn1::{OctetStringRef, UintRef};
use der::{Decode, Encode, Sequence};
use sigil_pki::x509_cert::Certificate;
use sigil_proto::{HashAlgorithm, PolicyInfo};

use crate::error::ModuleError;

/// `id-ecPublicKey`.
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
/// `rsaEncryption`.
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";

/// The key of a policy, as tools need to see it.
#[derive(Debug, Clone)]
pub enum KeyKind {
    /// An RSA key.
    Rsa {
        /// Big-endian modulus, no leading zero.
        modulus: Vec<u8>,
        /// Big-endian public exponent.
        exponent: Vec<u8>,
        /// The key for checking the server's signature scheme.
        public: Box<rsa::PublicKey>,
    },
    /// An EC key on a named curve.
    Ec {
        /// DER of the curve's OID (`CKA_EC_PARAMS`).
        params: Vec<u8>,
        /// The uncompressed point (without the OCTET STRING wrapping).
        point: Vec<u8>,
        /// Bytes of one coordinate (and of `r` and `s`).
        field_len: usize,
    },
}

impl KeyKind {
    /// Bytes of a signature with this key (RSA: the modulus; ECDSA: `r‖s`).
    pub fn signature_len(&self) -> usize {
        match self {
            Self::Rsa { modulus, .. } => modulus.len(),
            Self::Ec { field_len, .. } => 2 * field_len,
        }
    }
}

/// A certificate as the token shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertData {
    /// `CKA_LABEL`.
    pub label: String,
    /// `CKA_ID`.
    pub id: Vec<u8>,
    der: Vec<u8>,
    subject: Vec<u8>,
    issuer: Vec<u8>,
    serial: Vec<u8>,
    spki: Vec<u8>,
}

impl CertData {
    fn new(cert: &Certificate, label: String, id: Vec<u8>) -> Result<Self, der::Error> {
        let tbs = cert.tbs_certificate();
        Ok(Self {
            label,
            id,
            der: cert.to_der()?,
            subject: tbs.subject().to_der()?,
            issuer: tbs.issuer().to_der()?,
            serial: tbs.serial_number().to_der()?,
            spki: tbs.subject_public_key_info().to_der()?,
        })
    }
}

/// One policy as a key pair and certificate on the token.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    /// The policy alias (`CKA_LABEL`, and `CKA_ID` as bytes).
    pub alias: String,
    /// The hash algorithms the policy allows.
    pub allowed_hashes: Vec<HashAlgorithm>,
    /// The key.
    pub kind: KeyKind,
    /// The signer certificate.
    pub cert: CertData,
    /// The issuers of the certificate, as the policy's chain lists them.
    pub issuers: Vec<CertData>,
}

#[derive(Sequence)]
struct RsaPublicKeyDer<'a> {
    modulus: UintRef<'a>,
    exponent: UintRef<'a>,
}

impl KeyEntry {
    /// Reads a policy's details (`RAGA`): the signer certificate is the first of the chain.
    pub fn from_policy(info: &PolicyInfo) -> Result<Self, ModuleError> {
        let bad = |what: String| {
            ModuleError::Result(format!("policy {}: the server sent {what}", info.policy))
        };
        let mut reader = der::SliceReader::new(&info.certificate_chain)
            .map_err(|e| bad(format!("no certificate: {e}")))?;
        let cert = Certificate::decode(&mut reader)
            .map_err(|e| bad(format!("a certificate that cannot be read: {e}")))?;
        let mut issuers = Vec::new();
        while !der::Reader::is_finished(&reader) {
            let issuer = Certificate::decode(&mut reader)
                .map_err(|e| bad(format!("a chain certificate that cannot be read: {e}")))?;
            let label = issuer.tbs_certificate().subject().to_string();
            let id = issuer.tbs_certificate().serial_number().as_bytes().to_vec();
            issuers.push(CertData::new(&issuer, label, id).map_err(|e| bad(e.to_string()))?);
        }
        let tbs = cert.tbs_certificate();
        let der = |r: Result<Vec<u8>, _>| r.map_err(|e: der::Error| bad(e.to_string()));
        let spki = tbs.subject_public_key_info();
        let key_bits = spki.subject_public_key.raw_bytes();
        let kind = match spki.algorithm.oid.to_string().as_str() {
            RSA_ENCRYPTION => {
                let key = RsaPublicKeyDer::from_der(key_bits)
                    .map_err(|e| bad(format!("an RSA key that cannot be read: {e}")))?;
                let public = <rsa::PublicKey as rsa::pkcs8::DecodePublicKey>::from_public_key_der(
                    &der(spki.to_der())?,
                )
                .map_err(|e| bad(format!("an RSA key that cannot be used: {e}")))?;
                KeyKind::Rsa {
                    modulus: key.modulus.as_bytes().to_vec(),
                    exponent: key.exponent.as_bytes().to_vec(),
                    public: Box::new(public),
                }
            }
            EC_PUBLIC_KEY => {
                let params = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .ok_or_else(|| bad("an EC key without a named curve".into()))?;
                // An uncompressed point: 0x04, then x and y of equal length.
                let field_len = key_bits.len().saturating_sub(1) / 2;
                if key_bits.first() != Some(&4) || field_len == 0 {
                    return Err(bad("an EC key that is not an uncompressed point".into()));
                }
                KeyKind::Ec {
                    params: der(params.to_der())?,
                    point: key_bits.to_vec(),
                    field_len,
                }
            }
            other => return Err(bad(format!("a key of an unsupported type ({other})"))),
        };
        let alias = info.policy.clone();
        Ok(Self {
            cert: CertData::new(&cert, alias.clone(), alias.clone().into_bytes())
                .map_err(|e| bad(e.to_string()))?,
            alias,
            allowed_hashes: info.allowed_hashes.clone(),
            kind,
            issuers,
        })
    }

    fn ec_point_der(point: &[u8]) -> Vec<u8> {
        OctetStringRef::new(point)
            .and_then(|o| o.to_der())
            .unwrap_or_default()
    }
}

/// Which of a policy's three objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// The X.509 certificate.
    Certificate,
    /// The public key.
    PublicKey,
    /// The private key (private object: visible once logged in).
    PrivateKey,
}

impl ObjectKind {
    const ALL: [Self; 3] = [Self::Certificate, Self::PublicKey, Self::PrivateKey];

    fn class(self) -> CK_OBJECT_CLASS {
        match self {
            Self::Certificate => CKO_CERTIFICATE,
            Self::PublicKey => CKO_PUBLIC_KEY,
            Self::PrivateKey => CKO_PRIVATE_KEY,
        }
    }
}

/// One object of the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectRef {
    /// An object of the policy at this index.
    Key(usize, ObjectKind),
    /// The issuer certificate at this index (certificate chains for tools that need them).
    Authority(usize),
}

/// Everything the token shows: the policies' objects, then their issuers (each once).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// The policies, sorted by alias.
    pub keys: Vec<KeyEntry>,
    authorities: Vec<CertData>,
    objects: Vec<ObjectRef>,
}

impl Catalog {
    /// The catalog of these policies; object handles are positions in a fixed order.
    pub fn new(keys: Vec<KeyEntry>) -> Self {
        let mut authorities: Vec<CertData> = Vec::new();
        for issuer in keys.iter().flat_map(|k| &k.issuers) {
            let known = authorities.iter().any(|a| a.der == issuer.der)
                || keys.iter().any(|k| k.cert.der == issuer.der);
            if !known {
                authorities.push(issuer.clone());
            }
        }
        let mut objects: Vec<ObjectRef> = (0..keys.len())
            .flat_map(|i| ObjectKind::ALL.map(|kind| ObjectRef::Key(i, kind)))
            .collect();
        objects.extend((0..authorities.len()).map(ObjectRef::Authority));
        Self {
            keys,
            authorities,
            objects,
        }
    }

    /// The object of a handle (handles start at 1: 0 is the invalid handle).
    pub fn resolve(&self, handle: CK_OBJECT_HANDLE) -> Option<ObjectRef> {
        let index = usize::try_from(handle.checked_sub(1)?).ok()?;
        self.objects.get(index).copied()
    }

    /// The value of attribute `attr` of an object, `None` when it has no such attribute.
    pub fn attribute(&self, object: ObjectRef, attr: CK_ATTRIBUTE_TYPE) -> Option<Value> {
        match object {
            ObjectRef::Key(index, kind) => attribute(self.keys.get(index)?, kind, attr),
            ObjectRef::Authority(index) => {
                let cert = self.authorities.get(index)?;
                match attr {
                    CKA_CERTIFICATE_CATEGORY => Some(ulong(2)), // authority
                    _ => cert_attribute(cert, attr),
                }
            }
        }
    }

    /// Every object a search template selects, private ones only when logged in.
    pub fn find(
        &self,
        logged_in: bool,
        template: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)],
    ) -> Vec<CK_OBJECT_HANDLE> {
        (1..)
            .zip(&self.objects)
            .filter(|(_, object)| {
                (logged_in || !matches!(object, ObjectRef::Key(_, ObjectKind::PrivateKey)))
                    && template.iter().all(|(attr, wanted)| {
                        matches!(self.attribute(**object, *attr), Some(Value::Bytes(have)) if have == *wanted)
                    })
            })
            .map(|(handle, _)| handle)
            .collect()
    }
}

/// An attribute's value: bytes, or sensitive (never revealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// The value's bytes as PKCS#11 lays them out.
    Bytes(Vec<u8>),
    /// A secret attribute of the private key.
    Sensitive,
}

fn ulong(v: CK_ULONG) -> Value {
    Value::Bytes(v.to_ne_bytes().to_vec())
}

fn flag(b: bool) -> Value {
    Value::Bytes(vec![u8::from(b)])
}

fn cert_attribute(cert: &CertData, attr: CK_ATTRIBUTE_TYPE) -> Option<Value> {
    let bytes = |b: &[u8]| Some(Value::Bytes(b.to_vec()));
    match attr {
        CKA_CLASS => Some(ulong(CKO_CERTIFICATE)),
        CKA_TOKEN => Some(flag(true)),
        CKA_PRIVATE | CKA_MODIFIABLE | CKA_TRUSTED => Some(flag(false)),
        CKA_LABEL => bytes(cert.label.as_bytes()),
        CKA_ID => bytes(&cert.id),
        CKA_CERTIFICATE_TYPE => Some(ulong(CKC_X_509)),
        CKA_CERTIFICATE_CATEGORY => Some(ulong(0)),
        CKA_VALUE => bytes(&cert.der),
        CKA_SUBJECT => bytes(&cert.subject),
        CKA_ISSUER => bytes(&cert.issuer),
        CKA_SERIAL_NUMBER => bytes(&cert.serial),
        CKA_PUBLIC_KEY_INFO => bytes(&cert.spki),
        _ => None,
    }
}

/// The value of attribute `attr` of one of a policy's objects.
pub fn attribute(entry: &KeyEntry, object: ObjectKind, attr: CK_ATTRIBUTE_TYPE) -> Option<Value> {
    if object == ObjectKind::Certificate {
        return cert_attribute(&entry.cert, attr);
    }
    let bytes = |b: &[u8]| Some(Value::Bytes(b.to_vec()));
    let private = object == ObjectKind::PrivateKey;
    match attr {
        CKA_CLASS => Some(ulong(object.class())),
        CKA_TOKEN => Some(flag(true)),
        CKA_PRIVATE => Some(flag(private)),
        CKA_MODIFIABLE => Some(flag(false)),
        CKA_LABEL => bytes(entry.alias.as_bytes()),
        CKA_ID => bytes(&entry.cert.id),
        CKA_SUBJECT => bytes(&entry.cert.subject),
        CKA_KEY_TYPE => Some(ulong(match entry.kind {
            KeyKind::Rsa { .. } => CKK_RSA,
            KeyKind::Ec { .. } => CKK_EC,
        })),
        CKA_PUBLIC_KEY_INFO => bytes(&entry.cert.spki),
        CKA_LOCAL => Some(flag(false)),
        CKA_DERIVE | CKA_ENCRYPT | CKA_DECRYPT | CKA_WRAP | CKA_UNWRAP | CKA_SIGN_RECOVER
        | CKA_VERIFY_RECOVER => Some(flag(false)),
        CKA_SIGN => Some(flag(private)),
        CKA_VERIFY => Some(flag(!private)),
        CKA_SENSITIVE | CKA_ALWAYS_SENSITIVE | CKA_NEVER_EXTRACTABLE if private => Some(flag(true)),
        CKA_EXTRACTABLE | CKA_ALWAYS_AUTHENTICATE if private => Some(flag(false)),
        _ => key_attribute(&entry.kind, private, attr),
    }
}

fn key_attribute(kind: &KeyKind, private: bool, attr: CK_ATTRIBUTE_TYPE) -> Option<Value> {
    match kind {
        KeyKind::Rsa {
            modulus, exponent, ..
        } => match attr {
            CKA_MODULUS => Some(Value::Bytes(modulus.clone())),
            CKA_PUBLIC_EXPONENT => Some(Value::Bytes(exponent.clone())),
            CKA_MODULUS_BITS => Some(ulong(significant_bits(modulus))),
            // CKA_PRIVATE_EXPONENT, CKA_PRIME_1 … CKA_COEFFICIENT
            0x123..=0x128 if private => Some(Value::Sensitive),
            _ => None,
        },
        KeyKind::Ec { params, point, .. } => match attr {
            CKA_EC_PARAMS => Some(Value::Bytes(params.clone())),
            CKA_EC_POINT if !private => Some(Value::Bytes(KeyEntry::ec_point_der(point))),
            CKA_VALUE if private => Some(Value::Sensitive),
            _ => None,
        },
    }
}

fn significant_bits(big_endian: &[u8]) -> CK_ULONG {
    let skipped: Vec<&u8> = big_endian.iter().skip_while(|b| **b == 0).collect();
    let Some(first) = skipped.first() else {
        return 0;
    };
    (skipped.len() as CK_ULONG * 8).saturating_sub(CK_ULONG::from(first.leading_zeros()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_zero_and_unknown_handles_are_invalid() {
        let catalog = Catalog::new(Vec::new());
        assert_eq!(catalog.resolve(0), None);
        assert_eq!(catalog.resolve(1), None);
        assert_eq!(catalog.resolve(CK_OBJECT_HANDLE::MAX), None);
        assert!(catalog.find(true, &[]).is_empty());
    }

    #[test]
    fn modulus_bits_ignore_leading_zeros() {
        assert_eq!(significant_bits(&[0, 0x80, 0]), 16);
        assert_eq!(significant_bits(&[0x01, 0xff]), 9);
        assert_eq!(significant_bits(&[]), 0);
    }
}
