//! Unsealing: custodians enter their components one at a time until the key is rebuilt.

use std::fmt;

use crate::split::recombine;
use crate::{
    CustodyError, CustodyRecord, CustodyScheme, Kcv, KeyComponent, MasterKey, MasterKeyId,
};

/// Collects key components at start-up (`sigil unseal`, a prompt, or an API call) and
/// rebuilds the master key once the threshold is reached.
///
/// Each component is checked as it is entered — format and checksum, deployment,
/// threshold, index, not already entered, and its check value against the one recorded
/// when it was issued — so a custodian learns at once that their component was refused
/// and why. A refused component changes nothing. [`Unsealer::finish`] recombines and checks
/// the result against the master key's check value; components are wiped when the
/// `Unsealer` is dropped.
///
/// ```
/// # use sigil_custody::{MasterKey, Unsealer};
/// # let split = MasterKey::generate()?.split(2, 3)?;
/// # let (first, second) = (split.components[0].to_text(), split.components[2].to_text());
/// let mut unsealer = Unsealer::new(&split.record)?;
/// let progress = unsealer.add_component(&first)?;
/// println!("{progress}"); // key component #1 (check value ...) accepted: 1 of 2 entered
/// let progress = unsealer.add_component(&second)?;
/// assert!(progress.is_complete());
/// let master_key = unsealer.finish()?;
/// # assert_eq!(master_key.kcv(), split.record.master_kcv());
/// # Ok::<(), sigil_custody::CustodyError>(())
/// ```
#[derive(Debug)]
pub struct Unsealer {
    key_id: MasterKeyId,
    master_kcv: Kcv,
    threshold: u8,
    component_kcvs: Vec<Kcv>,
    entered: Vec<KeyComponent>,
}

/// What [`Unsealer::add_component`] reports after accepting a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsealProgress {
    /// Index of the component just accepted.
    pub index: u8,
    /// Its check value (for the custodian to compare with their copy).
    pub kcv: Kcv,
    /// Components entered so far (k).
    pub entered: u8,
    /// Components needed (M).
    pub required: u8,
}

impl UnsealProgress {
    /// Whether enough components are in to call [`Unsealer::finish`].
    pub fn is_complete(&self) -> bool {
        self.entered >= self.required
    }
}

impl fmt::Display for UnsealProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "key component #{} (check value {}) accepted: {} of {} entered",
            self.index, self.kcv, self.entered, self.required
        )?;
        if self.is_complete() {
            f.write_str(", ready to unseal")?;
        }
        Ok(())
    }
}

impl Unsealer {
    /// Starts unsealing a deployment whose master key is split into components.
    ///
    /// # Errors
    /// [`CustodyError::WrongScheme`] if the record says the key is kept another way.
    pub fn new(record: &CustodyRecord) -> Result<Self, CustodyError> {
        let CustodyScheme::Components {
            threshold,
            component_kcvs,
            ..
        } = record.scheme()
        else {
            return Err(CustodyError::WrongScheme {
                expected: "components",
                found: record.scheme().name(),
            });
        };
        Ok(Self {
            key_id: record.master_key_id(),
            master_kcv: record.master_kcv(),
            threshold: *threshold,
            component_kcvs: component_kcvs.clone(),
            entered: Vec::with_capacity(usize::from(*threshold)),
        })
    }

    /// Checks and keeps one custodian's component, given as text.
    ///
    /// # Errors
    /// [`CustodyError::AlreadyComplete`], [`CustodyError::MalformedComponent`] (typo, bad
    /// format), [`CustodyError::WrongDeployment`], [`CustodyError::ThresholdMismatch`],
    /// [`CustodyError::UnknownComponentIndex`], [`CustodyError::DuplicateComponent`],
    /// [`CustodyError::ComponentKcvMismatch`]. Nothing changes on error.
    pub fn add_component(&mut self, text: &str) -> Result<UnsealProgress, CustodyError> {
        if self.entered() >= self.threshold {
            return Err(CustodyError::AlreadyComplete {
                required: self.threshold,
            });
        }
        let component = KeyComponent::parse(text)?;
        if component.key_id() != self.key_id {
            return Err(CustodyError::WrongDeployment {
                expected: self.key_id,
                found: component.key_id(),
            });
        }
        if component.threshold() != self.threshold {
            return Err(CustodyError::ThresholdMismatch {
                expected: self.threshold,
                found: component.threshold(),
            });
        }
        let index = component.index();
        let slot = usize::from(index).checked_sub(1);
        let Some(expected) = slot.and_then(|i| self.component_kcvs.get(i)) else {
            return Err(CustodyError::UnknownComponentIndex {
                index,
                count: u8::try_from(self.component_kcvs.len()).unwrap_or(u8::MAX),
            });
        };
        if self.entered.iter().any(|c| c.index() == index) {
            return Err(CustodyError::DuplicateComponent { index });
        }
        let kcv = component.kcv();
        if !kcv.matches(expected) {
            return Err(CustodyError::ComponentKcvMismatch {
                index,
                expected: *expected,
                found: kcv,
            });
        }
        self.entered.push(component);
        Ok(UnsealProgress {
            index,
            kcv,
            entered: self.entered(),
            required: self.threshold,
        })
    }

    /// Components accepted so far.
    pub fn entered(&self) -> u8 {
        u8::try_from(self.entered.len()).unwrap_or(u8::MAX)
    }

    /// Components needed (M).
    pub fn required(&self) -> u8 {
        self.threshold
    }

    /// Rebuilds the master key and checks it against the deployment's check value.
    ///
    /// # Errors
    /// [`CustodyError::NotEnoughComponents`] with fewer than M components;
    /// [`CustodyError::MasterKcvMismatch`] if the rebuilt key is not the deployment's
    /// (no key is returned). Either way the entered components are wiped; start again.
    pub fn finish(self) -> Result<MasterKey, CustodyError> {
        recombine(&self.entered, self.threshold, self.key_id, self.master_kcv)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use zeroize::Zeroizing;

    use super::*;
    use crate::component::tests::with_share_byte_flipped;
    use crate::split::Split;

    fn texts(split: &Split) -> Vec<Zeroizing<String>> {
        split.components.iter().map(KeyComponent::to_text).collect()
    }

    #[test]
    fn reports_progress_and_rebuilds_the_key() {
        let key = MasterKey::generate().unwrap();
        let split = key.split(3, 5).unwrap();
        let t = texts(&split);
        let mut unsealer = Unsealer::new(&split.record).unwrap();
        assert_eq!((unsealer.entered(), unsealer.required()), (0, 3));
        let p = unsealer.add_component(&t[4]).unwrap();
        assert_eq!(
            (p.index, p.kcv, p.entered, p.required),
            (5, split.components[4].kcv(), 1, 3)
        );
        assert!(!p.is_complete());
        assert_eq!(
            p.to_string(),
            format!(
                "key component #5 (check value {}) accepted: 1 of 3 entered",
                p.kcv
            )
        );
        unsealer.add_component(&t[0]).unwrap();
        let p = unsealer.add_component(&t[2]).unwrap();
        assert!(p.is_complete());
        assert!(p.to_string().ends_with("3 of 3 entered, ready to unseal"));
        assert!(matches!(
            unsealer.add_component(&t[1]),
            Err(CustodyError::AlreadyComplete { required: 3 })
        ));
        let rebuilt = unsealer.finish().unwrap();
        assert_eq!(rebuilt.bytes(), key.bytes());
        assert_eq!(rebuilt.id(), key.id());
    }

    #[test]
    fn fewer_than_threshold_is_a_clear_error() {
        let split = MasterKey::generate().unwrap().split(3, 5).unwrap();
        let mut unsealer = Unsealer::new(&split.record).unwrap();
        unsealer
            .add_component(&split.components[1].to_text())
            .unwrap();
        let err = unsealer.finish().unwrap_err();
        assert!(matches!(
            err,
            CustodyError::NotEnoughComponents {
                entered: 1,
                required: 3
            }
        ));
        assert!(err.to_string().contains("enter 2 more"), "{err}");
        let empty = Unsealer::new(&split.record).unwrap();
        assert!(matches!(
            empty.finish(),
            Err(CustodyError::NotEnoughComponents { entered: 0, .. })
        ));
    }

    #[test]
    fn refused_components_change_nothing() {
        let key = MasterKey::generate().unwrap();
        let split = key.split(2, 3).unwrap();
        let t = texts(&split);
        let mut unsealer = Unsealer::new(&split.record).unwrap();
        unsealer.add_component(&t[0]).unwrap();

        // Duplicate.
        assert!(matches!(
            unsealer.add_component(&t[0]),
            Err(CustodyError::DuplicateComponent { index: 1 })
        ));
        // Typos: a digit left out, a digit mistyped.
        assert!(matches!(
            unsealer.add_component(&t[1][..t[1].len() - 1]),
            Err(CustodyError::MalformedComponent(
                crate::ComponentFormatError::WrongLength { found: 91, .. }
            ))
        ));
        let mut one_digit = t[1].to_string();
        let last = one_digit.pop().unwrap();
        one_digit.push(if last == '0' { '1' } else { '0' });
        assert!(matches!(
            unsealer.add_component(&one_digit),
            Err(CustodyError::MalformedComponent(
                crate::ComponentFormatError::ChecksumMismatch
            ))
        ));
        // Malformed text.
        assert!(matches!(
            unsealer.add_component("hello"),
            Err(CustodyError::MalformedComponent(
                crate::ComponentFormatError::MissingPrefix
            ))
        ));
        // Another deployment.
        let other = MasterKey::generate().unwrap().split(2, 3).unwrap();
        match unsealer.add_component(&other.components[1].to_text()) {
            Err(CustodyError::WrongDeployment { expected, found }) => {
                assert_eq!((expected, found), (key.id(), other.record.master_key_id()));
            }
            other => panic!("expected WrongDeployment, got {other:?}"),
        }
        // Same key, another split with another threshold.
        let resplit = key.split(3, 3).unwrap();
        assert!(matches!(
            unsealer.add_component(&resplit.components[1].to_text()),
            Err(CustodyError::ThresholdMismatch {
                expected: 2,
                found: 3
            })
        ));
        // Same key and threshold, index beyond N.
        let wider = key.split(2, 4).unwrap();
        assert!(matches!(
            unsealer.add_component(&wider.components[3].to_text()),
            Err(CustodyError::UnknownComponentIndex { index: 4, count: 3 })
        ));
        // Corrupted share with a valid checksum (or a component of an older split).
        let corrupted = with_share_byte_flipped(&split.components[1]);
        match unsealer.add_component(&corrupted.to_text()) {
            Err(CustodyError::ComponentKcvMismatch {
                index,
                expected,
                found,
            }) => {
                assert_eq!(index, 2);
                assert_eq!(expected, split.components[1].kcv());
                assert_eq!(found, corrupted.kcv());
            }
            other => panic!("expected ComponentKcvMismatch, got {other:?}"),
        }
        assert!(matches!(
            unsealer.add_component(&wider.components[1].to_text()),
            Err(CustodyError::ComponentKcvMismatch { index: 2, .. })
        ));

        // After all that, still 1 of 2, and the right component completes it.
        assert_eq!(unsealer.entered(), 1);
        assert!(unsealer.add_component(&t[2]).unwrap().is_complete());
        assert_eq!(unsealer.finish().unwrap().bytes(), key.bytes());
    }

    #[test]
    fn wrong_master_kcv_in_the_record_gives_no_key() {
        let key = MasterKey::generate().unwrap();
        let split = key.split(2, 2).unwrap();
        let mut value = serde_json::to_value(&split.record).unwrap();
        let wrong = if key.kcv().to_string() == "000000" {
            "000001"
        } else {
            "000000"
        };
        value["master_kcv"] = wrong.into();
        let record: CustodyRecord = serde_json::from_value(value).unwrap();
        let mut unsealer = Unsealer::new(&record).unwrap();
        for text in texts(&split) {
            unsealer.add_component(&text).unwrap();
        }
        match unsealer.finish() {
            Err(CustodyError::MasterKcvMismatch { expected, found }) => {
                assert_eq!(expected.to_string(), wrong);
                assert_eq!(found, key.kcv());
            }
            other => panic!("expected MasterKcvMismatch, got {other:?}"),
        }
    }

    #[test]
    fn dev_key_file_record_cannot_be_unsealed_with_components() {
        let key = MasterKey::generate().unwrap();
        assert!(matches!(
            Unsealer::new(&CustodyRecord::for_dev_key_file(&key)),
            Err(CustodyError::WrongScheme {
                expected: "components",
                found: "dev-key-file"
            })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Any M of the N components, in any order, through the text form, give the key back.
        #[test]
        fn any_m_of_n_subset_unseals(
            (n, m, chosen) in (2u8..=12)
                .prop_flat_map(|n| (Just(n), 2..=n))
                .prop_flat_map(|(n, m)| {
                    let all: Vec<usize> = (0..usize::from(n)).collect();
                    (Just(n), Just(m), proptest::sample::subsequence(all, usize::from(m)).prop_shuffle())
                })
        ) {
            let key = MasterKey::generate().unwrap();
            let split = key.split(m, n).unwrap();
            let mut unsealer = Unsealer::new(&split.record).unwrap();
            for (k, &i) in chosen.iter().enumerate() {
                let p = unsealer.add_component(&split.components[i].to_text()).unwrap();
                prop_assert_eq!(usize::from(p.entered), k + 1);
            }
            let rebuilt = unsealer.finish().unwrap();
            prop_assert_eq!(rebuilt.bytes(), key.bytes());
        }
    }
}
