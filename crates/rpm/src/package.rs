//! A package's layout: the lead, the signature header, the main header's place and the
//! facts signing needs from it; and the package written again with a new signature header.

use std::io::{Read, Seek, SeekFrom, Write};

use crate::error::RpmError;
use crate::header::{Entry, Header, MAX_SIGNATURE_HEADER_LEN, TYPE_BIN, be32, intro};

/// The lead's length.
pub const LEAD_LEN: usize = 96;
/// The lead's magic.
pub const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
/// `RPMSIGTYPE_HEADERSIG`, the only signature type in the lead since rpm 3.
const LEAD_SIGNATURE_TYPE: u16 = 5;
/// rpm's bounds on a main header (`hdrchkTags`, `hdrchkData` in `lib/header_internal.h`).
const MAX_HEADER_ENTRIES: usize = 0xffff;
const MAX_HEADER_LEN: usize = 0x0fff_ffff;
/// `RPMTAG_HEADERIMMUTABLE`: the main header's region, absent from rpm v3 packages.
const HEADER_IMMUTABLE: u32 = 63;
/// `RPMTAG_PAYLOADDIGEST` and `RPMTAG_PAYLOADDIGESTALT`.
const PAYLOAD_DIGESTS: [u32; 2] = [5092, 5097];
/// `RPMTAG_PAYLOADDIGESTALGO`: the payload digest's OpenPGP hash algorithm number.
const PAYLOAD_DIGEST_ALGO: u32 = 5093;
/// `RPMSIGTAG_RESERVEDSPACE`: room rpmbuild leaves so that a signature fits in place.
const RESERVED_SPACE: u32 = 1008;
/// The signature tags `rpmsign` removes before adding its own (`deleteSigs`): DSA, RSA,
/// PGP, GPG, PGP5.
const SIGNATURE_TAGS: [u32; 5] = [267, 268, 1002, 1005, 1006];

/// Where a header-only OpenPGP signature goes, by the key's algorithm (`makeSigTag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderSignatureTag {
    /// `RPMSIGTAG_RSA` (268): an RSA key.
    Rsa,
    /// `RPMSIGTAG_DSA` (267): a DSA or EdDSA key.
    Dsa,
}

impl HeaderSignatureTag {
    /// The tag number.
    pub fn tag(self) -> u32 {
        match self {
            Self::Rsa => 268,
            Self::Dsa => 267,
        }
    }
}

/// Whether `prefix` (the file's first bytes) starts like an RPM package.
pub fn is_rpm(prefix: &[u8]) -> bool {
    prefix.starts_with(&LEAD_MAGIC)
}

/// An RPM package's layout.
#[derive(Debug, Clone)]
pub struct Package {
    lead: Vec<u8>,
    /// The signature header.
    pub signature: Header,
    /// The signature header's length in the file, padding included.
    pub signature_len: u64,
    /// Where the main header starts (its magic).
    pub header_start: u64,
    /// The main header's length (magic, index and store): what a header-only signature
    /// covers.
    pub header_len: u64,
    /// The file's length.
    pub file_len: u64,
    /// The payload digest the main header holds (what ties the payload to the signed header).
    pub payload_digest: PayloadDigest,
}

/// The digest of the payload (everything after the main header) the main header holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadDigest {
    /// The OpenPGP hash algorithm number (8 SHA-256, 9 SHA-384, 10 SHA-512).
    pub algorithm: u32,
    /// The digest.
    pub digest: Vec<u8>,
}

impl PayloadDigest {
    fn read(digest: &Entry, algorithm: Option<&Entry>) -> Result<Self, RpmError> {
        let bad = || RpmError::malformed("the payload digest is not a hexadecimal string");
        // A string array whose first string is the hexadecimal digest.
        let hex_digest = digest.data.split(|&b| b == 0).next().ok_or_else(bad)?;
        let digest = hex::decode(hex_digest).map_err(|_| bad())?;
        // Without the algorithm tag, rpm assumes SHA-256 (`PGPHASHALGO_SHA256`).
        let algorithm = match algorithm {
            Some(entry) if entry.kind == 4 => be32(&entry.data, 0)?,
            Some(_) => {
                return Err(RpmError::malformed(
                    "the payload digest algorithm is not a number",
                ));
            }
            None => 8,
        };
        Ok(Self { algorithm, digest })
    }

    /// Whether `payload` (read to its end) has this digest; an error for an algorithm Sigil
    /// does not compute.
    pub fn matches(&self, payload: &mut impl Read) -> Result<bool, RpmError> {
        use sha2::Digest;
        fn hash<D: Digest>(payload: &mut impl Read) -> Result<Vec<u8>, RpmError> {
            let mut hasher = D::new();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = payload
                    .read(&mut buf)
                    .map_err(RpmError::io("reading the payload"))?;
                match buf.get(..n) {
                    Some(chunk) if n > 0 => hasher.update(chunk),
                    _ => break,
                }
            }
            Ok(hasher.finalize().to_vec())
        }
        let computed = match self.algorithm {
            8 => hash::<sha2::Sha256>(payload)?,
            9 => hash::<sha2::Sha384>(payload)?,
            10 => hash::<sha2::Sha512>(payload)?,
            other => {
                return Err(RpmError::Unsupported(format!(
                    "the payload digest uses OpenPGP hash algorithm {other}, which Sigil does not check: use rpm -K"
                )));
            }
        };
        Ok(computed == self.digest)
    }
}

fn read_exact(reader: &mut impl Read, len: usize, what: &str) -> Result<Vec<u8>, RpmError> {
    let mut buf = vec![0; len];
    reader.read_exact(&mut buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            RpmError::malformed(format!("the file ends inside {what}"))
        }
        _ => RpmError::Io {
            operation: "reading the package",
            source: e,
        },
    })?;
    Ok(buf)
}

/// The padding after a signature header of `len` bytes (it is aligned to 8).
fn padding(len: usize) -> usize {
    (8 - len % 8) % 8
}

/// Reads a package's layout from `reader` (positioned anywhere). Reads the lead and the
/// headers, not the payload.
pub fn read_package<R: Read + Seek>(reader: &mut R) -> Result<Package, RpmError> {
    let file_len = reader
        .seek(SeekFrom::End(0))
        .map_err(RpmError::io("reading the package"))?;
    reader
        .seek(SeekFrom::Start(0))
        .map_err(RpmError::io("reading the package"))?;
    let lead = read_exact(reader, LEAD_LEN, "the lead")?;
    if !is_rpm(&lead) {
        return Err(RpmError::malformed("the lead's magic is not ED AB EE DB"));
    }
    if lead.get(4) != Some(&3) {
        return Err(RpmError::malformed(
            "the lead is not of format 3 (rpm 3 and later)",
        ));
    }
    let signature_type = lead
        .get(78..80)
        .and_then(|b| <[u8; 2]>::try_from(b).ok())
        .map(u16::from_be_bytes);
    if signature_type != Some(LEAD_SIGNATURE_TYPE) {
        return Err(RpmError::malformed(
            "the lead does not announce a signature header",
        ));
    }

    let sig_intro = read_exact(reader, 16, "the signature header")?;
    let (entries, store) = intro(&sig_intro, usize::MAX, MAX_SIGNATURE_HEADER_LEN)?;
    let mut sig_bytes = sig_intro;
    sig_bytes.extend(read_exact(
        reader,
        entries * 16 + store,
        "the signature header",
    )?);
    let signature = Header::parse_signature(&sig_bytes)?;
    let signature_len = (sig_bytes.len() + padding(sig_bytes.len())) as u64;
    let header_start = LEAD_LEN as u64 + signature_len;

    reader
        .seek(SeekFrom::Start(header_start))
        .map_err(RpmError::io("reading the package"))?;
    let main_intro = read_exact(reader, 16, "the main header")?;
    let (entries, store) = intro(&main_intro, MAX_HEADER_ENTRIES, MAX_HEADER_LEN)?;
    let header_len = (16 + entries * 16 + store) as u64;
    if header_start + header_len > file_len {
        return Err(RpmError::malformed(
            "the main header runs past the end of the file",
        ));
    }
    let mut main = main_intro;
    main.extend(read_exact(reader, entries * 16 + store, "the main header")?);
    let first = be32(&main, 16)?;
    if first != HEADER_IMMUTABLE {
        return Err(RpmError::Unsupported(
            "this is an rpm v3 package (its header has no immutable region): rebuild it with rpm 4.4 or later".into(),
        ));
    }
    let main = Header::parse(&main, HEADER_IMMUTABLE, MAX_HEADER_ENTRIES, MAX_HEADER_LEN)?;
    let payload_digest = PAYLOAD_DIGESTS
        .iter()
        .find_map(|tag| main.get(*tag))
        .map(|digest| PayloadDigest::read(digest, main.get(PAYLOAD_DIGEST_ALGO)))
        .transpose()?;
    let Some(payload_digest) = payload_digest else {
        return Err(RpmError::Unsupported(
            "the package has no payload digest (built by rpm older than 4.14): it would need the header+payload signature, which Sigil does not write; rebuild it with rpm 4.14 or later".into(),
        ));
    };
    Ok(Package {
        payload_digest,
        lead,
        signature,
        signature_len,
        header_start,
        header_len,
        file_len,
    })
}

impl Package {
    /// Whether the payload in `source` (the package's file) has the digest the main header
    /// holds: with the header signature, what `rpm -K` checks.
    pub fn payload_matches<R: Read + Seek>(&self, source: &mut R) -> Result<bool, RpmError> {
        source
            .seek(SeekFrom::Start(self.header_start + self.header_len))
            .map_err(RpmError::io("reading the package"))?;
        self.payload_digest.matches(source)
    }

    /// The header-only signature already in the package, with its tag.
    pub fn header_signature(&self) -> Option<(HeaderSignatureTag, &[u8])> {
        [HeaderSignatureTag::Rsa, HeaderSignatureTag::Dsa]
            .into_iter()
            .find_map(|tag| {
                self.signature
                    .get(tag.tag())
                    .map(|e| (tag, e.data.as_slice()))
            })
    }

    /// The signature header with `packet` as its header-only signature under `tag`, every
    /// earlier signature removed, and the reserved space shrunk so the header keeps its
    /// length where it can (what `rpmsign` does).
    pub fn signed_signature_header(&self, tag: HeaderSignatureTag, packet: &[u8]) -> Header {
        let mut header = self.signature.clone();
        header.entries.retain(|e| !SIGNATURE_TAGS.contains(&e.tag));
        header.entries.push(Entry {
            tag: tag.tag(),
            kind: TYPE_BIN,
            count: packet.len() as u32,
            data: packet.to_vec(),
        });
        let original = self.signature_len as usize;
        let grown = signature_header_bytes(&header).len();
        if let Some(reserved) = header
            .entries
            .iter_mut()
            .find(|e| e.tag == RESERVED_SPACE && e.kind == TYPE_BIN)
        {
            let diff = grown.saturating_sub(original);
            if diff > 0 && diff < reserved.data.len() {
                reserved.data.truncate(reserved.data.len() - diff);
                reserved.count = reserved.data.len() as u32;
            }
        }
        header
    }

    /// Writes the package with `signature` as its signature header: the lead, the header
    /// and its padding, then everything from the main header on, copied from `source`.
    pub fn write_with<R: Read + Seek, W: Write>(
        &self,
        signature: &Header,
        source: &mut R,
        out: &mut W,
    ) -> Result<(), RpmError> {
        let write = RpmError::io("writing the signed package");
        out.write_all(&self.lead).map_err(write)?;
        out.write_all(&signature_header_bytes(signature))
            .map_err(RpmError::io("writing the signed package"))?;
        source
            .seek(SeekFrom::Start(self.header_start))
            .map_err(RpmError::io("reading the package"))?;
        let copied = std::io::copy(source, out).map_err(RpmError::io("copying the package"))?;
        if copied != self.file_len - self.header_start {
            return Err(RpmError::malformed(
                "the package changed while it was signed",
            ));
        }
        Ok(())
    }
}

/// A signature header's bytes as they stand in the file, padding included.
pub fn signature_header_bytes(header: &Header) -> Vec<u8> {
    let mut bytes = header.to_bytes();
    bytes.resize(bytes.len() + padding(bytes.len()), 0);
    bytes
}
