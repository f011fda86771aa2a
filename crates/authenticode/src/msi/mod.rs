//! MSI packages (Windows Installer, compound files): the digest over the package's streams
//! and storages ([`tree`]), and the signature as the root's `\u{5}DigitalSignature` stream.
//!
//! Hashing streams every stream once through one buffer; embedding copies the package next
//! to the output (`copy_file_range`), then adds the signature stream to the copy in place
//! with the `cfb` crate (which rewrites only the sectors it touches) and renames it over the
//! output. Sigil writes no `\u{5}MsiDigitalSignatureEx` (as osslsigncode without
//! `-add-msi-dse`): replacing a signature removes an existing one; nesting into a package
//! that has it is refused (its nested signature would need the pre-hash too). Verification
//! handles packages with and without it.

pub(crate) mod tree;

use std::fs::File;
use std::io::{Cursor, Read, Seek, Write};
use std::path::Path;

use cfb::CompoundFile;
use sigil_keys::HashAlgorithm;

use crate::embed::{EmbedMode, Placement};
use crate::error::{AuthenticodeError, MsiError, Result};
use crate::file::{reopen, replace_output};
use crate::nest::add_nested_signature;
use crate::prepare::FileIdentity;
use crate::signature::{AuthenticodeSignature, first_der_element};
use crate::subject::Subject;
use crate::verify::{SignatureReport, signature_reports};
use crate::wincert::MAX_CERT_TABLE_LEN;

use tree::{DIGITAL_SIGNATURE, DIGITAL_SIGNATURE_EX, Tree, malformed};

/// What hashing a package found, kept for embedding.
#[derive(Clone, Debug)]
pub(crate) struct PreparedMsi {
    tree: Tree,
}

/// Opens a compound file.
fn open<F: Read + Seek>(inner: F) -> Result<CompoundFile<F>> {
    CompoundFile::open(inner).map_err(malformed)
}

/// Reads the package at `path`: its digest with `algorithm` (without pre-hash: what Sigil
/// signs), its identity and its tree.
pub(crate) fn prepare(
    path: &Path,
    algorithm: HashAlgorithm,
) -> Result<(Vec<u8>, FileIdentity, PreparedMsi)> {
    let file = File::open(path).map_err(AuthenticodeError::io("open the MSI package"))?;
    let identity = FileIdentity::of(&file)?;
    let mut package = open(&file)?;
    let tree = Tree::read(&package)?;
    let digest = tree
        .digests(&mut package, &[algorithm], false)?
        .into_iter()
        .next()
        .unwrap_or_default();
    if FileIdentity::of(&file)? != identity {
        return Err(AuthenticodeError::FileChanged);
    }
    Ok((digest, identity, PreparedMsi { tree }))
}

impl PreparedMsi {
    /// Writes `input` with `signature` (checked by the caller against the prepared digest) as
    /// its `\u{5}DigitalSignature` stream to `output`: replacing the existing signature (and
    /// any `MsiDigitalSignatureEx`), or nesting the new one into it ([`EmbedMode::Append`]).
    pub(crate) fn embed(
        &self,
        input: &Path,
        identity: &FileIdentity,
        output: &Path,
        signature: &AuthenticodeSignature,
        mode: EmbedMode,
    ) -> Result<Placement> {
        let source = reopen(input, identity)?;
        let (placement, pkcs7) = match (self.tree.signature_len, mode) {
            (None, _) => (Placement::Primary, signature.der.clone()),
            (Some(_), EmbedMode::Replace) => (Placement::Replaced, signature.der.clone()),
            (Some(_), EmbedMode::Append) if self.tree.has_ex => {
                return Err(MsiError::NestWithDigitalSignatureEx.into());
            }
            (Some(_), EmbedMode::Append) => {
                let existing = read_signature(&mut open(&source)?)?;
                AuthenticodeSignature::from_der(&existing)?;
                (
                    Placement::Nested,
                    add_nested_signature(&existing, &signature.der)?,
                )
            }
        };
        replace_output(&source, output, |copy| {
            (&source)
                .seek(std::io::SeekFrom::Start(0))
                .and_then(|_| std::io::copy(&mut &source, copy))
                .map_err(AuthenticodeError::io(
                    "copy the MSI package next to the output",
                ))?;
            if FileIdentity::of(&source)? != *identity {
                return Err(AuthenticodeError::FileChanged);
            }
            let mut package = open(&mut *copy)?;
            if Tree::read(&package)? != self.tree {
                return Err(AuthenticodeError::FileChanged);
            }
            let root = Path::new("/");
            for name in [DIGITAL_SIGNATURE, DIGITAL_SIGNATURE_EX] {
                let path = root.join(name);
                if package.is_stream(&path) {
                    package.remove_stream(&path).map_err(malformed)?;
                }
            }
            let write = AuthenticodeError::io("write the signature stream into the MSI package");
            let mut stream = package
                .create_stream(root.join(DIGITAL_SIGNATURE))
                .map_err(malformed)?;
            stream.write_all(&pkcs7).map_err(write)?;
            drop(stream);
            package.flush().map_err(AuthenticodeError::io(
                "write the signature stream into the MSI package",
            ))
        })?;
        Ok(placement)
    }
}

/// The root's `\u{5}DigitalSignature` stream (bounded by [`MAX_CERT_TABLE_LEN`]).
fn read_signature<F: Read + Seek>(package: &mut CompoundFile<F>) -> Result<Vec<u8>> {
    let path = Path::new("/").join(DIGITAL_SIGNATURE);
    let stream = package
        .open_stream(&path)
        .map_err(|_| AuthenticodeError::NotSigned)?;
    let mut der = Vec::new();
    stream
        .take(MAX_CERT_TABLE_LEN + 1)
        .read_to_end(&mut der)
        .map_err(AuthenticodeError::io("read the DigitalSignature stream"))?;
    if der.len() as u64 > MAX_CERT_TABLE_LEN {
        return Err(AuthenticodeError::TooLarge {
            what: "DigitalSignature stream",
            len: der.len() as u64,
            max: MAX_CERT_TABLE_LEN,
        });
    }
    let len = first_der_element(&der)?.len();
    der.truncate(len);
    Ok(der)
}

/// Verifies the signatures of the package in `inner`.
fn verify_package<F: Read + Seek>(inner: F) -> Result<Vec<SignatureReport>> {
    let mut package = open(inner)?;
    let tree = Tree::read(&package)?;
    if tree.signature_len.is_none() {
        return Err(AuthenticodeError::NotSigned);
    }
    let primary = read_signature(&mut package)?;
    signature_reports(&primary, Subject::Msi, |algorithms| {
        tree.digests(&mut package, algorithms, tree.has_ex)
    })
}

/// Verifies the signatures of the package at `path`.
pub(crate) fn verify(path: &Path) -> Result<Vec<SignatureReport>> {
    let file = File::open(path).map_err(AuthenticodeError::io("open the MSI package"))?;
    verify_package(&file)
}

/// Root CLSIDs of Windows Installer databases: package (`000C1084-…`), patch (`000C1086-…`)
/// and transform (`000C1082-…`), as stored.
const INSTALLER_CLSIDS: [[u8; 16]; 3] = [
    [
        0x84, 0x10, 0x0c, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0x46,
    ],
    [
        0x86, 0x10, 0x0c, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0x46,
    ],
    [
        0x82, 0x10, 0x0c, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0x46,
    ],
];

/// Whether `inner` is a readable compound file of another kind than a Windows Installer
/// database (a legacy Office document, say): its root CLSID is set and is not an installer's.
/// A file that does not open as a compound file is not "another kind": signing it reports
/// what is wrong with it.
pub fn is_other_compound_file<F: Read + Seek>(inner: F) -> bool {
    let Ok(package) = CompoundFile::open(inner) else {
        return false;
    };
    let clsid = package.root_entry().clsid().to_bytes_le();
    clsid != [0; 16] && !INSTALLER_CLSIDS.contains(&clsid)
}

/// The digest of an in-memory package (for fuzzing and property tests); also verifies its
/// signature when it has one.
pub fn msi_digest(bytes: &[u8], algorithm: HashAlgorithm) -> Result<Vec<u8>> {
    let mut package = open(Cursor::new(bytes))?;
    let tree = Tree::read(&package)?;
    let digest = tree
        .digests(&mut package, &[algorithm], false)?
        .into_iter()
        .next()
        .unwrap_or_default();
    if tree.signature_len.is_some() {
        let _ = verify_package(Cursor::new(bytes));
    }
    Ok(digest)
}
