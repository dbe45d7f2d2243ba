//! Delivery counters per route, rendered into `/metrics`. Counters live as long as the
//! process (Prometheus handles resets); the lag is computed at scrape time from the route's
//! position and the durable end of the log.

use std::collections::BTreeMap;
use std::fmt::Write;

use parking_lot::Mutex;

#[derive(Debug, Default, Clone)]
pub struct RouteStats {
    pub delivered: u64,
    pub retried: u64,
    pub dead_lettered: u64,
    /// Changes removed by retention before the route passed them.
    pub dropped: u64,
    /// The first change the route has not passed yet.
    pub next: u64,
}

/// A per-route series: name, Prometheus type, help text, and its value.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&RouteStats) -> u64,
);

#[derive(Default)]
pub struct Stats {
    /// Held only to update or copy a few numbers; never across an `.await`.
    routes: Mutex<BTreeMap<String, RouteStats>>,
}

impl Stats {
    pub fn update(&self, route: &str, f: impl FnOnce(&mut RouteStats)) {
        let mut routes = self.routes.lock();
        f(routes.entry(route.to_string()).or_default());
    }

    /// Keeps only the routes in `live` (a deleted route's series disappear).
    pub fn retain(&self, live: &[String]) {
        self.routes.lock().retain(|id, _| live.contains(id));
    }

    pub fn render(&self, out: &mut String, durable: u64) {
        let routes = self.routes.lock().clone();
        let series: [Series; 4] = [
            (
                "twingraph_events_delivered_total",
                "counter",
                "Events an endpoint acknowledged, by route.",
                |s| s.delivered,
            ),
            (
                "twingraph_events_retried_total",
                "counter",
                "Failed delivery attempts that were retried, by route.",
                |s| s.retried,
            ),
            (
                "twingraph_events_dead_lettered_total",
                "counter",
                "Events given up after the time-to-live and dead-lettered, by route.",
                |s| s.dead_lettered,
            ),
            (
                "twingraph_events_dropped_total",
                "counter",
                "Changes removed by log retention before the route passed them, by route.",
                |s| s.dropped,
            ),
        ];
        // Writing to a String cannot fail; the results are ignored for that reason.
        for (name, kind, help, value) in series {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (route, s) in &routes {
                let _ = writeln!(out, "{name}{{route=\"{}\"}} {}", escape(route), value(s));
            }
        }
        let _ = writeln!(
            out,
            "# HELP twingraph_events_lag Durable changes the route has not passed yet.\n\
             # TYPE twingraph_events_lag gauge"
        );
        for (route, s) in &routes {
            let lag = (durable + 1).saturating_sub(s.next.max(1));
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
        stats.update("r\"1", |s| {
            s.delivered = 3;
            s.next = 8;
        });
        stats.update("r2", |s| s.next = 11);
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
        stats.retain(&["r2".to_string()]);
        let mut out = String::new();
        stats.render(&mut out, 10);
        assert!(!out.contains("r\\\"1") && out.contains("r2"), "{out}");
    }
}
