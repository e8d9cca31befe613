//! The `commissioner` binary as a technician or a script runs it.

mod audit;
mod ca;
mod ca_setup;
mod central;
mod commands;
mod crash;
mod hardening;
mod integrity;
mod lab_central;
mod line;
mod off_station;
mod operators;
mod responder;
mod service_identities;
mod sim;
mod trust_records;
