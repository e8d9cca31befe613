//! The central store (issue 17): every station's journal, certificate registry and chain heads
//! in one PostgreSQL, while each station keeps working from its own SQLite file offline.
//!
//! - `profile`: the station's `[central]` section (URL, TLS, credentials, offline policy).
//! - `client`: connecting (TLS through rustls where the profile asks) and the central schema's
//!   versioned migrations (`schema`).
//! - `outbox`: what the station has not delivered yet, read from its journal, where a trigger
//!   queues every chain entry in the transaction that writes it.
//! - `sync`: the worker that drains the outbox in batches, idempotently and in order.
//! - `ingest`: what the server side does with one batch.
//! - `registry`: the duplicate-device check before issuing, revocations, review list.
//! - `crl`: every station's revocations of certificates this station's CA signed, for
//!   `ca crl --central`.
//! - `anchor`: a station journal checked against the heads the server holds.
//! - `query`: QA's session search over all stations.
//! - `server`: a real PostgreSQL on a temporary directory, for the lab, tests and benchmarks.
//!
//! The client is the blocking `postgres` crate (a thin wrapper over `tokio-postgres` with its
//! own runtime thread): the journal, the pipeline and the CLI are blocking and threaded, and an
//! async client would push a runtime into every caller for no gain. `sqlx` was not chosen: its
//! checked queries want a database (or a prepared offline cache) at build time, and this crate
//! must build and test without a server.

pub mod anchor;
mod client;
pub mod crl;
mod ingest;
pub mod outbox;
mod profile;
pub mod query;
pub mod registry;
mod schema;
pub mod server;
pub mod sync;

pub use client::{connect, Central};
pub use profile::{CentralProfile, CentralTls, WhenUnreachable, PASSWORD_ENV};

use thiserror::Error;

use crate::error::Coded;
use crate::journal::JournalError;

/// Errors of the central store.
#[derive(Debug, Error)]
pub enum CentralError {
    #[error("this station has no central store: add [central] to station.toml")]
    NotConfigured,
    #[error("the central store at {url} cannot be reached; the station keeps working and syncs when it is back")]
    Unreachable {
        url: String,
        #[source]
        source: postgres::Error,
    },
    #[error("the central store's settings are not valid: {0}")]
    BadProfile(String),
    #[error("the central store refused a request")]
    Database(#[source] postgres::Error),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the central store's schema is version {found}, newer than this build knows ({known}); update Commissioner")]
    TooNew { found: i32, known: i32 },
    #[error("device {device_id} already has an active certificate from station {station_id} (serial {serial}); a device id is commissioned once")]
    DuplicateDevice {
        device_id: String,
        station_id: String,
        serial: String,
    },
    #[error("this journal's entry {seq} differs from the one the central store received earlier: the journal was rewritten after it synced. Nothing more is synced; see `sync conflicts`")]
    Rewritten { seq: i64 },
    #[error("this journal's entries arrived out of order (expected {expected}, got {got})")]
    OutOfOrder { expected: i64, got: i64 },
    #[error("PostgreSQL server: {0}")]
    Server(String),
}

/// A connection that drops mid-request (server stopped, network gone) is the server being
/// away, like one that never answered; only the server's answer to the request is a refusal.
impl From<postgres::Error> for CentralError {
    fn from(source: postgres::Error) -> Self {
        // SQLSTATE classes 08 (connection exception) and 57 (operator intervention: the
        // server shutting down) are the server going away, not a refusal.
        let away = source.is_closed()
            || std::error::Error::source(&source).is_some_and(|s| s.is::<std::io::Error>())
            || source
                .code()
                .is_some_and(|c| c.code().starts_with("08") || c.code().starts_with("57"));
        if away {
            CentralError::Unreachable {
                url: "the server".into(),
                source,
            }
        } else {
            CentralError::Database(source)
        }
    }
}

impl Coded for CentralError {
    fn code(&self) -> &'static str {
        match self {
            CentralError::NotConfigured => "central.not_configured",
            CentralError::Unreachable { .. } => "central.unreachable",
            CentralError::BadProfile(_) => "central.bad_profile",
            CentralError::Database(_) => "central.database",
            CentralError::Journal(e) => e.code(),
            CentralError::TooNew { .. } => "central.too_new",
            CentralError::DuplicateDevice { .. } => "central.duplicate_device",
            CentralError::Rewritten { .. } => "central.journal_rewritten",
            CentralError::OutOfOrder { .. } => "central.out_of_order",
            CentralError::Server(_) => "central.server",
        }
    }
}
