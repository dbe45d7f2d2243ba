//! End-to-end tests: each starts the real `twingraph serve` binary on a free loopback port
//! with a temporary data folder and speaks the ADT REST API to it over HTTP(S).

// clippy.toml allows unwrap in `#[test]` functions only; the helpers here are test code too,
// where a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod harness;

mod auth;
mod bulk;
mod cli_query;
mod components;
mod durability;
mod event_routes;
mod events;
mod events_https;
mod events_mqtt;
mod events_receiver;
mod events_stream;
mod hostile;
mod jobs;
mod lifecycle;
mod models;
mod paging;
mod protocol;
mod query;
mod relationships;
mod scripts;
mod tls;
mod twins;
