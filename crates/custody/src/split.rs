//! Splitting the master key into M-of-N components, and recombining them.
//!
//! Shamir secret sharing over GF(2⁸), byte by byte, with the `blahaj` crate: each
//! component is a point (x, y) of 32 random polynomials of degree M−1 whose constant
//! terms are the key's bytes. Any M points rebuild the key; fewer reveal nothing.
//! Shares carry no integrity of their own, so a wrong share silently yields a wrong
//! key: every recombined key is checked against the recorded check value.

use blahaj::{Share, Sharks};
use zeroize::Zeroizing;

use crate::master_key::{MASTER_KEY_LEN, OsRngChecked, new_secret32};
use crate::{CustodyError, CustodyRecord, Kcv, KeyComponent, MasterKey, MasterKeyId};

/// A fresh split: the components to hand to the custodians and the record the server stores.
#[derive(Debug)]
pub struct Split {
    /// What the deployment stores (no secret): id, threshold, check values.
    pub record: CustodyRecord,
    /// The N components, index 1 to N: print one for each custodian, then drop them.
    pub components: Vec<KeyComponent>,
}

/// Checks an M-of-N split request; see [`MasterKey::split`] for the rules.
pub(crate) fn check_split(threshold: u8, count: u8) -> Result<(), CustodyError> {
    let invalid = |reason| CustodyError::InvalidSplit {
        threshold,
        count,
        reason,
    };
    if threshold == 0 || count == 0 {
        return Err(invalid("M and N must be at least 1"));
    }
    if threshold > count {
        return Err(invalid("M cannot exceed N: the key could never be rebuilt"));
    }
    if threshold == 1 && count > 1 {
        return Err(invalid(
            "a 1-of-N split is N plain copies of the master key, so no custodian is ever needed together with another; use M of at least 2 (or 1-of-1 for a single custodian)",
        ));
    }
    Ok(())
}

impl MasterKey {
    /// Splits this key into `count` components, any `threshold` of which rebuild it.
    ///
    /// Rules: 1 ≤ M ≤ N ≤ 255, and M = 1 only with N = 1. A 1-of-N split with N > 1
    /// would be N copies of the key, which gives no dual control while looking like it
    /// does, so it is refused; 1-of-1 is allowed (one custodian holds the key on paper
    /// instead of a key file on disk).
    ///
    /// Splitting the same key again (new custodians) gives new, unrelated components;
    /// the old ones stop working with the new record because their check values differ.
    ///
    /// # Errors
    /// [`CustodyError::InvalidSplit`] for a refused M-of-N; [`CustodyError::Random`] if
    /// the operating system's RNG fails.
    pub fn split(&self, threshold: u8, count: u8) -> Result<Split, CustodyError> {
        check_split(threshold, count)?;
        let mut rng = OsRngChecked::default();
        let components: Vec<KeyComponent> = Sharks(threshold)
            .dealer_rng(self.bytes(), &mut rng)
            .take(usize::from(count))
            .map(|share| component_from_share(&share, threshold, self.id()))
            .collect();
        // On an RNG failure the components are dropped (and wiped) here.
        rng.finish()?;
        let kcvs = components.iter().map(KeyComponent::kcv).collect();
        Ok(Split {
            record: CustodyRecord::for_components(self, threshold, kcvs),
            components,
        })
    }
}

fn component_from_share(share: &Share, threshold: u8, key_id: MasterKeyId) -> KeyComponent {
    let mut y = new_secret32();
    for (out, point) in y.iter_mut().zip(&share.y) {
        *out = point.0;
    }
    KeyComponent::new(share.x.0, threshold, key_id, y)
}

/// Rebuilds a master key from exactly the threshold's worth of distinct components and
/// checks it against the expected check value. Callers have checked the components'
/// ids, thresholds and indexes.
pub(crate) fn recombine(
    components: &[KeyComponent],
    threshold: u8,
    key_id: MasterKeyId,
    expected_kcv: Kcv,
) -> Result<MasterKey, CustodyError> {
    let entered = u8::try_from(components.len()).unwrap_or(u8::MAX);
    if entered < threshold {
        return Err(CustodyError::NotEnoughComponents {
            entered,
            required: threshold,
        });
    }
    let shares: Vec<Share> = components
        .iter()
        .filter_map(|c| {
            let mut point = Zeroizing::new([0u8; 1 + MASTER_KEY_LEN]);
            let (x, y) = point.split_at_mut(1);
            x.copy_from_slice(&[c.index()]);
            y.copy_from_slice(c.share());
            Share::try_from(&point[..]).ok()
        })
        .collect();
    // Cannot fail with `threshold` distinct, equally long shares; mapped for completeness.
    let recovered = Zeroizing::new(Sharks(threshold).recover(&shares).map_err(|_| {
        CustodyError::NotEnoughComponents {
            entered,
            required: threshold,
        }
    })?);
    // Every share is 32 bytes long, so the recovered secret is too.
    let mut bytes = new_secret32();
    for (out, byte) in bytes.iter_mut().zip(recovered.iter()) {
        *out = *byte;
    }
    let key = MasterKey::from_parts(bytes, key_id);
    let found = key.kcv();
    if !found.matches(&expected_kcv) {
        return Err(CustodyError::MasterKcvMismatch {
            expected: expected_kcv,
            found,
        });
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::tests::with_share_byte_flipped;

    fn rebuild(key: &MasterKey, components: &[KeyComponent], threshold: u8) -> MasterKey {
        recombine(components, threshold, key.id(), key.kcv()).unwrap()
    }

    #[test]
    fn split_rules() {
        let key = MasterKey::generate().unwrap();
        for (m, n) in [(0, 0), (0, 3), (2, 0), (4, 3), (1, 2), (1, 255)] {
            assert!(
                matches!(key.split(m, n), Err(CustodyError::InvalidSplit { .. })),
                "{m}-of-{n}"
            );
        }
        for (m, n) in [(1, 1), (2, 2), (2, 3), (3, 5), (255, 255)] {
            let split = key.split(m, n).unwrap();
            assert_eq!(split.components.len(), usize::from(n));
            let indexes: Vec<u8> = split.components.iter().map(KeyComponent::index).collect();
            assert_eq!(indexes, (1..=n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn any_threshold_subset_rebuilds_the_key_and_fewer_do_not() {
        let key = MasterKey::generate().unwrap();
        let split = key.split(3, 5).unwrap();
        let c = &split.components;
        for subset in [[0, 1, 2], [4, 2, 0], [1, 3, 4]] {
            let chosen: Vec<KeyComponent> = subset
                .iter()
                .map(|&i| KeyComponent::parse(&c[i].to_text()).unwrap())
                .collect();
            assert_eq!(rebuild(&key, &chosen, 3).bytes(), key.bytes());
        }
        assert!(matches!(
            recombine(&c[..2], 3, key.id(), key.kcv()),
            Err(CustodyError::NotEnoughComponents {
                entered: 2,
                required: 3
            })
        ));
    }

    #[test]
    fn one_of_one_component_is_the_key_itself() {
        let key = MasterKey::generate().unwrap();
        let split = key.split(1, 1).unwrap();
        assert_eq!(split.components[0].share(), key.bytes());
        assert_eq!(rebuild(&key, &split.components, 1).bytes(), key.bytes());
    }

    #[test]
    fn largest_split_works() {
        let key = MasterKey::generate().unwrap();
        let split = key.split(255, 255).unwrap();
        assert_eq!(rebuild(&key, &split.components, 255).bytes(), key.bytes());
    }

    #[test]
    fn corrupted_share_with_valid_checksum_gives_an_error_and_no_key() {
        let key = MasterKey::generate().unwrap();
        let split = key.split(2, 3).unwrap();
        let corrupted =
            KeyComponent::parse(&with_share_byte_flipped(&split.components[1]).to_text()).unwrap();
        let components = [
            KeyComponent::parse(&split.components[0].to_text()).unwrap(),
            corrupted,
        ];
        match recombine(&components, 2, key.id(), key.kcv()) {
            Err(CustodyError::MasterKcvMismatch { expected, found }) => {
                assert_eq!(expected, key.kcv());
                assert_ne!(found, expected);
            }
            other => panic!("expected a KCV mismatch, got {other:?}"),
        }
    }

    #[test]
    fn resplitting_gives_unrelated_components() {
        let key = MasterKey::generate().unwrap();
        let (a, b) = (key.split(2, 2).unwrap(), key.split(2, 2).unwrap());
        assert_ne!(a.components[0].share(), b.components[0].share());
        // Mixing splits rebuilds garbage, which the KCV check catches.
        let mixed = [
            KeyComponent::parse(&a.components[0].to_text()).unwrap(),
            KeyComponent::parse(&b.components[1].to_text()).unwrap(),
        ];
        assert!(matches!(
            recombine(&mixed, 2, key.id(), key.kcv()),
            Err(CustodyError::MasterKcvMismatch { .. })
        ));
    }
}
