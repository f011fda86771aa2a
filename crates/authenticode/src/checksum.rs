//! The PE image checksum (optional header `CheckSum`).
//!
//! The algorithm of `CheckSumMappedFile` (imagehlp), as osslsigncode also
//! implements it: add the file as little-endian 16-bit words with end-around
//! carry, the `CheckSum` field itself counting as zero and an odd last byte as
//! a word of its own, fold to 16 bits, then add the file length.
//!
//! The sum is additive, which is what lets the client compute the checksum of
//! the signed file in the same pass as the image digest, before the signature
//! exists: a byte `b` at file offset `o` adds `b` (even `o`) or `b << 8` (odd
//! `o`), wherever and in whatever order it is added. Summing into a `u64` and
//! folding once at the end gives the same result as folding after every word
//! (both are the sum modulo `0xffff`, with `0xffff` standing for a non-zero
//! multiple). For speed, aligned runs are added as 32-bit words: `hi << 16 | lo`
//! is congruent to `hi + lo` modulo `0xffff`, so the folded result is the same.

use std::ops::Range;

use crate::pe::{CHECKSUM_LEN, to_usize};

/// Incremental PE checksum over a file read front to back, with ranges counted as zero.
#[derive(Clone, Debug)]
pub(crate) struct PeChecksum {
    /// File ranges that count as zero (the `CheckSum` field; optionally the Certificate Table entry).
    zeroed: [Range<u64>; 2],
    /// Bytes seen so far (= the offset of the next byte).
    len: u64,
    /// Sum of the words, not yet folded.
    sum: u64,
}

impl PeChecksum {
    /// A checksum for a file whose `CheckSum` field is at `field_offset`.
    pub(crate) fn new(field_offset: u64) -> Self {
        Self::with_zeroed(field_offset..field_offset + CHECKSUM_LEN, 0..0)
    }

    /// A checksum that counts the bytes of `first` and `second` as zero.
    pub(crate) fn with_zeroed(first: Range<u64>, second: Range<u64>) -> Self {
        PeChecksum {
            zeroed: [first, second],
            len: 0,
            sum: 0,
        }
    }

    /// Adds the next bytes of the file.
    pub(crate) fn update(&mut self, data: &[u8]) {
        let start = self.len;
        let end = start + data.len() as u64;
        // Add only the bytes outside the zeroed ranges. Subtracting a field after adding
        // everything is not exact: the 32-bit grouping of the field alone differs from its
        // grouping inside the whole run (congruent modulo 0xffff, but it can be larger and
        // underflow). Adding only keeps every term non-negative, so the sum is zero exactly
        // when the counted bytes are, which the fold in `finish_with_len` relies on.
        let mut at = start;
        while at < end {
            if let Some(zeroed) = self.zeroed.iter().find(|r| r.contains(&at)) {
                at = zeroed.end.min(end);
                continue;
            }
            let stop = self
                .zeroed
                .iter()
                .map(|r| r.start)
                .filter(|&s| s > at && s < end)
                .min()
                .unwrap_or(end);
            if let Some(part) = data.get(to_usize(at - start)..to_usize(stop - start)) {
                self.sum += word_sum(at, part);
            }
            at = stop;
        }
        self.len = end;
    }

    /// Adds bytes at any file offset (outside what [`update`](Self::update) covers): they
    /// count in the sum but not in the length.
    pub(crate) fn add_at(&mut self, offset: u64, data: &[u8]) {
        self.sum += word_sum(offset, data);
    }

    /// The checksum of the bytes seen so far, as the file's `CheckSum` should hold it.
    pub(crate) fn finish(&self) -> u32 {
        self.finish_with_len(self.len)
    }

    /// The checksum for a file of `file_len` bytes whose words are the ones added.
    pub(crate) fn finish_with_len(&self, file_len: u64) -> u32 {
        let mut sum = self.sum;
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        // PE files are < 4 GiB; the sum of a 16-bit value and the length wraps like the reference.
        (sum as u32).wrapping_add(file_len as u32)
    }
}

/// The (unfolded) sum of `data` as little-endian 16-bit words, `data` starting at file
/// offset `offset`; an odd trailing byte counts as the low byte of a word.
fn word_sum(offset: u64, data: &[u8]) -> u64 {
    let mut sum = 0u64;
    let mut data = data;
    if offset % 2 == 1 {
        let Some((high, rest)) = data.split_first() else {
            return 0;
        };
        sum += u64::from(*high) << 8;
        data = rest;
    }
    // 4-byte words: congruent to the sum of their two 16-bit halves modulo 0xffff.
    // Files are < 2^32 bytes, so fewer than 2^30 words of < 2^32 each: no overflow.
    let (quads, rest) = data.as_chunks::<4>();
    sum += quads
        .iter()
        .map(|q| u64::from(u32::from_le_bytes(*q)))
        .sum::<u64>();
    let (pairs, last) = rest.as_chunks::<2>();
    sum += pairs
        .iter()
        .map(|w| u64::from(u16::from_le_bytes(*w)))
        .sum::<u64>();
    if let [low] = last {
        sum += u64::from(*low);
    }
    sum
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

    proptest::proptest! {
        /// What the embedding does: the image with two fields zeroed, plus the fields' new
        /// values and the appended table added afterwards, equals the checksum of the
        /// finished file.
        #[test]
        fn added_parts_match_the_whole_file(
            image in proptest::collection::vec(proptest::num::u8::ANY, 80..400),
            field in 0u64..28,
            dir in 0u64..30,
            new_dir in proptest::array::uniform8(proptest::num::u8::ANY),
            padding in 0usize..8,
            table in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
        ) {
            let (field, dir) = (field, 32 + dir);
            let mut base = PeChecksum::with_zeroed(field..field + 4, dir..dir + 8);
            base.update(&image);
            let table_at = (image.len() + padding) as u64;
            base.add_at(dir, &new_dir);
            base.add_at(table_at, &table);

            let mut whole = image.clone();
            whole[dir as usize..dir as usize + 8].copy_from_slice(&new_dir);
            whole.extend(std::iter::repeat_n(0, padding));
            whole.extend_from_slice(&table);
            let mut all = PeChecksum::new(field);
            all.update(&whole);
            proptest::prop_assert_eq!(base.finish_with_len(whole.len() as u64), all.finish());
        }
    }

    /// Found by the property test: a field grouped differently from the run around it
    /// made the old subtract-afterwards code underflow.
    #[test]
    fn a_field_inside_a_32_bit_group_does_not_underflow() {
        let data = [0, 0, 0, 0, 0, 1];
        let mut checksum = PeChecksum::new(2);
        checksum.update(&data);
        assert_eq!(checksum.finish(), reference(&data, 2));
    }

    /// A file whose only non-zero bytes are in the field sums to zero, not to 0xffff.
    #[test]
    fn only_the_field_set_sums_to_zero() {
        let mut data = [0u8; 12];
        data[4..8].copy_from_slice(&[0xff; 4]);
        let mut checksum = PeChecksum::new(4);
        checksum.update(&data[..5]);
        checksum.update(&data[5..]);
        assert_eq!(checksum.finish(), reference(&data, 4));
        assert_eq!(checksum.finish(), 12);
    }

    #[test]
    fn all_ones_words_fold_to_ffff() {
        let data = [0xff; 8];
        let mut checksum = PeChecksum::new(100);
        checksum.update(&data);
        assert_eq!(checksum.finish(), reference(&data, 100));
    }
}
