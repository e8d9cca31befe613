//! Integration tests of the core against real parts: a simulated unit on a pseudo-terminal, a
//! real mosquitto with generated TLS config and ACLs, a real SQLite file, and `openssl verify`.

mod audit;
mod audit_baseline;
mod audit_passwords;
mod batch;
mod crl_hook;
mod csr_fixtures;
mod custom_broker;
mod deadlines;
mod families;
mod faults;
mod fixture;
mod handshake;
mod hostile;
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
mod qa_outputs;
mod rabbitmq;
mod recommission;
mod registry;
mod responder_profile;
mod retry;
mod revocation;
mod smp_peers;
mod tls_policy;
mod yield_stats;
mod zephyr;
