//! Random certificate serial numbers.
//!
//! RFC 5280 §4.1.2.2: positive, at most 20 octets, unique per CA. Sigil
//! draws 16 random octets and forces the top two bits of the first octet to
//! `01`, so every serial is positive, exactly 16 octets long (no leading zero
//! is stripped, no sign octet is added) and carries 126 bits of entropy —
//! well above the 64 bits the CA/Browser Forum asks for. Collisions are
//! therefore negligible; the caller's store still enforces uniqueness and
//! simply asks for another serial on a clash, which costs one RNG call.

use x509_cert::serial_number::SerialNumber;

use crate::PkiError;
use crate::error::random_bytes;

/// The length of a serial number Sigil generates, in octets.
pub const SERIAL_LEN: usize = 16;

/// Draws a fresh random serial number from the operating system's RNG.
pub fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; SERIAL_LEN];
    random_bytes(&mut bytes)?;
    if let Some(first) = bytes.first_mut() {
        *first = (*first & 0x3f) | 0x40;
    }
    Ok(SerialNumber::new(&bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Encode;

    #[test]
    fn serials_are_positive_sixteen_octets_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let serial = random_serial().unwrap();
            assert_eq!(serial.as_bytes().len(), SERIAL_LEN);
            assert_eq!(serial.as_bytes()[0] & 0xc0, 0x40);
            // INTEGER tag, length 16, no sign octet.
            assert_eq!(serial.to_der().unwrap()[..2], [0x02, 16]);
            assert!(seen.insert(serial.as_bytes().to_vec()));
        }
    }
}
