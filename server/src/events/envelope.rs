//! The CloudEvents 1.0 envelope ADT wraps each change in (adt-api.md §6.1–6.4), and what a
//! route filter sees of it.
//!
//! `id`: telemetry keeps the caller's `Message-Id`, as ADT does; every other event's id is
//! its change-log sequence number, so a redelivered event has the same id and receivers can
//! de-duplicate.

use bytes::Bytes;
use serde_json::{Map, Value};
use twingraph_engine::{Change, ChangeKind};

/// A change as an event, ready to send or filter.
#[derive(Debug, Clone)]
pub struct Event {
    pub seq: u64,
    pub twin_id: String,
    /// Commit time of the change (RFC 3339); the time-to-live counts from it.
    pub time: String,
    /// The structured-mode CloudEvent (attributes and `data`).
    pub cloud: Value,
    /// `cloud` as JSON text, encoded once however many routes and streams send it.
    pub json: Bytes,
}

impl Event {
    /// `source` is the instance host (ADT: `<name>.api.<region>.digitaltwins.azure.net`).
    pub fn new(change: &Change, source: &str) -> Event {
        let telemetry = change.kind == ChangeKind::Telemetry;
        let mut e = Map::new();
        e.insert("specversion".into(), "1.0".into());
        let id = match (&change.message_id, telemetry) {
            (Some(m), true) => m.clone(),
            _ => change.seq.to_string(),
        };
        e.insert("id".into(), id.into());
        e.insert("type".into(), change.kind.event_type().into());
        let source = if telemetry {
            format!("{source}/digitaltwins/{}", change.twin_id)
        } else {
            source.to_string()
        };
        e.insert("source".into(), source.into());
        e.insert("data".into(), change.data.clone());
        if let Some(schema) = &change.data_schema {
            e.insert("dataschema".into(), schema.clone().into());
        }
        // Twin telemetry has no subject; component telemetry names the component.
        if !change.subject.is_empty() {
            e.insert("subject".into(), change.subject.clone().into());
        }
        // ADT sends no `time` on telemetry; the device's own time is an extension attribute.
        if telemetry {
            if let Some(t) = &change.source_time {
                e.insert("telemetrysourcetime".into(), t.clone().into());
            }
        } else {
            e.insert("time".into(), change.time.clone().into());
        }
        e.insert("datacontenttype".into(), "application/json".into());
        if let Some(tp) = &change.traceparent {
            e.insert("traceparent".into(), tp.clone().into());
        }
        let cloud = Value::Object(e);
        Event {
            seq: change.seq,
            twin_id: change.twin_id.clone(),
            time: change.time.clone(),
            json: Bytes::from(cloud.to_string()),
            cloud,
        }
    }

    /// A CloudEvents attribute as text (route filters compare these).
    pub fn attribute(&self, name: &str) -> Option<String> {
        match self.cloud.get(name)? {
            Value::String(s) => Some(s.clone()),
            _ => None,
        }
    }

    pub fn data(&self) -> &Value {
        self.cloud.get("data").unwrap_or(&Value::Null)
    }

    pub fn event_type(&self) -> &str {
        self.cloud
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// Every attribute except `data`, for the `ce-*` headers of binary mode.
    pub fn attributes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.cloud.as_object().into_iter().flat_map(|o| {
            o.iter()
                .filter(|(k, _)| k.as_str() != "data")
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
        })
    }

    pub fn matches(&self, filter: &super::filter::Filter) -> bool {
        filter.matches(&|name| self.attribute(name), self.data())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(kind: ChangeKind, subject: &str, data: Value) -> Change {
        let mut c: Change = serde_json::from_value(json!({
            "seq": 17, "kind": kind, "twinId": "room 1", "subject": subject,
            "time": "2024-01-02T03:04:05.1234567Z", "data": data,
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        }))
        .unwrap();
        if kind == ChangeKind::Telemetry {
            c.message_id = Some("m-1".into());
            c.data_schema = Some("dtmi:a:Room;1".into());
            c.source_time = Some("2024-01-02T03:04:00Z".into());
        }
        c
    }

    #[test]
    fn lifecycle_envelope() {
        let e = Event::new(
            &change(ChangeKind::TwinCreate, "room 1", json!({"$dtId": "room 1"})),
            "localhost:8080",
        );
        assert_eq!(
            e.cloud,
            json!({"specversion": "1.0", "id": "17", "type": "Microsoft.DigitalTwins.Twin.Create",
                   "source": "localhost:8080", "data": {"$dtId": "room 1"}, "subject": "room 1",
                   "time": "2024-01-02T03:04:05.1234567Z", "datacontenttype": "application/json",
                   "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
        );
    }

    #[test]
    fn telemetry_envelope() {
        let e = Event::new(
            &change(ChangeKind::Telemetry, "thermostat", json!({"t": 1})),
            "h",
        );
        assert_eq!(e.attribute("id").as_deref(), Some("m-1"));
        assert_eq!(
            e.attribute("source").as_deref(),
            Some("h/digitaltwins/room 1")
        );
        assert_eq!(e.attribute("subject").as_deref(), Some("thermostat"));
        assert_eq!(e.attribute("dataschema").as_deref(), Some("dtmi:a:Room;1"));
        assert_eq!(e.attribute("time"), None);
        assert_eq!(
            e.attribute("telemetrysourcetime").as_deref(),
            Some("2024-01-02T03:04:00Z")
        );
        let twin_level = Event::new(&change(ChangeKind::Telemetry, "", json!({})), "h");
        assert_eq!(twin_level.attribute("subject"), None);
        let f = super::super::filter::parse(
            "type = 'microsoft.iot.telemetry' AND $body.t = 1 AND subject = 'thermostat'",
        )
        .unwrap();
        assert!(e.matches(&f));
        assert!(!twin_level.matches(&f));
    }
}
