//! The change-data-capture log: one record per change, in commit order, with a gap-free
//! sequence number. Each record is written in the same WriteBatch as the change itself, so
//! the log *is* the commit: a change is in the log if and only if it happened.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// What happened; the strings are the CloudEvents `type` ADT emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    #[serde(rename = "Microsoft.DigitalTwins.Twin.Create")]
    TwinCreate,
    #[serde(rename = "Microsoft.DigitalTwins.Twin.Update")]
    TwinUpdate,
    #[serde(rename = "Microsoft.DigitalTwins.Twin.Delete")]
    TwinDelete,
    #[serde(rename = "Microsoft.DigitalTwins.Relationship.Create")]
    RelationshipCreate,
    #[serde(rename = "Microsoft.DigitalTwins.Relationship.Update")]
    RelationshipUpdate,
    #[serde(rename = "Microsoft.DigitalTwins.Relationship.Delete")]
    RelationshipDelete,
    #[serde(rename = "microsoft.iot.telemetry")]
    Telemetry,
}

impl ChangeKind {
    pub fn event_type(self) -> &'static str {
        match self {
            ChangeKind::TwinCreate => "Microsoft.DigitalTwins.Twin.Create",
            ChangeKind::TwinUpdate => "Microsoft.DigitalTwins.Twin.Update",
            ChangeKind::TwinDelete => "Microsoft.DigitalTwins.Twin.Delete",
            ChangeKind::RelationshipCreate => "Microsoft.DigitalTwins.Relationship.Create",
            ChangeKind::RelationshipUpdate => "Microsoft.DigitalTwins.Relationship.Update",
            ChangeKind::RelationshipDelete => "Microsoft.DigitalTwins.Relationship.Delete",
            ChangeKind::Telemetry => "microsoft.iot.telemetry",
        }
    }
}

/// One entry of the log. `data` is the event payload exactly as ADT sends it: the twin or
/// relationship for create/delete, `{modelId, patch}` for updates, the body for telemetry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub seq: u64,
    pub kind: ChangeKind,
    /// The twin the change is about.
    #[serde(rename = "twinId")]
    pub twin_id: String,
    /// `twinId`, `twinId/relationships/relId`, or the component path for telemetry.
    pub subject: String,
    /// Commit time, RFC 3339 with 7 fractional digits.
    pub time: String,
    pub data: Value,
    /// Telemetry: the caller's `Message-Id`, which becomes the CloudEvent id.
    #[serde(rename = "messageId", default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Telemetry: the model of the twin or component that sent it.
    #[serde(
        rename = "dataSchema",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub data_schema: Option<String>,
    /// Telemetry: the caller's `Telemetry-Source-Time`.
    #[serde(
        rename = "sourceTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_time: Option<String>,
    /// W3C trace context of the request that caused the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

thread_local! {
    /// The W3C trace context of the request this thread is serving, if any.
    static TRACEPARENT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f` with `traceparent` attached to every change it records. A thread-local rather
/// than a parameter of every write operation: the trace context is request metadata that
/// only the change log keeps.
pub fn with_traceparent<T>(traceparent: Option<String>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<String>);
    impl Drop for Restore {
        // Restores even when `f` panics: blocking-pool threads are reused.
        fn drop(&mut self) {
            let previous = self.0.take();
            TRACEPARENT.with(|t| *t.borrow_mut() = previous);
        }
    }
    let _restore = Restore(TRACEPARENT.with(|t| t.replace(traceparent)));
    f()
}

impl Change {
    pub(crate) fn new(kind: ChangeKind, twin_id: &str, subject: String, data: Value) -> Change {
        Change {
            seq: 0,
            kind,
            twin_id: twin_id.to_string(),
            subject,
            time: String::new(),
            data,
            message_id: None,
            data_schema: None,
            source_time: None,
            traceparent: TRACEPARENT.with(|t| t.borrow().clone()),
        }
    }

    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Internal(format!("encoding a change: {e}")))
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Change> {
        serde_json::from_slice(bytes).map_err(|e| Error::Corruption(format!("change record: {e}")))
    }
}

pub(crate) fn relationship_subject(source: &str, id: &str) -> String {
    format!("{source}/relationships/{id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_and_type_names() {
        let mut c = Change::new(ChangeKind::Telemetry, "t1", "comp".into(), json!({"x": 1}));
        c.seq = 42;
        c.message_id = Some("m-1".into());
        let back = Change::decode(&c.encode().unwrap()).unwrap();
        assert_eq!(back, c);
        let text = String::from_utf8(c.encode().unwrap()).unwrap();
        assert!(text.contains("\"microsoft.iot.telemetry\""), "{text}");
        assert_eq!(
            ChangeKind::TwinCreate.event_type(),
            "Microsoft.DigitalTwins.Twin.Create"
        );
    }

    #[test]
    fn changes_carry_the_trace_context_of_their_request() {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_string();
        let inside = with_traceparent(Some(tp.clone()), || {
            Change::new(ChangeKind::TwinCreate, "t", "t".into(), json!({}))
        });
        assert_eq!(inside.traceparent, Some(tp));
        let after = Change::new(ChangeKind::TwinCreate, "t", "t".into(), json!({}));
        assert_eq!(after.traceparent, None);
    }
}
