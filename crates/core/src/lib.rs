//! Commissioner's domain logic, free of any UI toolkit.
//!
//! Module map:
//! - [`device`]: the serial link to a unit: line framing, protocol messages, the reference
//!   driver, port discovery.
//! - [`pki`]: the factory CA on disk (encrypted keys), CSR checks, issuance, proof of possession;
//!   knows nothing of the journal or the station.
//! - [`mqtt`]: TLS client configs, the device-backed TLS signer, the provisioning handshake and
//!   the reference provisioning responder.
//! - [`journal`]: the SQLite journal: sessions, steps, certificates, device log.
//! - [`operator`]: operators, roles, PIN sign-in with a rate limit, sign-in tokens.
//! - [`pipeline`]: the commissioning steps wired together, with progress and a report.
//! - [`station`]: the station directory and its configuration, and what composes [`pki`] with
//!   [`journal`]: the issuing policy against the registry (`station::issuing`), revocation and
//!   CRLs (`station::admin`). Imports run one way: station → journal → pki.
//! - [`lab`]: a real mosquitto with generated TLS config and ACLs, for demos and tests.
//! - [`central`]: the central PostgreSQL store: outbox sync, registry, anchors, QA over all
//!   stations.
//! - [`clock`] and [`error`]: time passed in; the `{code, message, detail}` error shape.
//! - [`secure_fs`]: station files owner-only (0700/0600), written without following links.
//! - [`text`]: device-provided text escaped for terminals and spreadsheets.

pub mod central;
pub mod clock;
pub mod device;
pub mod error;
#[cfg(test)]
mod error_codes;
pub mod journal;
pub mod lab;
pub mod mes;
pub mod mqtt;
pub mod operator;
pub mod pipeline;
pub mod pki;
pub mod print;
pub mod secure_fs;
pub mod station;
pub mod text;
