//! Exponential backoff with jitter: between attempts to deliver to a failing endpoint, and
//! before restarting a route's delivery loop that stopped on an error.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

pub struct Backoff {
    initial: Duration,
    max: Duration,
    nominal: Duration,
    /// xorshift64 state: plenty for spreading retries.
    state: u64,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Backoff {
            initial,
            max: max.max(initial),
            nominal: initial,
            state: seed | 1,
        }
    }

    /// The next wait, then the nominal delay doubles (up to the maximum). "Equal jitter":
    /// the wait is between half and all of the nominal delay, so routes failing together do
    /// not retry in lockstep.
    pub fn next_wait(&mut self) -> Duration {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let fraction = (self.state % 1000) as f64 / 1000.0;
        let wait = self.nominal.mul_f64(0.5 + fraction / 2.0);
        self.nominal = (self.nominal * 2).min(self.max);
        wait
    }

    /// Back to the initial delay (after a success).
    pub fn reset(&mut self) {
        self.nominal = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_maximum_with_jitter() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(1000));
        let nominal = [100, 200, 400, 800, 1000, 1000, 1000];
        for n in nominal {
            let wait = b.next_wait();
            assert!(
                wait >= ms(n / 2) && wait <= ms(n),
                "{wait:?} for nominal {n} ms"
            );
        }
        b.reset();
        assert!(b.next_wait() <= ms(100));
        let mut spread = Backoff::new(ms(1000), ms(1000));
        let samples: Vec<Duration> = (0..200).map(|_| spread.next_wait()).collect();
        assert!(samples.iter().any(|s| *s != samples[0]), "no spread");
    }
}
