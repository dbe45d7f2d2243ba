//! Request counters and latency histograms per (operation, status), rendered in the
//! Prometheus text format together with a few store gauges.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use parking_lot::Mutex;

/// Histogram bucket upper bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    /// Non-cumulative counts per bucket; rendering accumulates them.
    buckets: [u64; BUCKETS.len()],
}

#[derive(Default)]
pub struct Metrics {
    /// Held only to update or copy a few numbers; never across an `.await`.
    series: Mutex<BTreeMap<(&'static str, u16), Series>>,
}

/// Store figures read at scrape time.
pub struct Gauges {
    pub twins: u64,
    pub models: u64,
    pub next_sequence: u64,
    /// Requests admitted and not yet answered.
    pub in_flight: u64,
    /// Paged queries keeping their snapshot for their next pages.
    pub query_sessions: u64,
}

impl Metrics {
    pub fn observe(&self, operation: &'static str, status: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let mut series = self.series.lock();
        let s = series.entry((operation, status)).or_default();
        s.count += 1;
        s.sum += secs;
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            s.buckets[i] += 1;
        }
    }

    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; the results are ignored for that reason.
        let _ = writeln!(
            out,
            "# HELP twingraph_http_requests_total HTTP requests by ADT operation and status.\n\
             # TYPE twingraph_http_requests_total counter"
        );
        let series = self.series.lock();
        for ((op, status), s) in series.iter() {
            let _ = writeln!(
                out,
                "twingraph_http_requests_total{{operation=\"{op}\",status=\"{status}\"}} {}",
                s.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP twingraph_http_request_duration_seconds Request latency by ADT operation and status.\n\
             # TYPE twingraph_http_request_duration_seconds histogram"
        );
        for ((op, status), s) in series.iter() {
            let labels = format!("operation=\"{op}\",status=\"{status}\"");
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(s.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "twingraph_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "twingraph_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n\
                 twingraph_http_request_duration_seconds_sum{{{labels}}} {}\n\
                 twingraph_http_request_duration_seconds_count{{{labels}}} {}",
                s.count, s.sum, s.count
            );
        }
        drop(series);
        let _ = writeln!(
            out,
            "# HELP twingraph_twins Digital twins in the store.\n# TYPE twingraph_twins gauge\n\
             twingraph_twins {}\n\
             # HELP twingraph_models Models in the store.\n# TYPE twingraph_models gauge\n\
             twingraph_models {}\n\
             # HELP twingraph_cdc_next_sequence The sequence number the change log assigns next.\n\
             # TYPE twingraph_cdc_next_sequence gauge\n\
             twingraph_cdc_next_sequence {}\n\
             # HELP twingraph_http_in_flight Requests being handled (admitted, not yet answered).\n\
             # TYPE twingraph_http_in_flight gauge\n\
             twingraph_http_in_flight {}\n\
             # HELP twingraph_query_sessions Paged queries keeping their snapshot for their next pages.\n\
             # TYPE twingraph_query_sessions gauge\n\
             twingraph_query_sessions {}",
            gauges.twins,
            gauges.models,
            gauges.next_sequence,
            gauges.in_flight,
            gauges.query_sessions
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_cumulative_buckets() {
        let m = Metrics::default();
        m.observe("DigitalTwins_GetById", 200, Duration::from_millis(2));
        m.observe("DigitalTwins_GetById", 200, Duration::from_secs(20));
        let text = m.render(&Gauges {
            twins: 3,
            models: 2,
            next_sequence: 9,
            in_flight: 1,
            query_sessions: 0,
        });
        assert!(text.contains(
            "twingraph_http_requests_total{operation=\"DigitalTwins_GetById\",status=\"200\"} 2"
        ));
        assert!(text.contains("status=\"200\",le=\"0.0025\"} 1"));
        assert!(text.contains("status=\"200\",le=\"10\"} 1"));
        assert!(text.contains("status=\"200\",le=\"+Inf\"} 2"));
        assert!(text.contains("twingraph_twins 3"));
        assert!(text.contains("twingraph_cdc_next_sequence 9"));
    }
}
