//! Validity periods of certificates.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use x509_cert::time::{Time, Validity};

use crate::PkiError;

/// The longest validity Sigil issues: 100 years.
pub const MAX_VALIDITY_DAYS: u32 = 36_525;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// When a certificate is valid: a non-empty period that has not already ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidityPeriod {
    not_before: SystemTime,
    not_after: SystemTime,
}

impl ValidityPeriod {
    /// Valid from now for `days` days (1 to [`MAX_VALIDITY_DAYS`]).
    pub fn days_from_now(days: u32) -> Result<Self, PkiError> {
        Self::days_from(SystemTime::now(), days)
    }

    /// Valid from `start` for `days` days (1 to [`MAX_VALIDITY_DAYS`]).
    pub fn days_from(start: SystemTime, days: u32) -> Result<Self, PkiError> {
        if days == 0 {
            return Err(PkiError::InvalidValidity(
                "the validity is zero days: give at least 1 day".into(),
            ));
        }
        if days > MAX_VALIDITY_DAYS {
            return Err(PkiError::InvalidValidity(format!(
                "{days} days is more than the {MAX_VALIDITY_DAYS}-day maximum"
            )));
        }
        let not_after = start
            .checked_add(DAY * days)
            .ok_or_else(|| PkiError::InvalidValidity("the end date is out of range".into()))?;
        Self::new(start, not_after)
    }

    /// Valid from `not_before` to `not_after`.
    ///
    /// Refused: an end not after the start, an end already in the past, a
    /// period longer than [`MAX_VALIDITY_DAYS`], or dates before 1970 or after 9999.
    /// Times are truncated to whole seconds, the precision certificates carry.
    pub fn new(not_before: SystemTime, not_after: SystemTime) -> Result<Self, PkiError> {
        let (not_before, not_after) = (whole_seconds(not_before)?, whole_seconds(not_after)?);
        let span = not_after.duration_since(not_before).map_err(|_| {
            PkiError::InvalidValidity("the end of the validity is before its start".into())
        })?;
        if span < Duration::from_secs(1) {
            return Err(PkiError::InvalidValidity(
                "the validity period is empty".into(),
            ));
        }
        if span > DAY * MAX_VALIDITY_DAYS {
            return Err(PkiError::InvalidValidity(format!(
                "the validity is longer than the {MAX_VALIDITY_DAYS}-day maximum"
            )));
        }
        if not_after <= SystemTime::now() {
            return Err(PkiError::InvalidValidity(
                "the validity ends in the past".into(),
            ));
        }
        let period = Self {
            not_before,
            not_after,
        };
        period.to_x509()?;
        Ok(period)
    }

    /// The start of the period.
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// The end of the period.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    pub(crate) fn to_x509(self) -> Result<Validity, PkiError> {
        let time = |t: SystemTime| {
            Time::try_from(t).map_err(|_| {
                PkiError::InvalidValidity("dates must lie between 1970 and 9999".into())
            })
        };
        Ok(Validity::new(time(self.not_before)?, time(self.not_after)?))
    }
}

/// Truncates to whole seconds since 1970 (certificates cannot say more, nor earlier).
fn whole_seconds(time: SystemTime) -> Result<SystemTime, PkiError> {
    let since_epoch = time
        .duration_since(UNIX_EPOCH)
        .map_err(|_| PkiError::InvalidValidity("dates must lie between 1970 and 9999".into()))?;
    Ok(UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs()))
}

/// Formats a time for error messages (`2031-05-01T12:00:00Z`).
pub(crate) fn display_time(time: SystemTime) -> String {
    Time::try_from(time)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| format!("{time:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_zero_past_and_reversed_periods() {
        assert!(ValidityPeriod::days_from_now(1).is_ok());
        assert!(ValidityPeriod::days_from_now(0).is_err());
        assert!(ValidityPeriod::days_from_now(MAX_VALIDITY_DAYS + 1).is_err());
        let now = SystemTime::now();
        let past = now - DAY * 10;
        assert!(matches!(
            ValidityPeriod::days_from(past, 5),
            Err(PkiError::InvalidValidity(m)) if m.contains("past")
        ));
        assert!(ValidityPeriod::new(now + DAY, now).is_err());
        assert!(ValidityPeriod::new(now, now).is_err());
        // A period that started in the past but has not ended is fine.
        assert!(ValidityPeriod::days_from(past, 30).is_ok());
        // Whole seconds, as in a certificate.
        let period = ValidityPeriod::days_from_now(1).unwrap();
        assert_eq!(
            period
                .not_after()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .subsec_nanos(),
            0
        );
    }
}
