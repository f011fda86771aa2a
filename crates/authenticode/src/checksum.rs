//! The PE image checksum (optional header `CheckSum`).
//!
//! The algorithm of `CheckSumMappedFile` (imagehlp), as osslsigncode also
//! implements it: add the file as little-endian 16-bit words with end-around
//! carry, the `CheckSum` field itself counting as zero and an odd last byte as
//! a word of its own, fold to 16 bits, then add the file length.
//!
//! Streaming: bytes arrive in chunks of any size at increasing offsets.
//! Summing into a `u64` and folding once at the end gives the same result as
//! folding after every word (both are the sum modulo `0xffff` with `0xffff`
//! standing for a non-zero multiple), and is much faster.

use crate::pe::{CHECKSUM_LEN, to_usize};

/// Incremental PE checksum over a file written or read front to back.
#[derive(Clone, Debug)]
pub(crate) struct PeChecksum {
    /// File offset of the `CheckSum` field, which counts as zero.
    field_offset: u64,
    /// Bytes seen so far (= the offset of the next byte).
    len: u64,
    /// Sum of complete words, not yet folded.
    sum: u64,
    /// The low byte of a word split across two chunks.
    pending: Option<u8>,
}

impl PeChecksum {
    /// A checksum for a file whose `CheckSum` field is at `field_offset`.
    pub(crate) fn new(field_offset: u64) -> Self {
        PeChecksum {
            field_offset,
            len: 0,
            sum: 0,
            pending: None,
        }
    }

    /// Adds the next bytes of the file.
    pub(crate) fn update(&mut self, data: &[u8]) {
        let chunk_start = self.len;
        let chunk_end = chunk_start + data.len() as u64;
        let field_end = self.field_offset + CHECKSUM_LEN;
        if self.field_offset >= chunk_end || field_end <= chunk_start {
            self.add_bytes(data);
            return;
        }
        // The chunk holds (part of) the CheckSum field, which counts as zero.
        let zero_from = to_usize(self.field_offset.saturating_sub(chunk_start));
        let zero_to = to_usize(field_end.min(chunk_end) - chunk_start);
        let (before, rest) = data.split_at(zero_from);
        let (field, after) = rest.split_at(zero_to - zero_from);
        self.add_bytes(before);
        for _ in field {
            self.add_bytes(&[0]);
        }
        self.add_bytes(after);
    }

    /// Adds bytes, whatever the parity of the current offset.
    fn add_bytes(&mut self, mut data: &[u8]) {
        if let Some(low) = self.pending {
            let Some((high, rest)) = data.split_first() else {
                return;
            };
            self.sum += u64::from(u16::from_le_bytes([low, *high]));
            self.pending = None;
            self.len += 1;
            data = rest;
        }
        let (words, remainder) = data.as_chunks::<2>();
        // 2^48 words of 0xffff would be needed to overflow: files are < 2^32 bytes.
        self.sum += words
            .iter()
            .map(|w| u64::from(u16::from_le_bytes(*w)))
            .sum::<u64>();
        self.len += 2 * words.len() as u64;
        if let [last] = remainder {
            self.pending = Some(*last);
            self.len += 1;
        }
    }

    /// The checksum of the bytes seen so far, as the file's `CheckSum` should hold it.
    pub(crate) fn finish(&self) -> u32 {
        let mut sum = self.sum + self.pending.map_or(0, u64::from);
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        // PE files are < 4 GiB; the sum of a 16-bit value and the length wraps like the reference.
        (sum as u32).wrapping_add(self.len as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference algorithm, word by word with a fold after each add (osslsigncode's loop,
    /// extended to count an odd last byte as `CheckSumMappedFile` does).
    fn reference(data: &[u8], field: u64) -> u32 {
        let mut sum: u32 = 0;
        for (i, pair) in data.chunks(2).enumerate() {
            let offset = 2 * i as u64;
            let mut word = u32::from(pair[0]) | pair.get(1).map_or(0, |b| u32::from(*b) << 8);
            if offset >= field && offset < field + 4 {
                word = 0;
            }
            sum += word;
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum = (sum & 0xffff) + (sum >> 16);
        sum.wrapping_add(data.len() as u32)
    }

    proptest::proptest! {
        #[test]
        fn streaming_matches_reference(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
            field in 0u64..300,
            cuts in proptest::collection::vec(0usize..600, 0..8),
        ) {
            // Keep the field 2-aligned as in real PE files (e_lfanew is 8-aligned in practice,
            // and the reference only zeroes whole words).
            let field = field & !1;
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort_unstable();
            let mut checksum = PeChecksum::new(field);
            let mut start = 0;
            for cut in cuts.into_iter().chain([data.len()]) {
                checksum.update(&data[start..cut]);
                start = cut;
            }
            proptest::prop_assert_eq!(checksum.finish(), reference(&data, field));
        }
    }

    #[test]
    fn all_ones_words_fold_to_ffff() {
        let data = [0xff; 8];
        let mut checksum = PeChecksum::new(100);
        checksum.update(&data);
        assert_eq!(checksum.finish(), reference(&data, 100));
    }
}
