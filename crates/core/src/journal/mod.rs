//! The local SQLite journal: every attempt, step, certificate and device log line, written as it
//! happens. WAL and `synchronous=FULL`, so a row that was reported written survives a power cut.
//!
//! - `schema`: forward-only migrations.
//! - [`chain`]: the hash chain: sealing, the head, verification.
//! - `write`: what the pipeline records; every write that touches the chain runs in an
//!   IMMEDIATE transaction.
//! - [`query`]: what QA reads: sessions by filter, steps, certificates, device log.
//! - [`export`]: CSV / JSON Lines exports with a signed manifest, and their verification.

pub mod anchor;
pub mod archive;
pub mod batch;
mod bootstrap;
pub mod chain;
pub mod claim;
pub mod export;
pub mod generate;
pub mod group;
pub mod outbox;
pub mod query;
mod registry;
mod schema;
pub mod start_mark;
pub mod stats;
mod write;

pub use registry::{
    CertFilter, CertKind, CertStatus, CertificateRecords, KeyOrigin, RegistryEntry,
};
pub use write::{Forged, Interrupted, Recovered};

use std::path::Path;

use rusqlite::Connection;
use serde::Serialize;
use thiserror::Error;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use ts_rs::TS;

use crate::error::{Coded, ErrorInfo};

/// Errors of the journal.
#[derive(Debug, Error)]
pub enum JournalError {
    #[error("cannot open the journal at {path}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the journal refused a write; nothing was lost, but this attempt cannot be recorded")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "the journal refused a write ({0}); nothing was lost, but this attempt cannot be recorded"
    )]
    Group(String),
    #[error("no certificate with serial {0} in this station's registry")]
    UnknownCertificate(String),
    #[error(
        "certificate {0} belongs to a session that has ended and been sealed; it cannot be changed"
    )]
    Sealed(String),
    #[error("cannot lock {path}, which tells this station's live sessions from abandoned ones")]
    Claim {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot use {path} as a journal")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the journal at {path} is not this station's ({reason}): it was deleted or replaced. Restore the station's journal; nothing is recorded until then")]
    Replaced { path: String, reason: String },
    #[error("cannot read or create the journal's session key {path}")]
    Key {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the journal at {path} was written by a newer Commissioner (schema {found}, this build knows {known})")]
    TooNew {
        path: String,
        found: usize,
        known: usize,
    },
}

/// Creates a missing journal file owner-only; refuses a symbolic link.
fn prepare_file(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(std::io::Error::other(
            "it is a symbolic link; the journal must be a plain file",
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match crate::secure_fs::create_new(path) {
                // Another process may have created it first: open that one.
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
                _ => Ok(()),
            }
        }
        Err(e) => Err(e),
    }
}

impl Coded for JournalError {
    fn code(&self) -> &'static str {
        match self {
            JournalError::Open { .. } | JournalError::File { .. } => "journal.open_failed",
            JournalError::Sqlite(_) | JournalError::Group(_) => "journal.write_failed",
            JournalError::TooNew { .. } => "journal.too_new",
            JournalError::Claim { .. } => "journal.claim_failed",
            JournalError::Key { .. } => "journal.key_failed",
            JournalError::Replaced { .. } => "journal.replaced",
            JournalError::UnknownCertificate(_) => "registry.unknown_serial",
            JournalError::Sealed(_) => "journal.session_sealed",
        }
    }
}

/// Final state of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum SessionResult {
    Running,
    Pass,
    Fail,
    Interrupted,
}

impl SessionResult {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionResult::Running => "running",
            SessionResult::Pass => "pass",
            SessionResult::Fail => "fail",
            SessionResult::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "pass" => SessionResult::Pass,
            "fail" => SessionResult::Fail,
            "interrupted" => SessionResult::Interrupted,
            _ => SessionResult::Running,
        }
    }
}

/// The fields known when a session starts.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub station_id: &'a str,
    pub operator: &'a str,
    pub port: &'a str,
    /// Work order or batch id (a barcode), when the line has one.
    pub work_order: Option<&'a str>,
    pub started_at: OffsetDateTime,
}

/// One finished step.
#[derive(Debug, Clone)]
pub struct StepRecord<'a> {
    pub name: &'a str,
    pub started_at: OffsetDateTime,
    pub ended_at: OffsetDateTime,
    pub error: Option<&'a ErrorInfo>,
    pub detail: Option<&'a str>,
}

/// A session row as read back.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SessionRow {
    pub id: i64,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub station_id: String,
    pub operator: String,
    pub port: String,
    pub device_id: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub result: SessionResult,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub work_order: Option<String>,
    pub failed_step: Option<String>,
}

/// A step row as read back.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StepRow {
    pub name: String,
    pub started_at: String,
    pub ended_at: String,
    pub outcome: String,
    pub error_code: Option<String>,
    pub detail: Option<String>,
}

/// A certificate row as read back.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct CertificateRow {
    pub serial: String,
    pub session_id: i64,
    pub device_id: String,
    pub sha256: String,
    pub status: String,
    /// Where the key was generated: on the unit, or by the station under its policy.
    pub key_origin: KeyOrigin,
    pub pem: String,
}

/// An open journal file.
#[derive(Debug)]
pub struct Journal {
    conn: Connection,
    /// Where the file is: the key that marks sessions begun here lives beside it.
    path: std::path::PathBuf,
    start_key: std::sync::OnceLock<start_mark::StartKey>,
}

/// Retries a busy write lock every millisecond for about five seconds.
fn busy_retry(attempt: i32) -> bool {
    std::thread::sleep(std::time::Duration::from_millis(1));
    attempt < 5_000
}

/// A timestamp as the journal stores it (RFC 3339, UTC).
pub fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

impl Journal {
    /// Opens (creating if needed) and migrates a journal file.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let journal = Self::open_without_genesis(path)?;
        if chain::head(&journal.conn)?.is_none() {
            chain::genesis(&journal.conn, None, &ts(time::OffsetDateTime::now_utc()))?;
        }
        Ok(journal)
    }

    /// The hash of the chain's first entry: what tells this journal from any other.
    pub fn genesis_hash(&self) -> Result<Option<String>, JournalError> {
        Ok(self
            .conn
            .query_row("SELECT hash FROM chain ORDER BY seq LIMIT 1", [], |r| {
                r.get(0)
            })
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?)
    }

    fn open_without_genesis(path: &Path) -> Result<Self, JournalError> {
        let open_err = |source| JournalError::Open {
            path: path.display().to_string(),
            source,
        };
        // A new journal is created owner-only, before SQLite makes it with the umask's rights;
        // SQLite gives its WAL and shared-memory files the same rights as the database.
        // A link in its place (another account pointing the station at a file of its choice)
        // is refused.
        prepare_file(path).map_err(|source| JournalError::File {
            path: path.display().to_string(),
            source,
        })?;
        let mut conn = Connection::open(path).map_err(open_err)?;
        // Concurrent sessions each hold a connection and take turns at the write lock. SQLite's
        // own busy timeout backs off to 100 ms sleeps, so a waiter oversleeps a lock that is
        // held for a millisecond; polling every millisecond (for the same 5 s) keeps 16
        // sessions from queueing behind each other's naps.
        conn.busy_handler(Some(busy_retry)).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;

        let version: usize = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(open_err)?;
        if version > schema::MIGRATIONS.len() {
            return Err(JournalError::TooNew {
                path: path.display().to_string(),
                found: version,
                known: schema::MIGRATIONS.len(),
            });
        }
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.transaction().map_err(open_err)?;
            tx.execute_batch(sql).map_err(open_err)?;
            if i + 1 == schema::RECORDS_CHAINED {
                chain::records::adopt(&tx, &ts(OffsetDateTime::now_utc())).map_err(
                    |e| match e {
                        JournalError::Sqlite(source) => open_err(source),
                        other => other,
                    },
                )?;
            }
            tx.pragma_update(None, "user_version", i + 1)
                .map_err(open_err)?;
            tx.commit().map_err(open_err)?;
        }
        Ok(Self {
            conn,
            path: path.to_owned(),
            start_key: std::sync::OnceLock::new(),
        })
    }

    /// The key that marks sessions begun here, loaded (or created) on first use: a journal
    /// only read never needs it.
    pub(crate) fn start_key(&self) -> Result<&start_mark::StartKey, JournalError> {
        if let Some(key) = self.start_key.get() {
            return Ok(key);
        }
        let key = start_mark::StartKey::beside(&self.path)?;
        Ok(self.start_key.get_or_init(|| key))
    }

    /// Creates a fresh journal whose chain continues `prev_head` (the head of an archived one).
    pub fn create_continuing(path: &Path, prev_head: &str) -> Result<Self, JournalError> {
        if path.exists() {
            return Err(JournalError::Open {
                path: path.display().to_string(),
                source: rusqlite::Error::InvalidPath(path.to_owned()),
            });
        }
        let journal = Self::open_without_genesis(path)?;
        chain::genesis(
            &journal.conn,
            Some(prev_head),
            &ts(time::OffsetDateTime::now_utc()),
        )?;
        Ok(journal)
    }

    /// The connection, for queries the typed API does not cover (tests, tools).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Runs `f` in an IMMEDIATE transaction: the write lock is taken up front, so two writers
    /// never both read the same chain head and then race to extend it.
    pub(crate) fn immediate<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, JournalError>,
    ) -> Result<T, JournalError> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        match f(&self.conn) {
            Ok(v) => {
                self.conn.execute_batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}
