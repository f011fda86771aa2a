//! PKCS#12 (RFC 7292) files: a certificate, its private key and its chain under a password.
//!
//! # Why this is hand-written
//!
//! The `p12-keystore` crate writes what Sigil needs, but its `pkcs12`
//! dependency pins an older `cms` pre-release that does not build together
//! with the `cms` release candidate the rest of Sigil uses, and copying patched third-party source into the
//! repository is not an option. The subset Sigil writes and reads is small,
//! so it is written here on `der` (structures), `pkcs5` (PBES2) and `hmac`
//! (the integrity MAC).
//!
//! # What Sigil writes
//!
//! - The private key as a `pkcs8ShroudedKeyBag`, the certificates as
//!   `certBag`s inside an `EncryptedData`, both with **PBES2**:
//!   PBKDF2-HMAC-SHA256 with [`EXPORT_ITERATIONS`] iterations and a fresh
//!   16-byte salt, AES-256-CBC with a fresh IV (each encryption its own).
//! - An integrity **MAC**: HMAC-SHA256 keyed by the RFC 7292 Appendix B
//!   derivation (SHA-256, fresh 16-byte salt, the same iteration count —
//!   a weaker MAC count would let an attacker test passwords against the MAC
//!   instead of the encryption).
//! - `friendlyName` (the alias) and `localKeyId` on the key and the leaf
//!   certificate, so keytool shows one `PrivateKeyEntry` with the chain.
//!
//! An export password must have at least [`MIN_EXPORT_PASSWORD_CHARS`]
//! characters: the file leaves Sigil and can be attacked offline.
//!
//! # What Sigil reads
//!
//! The same, and what `openssl pkcs12 -export` (OpenSSL 3) writes by default
//! (PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, 2048 iterations, SHA-256
//! MAC). Legacy files (RC2/3DES, SHA-1 MAC: `-legacy`, OpenSSL 1.x, old
//! Windows exports) are refused as unsupported. Input size, bag count and
//! iteration counts are bounded; a wrong password is reported as
//! [`Pkcs12Error::WrongPassword`]; decrypted key material is zeroized.

mod asn1;
mod mac;

use cms::content_info::ContentInfo;
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5911::{ID_DATA, ID_ENCRYPTED_DATA};
use der::asn1::{BmpString, OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use pkcs5::EncryptionScheme;
use pkcs5::pbes2::{Kdf, PBES2_OID, Parameters};
use sigil_keys::{HashAlgorithm, KeyError, SigningKey, SoftwareKey};
use spki::AlgorithmIdentifierOwned;
use thiserror::Error;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use zeroize::Zeroizing;

use self::asn1::{
    CERT_BAG, CertBag, DigestInfo, EncryptedContentInfo, EncryptedData, EncryptedPrivateKeyInfo,
    FRIENDLY_NAME, KEY_BAG, LOCAL_KEY_ID, MacData, Pfx, SHROUDED_KEY_BAG, SafeBag,
    X509_CERTIFICATE,
};
use crate::ca::same_public_key;

/// PBKDF2 and MAC iterations Sigil writes: OWASP's 2023 figure for PBKDF2-HMAC-SHA256.
pub const EXPORT_ITERATIONS: u32 = 600_000;
/// The fewest characters an export password may have.
pub const MIN_EXPORT_PASSWORD_CHARS: usize = 12;
/// PBKDF2 and MAC iterations of a file whose password Sigil generated at random
/// ([`export_with_generated_password`]). Key stretching slows the guessing of passwords people
/// choose; against a random password of 128 bits or more it adds nothing, while every CI run
/// that opens the file pays for it (three PBKDF2 runs of [`EXPORT_ITERATIONS`] take ~0.2 s).
pub const GENERATED_PASSWORD_ITERATIONS: u32 = 10_000;
/// The fewest characters of a generated password (22 of 62 letters and digits: 131 bits).
pub const MIN_GENERATED_PASSWORD_CHARS: usize = 22;
/// The longest password accepted, in bytes.
pub const MAX_PASSWORD_LEN: usize = 1024;
/// The largest PKCS#12 file read.
pub const MAX_PKCS12_LEN: usize = 1 << 20;
/// The most safe bags (keys and certificates) read from one file.
pub const MAX_BAGS: usize = 32;
/// The most `ContentInfo`s in the `AuthenticatedSafe`.
pub const MAX_SAFE_CONTENTS: usize = 8;
/// The highest PBKDF2 or MAC iteration count read (a hostile file could otherwise keep a CPU busy).
pub const MAX_ITERATIONS: u32 = 5_000_000;
/// The longest friendly name (alias), in characters.
pub const MAX_FRIENDLY_NAME_CHARS: usize = 64;

const SALT_LEN: usize = 16;

type BagAttributes = SetOfVec<Attribute>;

/// Why writing or reading a PKCS#12 file failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Pkcs12Error {
    /// The MAC did not verify or the content did not decrypt.
    #[error("wrong password or corrupted file")]
    WrongPassword,
    /// The file uses an algorithm Sigil does not read.
    #[error(
        "unsupported {what} algorithm {oid}: Sigil reads PBES2 (PBKDF2 with HMAC-SHA-2, AES) with a SHA-2 MAC; re-export the file without -legacy"
    )]
    UnsupportedAlgorithm {
        /// Which part of the file.
        what: &'static str,
        /// The algorithm identifier found.
        oid: ObjectIdentifier,
    },
    /// The file is not a well-formed PKCS#12 file of the kind Sigil reads.
    #[error("malformed PKCS#12 file: {0}")]
    Malformed(String),
    /// The file is larger than [`MAX_PKCS12_LEN`].
    #[error("the PKCS#12 file is {0} bytes, more than the {MAX_PKCS12_LEN}-byte limit")]
    TooLarge(usize),
    /// The file holds more items than Sigil reads.
    #[error("the PKCS#12 file holds more than {max} {what}")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// An iteration count is above [`MAX_ITERATIONS`].
    #[error(
        "the PKCS#12 file asks for {0} iterations, more than the {MAX_ITERATIONS} Sigil accepts"
    )]
    IterationsTooHigh(u32),
    /// The file has no integrity MAC.
    #[error("the PKCS#12 file has no integrity MAC: export it with a password-based MAC")]
    NoMac,
    /// The file holds no private key.
    #[error("the PKCS#12 file holds no private key")]
    NoPrivateKey,
    /// The file holds more than one private key.
    #[error("the PKCS#12 file holds several private keys: export one key and its chain per file")]
    SeveralKeys,
    /// No certificate in the file belongs to its private key.
    #[error("no certificate in the file matches the private key")]
    KeyMismatch,
    /// The private key is of a type Sigil does not use.
    #[error("unsupported private key: {0}")]
    UnsupportedKey(#[source] KeyError),
    /// The export password is too short.
    #[error(
        "the export password must have at least {MIN_EXPORT_PASSWORD_CHARS} characters: the file can be attacked offline"
    )]
    PasswordTooShort,
    /// The password is longer than [`MAX_PASSWORD_LEN`] bytes.
    #[error("the password is longer than {MAX_PASSWORD_LEN} bytes")]
    PasswordTooLong,
    /// The friendly name cannot be used.
    #[error("invalid friendly name (alias): {0}")]
    InvalidFriendlyName(String),
    /// Encoding or encryption failed inside Sigil.
    #[error("building the PKCS#12 file failed: {0}")]
    Internal(String),
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
}

impl From<der::Error> for Pkcs12Error {
    fn from(e: der::Error) -> Self {
        Pkcs12Error::Internal(e.to_string())
    }
}

/// What a PKCS#12 file holds: one key, its certificate and the rest of the chain.
#[derive(Debug)]
pub struct Pkcs12Contents {
    /// The private key (its PKCS#8 copy is zeroized on drop).
    pub key: SoftwareKey,
    /// The certificate of `key`.
    pub certificate: Certificate,
    /// The other certificates, in chain order from the certificate's issuer where they chain, then the rest.
    pub chain: Vec<Certificate>,
    /// The key's friendly name (alias), if the file names it.
    pub friendly_name: Option<String>,
}

/// Writes a PKCS#12 file holding `key`, its `certificate` and the rest of the `chain` (a copy of the leaf in `chain` is written once).
///
/// `friendly_name` becomes the keytool alias. The password must have at
/// least [`MIN_EXPORT_PASSWORD_CHARS`] characters.
pub fn export(
    key: &SoftwareKey,
    certificate: &Certificate,
    chain: &[Certificate],
    friendly_name: &str,
    password: &str,
) -> Result<Vec<u8>, Pkcs12Error> {
    if password.chars().count() < MIN_EXPORT_PASSWORD_CHARS {
        return Err(Pkcs12Error::PasswordTooShort);
    }
    export_with_iterations(
        key,
        certificate,
        chain,
        friendly_name,
        password,
        EXPORT_ITERATIONS,
    )
}

/// [`export`] for a password that Sigil generated at random from letters and digits, with at
/// least [`MIN_GENERATED_PASSWORD_CHARS`] characters (the caller vouches for the randomness):
/// written with [`GENERATED_PASSWORD_ITERATIONS`], so opening the file is cheap. Never use it
/// for a password a person chose.
pub fn export_with_generated_password(
    key: &SoftwareKey,
    certificate: &Certificate,
    chain: &[Certificate],
    friendly_name: &str,
    password: &str,
) -> Result<Vec<u8>, Pkcs12Error> {
    if password.chars().count() < MIN_GENERATED_PASSWORD_CHARS {
        return Err(Pkcs12Error::PasswordTooShort);
    }
    export_with_iterations(
        key,
        certificate,
        chain,
        friendly_name,
        password,
        GENERATED_PASSWORD_ITERATIONS,
    )
}

/// [`export`] with a chosen iteration count and no password policy (tests make many small files).
pub(crate) fn export_with_iterations(
    key: &SoftwareKey,
    certificate: &Certificate,
    chain: &[Certificate],
    friendly_name: &str,
    password: &str,
    iterations: u32,
) -> Result<Vec<u8>, Pkcs12Error> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(Pkcs12Error::PasswordTooLong);
    }
    let certificate_der = certificate.to_der()?;
    let certificate_spki = certificate
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()?;
    if !same_public_key(key.public_key_der(), &certificate_spki) {
        return Err(Pkcs12Error::KeyMismatch);
    }
    let chars = friendly_name.chars().count();
    if chars == 0 || chars > MAX_FRIENDLY_NAME_CHARS || friendly_name.chars().any(char::is_control)
    {
        return Err(Pkcs12Error::InvalidFriendlyName(format!(
            "give 1 to {MAX_FRIENDLY_NAME_CHARS} printable characters"
        )));
    }
    let name = BmpString::from_utf8(friendly_name).map_err(|_| {
        Pkcs12Error::InvalidFriendlyName("use characters of the Basic Multilingual Plane".into())
    })?;
    let local_key_id = HashAlgorithm::Sha256.digest(&certificate_der);
    let attributes = SetOfVec::try_from(vec![
        single_attribute(FRIENDLY_NAME, Any::encode_from(&name)?)?,
        single_attribute(
            LOCAL_KEY_ID,
            Any::encode_from(&OctetString::new(local_key_id)?)?,
        )?,
    ])?;

    // Certificates: the leaf with its attributes, then the chain.
    let mut cert_bags = vec![cert_bag(&certificate_der, Some(attributes.clone()))?];
    for other in chain.iter().filter(|c| *c != certificate) {
        cert_bags.push(cert_bag(&other.to_der()?, None)?);
    }
    let (cert_algorithm, cert_scheme) = pbes2_identifier(iterations)?;
    let cert_ciphertext = encrypt(&cert_scheme, password, &cert_bags.to_der()?)?;
    let encrypted_certs = EncryptedData {
        version: 0,
        content: EncryptedContentInfo {
            content_type: ID_DATA,
            algorithm: cert_algorithm,
            encrypted_content: Some(OctetString::new(cert_ciphertext)?),
        },
    };

    // The key.
    let pkcs8 = key.to_pkcs8_der();
    let (key_algorithm, key_scheme) = pbes2_identifier(iterations)?;
    let shrouded = EncryptedPrivateKeyInfo {
        algorithm: key_algorithm,
        encrypted_data: OctetString::new(encrypt(&key_scheme, password, &pkcs8)?)?,
    };
    let key_bags = vec![SafeBag {
        bag_id: SHROUDED_KEY_BAG,
        bag_value: Any::encode_from(&shrouded)?,
        bag_attributes: Some(attributes),
    }];

    let auth_safe = vec![
        ContentInfo {
            content_type: ID_ENCRYPTED_DATA,
            content: Any::encode_from(&encrypted_certs)?,
        },
        data_content(&key_bags.to_der()?)?,
    ]
    .to_der()?;

    seal(&auth_safe, password, iterations)
}

/// Wraps an `AuthenticatedSafe` into a PFX with a fresh HMAC-SHA256 integrity MAC.
fn seal(auth_safe: &[u8], password: &str, iterations: u32) -> Result<Vec<u8>, Pkcs12Error> {
    let mut mac_salt = [0u8; SALT_LEN];
    random(&mut mac_salt)?;
    let digest = mac::compute(
        HashAlgorithm::Sha256,
        password,
        &mac_salt,
        iterations,
        auth_safe,
    );
    let pfx = Pfx {
        version: 3,
        auth_safe: data_content(auth_safe)?,
        mac_data: Some(MacData {
            mac: DigestInfo {
                algorithm: HashAlgorithm::Sha256.algorithm_identifier(),
                digest: OctetString::new(digest)?,
            },
            mac_salt: OctetString::new(mac_salt.to_vec())?,
            iterations,
        }),
    };
    Ok(pfx.to_der()?)
}

/// Reads a PKCS#12 file: [`Pkcs12File::parse`] then [`Pkcs12File::decrypt`].
pub fn import(der: &[u8], password: &str) -> Result<Pkcs12Contents, Pkcs12Error> {
    Pkcs12File::parse(der)?.decrypt(password)
}

/// A PKCS#12 file whose structure and algorithms were checked, not yet opened with a password.
#[derive(Clone, Debug)]
pub struct Pkcs12File {
    mac: MacData,
    mac_hash: HashAlgorithm,
    /// The `AuthenticatedSafe` DER: what the MAC covers.
    auth_safe: Vec<u8>,
    contents: Vec<SafeContents>,
    iterations: u64,
}

#[derive(Clone, Debug)]
enum SafeContents {
    Plain(Vec<SafeBag>),
    Encrypted {
        scheme: EncryptionScheme,
        ciphertext: Vec<u8>,
    },
}

impl Pkcs12File {
    /// Decodes the file and checks sizes, counts and algorithms without any key derivation.
    pub fn parse(der: &[u8]) -> Result<Self, Pkcs12Error> {
        if der.len() > MAX_PKCS12_LEN {
            return Err(Pkcs12Error::TooLarge(der.len()));
        }
        let pfx = Pfx::from_der(der).map_err(malformed("PFX"))?;
        if pfx.version != 3 {
            return Err(Pkcs12Error::Malformed(format!(
                "version {} (expected 3)",
                pfx.version
            )));
        }
        let mac = pfx.mac_data.ok_or(Pkcs12Error::NoMac)?;
        let mac_hash = HashAlgorithm::from_oid(&mac.mac.algorithm.oid).ok_or(
            Pkcs12Error::UnsupportedAlgorithm {
                what: "MAC",
                oid: mac.mac.algorithm.oid,
            },
        )?;
        check_iterations(mac.iterations)?;
        let auth_safe = data_octets(&pfx.auth_safe)?;
        let infos =
            Vec::<ContentInfo>::from_der(&auth_safe).map_err(malformed("AuthenticatedSafe"))?;
        if infos.len() > MAX_SAFE_CONTENTS {
            return Err(Pkcs12Error::TooMany {
                what: "content infos",
                max: MAX_SAFE_CONTENTS,
            });
        }
        let mut iterations = u64::from(mac.iterations);
        let mut bag_count = 0usize;
        let mut contents = Vec::with_capacity(infos.len());
        for info in &infos {
            match info.content_type {
                ID_DATA => {
                    let bags = decode_bags(&data_octets(info)?, &mut bag_count)?;
                    for bag in &bags {
                        if bag.bag_id == SHROUDED_KEY_BAG {
                            let shrouded: EncryptedPrivateKeyInfo = bag
                                .bag_value
                                .decode_as()
                                .map_err(malformed("shrouded key bag"))?;
                            let (_, cost) = encryption_scheme(&shrouded.algorithm)?;
                            iterations += cost;
                        }
                    }
                    contents.push(SafeContents::Plain(bags));
                }
                ID_ENCRYPTED_DATA => {
                    let encrypted: EncryptedData = info
                        .content
                        .decode_as()
                        .map_err(malformed("EncryptedData"))?;
                    let (scheme, cost) = encryption_scheme(&encrypted.content.algorithm)?;
                    iterations += cost;
                    let ciphertext = encrypted
                        .content
                        .encrypted_content
                        .ok_or_else(|| {
                            Pkcs12Error::Malformed("EncryptedData without content".into())
                        })?
                        .into_bytes()
                        .into_vec();
                    contents.push(SafeContents::Encrypted { scheme, ciphertext });
                }
                other => {
                    return Err(Pkcs12Error::UnsupportedAlgorithm {
                        what: "content type",
                        oid: other,
                    });
                }
            }
        }
        Ok(Self {
            mac,
            mac_hash,
            auth_safe,
            contents,
            iterations,
        })
    }

    /// The total number of KDF iterations opening the file costs (MAC and every decryption).
    pub fn kdf_iterations(&self) -> u64 {
        self.iterations
    }

    /// Checks the MAC with `password`, decrypts, and returns the key with its certificates.
    pub fn decrypt(&self, password: &str) -> Result<Pkcs12Contents, Pkcs12Error> {
        if password.len() > MAX_PASSWORD_LEN {
            return Err(Pkcs12Error::PasswordTooLong);
        }
        if !mac::verify(
            self.mac_hash,
            password,
            self.mac.mac_salt.as_bytes(),
            self.mac.iterations,
            &self.auth_safe,
            self.mac.mac.digest.as_bytes(),
        ) {
            return Err(Pkcs12Error::WrongPassword);
        }
        let mut keys: Vec<(Zeroizing<Vec<u8>>, Option<BagAttributes>)> = Vec::new();
        let mut certificates: Vec<(Certificate, Option<BagAttributes>)> = Vec::new();
        let mut bag_count = 0usize;
        for content in &self.contents {
            let decrypted;
            let bags = match content {
                SafeContents::Plain(bags) => bags,
                SafeContents::Encrypted { scheme, ciphertext } => {
                    let plain = decrypt(scheme, password, ciphertext)?;
                    decrypted = decode_bags(&plain, &mut bag_count)?;
                    &decrypted
                }
            };
            for bag in bags {
                match bag.bag_id {
                    CERT_BAG => {
                        let cert_bag: CertBag = bag
                            .bag_value
                            .decode_as()
                            .map_err(malformed("certificate bag"))?;
                        if cert_bag.cert_id != X509_CERTIFICATE {
                            continue; // SDSI certificates: nothing Sigil uses.
                        }
                        let certificate = Certificate::from_der(cert_bag.cert_value.as_bytes())
                            .map_err(malformed("certificate"))?;
                        certificates.push((certificate, bag.bag_attributes.clone()));
                    }
                    SHROUDED_KEY_BAG => {
                        let shrouded: EncryptedPrivateKeyInfo = bag
                            .bag_value
                            .decode_as()
                            .map_err(malformed("shrouded key bag"))?;
                        let (scheme, _) = encryption_scheme(&shrouded.algorithm)?;
                        let pkcs8 = decrypt(&scheme, password, shrouded.encrypted_data.as_bytes())?;
                        keys.push((pkcs8, bag.bag_attributes.clone()));
                    }
                    KEY_BAG => {
                        let pkcs8 = Zeroizing::new(bag.bag_value.to_der()?);
                        keys.push((pkcs8, bag.bag_attributes.clone()));
                    }
                    _ => {} // CRL, secret and nested bags: nothing Sigil uses.
                }
            }
        }

        let (pkcs8, key_attributes) = match (keys.pop(), keys.is_empty()) {
            (Some(key), true) => key,
            (Some(_), false) => return Err(Pkcs12Error::SeveralKeys),
            (None, _) => return Err(Pkcs12Error::NoPrivateKey),
        };
        let key = SoftwareKey::from_pkcs8_der(&pkcs8).map_err(Pkcs12Error::UnsupportedKey)?;
        let leaf_index = certificates
            .iter()
            .position(|(c, _)| {
                c.tbs_certificate()
                    .subject_public_key_info()
                    .to_der()
                    .is_ok_and(|spki| same_public_key(key.public_key_der(), &spki))
            })
            .ok_or(Pkcs12Error::KeyMismatch)?;
        let (certificate, cert_attributes) = certificates.remove(leaf_index);
        let friendly_name = friendly_name(key_attributes.as_ref())
            .or_else(|| friendly_name(cert_attributes.as_ref()));
        let chain = order_chain(
            &certificate,
            certificates.into_iter().map(|(c, _)| c).collect(),
        );
        Ok(Pkcs12Contents {
            key,
            certificate,
            chain,
            friendly_name,
        })
    }
}

/// Puts `rest` in issuer order starting above `leaf`; certificates that do not chain go last.
fn order_chain(leaf: &Certificate, mut rest: Vec<Certificate>) -> Vec<Certificate> {
    let mut ordered = Vec::with_capacity(rest.len());
    let mut current = leaf.tbs_certificate().clone();
    while current.issuer() != current.subject() {
        let Some(index) = rest
            .iter()
            .position(|c| c.tbs_certificate().subject() == current.issuer())
        else {
            break;
        };
        let issuer = rest.remove(index);
        current = issuer.tbs_certificate().clone();
        ordered.push(issuer);
    }
    ordered.extend(rest);
    ordered
}

fn friendly_name(attributes: Option<&SetOfVec<Attribute>>) -> Option<String> {
    attributes?
        .iter()
        .find(|a| a.oid == FRIENDLY_NAME)?
        .values
        .get(0)?
        .decode_as::<BmpString>()
        .ok()
        .map(|name| name.to_string())
}

fn decode_bags(der: &[u8], count: &mut usize) -> Result<Vec<SafeBag>, Pkcs12Error> {
    let bags = Vec::<SafeBag>::from_der(der).map_err(malformed("SafeContents"))?;
    *count += bags.len();
    if *count > MAX_BAGS {
        return Err(Pkcs12Error::TooMany {
            what: "safe bags",
            max: MAX_BAGS,
        });
    }
    Ok(bags)
}

/// The octets of an `id-data` `ContentInfo`.
fn data_octets(info: &ContentInfo) -> Result<Vec<u8>, Pkcs12Error> {
    if info.content_type != ID_DATA {
        return Err(Pkcs12Error::Malformed(format!(
            "expected id-data content, found {}",
            info.content_type
        )));
    }
    Ok(info
        .content
        .decode_as::<OctetString>()
        .map_err(malformed("data content"))?
        .into_bytes()
        .into_vec())
}

fn data_content(der: &[u8]) -> Result<ContentInfo, Pkcs12Error> {
    Ok(ContentInfo {
        content_type: ID_DATA,
        content: Any::encode_from(&OctetString::new(der)?)?,
    })
}

fn cert_bag(
    certificate_der: &[u8],
    attributes: Option<SetOfVec<Attribute>>,
) -> Result<SafeBag, Pkcs12Error> {
    let bag = CertBag {
        cert_id: X509_CERTIFICATE,
        cert_value: OctetString::new(certificate_der)?,
    };
    Ok(SafeBag {
        bag_id: CERT_BAG,
        bag_value: Any::encode_from(&bag)?,
        bag_attributes: attributes,
    })
}

fn single_attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, Pkcs12Error> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

/// Fresh PBES2 parameters (PBKDF2-HMAC-SHA256, AES-256-CBC), as an `AlgorithmIdentifier` and a scheme.
fn pbes2_identifier(
    iterations: u32,
) -> Result<(AlgorithmIdentifierOwned, EncryptionScheme), Pkcs12Error> {
    let mut salt = [0u8; SALT_LEN];
    let mut iv = [0u8; 16];
    random(&mut salt)?;
    random(&mut iv)?;
    let params = Parameters::generate_pbkdf2_sha256_aes256cbc(iterations, &salt, iv)
        .map_err(|e| Pkcs12Error::Internal(e.to_string()))?;
    let scheme = EncryptionScheme::from(params);
    let identifier = AlgorithmIdentifierOwned::from_der(&scheme.to_der()?)?;
    Ok((identifier, scheme))
}

/// Checks an encryption `AlgorithmIdentifier` and returns the scheme and its KDF iteration count.
fn encryption_scheme(
    algorithm: &AlgorithmIdentifierOwned,
) -> Result<(EncryptionScheme, u64), Pkcs12Error> {
    if algorithm.oid != PBES2_OID {
        return Err(Pkcs12Error::UnsupportedAlgorithm {
            what: "encryption",
            oid: algorithm.oid,
        });
    }
    let scheme = EncryptionScheme::try_from(algorithm.to_der()?.as_slice())
        .map_err(malformed("PBES2 parameters"))?;
    let Some(params) = scheme.pbes2() else {
        return Err(Pkcs12Error::UnsupportedAlgorithm {
            what: "encryption",
            oid: algorithm.oid,
        });
    };
    // scrypt is refused before any work: its parameters could exhaust memory.
    let Kdf::Pbkdf2(pbkdf2) = &params.kdf else {
        return Err(Pkcs12Error::UnsupportedAlgorithm {
            what: "key derivation",
            oid: params.kdf.oid(),
        });
    };
    check_iterations(pbkdf2.iteration_count)?;
    Ok((scheme.clone(), u64::from(pbkdf2.iteration_count)))
}

fn check_iterations(iterations: u32) -> Result<(), Pkcs12Error> {
    if iterations > MAX_ITERATIONS {
        Err(Pkcs12Error::IterationsTooHigh(iterations))
    } else if iterations == 0 {
        Err(Pkcs12Error::Malformed("an iteration count of 0".into()))
    } else {
        Ok(())
    }
}

fn encrypt(
    scheme: &EncryptionScheme,
    password: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, Pkcs12Error> {
    scheme
        .encrypt(password.as_bytes(), plaintext)
        .map_err(|e| Pkcs12Error::Internal(e.to_string()))
}

/// PBES2 decryption; the password goes in as its UTF-8 bytes, as OpenSSL and Java pass it.
fn decrypt(
    scheme: &EncryptionScheme,
    password: &str,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Pkcs12Error> {
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    let len = match scheme.decrypt_in_place(password.as_bytes(), &mut buffer) {
        Ok(plain) => plain.len(),
        Err(pkcs5::Error::DecryptFailed) => return Err(Pkcs12Error::WrongPassword),
        Err(pkcs5::Error::UnsupportedAlgorithm { oid }) => {
            return Err(Pkcs12Error::UnsupportedAlgorithm {
                what: "encryption",
                oid,
            });
        }
        Err(e) => return Err(Pkcs12Error::Malformed(format!("PBES2: {e}"))),
    };
    buffer.truncate(len);
    Ok(buffer)
}

fn random(buf: &mut [u8]) -> Result<(), Pkcs12Error> {
    getrandom::fill(buf).map_err(|_| Pkcs12Error::Random)
}

fn malformed(what: &'static str) -> impl Fn(der::Error) -> Pkcs12Error {
    move |e| Pkcs12Error::Malformed(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::time::{Duration, SystemTime};

    use proptest::prelude::*;
    use sigil_keys::KeyAlgorithm;

    use super::*;
    use crate::ca::{CaCertificate, IssueRequest, NewCa, issue};
    use crate::{DistinguishedName, Profile, ValidityPeriod};

    /// Few iterations: these tests check the container, not the work factor.
    const TEST_ITERATIONS: u32 = 64;

    struct Sample {
        key: SoftwareKey,
        leaf: Certificate,
        chain: Vec<Certificate>,
        p12: Vec<u8>,
    }

    fn sample() -> &'static Sample {
        static SAMPLE: OnceLock<Sample> = OnceLock::new();
        SAMPLE.get_or_init(|| {
            let ca_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
            let validity = ValidityPeriod::new(
                SystemTime::now(),
                SystemTime::now() + Duration::from_secs(86400),
            )
            .unwrap();
            let ca = CaCertificate::self_signed(
                &NewCa {
                    name: "root",
                    key_ref: "k",
                    subject: &DistinguishedName::parse("CN=P12 Test Root").unwrap(),
                    validity,
                    path_len: None,
                },
                &ca_key,
            )
            .unwrap();
            let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
            let leaf = issue(
                &ca,
                &ca_key,
                IssueRequest::PublicKey {
                    subject: &DistinguishedName::parse("CN=leaf").unwrap(),
                    public_key_der: key.public_key_der(),
                },
                Profile::TlsClient,
                validity,
                &[],
            )
            .unwrap();
            let chain = vec![ca.certificate().clone()];
            let p12 =
                export_with_iterations(&key, &leaf, &chain, "leaf", "pw", TEST_ITERATIONS).unwrap();
            Sample {
                key,
                leaf,
                chain,
                p12,
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn write_then_read_round_trips(
            password in "\\PC{0,40}",
            name in "[\\p{L}\\p{N} ._-]{1,40}"
                .prop_filter("BMP only", |n| n.chars().all(|c| u32::from(c) <= 0xFFFF)),
        ) {
            let s = sample();
            let p12 = export_with_iterations(&s.key, &s.leaf, &s.chain, &name, &password, TEST_ITERATIONS)
                .unwrap();
            let parsed = Pkcs12File::parse(&p12).unwrap();
            prop_assert_eq!(parsed.kdf_iterations(), 3 * u64::from(TEST_ITERATIONS));
            let contents = parsed.decrypt(&password).unwrap();
            prop_assert_eq!(contents.key.public_key_der(), s.key.public_key_der());
            prop_assert_eq!(&contents.certificate, &s.leaf);
            prop_assert_eq!(&contents.chain, &s.chain);
            prop_assert_eq!(contents.friendly_name.as_deref(), Some(name.as_str()));
            let wrong = format!("{password}x");
            prop_assert!(matches!(parsed.decrypt(&wrong), Err(Pkcs12Error::WrongPassword)));
        }
    }

    /// Unencrypted bags (a keyBag and certBags), as DER `SafeContents`.
    fn plain_bags() -> &'static [u8] {
        static BAGS: OnceLock<Vec<u8>> = OnceLock::new();
        BAGS.get_or_init(|| {
            let s = sample();
            let attributes = SetOfVec::try_from(vec![
                single_attribute(
                    FRIENDLY_NAME,
                    Any::encode_from(&BmpString::from_utf8("k").unwrap()).unwrap(),
                )
                .unwrap(),
            ])
            .unwrap();
            let key_bag = SafeBag {
                bag_id: KEY_BAG,
                bag_value: Any::from_der(&s.key.to_pkcs8_der()).unwrap(),
                bag_attributes: Some(attributes.clone()),
            };
            let bags = vec![
                key_bag,
                cert_bag(&s.leaf.to_der().unwrap(), Some(attributes)).unwrap(),
                cert_bag(&s.chain[0].to_der().unwrap(), None).unwrap(),
            ];
            bags.to_der().unwrap()
        })
    }

    #[test]
    fn plain_bags_read_back() {
        let auth_safe = vec![data_content(plain_bags()).unwrap()].to_der().unwrap();
        let p12 = seal(&auth_safe, "pw", TEST_ITERATIONS).unwrap();
        let contents = import(&p12, "pw").unwrap();
        assert_eq!(contents.certificate, sample().leaf);
        assert_eq!(contents.friendly_name.as_deref(), Some("k"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Mutated bags behind a valid MAC reach the bag, attribute and key parsers.
        #[test]
        fn mutated_bags_behind_a_valid_mac_never_panic(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        ) {
            let mut bags = plain_bags().to_vec();
            for (position, value) in edits {
                let at = position % bags.len();
                bags[at] ^= value | 1;
            }
            let auth_safe = vec![data_content(&bags).unwrap()].to_der().unwrap();
            let p12 = seal(&auth_safe, "pw", 1).unwrap();
            let _ = import(&p12, "pw");
        }

        #[test]
        fn mutated_files_never_panic(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        ) {
            let mut p12 = sample().p12.clone();
            for (position, value) in edits {
                let at = position % p12.len();
                p12[at] ^= value | 1;
            }
            // Iterations may have been mutated upwards: only open cheap files.
            if let Ok(parsed) = Pkcs12File::parse(&p12)
                && parsed.kdf_iterations() <= 10_000
            {
                let _ = parsed.decrypt("pw");
            }
        }
    }
}
