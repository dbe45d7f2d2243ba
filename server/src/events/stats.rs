//! Delivery counters per route, rendered into `/metrics`. Counters live as long as the
//! process (Prometheus handles resets); the lag is computed at scrape time from the route's
//! position and the durable end of the log.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// One route's counters; its delivery loop holds them, so counting takes no lock.
#[derive(Debug, Default)]
pub struct RouteStats {
    pub delivered: AtomicU64,
    pub retried: AtomicU64,
    pub dead_lettered: AtomicU64,
    /// Dead letters removed because the route held as many as it may keep.
    pub dead_letters_removed: AtomicU64,
    /// Changes removed by retention before the route passed them.
    pub dropped: AtomicU64,
    /// Times the delivery loop stopped on an error and was started again.
    pub restarts: AtomicU64,
    /// The first change the route has not passed yet.
    pub next: AtomicU64,
}

impl RouteStats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn set_next(&self, next: u64) {
        self.next.store(next, Ordering::Relaxed);
    }
}

/// A per-route series: name, Prometheus type, help text, and its counter.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&RouteStats) -> &AtomicU64,
);

#[derive(Default)]
pub struct Stats {
    /// Held only to find or list routes, never across an `.await`.
    routes: Mutex<BTreeMap<String, Arc<RouteStats>>>,
}

impl Stats {
    /// The counters of `route`, created at zero the first time.
    pub fn route(&self, route: &str) -> Arc<RouteStats> {
        self.routes
            .lock()
            .entry(route.to_string())
            .or_default()
            .clone()
    }

    /// Keeps only the routes in `live` (a deleted route's series disappear).
    pub fn retain(&self, live: &[String]) {
        self.routes.lock().retain(|id, _| live.contains(id));
    }

    pub fn render(&self, out: &mut String, durable: u64) {
        let routes: Vec<(String, Arc<RouteStats>)> = self
            .routes
            .lock()
            .iter()
            .map(|(id, s)| (id.clone(), s.clone()))
            .collect();
        let series: [Series; 6] = [
            (
                "twingraph_events_delivered_total",
                "counter",
                "Events an endpoint acknowledged, by route.",
                |s| &s.delivered,
            ),
            (
                "twingraph_events_retried_total",
                "counter",
                "Failed delivery attempts that were retried, by route.",
                |s| &s.retried,
            ),
            (
                "twingraph_events_dead_lettered_total",
                "counter",
                "Events given up after the time-to-live and dead-lettered, by route.",
                |s| &s.dead_lettered,
            ),
            (
                "twingraph_events_dead_letters_removed_total",
                "counter",
                "Oldest dead letters removed to stay within the per-route cap, by route.",
                |s| &s.dead_letters_removed,
            ),
            (
                "twingraph_events_dropped_total",
                "counter",
                "Changes removed by log retention before the route passed them, by route.",
                |s| &s.dropped,
            ),
            (
                "twingraph_events_route_restarts_total",
                "counter",
                "Times a route's delivery loop stopped on an error and was restarted, by route.",
                |s| &s.restarts,
            ),
        ];
        // Writing to a String cannot fail; the results are ignored for that reason.
        for (name, kind, help, counter) in series {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (route, s) in &routes {
                let value = counter(s).load(Ordering::Relaxed);
                let _ = writeln!(out, "{name}{{route=\"{}\"}} {value}", escape(route));
            }
        }
        let _ = writeln!(
            out,
            "# HELP twingraph_events_lag Durable changes the route has not passed yet.\n\
             # TYPE twingraph_events_lag gauge"
        );
        for (route, s) in &routes {
            let next = s.next.load(Ordering::Relaxed);
            let lag = (durable + 1).saturating_sub(next.max(1));
            let _ = writeln!(
                out,
                "twingraph_events_lag{{route=\"{}\"}} {lag}",
                escape(route)
            );
        }
    }
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_lag() {
        let stats = Stats::default();
        let r1 = stats.route("r\"1");
        RouteStats::add(&r1.delivered, 3);
        r1.set_next(8);
        stats.route("r2").set_next(11);
        RouteStats::add(&stats.route("r2").restarts, 2);
        let mut out = String::new();
        stats.render(&mut out, 10);
        assert!(
            out.contains("twingraph_events_delivered_total{route=\"r\\\"1\"} 3"),
            "{out}"
        );
        assert!(
            out.contains("twingraph_events_lag{route=\"r\\\"1\"} 3"),
            "{out}"
        );
        assert!(
            out.contains("twingraph_events_lag{route=\"r2\"} 0"),
            "{out}"
        );
        assert!(
            out.contains("twingraph_events_route_restarts_total{route=\"r2\"} 2"),
            "{out}"
        );
        stats.retain(&["r2".to_string()]);
        let mut out = String::new();
        stats.render(&mut out, 10);
        assert!(!out.contains("r\\\"1") && out.contains("r2"), "{out}");
    }
}
