//! The W3C trace context of the request being served, carried from the request pipeline to
//! the blocking engine call so the change records it produces (and their events) keep it.
//! A request without a `traceparent` header gets a new one, as ADT's events always have one.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};

tokio::task_local! {
    static TRACEPARENT: String;
}

/// Runs `f` (the request's handler) with the request's trace context.
pub async fn scope<F: Future>(header: Option<&str>, f: F) -> F::Output {
    let traceparent = header
        .filter(|h| valid(h))
        .map_or_else(generate, str::to_string);
    TRACEPARENT.scope(traceparent, f).await
}

/// The trace context of the current request, if called inside `scope`.
pub fn current() -> Option<String> {
    TRACEPARENT.try_with(Clone::clone).ok()
}

/// `version-traceid-parentid-flags`, lower-case hex, as W3C Trace Context defines it.
fn valid(header: &str) -> bool {
    let parts: Vec<&str> = header.split('-').collect();
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    parts.len() >= 4
        && hex(parts[0], 2)
        && parts[0] != "ff"
        && hex(parts[1], 32)
        && parts[1].bytes().any(|b| b != b'0')
        && hex(parts[2], 16)
        && parts[2].bytes().any(|b| b != b'0')
        && hex(parts[3], 2)
        && (parts[0] != "00" || parts.len() == 4)
}

fn generate() -> String {
    let random = || {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    };
    // Never all zeros: W3C treats an all-zero id as invalid.
    let (a, b, c) = (random() | 1, random(), random() | 1);
    format!("00-{a:016x}{b:016x}-{c:016x}-01")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_valid_contexts_and_replaces_others() {
        let given = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        assert!(valid(given));
        assert!(valid(&generate()));
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            assert!(!valid(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn scope_carries_the_context() {
        let given = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let seen = scope(Some(given), async { current() }).await;
        assert_eq!(seen.as_deref(), Some(given));
        let generated = scope(Some("junk"), async { current() }).await.unwrap();
        assert!(valid(&generated) && generated != given);
        assert_eq!(current(), None);
    }
}
