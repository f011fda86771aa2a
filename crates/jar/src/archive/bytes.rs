//! A little-endian cursor over a byte slice that never panics.

/// Reads little-endian integers and byte runs; every read is `None` past the end.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }
}

/// Iterates `(tag, data)` over a ZIP extra field. Stops at trailing bytes too
/// short for a block header (some aligners pad with zeros); `Err` when a block
/// claims more bytes than remain.
pub(crate) fn extra_blocks(extra: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), ()>> {
    let mut c = Cursor::new(extra);
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || c.remaining() < 4 {
            return None;
        }
        let tag = c.u16()?;
        let len = c.u16()?;
        match c.bytes(usize::from(len)) {
            Some(data) => Some(Ok((tag, data))),
            None => {
                failed = true;
                Some(Err(()))
            }
        }
    })
}
