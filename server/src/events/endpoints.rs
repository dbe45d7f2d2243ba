//! Endpoints: where event routes send events. ADT manages endpoints in its control plane;
//! here the operator lists them in a TOML file (`twingraph serve --endpoints FILE`):
//!
//! ```toml
//! [[endpoint]]
//! name = "hook"
//! kind = "webhook"
//! url = "http://127.0.0.1:9000/events"
//! mode = "structured"            # or "binary" (CloudEvents HTTP binding)
//! batch = 1                      # up to N events per request (structured batch mode)
//! timeout_seconds = 10
//! headers = { "X-Secret" = "s3cret" }
//!
//! [[endpoint]]
//! name = "broker"
//! kind = "mqtt"
//! broker = "127.0.0.1:1883"
//! topic = "twingraph/{type}/{twinId}"
//! ```
//! Secrets (header values, MQTT passwords) are never shown by `GET /endpoints`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::{json, Value};

/// The parsed endpoints file.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    list: Vec<Endpoint>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Endpoint {
    pub name: String,
    #[serde(flatten)]
    pub kind: EndpointKind,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum EndpointKind {
    Webhook(Webhook),
    Mqtt(Mqtt),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The whole CloudEvent as the JSON body (`application/cloudevents+json`).
    #[default]
    Structured,
    /// `data` as the body, the other attributes as `ce-*` headers.
    Binary,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// `http://` or `https://` URL events are POSTed to.
    pub url: String,
    #[serde(default)]
    pub mode: Mode,
    /// Most events per request. Above 1, events waiting together go as one JSON array
    /// (`application/cloudevents-batch+json`, as Event Grid delivers batches); 1 sends each
    /// on its own.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Sent with every request, e.g. a shared secret.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A request taking longer counts as failed and is retried.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// PEM file of the CAs trusted for `https://` (default: the system bundle).
    #[serde(default)]
    pub ca_file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mqtt {
    /// `host:port` of the broker (plain TCP).
    pub broker: String,
    /// Topic per event; `{type}`, `{twinId}`, `{subject}` and `{route}` are replaced (with
    /// `/`, `+`, `#` and `%` percent-encoded so a value is always one topic level).
    pub topic: String,
    /// MQTT client id prefix; the route id is appended (brokers require unique ids).
    #[serde(default = "default_client_id")]
    pub client_id: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// How long to wait for the broker's PUBACK before counting the publish as failed.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_batch() -> usize {
    1
}

/// Most events one batched request may carry.
const MAX_BATCH: usize = 1000;

fn default_timeout() -> u64 {
    10
}

fn default_client_id() -> String {
    "twingraph".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    endpoint: Vec<Endpoint>,
}

impl Endpoints {
    pub fn parse(text: &str) -> Result<Endpoints, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut seen = std::collections::HashSet::new();
        for e in &file.endpoint {
            if e.name.trim().is_empty() {
                return Err("an endpoint has an empty name".into());
            }
            if !seen.insert(e.name.as_str()) {
                return Err(format!("endpoint '{}' is listed twice", e.name));
            }
            e.kind
                .check()
                .map_err(|m| format!("endpoint '{}': {m}", e.name))?;
        }
        Ok(Endpoints {
            list: file.endpoint,
        })
    }

    pub fn load(path: &Path) -> Result<Endpoints, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        Endpoints::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn get(&self, name: &str) -> Option<&Endpoint> {
        self.list.iter().find(|e| e.name == name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(|e| e.name.as_str())
    }

    /// The `GET /endpoints` body: every endpoint without its secrets.
    pub fn to_wire(&self) -> Value {
        let value: Vec<Value> = self
            .list
            .iter()
            .map(|e| match &e.kind {
                EndpointKind::Webhook(w) => json!({
                    "name": e.name,
                    "kind": "webhook",
                    "url": w.url,
                    "mode": match w.mode { Mode::Structured => "structured", Mode::Binary => "binary" },
                    "batch": w.batch,
                    "headers": w.headers.keys().collect::<Vec<_>>(),
                    "timeoutSeconds": w.timeout_seconds,
                }),
                EndpointKind::Mqtt(m) => json!({
                    "name": e.name,
                    "kind": "mqtt",
                    "broker": m.broker,
                    "topic": m.topic,
                    "clientId": m.client_id,
                    "qos": 1,
                }),
            })
            .collect();
        json!({ "value": value })
    }
}

impl EndpointKind {
    fn check(&self) -> Result<(), String> {
        match self {
            EndpointKind::Webhook(w) => {
                let uri: axum::http::Uri =
                    w.url.parse().map_err(|e| format!("url '{}': {e}", w.url))?;
                if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
                    return Err(format!("url '{}' must be http:// or https://", w.url));
                }
                if !(1..=MAX_BATCH).contains(&w.batch) {
                    return Err(format!("batch must be between 1 and {MAX_BATCH}"));
                }
                if w.batch > 1 && w.mode == Mode::Binary {
                    return Err(
                        "batch needs mode \"structured\" (binary mode has no batches)".into(),
                    );
                }
                for (name, value) in &w.headers {
                    axum::http::HeaderName::try_from(name.as_str())
                        .map_err(|_| format!("'{name}' is not a header name"))?;
                    axum::http::HeaderValue::try_from(value.as_str())
                        .map_err(|_| format!("the value of header '{name}' is not valid"))?;
                }
                Ok(())
            }
            EndpointKind::Mqtt(m) => {
                let (_, port) = m
                    .broker
                    .rsplit_once(':')
                    .ok_or_else(|| format!("broker '{}' must be host:port", m.broker))?;
                port.parse::<u16>()
                    .map_err(|_| format!("broker '{}' has no valid port", m.broker))?;
                if m.topic.is_empty() || m.topic.contains(['+', '#']) {
                    return Err(format!(
                        "topic '{}' must be non-empty and free of wildcards",
                        m.topic
                    ));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_kinds_and_hides_secrets() {
        let text = r#"
            [[endpoint]]
            name = "hook"
            kind = "webhook"
            url = "http://127.0.0.1:9/x"
            mode = "binary"
            headers = { "X-Secret" = "s3cret" }

            [[endpoint]]
            name = "broker"
            kind = "mqtt"
            broker = "127.0.0.1:1883"
            topic = "t/{type}/{twinId}"
            password = "pw"
        "#;
        let e = Endpoints::parse(text).unwrap();
        assert_eq!(e.names().collect::<Vec<_>>(), vec!["hook", "broker"]);
        match &e.get("hook").unwrap().kind {
            EndpointKind::Webhook(w) => {
                assert_eq!(w.mode, Mode::Binary);
                assert_eq!(w.timeout_seconds, 10);
                assert_eq!(w.batch, 1);
            }
            other => panic!("{other:?}"),
        }
        let wire = e.to_wire().to_string();
        assert!(!wire.contains("s3cret") && !wire.contains("pw\""), "{wire}");
        assert!(wire.contains("X-Secret"), "{wire}");
    }

    #[test]
    fn refuses_bad_files() {
        for text in [
            "[[endpoint]]\nname = \"a\"\nkind = \"ftp\"\nurl = \"http://x\"",
            "[[endpoint]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"ftp://x/y\"",
            "[[endpoint]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"http://x\"\nextra = 1",
            "[[endpoint]]\nname = \"a\"\nkind = \"mqtt\"\nbroker = \"x\"\ntopic = \"t\"",
            "[[endpoint]]\nname = \"a\"\nkind = \"mqtt\"\nbroker = \"x:1\"\ntopic = \"t/#\"",
            "[[endpoint]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"http://x\"\n\
             [[endpoint]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"http://y\"",
            "[[endpoint]]\nname = \"\"\nkind = \"webhook\"\nurl = \"http://x\"",
            "[[endpoint]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"http://x\"\nbatch = 0",
            "[[endpoint]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"http://x\"\nbatch = 1001",
            "[[endpoint]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"http://x\"\nbatch = 5\nmode = \"binary\"",
        ] {
            assert!(Endpoints::parse(text).is_err(), "{text}");
        }
        assert!(Endpoints::parse("").unwrap().names().next().is_none());
    }
}
