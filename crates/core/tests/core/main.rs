//! Integration tests of the core against real parts: a simulated unit on a pseudo-terminal, a
//! real mosquitto with generated TLS config and ACLs, a real SQLite file, and `openssl verify`.

mod audit;
mod audit_baseline;
mod batch;
mod csr_fixtures;
mod custom_broker;
mod deadlines;
mod families;
mod faults;
mod fixture;
mod handshake;
mod hostile;
mod inband_fleet;
mod inband_fleet_sdk;
mod interrupted_writes;
mod journal;
mod lab_profile;
mod nrf91;
mod nrf91_peers;
mod operators;
mod pipeline;
mod pipeline_audit;
mod pkcs11;
mod pki;
mod policy;
mod rabbitmq;
mod recommission;
mod registry;
mod retry;
mod revocation;
