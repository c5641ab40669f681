//! Holding back repeated log lines, so a flood of refusals cannot fill the disk with them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// At most one line per kind per interval; counts those held back. Time is passed in.
#[derive(Debug)]
pub struct LogThrottle {
    every: Duration,
    kinds: HashMap<&'static str, (Instant, u64)>,
}

impl LogThrottle {
    /// A throttle letting one line of each kind through per `every`.
    pub fn new(every: Duration) -> Self {
        LogThrottle {
            every,
            kinds: HashMap::new(),
        }
    }

    /// Whether to log a `kind` line now; if so, how many were held back since the last one.
    pub fn admit(&mut self, kind: &'static str, now: Instant) -> Option<u64> {
        match self.kinds.get_mut(kind) {
            Some((last, held)) if now.duration_since(*last) < self.every => {
                *held += 1;
                None
            }
            Some((last, held)) => {
                *last = now;
                Some(std::mem::take(held))
            }
            None => {
                self.kinds.insert(kind, (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_and_a_count_of_the_rest() {
        let mut throttle = LogThrottle::new(Duration::from_secs(10));
        let start = Instant::now();
        let at = |seconds| start + Duration::from_secs(seconds);
        assert_eq!(throttle.admit("handshake_timeout", start), Some(0));
        assert_eq!(throttle.admit("handshake_timeout", at(1)), None);
        assert_eq!(throttle.admit("handshake_timeout", at(2)), None);
        assert_eq!(
            throttle.admit("not_http2", at(2)),
            Some(0),
            "kinds are separate"
        );
        assert_eq!(throttle.admit("handshake_timeout", at(11)), Some(2));
    }
}
