//! Packet framing and multiprecision integers (RFC 9580 §4.2, §3.2).

/// Packet tag of a signature packet.
pub(crate) const TAG_SIGNATURE: u8 = 2;
/// Packet tag of a public-key packet.
pub(crate) const TAG_PUBLIC_KEY: u8 = 6;
/// Packet tag of a user ID packet.
pub(crate) const TAG_USER_ID: u8 = 13;

/// Appends a packet in the OpenPGP (new) format: tag byte, length, body.
pub(crate) fn write_packet(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(0xC0 | tag);
    let len = body.len();
    match u16::try_from(len) {
        Ok(l) if l < 192 => out.push(l as u8),
        Ok(l) if l < 8384 => {
            let v = l - 192;
            out.push(((v >> 8) as u8) + 192);
            out.push((v & 0xFF) as u8);
        }
        _ => {
            out.push(0xFF);
            // Bodies here are a few kilobytes at most (keys and signatures).
            out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
        }
    }
    out.extend_from_slice(body);
}

/// Appends a multiprecision integer: its bit count (2 bytes), then the big-endian bytes
/// without leading zeros.
pub(crate) fn write_mpi(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let value = bytes.get(start..).unwrap_or_default();
    let bits = match value.first() {
        Some(first) => value.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    };
    out.extend_from_slice(&u16::try_from(bits).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(value);
}

/// Appends a subpacket (RFC 9580 §5.2.3.7) whose body is shorter than 191 bytes (all that
/// Sigil writes).
pub(crate) fn write_subpacket(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
    out.push(u8::try_from(body.len() + 1).unwrap_or(u8::MAX));
    out.push(kind);
    out.extend_from_slice(body);
}

/// Left-pads `bytes` with zeros to `len` (an MPI read back into a fixed-size field); `None`
/// when it is longer.
pub(crate) fn left_pad(bytes: &[u8], len: usize) -> Option<Vec<u8>> {
    let pad = len.checked_sub(bytes.len())?;
    let mut out = vec![0; pad];
    out.extend_from_slice(bytes);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_use_the_three_encodings() {
        for (len, header) in [
            (0usize, vec![0xC2, 0]),
            (191, vec![0xC2, 191]),
            (192, vec![0xC2, 192, 0]),
            (8383, vec![0xC2, 223, 255]),
            (8384, vec![0xC2, 0xFF, 0, 0, 0x20, 0xC0]),
        ] {
            let mut out = Vec::new();
            write_packet(&mut out, TAG_SIGNATURE, &vec![7; len]);
            assert_eq!(out.get(..header.len()), Some(header.as_slice()), "{len}");
            assert_eq!(out.len(), header.len() + len);
        }
    }

    #[test]
    fn mpis_count_bits_without_leading_zeros() {
        let mut out = Vec::new();
        write_mpi(&mut out, &[0, 0, 0x01, 0xFF]);
        assert_eq!(out, [0, 9, 0x01, 0xFF]);
        out.clear();
        write_mpi(&mut out, &[0, 0]);
        assert_eq!(out, [0, 0]);
        out.clear();
        write_mpi(&mut out, &[0x40, 1]);
        assert_eq!(out, [0, 15, 0x40, 1]);
    }
}
