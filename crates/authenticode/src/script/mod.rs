//! PowerShell scripts (`.ps1`, `.psm1`, `.psd1`): the digest over the script's text as
//! UTF-16LE without its signature block, and the `# SIG # Begin signature block` trailer
//! holding the base64 PKCS#7 (see [`text`] for the exact rules).
//!
//! A script is read into memory (at most [`MAX_SCRIPT_LEN`] bytes): hashing, embedding and
//! verifying each read it once.

pub(crate) mod text;

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use sigil_keys::{HashAlgorithm, Hasher};

use crate::embed::{EmbedMode, Placement};
use crate::error::{AuthenticodeError, Result, ScriptError};
use crate::file::{reopen, replace_output};
use crate::nest::add_nested_signature;
use crate::prepare::FileIdentity;
use crate::signature::AuthenticodeSignature;
use crate::subject::Subject;
use crate::verify::{SignatureReport, signature_reports};

use text::{Script, encode_block, hashed_text};

/// Largest script Sigil signs or verifies (read into memory).
pub const MAX_SCRIPT_LEN: u64 = 64 << 20;

/// What hashing a script found, kept for embedding.
#[derive(Clone, Debug)]
pub(crate) struct PreparedScript {
    script: Script,
}

/// Reads the script at `path`: its digest with `algorithm`, its identity, and its layout.
pub(crate) fn prepare(
    path: &Path,
    algorithm: HashAlgorithm,
) -> Result<(Vec<u8>, FileIdentity, PreparedScript)> {
    let mut file = File::open(path).map_err(AuthenticodeError::io("open the script"))?;
    let identity = FileIdentity::of(&file)?;
    let bytes = read_script(&mut file)?;
    if FileIdentity::of(&file)? != identity {
        return Err(AuthenticodeError::FileChanged);
    }
    let script = Script::parse(&bytes)?;
    let digest = digests(&bytes, &script, &[algorithm])
        .into_iter()
        .next()
        .unwrap_or_default();
    Ok((digest, identity, PreparedScript { script }))
}

impl PreparedScript {
    /// Writes `input` with the signature block of `signature` (checked by the caller against
    /// the prepared digest) to `output`: replacing the existing block, or nesting the new
    /// signature into it ([`EmbedMode::Append`]).
    pub(crate) fn embed(
        &self,
        input: &Path,
        identity: &FileIdentity,
        output: &Path,
        signature: &AuthenticodeSignature,
        mode: EmbedMode,
    ) -> Result<Placement> {
        let mut source = reopen(input, identity)?;
        let bytes = read_script(&mut source)?;
        if FileIdentity::of(&source)? != *identity || Script::parse(&bytes)? != self.script {
            return Err(AuthenticodeError::FileChanged);
        }
        let (placement, pkcs7) = match (&self.script.signature, mode) {
            (None, _) => (Placement::Primary, signature.der.clone()),
            (Some(_), EmbedMode::Replace) => (Placement::Replaced, signature.der.clone()),
            (Some(existing), EmbedMode::Append) => {
                AuthenticodeSignature::from_der(existing)?;
                (
                    Placement::Nested,
                    add_nested_signature(existing, &signature.der)?,
                )
            }
        };
        let content = bytes.get(..self.script.content_end).unwrap_or_default();
        let block = encode_block(&pkcs7, self.script.encoding);
        replace_output(&source, output, |file| {
            file.write_all(content)
                .and_then(|()| file.write_all(&block))
                .map_err(AuthenticodeError::io("write the signed script"))
        })?;
        Ok(placement)
    }
}

/// Verifies the signatures in the script at `path`.
pub(crate) fn verify(path: &Path) -> Result<Vec<SignatureReport>> {
    let mut file = File::open(path).map_err(AuthenticodeError::io("open the script"))?;
    let bytes = read_script(&mut file)?;
    let script = Script::parse(&bytes)?;
    let primary = script
        .signature
        .as_deref()
        .ok_or(AuthenticodeError::NotSigned)?;
    signature_reports(primary, Subject::Script, |algorithms| {
        Ok(digests(&bytes, &script, algorithms))
    })
}

/// Reads a whole script, refusing one over [`MAX_SCRIPT_LEN`].
fn read_script(file: &mut File) -> Result<Vec<u8>> {
    let len = file
        .metadata()
        .map_err(AuthenticodeError::io("read the script's metadata"))?
        .len();
    if len > MAX_SCRIPT_LEN {
        return Err(ScriptError::TooLarge {
            len,
            max: MAX_SCRIPT_LEN,
        }
        .into());
    }
    let mut bytes = Vec::new();
    file.take(MAX_SCRIPT_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(AuthenticodeError::io("read the script"))?;
    if bytes.len() as u64 > MAX_SCRIPT_LEN {
        return Err(ScriptError::TooLarge {
            len: bytes.len() as u64,
            max: MAX_SCRIPT_LEN,
        }
        .into());
    }
    Ok(bytes)
}

/// The script's digest with each of `algorithms`, in one pass over its text.
fn digests(bytes: &[u8], script: &Script, algorithms: &[HashAlgorithm]) -> Vec<Vec<u8>> {
    let mut hashers: Vec<Hasher> = algorithms.iter().map(|a| Hasher::new(*a)).collect();
    hashed_text(bytes, script, |piece| {
        for hasher in &mut hashers {
            hasher.update(piece);
        }
    });
    hashers.into_iter().map(Hasher::finalize).collect()
}

/// The digest of an in-memory script (for fuzzing and property tests): parses it and hashes
/// its text; also decodes an existing signature block's signatures.
pub fn script_digest(bytes: &[u8], algorithm: HashAlgorithm) -> Result<Vec<u8>> {
    let script = Script::parse(bytes)?;
    if let Some(der) = &script.signature {
        AuthenticodeSignature::from_der(der)?;
    }
    Ok(digests(bytes, &script, &[algorithm])
        .into_iter()
        .next()
        .unwrap_or_default())
}
