//! MQTT delivery: each event is published with QoS 1 (the structured CloudEvent as the
//! payload) and counts as delivered once the broker's PUBACK arrives. One publish is in
//! flight at a time, which keeps the route's log order on the broker. Plain TCP only.

use std::time::Duration;

use rumqttc::{AsyncClient, Event as MqttEvent, EventLoop, MqttOptions, Packet, QoS};

use super::endpoints::Mqtt;
use super::envelope::Event;

/// Events are at most a 32 KiB document in an envelope; leave generous room.
const MAX_PACKET: usize = 1024 * 1024;

pub struct Sender {
    config: Mqtt,
    client_id: String,
    route: String,
    conn: Option<(AsyncClient, EventLoop)>,
}

impl Sender {
    pub fn new(config: &Mqtt, route: &str) -> Sender {
        Sender {
            config: config.clone(),
            client_id: format!("{}-{route}", config.client_id),
            route: route.to_string(),
            conn: None,
        }
    }

    pub async fn send(&mut self, event: &Event) -> Result<(), String> {
        let timeout = Duration::from_secs(self.config.timeout_seconds.max(1));
        let result = tokio::time::timeout(timeout, self.publish(event)).await;
        let result = result.unwrap_or_else(|_| Err(format!("no PUBACK within {timeout:?}")));
        if result.is_err() {
            // A fresh session next time: the old event loop may hold a half-sent publish.
            self.conn = None;
        }
        result
    }

    async fn publish(&mut self, event: &Event) -> Result<(), String> {
        let topic = self.topic(event);
        let payload = event.json.clone();
        if self.conn.is_none() {
            self.conn = Some(self.connect()?);
        }
        let Some((client, eventloop)) = self.conn.as_mut() else {
            return Err("no broker connection".into());
        };
        client
            .publish_bytes(topic, QoS::AtLeastOnce, false, payload)
            .await
            .map_err(|e| format!("publishing: {e}"))?;
        loop {
            match eventloop.poll().await {
                Ok(MqttEvent::Incoming(Packet::PubAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(format!("broker {}: {e}", self.config.broker)),
            }
        }
    }

    fn connect(&self) -> Result<(AsyncClient, EventLoop), String> {
        let (host, port) = self
            .config
            .broker
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            .ok_or_else(|| format!("broker '{}' is not host:port", self.config.broker))?;
        let mut options = MqttOptions::new(self.client_id.clone(), host, port);
        options.set_keep_alive(Duration::from_secs(30));
        options.set_max_packet_size(MAX_PACKET, MAX_PACKET);
        if let Some(user) = &self.config.username {
            options.set_credentials(
                user.clone(),
                self.config.password.clone().unwrap_or_default(),
            );
        }
        Ok(AsyncClient::new(options, 16))
    }

    fn topic(&self, event: &Event) -> String {
        let subject = event.attribute("subject").unwrap_or_default();
        self.config
            .topic
            .replace("{type}", &level(event.event_type()))
            .replace("{twinId}", &level(&event.twin_id))
            .replace("{subject}", &level(&subject))
            .replace("{route}", &level(&self.route))
    }
}

/// A value as exactly one topic level: the level separator, the wildcards and `%` itself
/// are percent-encoded.
fn level(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '/' | '+' | '#' | '%' | '\0' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_levels_are_escaped() {
        assert_eq!(level("a/b+c#d%e"), "a%2Fb%2Bc%23d%25e");
        assert_eq!(level("plain id"), "plain id");
    }
}
