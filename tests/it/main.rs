//! End-to-end tests: each starts the real `twingraph serve` binary on a free loopback port
//! with a temporary data folder and speaks the ADT REST API to it over HTTP(S).

mod harness;

mod auth;
mod components;
mod durability;
mod event_routes;
mod lifecycle;
mod models;
mod paging;
mod protocol;
mod query;
mod relationships;
mod tls;
mod twins;
