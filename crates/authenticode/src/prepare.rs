//! One pass over a PE file before signing (client side), and the staged copy of it.
//!
//! [`prepare_image`] reads the image once and computes everything signing needs from it:
//! the image digest (sent to the server) and the PE checksum of the image with the
//! `CheckSum` field and the Certificate Table entry counted as zero. The checksum is
//! additive, so embedding only adds the new Certificate Table entry and the appended
//! table to it and never reads the image again.
//!
//! [`PreparedImage::stage`] copies the image into a temporary file next to the output
//! with `std::io::copy` between two files, which Linux turns into `copy_file_range`
//! (a kernel-side copy, or a reflink on file systems that share extents), and starts
//! flushing it to disk in the background (embedding waits for that flush and checks it).
//! A client can stage while it waits for the server, so that embedding is left with
//! patching a few header bytes, appending the signature and a rename.
//!
//! The file is identified by its device, inode, length and modification and change
//! times (see [`FileIdentity`]), taken before and after each read; a change in between
//! refuses the signing ([`AuthenticodeError::FileChanged`]) instead of embedding a
//! signature over bytes that are no longer the file's.

use std::fs::{File, Metadata};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use sigil_keys::{HashAlgorithm, Hasher};

use crate::checksum::PeChecksum;
use crate::digest::{HashedRanges, STREAM_BUFFER_LEN};
use crate::error::{AuthenticodeError, Result};
use crate::pe::{CHECKSUM_LEN, DATA_DIRECTORY_LEN, PeLayout, to_usize};

/// What identifies the contents of a file without reading it: if any of these changed,
/// the file may have been written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileIdentity {
    len: u64,
    modified: Option<std::time::SystemTime>,
    /// Device, inode, change time (seconds, nanoseconds).
    #[cfg(unix)]
    unix: (u64, u64, i64, i64),
}

impl FileIdentity {
    /// The identity of an open file.
    pub fn of(file: &File) -> Result<Self> {
        let metadata = file
            .metadata()
            .map_err(AuthenticodeError::io("read the PE file's metadata"))?;
        Ok(Self::from_metadata(&metadata))
    }

    fn from_metadata(metadata: &Metadata) -> Self {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        FileIdentity {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            // Device and inode: the same file; ctime cannot be set by a user, so it changes
            // with every write even when the modification time is put back.
            #[cfg(unix)]
            unix: (
                metadata.dev(),
                metadata.ino(),
                metadata.ctime(),
                metadata.ctime_nsec(),
            ),
        }
    }
}

/// A PE file read once for signing: its image digest, layout, partial checksum and identity.
#[derive(Clone, Debug)]
pub struct PreparedImage {
    /// The hash algorithm of the image digest.
    pub algorithm: HashAlgorithm,
    /// The Authenticode image digest (what the server signs).
    pub digest: Vec<u8>,
    /// The PE layout the digest was computed on.
    pub layout: PeLayout,
    /// The file's identity while it was read.
    pub identity: FileIdentity,
    /// Checksum of `[0, image_end)` with `CheckSum` and the Certificate Table entry as zero.
    pub(crate) base_checksum: PeChecksum,
}

/// Reads the PE file at `path` once: image digest with `algorithm`, layout and the partial
/// PE checksum that embedding completes.
///
/// Refuses a malformed image ([`AuthenticodeError::Pe`]) and a file that changed while it
/// was read ([`AuthenticodeError::FileChanged`]).
pub fn prepare_image(path: &Path, algorithm: HashAlgorithm) -> Result<PreparedImage> {
    let mut file = File::open(path).map_err(AuthenticodeError::io("open the PE file"))?;
    let identity = FileIdentity::of(&file)?;
    let layout = PeLayout::parse(&mut file)?;
    let (digest, base_checksum) = hash_image(&mut file, &layout, algorithm)?;
    if FileIdentity::of(&file)? != identity {
        return Err(AuthenticodeError::FileChanged);
    }
    Ok(PreparedImage {
        algorithm,
        digest,
        layout,
        identity,
        base_checksum,
    })
}

/// [`prepare_image`] and [`PreparedImage::stage`] at once: the copy next to `output` is made
/// on a second thread while this one hashes, so the two take the time of the longer one
/// (on a machine with a core to spare).
pub fn prepare_and_stage(
    path: &Path,
    algorithm: HashAlgorithm,
    output: &Path,
) -> Result<(PreparedImage, StagedImage)> {
    let mut file = File::open(path).map_err(AuthenticodeError::io("open the PE file"))?;
    let identity = FileIdentity::of(&file)?;
    let layout = PeLayout::parse(&mut file)?;
    // Its own descriptor (its own file position), checked to be the same file.
    let copy_source = File::open(path).map_err(AuthenticodeError::io("open the PE file"))?;
    if FileIdentity::of(&copy_source)? != identity {
        return Err(AuthenticodeError::FileChanged);
    }
    let image_end = layout.image_end();
    let (hashed, staged) = std::thread::scope(|scope| {
        let copier = scope.spawn(|| copy_image(&copy_source, image_end, output));
        let hashed = hash_image(&mut file, &layout, algorithm);
        let staged = copier.join().unwrap_or_else(|_| {
            Err(AuthenticodeError::Io {
                op: "copy the PE file next to the output",
                source: std::io::Error::other("the copying thread panicked"),
            })
        });
        (hashed, staged)
    });
    let (digest, base_checksum) = hashed?;
    let staged = staged?;
    if FileIdentity::of(&file)? != identity {
        return Err(AuthenticodeError::FileChanged);
    }
    Ok((
        PreparedImage {
            algorithm,
            digest,
            layout,
            identity,
            base_checksum,
        },
        staged,
    ))
}

/// The one pass: image digest and the checksum of `[0, image_end)` with `CheckSum` and the
/// Certificate Table entry as zero.
fn hash_image(
    file: &mut File,
    layout: &PeLayout,
    algorithm: HashAlgorithm,
) -> Result<(Vec<u8>, PeChecksum)> {
    let ranges = HashedRanges::new(layout);
    let mut hasher = Hasher::new(algorithm);
    let mut checksum = PeChecksum::with_zeroed(
        layout.checksum_offset..layout.checksum_offset + CHECKSUM_LEN,
        layout.cert_dir_offset..layout.cert_dir_offset + DATA_DIRECTORY_LEN,
    );
    file.seek(SeekFrom::Start(0))
        .map_err(AuthenticodeError::io("seek to the start of the PE file"))?;
    let mut buffer = vec![0; STREAM_BUFFER_LEN];
    let mut pos = 0u64;
    let image_end = layout.image_end();
    while pos < image_end {
        let want = to_usize(image_end - pos).min(buffer.len());
        let chunk = buffer.get_mut(..want).unwrap_or_default();
        file.read_exact(chunk).map_err(AuthenticodeError::io(
            "read the PE file (did it change while being hashed?)",
        ))?;
        ranges.for_each_part(pos, chunk, |part| hasher.update(part));
        checksum.update(chunk);
        pos += want as u64;
    }
    // The zeros embedding writes before the table are hashed too (they add nothing to the sum).
    hasher.update(&vec![0; to_usize(layout.padding_len())]);
    Ok((hasher.finalize(), checksum))
}

/// Copies `[0, image_end)` of `source` into a new temporary file next to `output` and starts
/// flushing it to disk.
/// The caller checks that `source` did not change meanwhile.
fn copy_image(source: &File, image_end: u64, output: &Path) -> Result<StagedImage> {
    let target = resolve_output(output);
    let mut temp = tempfile::Builder::new()
        .prefix(".sigil-sign-")
        .tempfile_in(parent_dir(&target))
        .map_err(AuthenticodeError::io(
            "create a temporary file next to the output",
        ))?;
    let mut reader = source;
    reader
        .seek(SeekFrom::Start(0))
        .map_err(AuthenticodeError::io("seek to the start of the PE file"))?;
    // File to file: copy_file_range on Linux (no copy through user space).
    let copied = std::io::copy(&mut reader.take(image_end), temp.as_file_mut())
        .map_err(AuthenticodeError::io("copy the PE file next to the output"))?;
    if copied != image_end {
        return Err(AuthenticodeError::FileChanged);
    }
    let sync = start_sync(temp.as_file())?;
    Ok(StagedImage {
        temp: temp.into_temp_path(),
        target,
        image_end,
        sync,
    })
}

/// Background flushes of staged copies running at once, at most.
const MAX_BACKGROUND_SYNCS: usize = 4;
/// Background flushes running now.
static BACKGROUND_SYNCS: AtomicUsize = AtomicUsize::new(0);

/// Starts writing the copy to disk: on a thread of its own, so that the disk works while the
/// signature is being obtained (a freshly built file is often still being written back
/// itself), or here when [`MAX_BACKGROUND_SYNCS`] are already running.
fn start_sync(file: &File) -> Result<Option<JoinHandle<std::io::Result<()>>>> {
    let io = AuthenticodeError::io("write the copy of the PE file");
    let claimed = BACKGROUND_SYNCS
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < MAX_BACKGROUND_SYNCS).then_some(n + 1)
        })
        .is_ok();
    if claimed {
        // The same open file description: an error of this writeback is reported to it.
        let clone = file
            .try_clone()
            .map_err(AuthenticodeError::io("write the copy of the PE file"))?;
        let spawned = std::thread::Builder::new()
            .name("sigil-stage-sync".into())
            .spawn(move || {
                let result = clone.sync_data();
                BACKGROUND_SYNCS.fetch_sub(1, Ordering::AcqRel);
                result
            });
        match spawned {
            Ok(handle) => return Ok(Some(handle)),
            Err(_) => {
                BACKGROUND_SYNCS.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
    file.sync_data().map_err(io)?;
    Ok(None)
}

/// A copy of a prepared image in a temporary file next to the output, being flushed to disk.
///
/// Dropping it removes the temporary file. [`PreparedImage::embed`] turns it into the
/// signed output.
#[derive(Debug)]
pub struct StagedImage {
    pub(crate) temp: tempfile::TempPath,
    /// The file the signed image will replace (an output symlink resolved).
    pub(crate) target: PathBuf,
    /// The bytes copied: the image without any old certificate table.
    pub(crate) image_end: u64,
    /// The flush of the copy still running in the background, if any.
    sync: Option<JoinHandle<std::io::Result<()>>>,
}

impl StagedImage {
    /// The temporary file.
    pub fn path(&self) -> &Path {
        &self.temp
    }

    /// Waits until the copy is on disk (the background flush finished) and reports its error.
    pub(crate) fn wait_synced(&mut self) -> Result<()> {
        let Some(handle) = self.sync.take() else {
            return Ok(());
        };
        handle
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the flushing thread panicked")))
            .map_err(AuthenticodeError::io("write the copy of the PE file"))
    }
}

impl PreparedImage {
    /// Copies the image of `input` (the prepared file) into a temporary file in the
    /// directory of `output` and starts flushing it to disk (on a thread of its own; embedding
    /// waits for it), ahead of [`embed`](Self::embed).
    pub fn stage(&self, input: &Path, output: &Path) -> Result<StagedImage> {
        let source = self.reopen(input)?;
        self.stage_from(&source, output)
    }

    /// Opens `input` again and checks it is still the file that was prepared.
    pub(crate) fn reopen(&self, input: &Path) -> Result<File> {
        let mut source =
            File::open(input).map_err(AuthenticodeError::io("open the PE file to sign"))?;
        if FileIdentity::of(&source)? != self.identity
            || PeLayout::parse(&mut source)? != self.layout
        {
            return Err(AuthenticodeError::FileChanged);
        }
        Ok(source)
    }

    /// [`stage`](Self::stage) from an open, checked source.
    pub(crate) fn stage_from(&self, source: &File, output: &Path) -> Result<StagedImage> {
        let staged = copy_image(source, self.layout.image_end(), output)?;
        if FileIdentity::of(source)? != self.identity {
            return Err(AuthenticodeError::FileChanged);
        }
        Ok(staged)
    }
}

/// The file to replace: the target of `output` when it is a symbolic link.
pub(crate) fn resolve_output(output: &Path) -> PathBuf {
    std::fs::canonicalize(output).unwrap_or_else(|_| output.to_path_buf())
}

/// The directory a file is in (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
