//! Failpoints: named places where a test can make the process wait, to kill it exactly
//! there or to run a background task more often. Compiled in only with the `failpoints`
//! feature, which `scripts/test` builds the tests with and `scripts/run` does not, so a
//! shipped binary has none. `TWINGRAPH_FAILPOINTS=name=millis[,name=millis…]` arms them.
//!
//! - `bulk-load-mid-ingestion`: a bulk load waits this long once the first column family's
//!   files are ingested (the store half loaded, its marker set), after printing
//!   `bulk load: paused mid-ingestion` on stderr.
//! - `events-retention-interval`: the server's event log retention runs this often.

use std::time::Duration;

/// The duration `name` is armed with, if it is.
#[cfg(feature = "failpoints")]
pub fn armed(name: &str) -> Option<Duration> {
    let spec = std::env::var("TWINGRAPH_FAILPOINTS").ok()?;
    spec.split(',').find_map(|entry| {
        let (key, millis) = entry.split_once('=')?;
        (key.trim() == name)
            .then(|| millis.trim().parse().ok().map(Duration::from_millis))
            .flatten()
    })
}

/// Without the `failpoints` feature nothing is ever armed.
#[cfg(not(feature = "failpoints"))]
pub fn armed(_name: &str) -> Option<Duration> {
    None
}

/// Waits at failpoint `name` if it is armed, saying so on stderr first.
pub fn pause(name: &str, message: &str) {
    if let Some(wait) = armed(name) {
        eprintln!("{message}");
        std::thread::sleep(wait);
    }
}

#[cfg(all(test, feature = "failpoints"))]
mod tests {
    use super::*;

    #[test]
    fn names_arm_with_their_millis() {
        std::env::set_var("TWINGRAPH_FAILPOINTS", "a=5, b = 70,c=x");
        assert_eq!(armed("a"), Some(Duration::from_millis(5)));
        assert_eq!(armed("b"), Some(Duration::from_millis(70)));
        assert_eq!(armed("c"), None);
        assert_eq!(armed("d"), None);
    }
}
