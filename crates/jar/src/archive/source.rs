//! Positioned reads, so that one open archive can be read from many places
//! without a shared seek position.

use std::fs::File;
use std::io::{self, Read};

/// Bytes that can be read at any offset: a [`File`], or bytes in memory
/// (used by the fuzz target and the property tests).
pub trait Source {
    /// Total length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Reads up to `buf.len()` bytes at `offset`; returns 0 at the end.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;

    /// Whether the source is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

impl Source for File {
    fn len(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    #[cfg(unix)]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, offset)
    }

    #[cfg(windows)]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::windows::fs::FileExt::seek_read(self, buf, offset)
    }
}

impl Source for [u8] {
    fn len(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let available = self.get(start..).unwrap_or(&[]);
        let n = available.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), available.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }
}

impl Source for Vec<u8> {
    fn len(&self) -> io::Result<u64> {
        Ok(self.as_slice().len() as u64)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.as_slice().read_at(buf, offset)
    }
}

/// Fills `buf` from `offset`; `Ok(false)` when the source ends first.
pub(crate) fn read_exact_at<S: Source + ?Sized>(
    source: &S,
    mut buf: &mut [u8],
    mut offset: u64,
) -> io::Result<bool> {
    while !buf.is_empty() {
        match source.read_at(buf, offset) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                buf = buf.get_mut(n..).unwrap_or(&mut []);
                offset = offset.saturating_add(n as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// A [`Read`] over the byte range `[pos, end)` of a source.
pub(crate) struct RangeReader<'a, S: Source + ?Sized> {
    source: &'a S,
    pos: u64,
    end: u64,
}

impl<'a, S: Source + ?Sized> RangeReader<'a, S> {
    pub(crate) fn new(source: &'a S, start: u64, end: u64) -> Self {
        Self {
            source,
            pos: start,
            end,
        }
    }
}

impl<S: Source + ?Sized> Read for RangeReader<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let remaining = self.end.saturating_sub(self.pos);
        let want = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let Some(dst) = buf.get_mut(..want) else {
            return Ok(0);
        };
        if dst.is_empty() {
            return Ok(0);
        }
        let n = self.source.read_at(dst, self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends inside an entry",
            ));
        }
        self.pos = self.pos.saturating_add(n as u64);
        Ok(n)
    }
}
