//! Event routing. Today: the route filter language, which `PUT /eventroutes/{id}` validates.
//! Delivery of change-log entries to endpoints lands here later.

pub mod filter;
