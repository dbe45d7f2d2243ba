//! The change-data-capture log: one record per change, in commit order, with a gap-free
//! sequence number. Each record is written in the same WriteBatch as the change itself, so
//! the log *is* the commit: a change is in the log if and only if it happened.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::json_text;

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
#[derive(Debug, Clone, PartialEq, Deserialize)]
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

    /// The stored record (`print_record`).
    pub(crate) fn print(&self, out: &mut Vec<u8>) {
        let head = Head {
            seq: self.seq,
            kind: self.kind,
            twin_id: &self.twin_id,
            subject: &[&self.subject],
            time: &self.time,
        };
        let tail = [
            ("messageId", self.message_id.as_deref()),
            ("dataSchema", self.data_schema.as_deref()),
            ("sourceTime", self.source_time.as_deref()),
            ("traceparent", self.traceparent.as_deref()),
        ];
        print_record(out, &head, &tail, |out| {
            // Printing a `Value` into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, &self.data);
        });
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Change> {
        serde_json::from_slice(bytes).map_err(|e| Error::Corruption(format!("change record: {e}")))
    }
}

/// What a change record says before its data.
pub(crate) struct Head<'a> {
    pub seq: u64,
    pub kind: ChangeKind,
    pub twin_id: &'a str,
    /// Parts of the subject, printed as one string (`twin`, `/relationships/`, `rel`).
    pub subject: &'a [&'a str],
    pub time: &'a str,
}

/// Prints a change record: `{"seq","kind","twinId","subject","time","data"` and the
/// optional `tail` members that are present. The only printer of change records: the
/// per-operation path passes its data as a `Value`, the bulk load splices in the stored
/// bytes of the document it created. `Change` reads them back with serde.
pub(crate) fn print_record(
    out: &mut Vec<u8>,
    head: &Head<'_>,
    tail: &[(&str, Option<&str>)],
    data: impl FnOnce(&mut Vec<u8>),
) {
    out.extend_from_slice(b"{\"seq\":");
    json_text::unsigned(out, head.seq);
    out.extend_from_slice(b",\"kind\":\"");
    out.extend_from_slice(head.kind.event_type().as_bytes());
    out.extend_from_slice(b"\",\"twinId\":");
    json_text::string(out, head.twin_id);
    out.extend_from_slice(b",\"subject\":");
    json_text::string_of(out, head.subject);
    out.extend_from_slice(b",\"time\":");
    json_text::string(out, head.time);
    out.extend_from_slice(b",\"data\":");
    data(out);
    for (name, value) in tail {
        if let Some(value) = value {
            out.push(b',');
            json_text::string(out, name);
            out.push(b':');
            json_text::string(out, value);
        }
    }
    out.push(b'}');
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
        let mut bytes = Vec::new();
        c.print(&mut bytes);
        let back = Change::decode(&bytes).unwrap();
        assert_eq!(back, c);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("\"microsoft.iot.telemetry\""), "{text}");
        assert_eq!(
            ChangeKind::TwinCreate.event_type(),
            "Microsoft.DigitalTwins.Twin.Create"
        );
    }

    /// The bulk load's records (data spliced in as bytes, subject in parts) read back as the
    /// per-operation path's do.
    #[test]
    fn spliced_records_read_back() {
        let doc = br#"{"$dtId":"a\"b","x":1}"#;
        let mut out = Vec::new();
        let head = Head {
            seq: 1234567,
            kind: ChangeKind::RelationshipCreate,
            twin_id: "a\"b\u{e9}",
            subject: &["a\"b\u{e9}", "/relationships/", "r\\1"],
            time: "T",
        };
        print_record(&mut out, &head, &[], |out| out.extend_from_slice(doc));
        let mut expected = Change::new(
            ChangeKind::RelationshipCreate,
            "a\"b\u{e9}",
            relationship_subject("a\"b\u{e9}", "r\\1"),
            serde_json::from_slice(doc).unwrap(),
        );
        expected.seq = 1234567;
        expected.time = "T".into();
        assert_eq!(Change::decode(&out).unwrap(), expected);
        let mut printed = Vec::new();
        expected.print(&mut printed);
        assert_eq!(printed, out);
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
