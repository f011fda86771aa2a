//! A token bucket: at most `rate` events per second on average, bursts up to one second's
//! worth (at least one). Guards the anonymous time-stamping route, where each request costs a
//! signature and an audit write.

use std::sync::Mutex;
use std::time::Instant;

/// A shared token bucket.
pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// A full bucket refilled at `rate` tokens per second (a rate that is not a positive
    /// number counts as one per second).
    pub(crate) fn new(rate: f64, now: Instant) -> Self {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            1.0
        };
        let burst = rate.max(1.0);
        Self {
            rate,
            burst,
            state: Mutex::new((burst, now)),
        }
    }

    /// The configured rate, per second.
    pub(crate) fn rate(&self) -> f64 {
        self.rate
    }

    /// Takes one token if there is one.
    pub(crate) fn try_take(&self, now: Instant) -> bool {
        // A panic while holding the lock cannot leave the pair inconsistent.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, last) = &mut *state;
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn bursts_up_to_one_second_then_refills_at_the_rate() {
        let t0 = Instant::now();
        let bucket = TokenBucket::new(4.0, t0);
        assert_eq!((0..6).filter(|_| bucket.try_take(t0)).count(), 4);
        assert!(!bucket.try_take(t0 + Duration::from_millis(100)));
        assert!(bucket.try_take(t0 + Duration::from_millis(260)));
        // A long pause refills only up to the burst.
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..10).filter(|_| bucket.try_take(later)).count(), 4);
    }

    #[test]
    fn a_slow_rate_still_allows_one() {
        let t0 = Instant::now();
        let bucket = TokenBucket::new(0.001, t0);
        assert!(bucket.try_take(t0));
        assert!(!bucket.try_take(t0 + Duration::from_secs(10)));
        assert!(TokenBucket::new(f64::NAN, t0).try_take(t0));
    }
}
