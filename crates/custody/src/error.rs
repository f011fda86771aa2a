//! Errors of this crate, grouped by what went wrong.

use std::io;
use std::path::PathBuf;

use crate::{Kcv, MasterKeyId};

/// Everything that can go wrong while creating, splitting, unsealing or using the master key.
///
/// No variant carries secret material: check values, key ids, component indexes
/// and the caller's own key id/purpose labels only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CustodyError {
    // --- randomness ---
    /// The operating system's random number generator failed.
    #[error(
        "the operating system's random number generator failed ({0}); no key or nonce can be made without it: check the host"
    )]
    Random(rand::rngs::SysError),

    // --- splitting into components ---
    /// The requested M-of-N split is not allowed.
    #[error("cannot split the master key {threshold}-of-{count}: {reason}")]
    InvalidSplit {
        /// Requested threshold M.
        threshold: u8,
        /// Requested number of components N.
        count: u8,
        /// Which rule the request breaks.
        reason: &'static str,
    },

    // --- entering components ---
    /// The text of a component could not be read.
    #[error("malformed key component: {0}")]
    MalformedComponent(#[from] ComponentFormatError),
    /// The component was made for another deployment's master key.
    #[error(
        "this key component belongs to master key {found}, but this deployment's master key is {expected}: it comes from another deployment"
    )]
    WrongDeployment {
        /// The deployment's master-key id.
        expected: MasterKeyId,
        /// The master-key id written in the component.
        found: MasterKeyId,
    },
    /// The component's threshold differs from the deployment's.
    #[error(
        "this key component is part of a {found}-of-N split, but this deployment needs {expected} components: it belongs to another split of the key"
    )]
    ThresholdMismatch {
        /// The deployment's threshold M.
        expected: u8,
        /// The threshold written in the component.
        found: u8,
    },
    /// The component's index is beyond the number of components the deployment issued.
    #[error(
        "key component #{index} does not exist: this deployment issued components #1 to #{count}"
    )]
    UnknownComponentIndex {
        /// Index written in the component.
        index: u8,
        /// Number of components the deployment issued.
        count: u8,
    },
    /// The same component was entered twice.
    #[error("key component #{index} was already entered; the next custodian must enter theirs")]
    DuplicateComponent {
        /// Index of the repeated component.
        index: u8,
    },
    /// The component is well formed but is not the one issued under this index.
    #[error(
        "key component #{index} has check value {found}, but the one issued to its custodian has {expected}: this is not that component (from an older split?); ask the custodian for the component issued with check value {expected}"
    )]
    ComponentKcvMismatch {
        /// Index of the component.
        index: u8,
        /// Check value recorded when the component was issued.
        expected: Kcv,
        /// Check value of the component entered.
        found: Kcv,
    },
    /// A component was offered after the threshold had been reached.
    #[error("all {required} key components needed are already entered; finish unsealing")]
    AlreadyComplete {
        /// The threshold M.
        required: u8,
    },
    /// Unsealing was finished with fewer than M components.
    #[error(
        "only {entered} of the {required} key components needed have been entered; enter {} more",
        required.saturating_sub(*entered)
    )]
    NotEnoughComponents {
        /// Components entered so far.
        entered: u8,
        /// The threshold M.
        required: u8,
    },
    /// Recombining gave a key whose check value is not the deployment's.
    #[error(
        "the recombined master key has check value {found}, but this deployment's master key has {expected}: at least one component is wrong; no key was produced, start again with the custodians' original components"
    )]
    MasterKcvMismatch {
        /// The deployment's master-key check value.
        expected: Kcv,
        /// Check value of the (wrong) recombined key.
        found: Kcv,
    },

    // --- custody record ---
    /// A master key does not match the deployment's custody record.
    #[error(
        "master key {found_id} (check value {found_kcv}) is not this deployment's master key {expected_id} (check value {expected_kcv})"
    )]
    KeyDoesNotMatchRecord {
        /// Master-key id in the record.
        expected_id: MasterKeyId,
        /// Check value in the record.
        expected_kcv: Kcv,
        /// Id of the key offered.
        found_id: MasterKeyId,
        /// Check value of the key offered.
        found_kcv: Kcv,
    },
    /// The operation needs another custody scheme than the deployment's.
    #[error("this deployment keeps its master key as {found}, not as {expected}")]
    WrongScheme {
        /// Scheme the operation works with.
        expected: &'static str,
        /// Scheme of the deployment.
        found: &'static str,
    },
    /// A stored custody record breaks a rule (edited by hand, or damaged).
    #[error("invalid custody record: {reason}; restore it from a backup")]
    InvalidRecord {
        /// Which rule the record breaks.
        reason: &'static str,
    },

    // --- sealing ---
    /// The secret to seal is larger than [`MAX_SEALED_PLAINTEXT_LEN`](crate::MAX_SEALED_PLAINTEXT_LEN).
    #[error("cannot seal {len} bytes: at most {max} bytes can be sealed")]
    PlaintextTooLarge {
        /// Length offered.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A sealed blob is not a well-formed envelope.
    #[error("malformed sealed blob: {reason}; restore the key's row from a backup")]
    MalformedBlob {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A sealed blob has an envelope version this build does not read.
    #[error(
        "sealed blob has envelope version {version}, this Sigil reads version 1: upgrade Sigil"
    )]
    UnsupportedBlobVersion {
        /// Version byte found.
        version: u8,
    },
    /// A sealed blob was sealed under another master key.
    #[error(
        "this blob was sealed under master key {sealed_under}, but the master key in use is {current}: unseal the deployment with the right key, or finish the key rotation"
    )]
    WrongMasterKey {
        /// Master-key id written in the blob.
        sealed_under: MasterKeyId,
        /// Id of the key used to open it.
        current: MasterKeyId,
    },
    /// AES-GCM authentication failed: tampering, corruption, or a context mismatch.
    #[error(
        "the sealed blob for key id {key_id:?} (purpose {purpose:?}) failed authentication: it was modified, or it was sealed for another key id or purpose (moved between rows?)"
    )]
    OpenFailed {
        /// Key id given to `open`.
        key_id: String,
        /// Purpose given to `open`.
        purpose: String,
    },

    // --- development key file ---
    /// The development key file exists already.
    #[error(
        "{}: a file already exists there; refusing to overwrite a master key (move it away or choose another path)",
        path.display()
    )]
    KeyFileExists {
        /// The file.
        path: PathBuf,
    },
    /// Reading or writing the development key file failed.
    #[error("{}: cannot use the development key file: {source}", path.display())]
    KeyFileIo {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The development key file can be read or written by other users.
    #[error(
        "{}: the development key file has mode {mode:03o}, so group or other users can access it; run `chmod 600 {}` (and check who may have copied it)",
        path.display(),
        path.display()
    )]
    KeyFilePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The development key file is not in the expected format.
    #[error("{}: not a Sigil development key file: {reason}", path.display())]
    KeyFileMalformed {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Why the text of a key component could not be read.
///
/// Errors never echo the component text (it is secret); they point at a position
/// or a count instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ComponentFormatError {
    /// The input is longer than any key component.
    #[error(
        "the text is {len} bytes long, a key component is at most {max}: paste one component at a time"
    )]
    TooLong {
        /// Length of the input.
        len: usize,
        /// [`MAX_COMPONENT_TEXT_LEN`](crate::MAX_COMPONENT_TEXT_LEN).
        max: usize,
    },
    /// The text does not start with `SKC`.
    #[error("a Sigil key component starts with \"SKC\"")]
    MissingPrefix,
    /// The format version after `SKC` is not one this build reads.
    #[error("key component format version {found:?} is not supported: this Sigil reads version 1")]
    UnsupportedVersion {
        /// The character after `SKC`.
        found: char,
    },
    /// A character that is neither a hex digit nor a separator.
    #[error(
        "unexpected character {character:?} at position {position}: a key component has only digits 0-9, letters A-F, dashes and spaces"
    )]
    InvalidCharacter {
        /// The character.
        character: char,
        /// Its position in the input, counting characters from 1.
        position: usize,
    },
    /// Too few or too many hex digits.
    #[error(
        "the component has {found} hex digits after \"SKC1\", {expected} expected: a group is missing, incomplete or typed twice"
    )]
    WrongLength {
        /// Hex digits found.
        found: usize,
        /// Hex digits expected.
        expected: usize,
    },
    /// The checksum does not match: a typo.
    #[error(
        "the checksum does not match, so a character was mistyped: compare each group with the custodian's copy"
    )]
    ChecksumMismatch,
    /// Index 0 (the secret itself in Shamir's scheme) or threshold 0.
    #[error("the component's index or threshold is 0, which Sigil never issues")]
    ZeroIndexOrThreshold,
}

/// Why a key backend operation (generate, open, export) failed.
///
/// Messages name the key or HSM and what to do; they carry no key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// Sealing or opening under the master key failed.
    #[error(transparent)]
    Custody(#[from] CustodyError),
    /// The key could not be generated, parsed or used.
    #[error(transparent)]
    Key(#[from] sigil_keys::KeyError),
    /// Reading the key record failed.
    #[error(transparent)]
    Store(#[from] sigil_domain::StoreError),
    /// No key record has this id.
    #[error("key {0} does not exist")]
    NotFound(sigil_domain::KeyId),
    /// The key backend named (by a request or a key record) is not configured.
    #[error(
        "key backend {name:?} is not configured (configured: {}): add an [[hsm]] section named {name:?} to sigil.toml, or choose one of those",
        known.join(", ")
    )]
    UnknownBackend {
        /// The name asked for.
        name: String,
        /// The configured backends.
        known: Vec<String>,
    },
    /// Two backends have the same name.
    #[error(
        "two key backends are named {name:?}: give every [[hsm]] section in sigil.toml its own name (and not \"software\")"
    )]
    DuplicateBackend {
        /// The repeated name.
        name: String,
    },
    /// A key record was handed to a backend that does not hold it.
    #[error("key {id} is held by backend {found:?}, not {expected:?}")]
    WrongBackend {
        /// The key.
        id: sigil_domain::KeyId,
        /// The backend asked.
        expected: String,
        /// The backend the record names.
        found: String,
    },
    /// The private key of an HSM key cannot leave its token.
    #[error(
        "key {id} is held in HSM {hsm:?}, generated there as sensitive and not extractable: its private key cannot be exported (whatever the export setting); use the key through Sigil, or make a software key if you need a portable copy"
    )]
    NotExportable {
        /// The key.
        id: sigil_domain::KeyId,
        /// The HSM holding it.
        hsm: String,
    },
    /// An HSM failed, refused, or does not hold what the key record says.
    #[error("HSM {hsm:?}: {reason}")]
    Hsm {
        /// The HSM's configured name.
        hsm: String,
        /// What went wrong and what to do.
        reason: String,
    },
}
