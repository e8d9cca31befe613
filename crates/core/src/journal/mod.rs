//! The local SQLite journal: every attempt, step, certificate and device log line, written as it
//! happens. WAL and `synchronous=FULL`, so a row that was reported written survives a power cut.

mod registry;
mod schema;

pub use registry::{CertFilter, CertStatus, KeyOrigin, RegistryEntry};

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use thiserror::Error;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::{Coded, ErrorInfo};
use crate::pki::IssuedCert;

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
    #[error("no certificate with serial {0} in this station's registry")]
    UnknownCertificate(String),
    #[error("the journal at {path} was written by a newer Commissioner (schema {found}, this build knows {known})")]
    TooNew {
        path: String,
        found: usize,
        known: usize,
    },
}

impl Coded for JournalError {
    fn code(&self) -> &'static str {
        match self {
            JournalError::Open { .. } => "journal.open_failed",
            JournalError::Sqlite(_) => "journal.write_failed",
            JournalError::TooNew { .. } => "journal.too_new",
            JournalError::UnknownCertificate(_) => "registry.unknown_serial",
        }
    }
}

/// Final state of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

    fn parse(s: &str) -> Self {
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
#[derive(Debug, Clone, Serialize)]
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
}

/// A step row as read back.
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateRow {
    pub serial: String,
    pub session_id: i64,
    pub device_id: String,
    pub sha256: String,
    pub status: String,
    pub pem: String,
}

/// An open journal file.
#[derive(Debug)]
pub struct Journal {
    conn: Connection,
}

fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

impl Journal {
    /// Opens (creating if needed) and migrates a journal file.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let open_err = |source| JournalError::Open {
            path: path.display().to_string(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
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
            tx.pragma_update(None, "user_version", i + 1)
                .map_err(open_err)?;
            tx.commit().map_err(open_err)?;
        }
        Ok(Self { conn })
    }

    /// Marks sessions left `running` by a previous process as interrupted. Call once at start,
    /// before this process begins sessions of its own.
    pub fn mark_interrupted(&self, now: OffsetDateTime) -> Result<usize, JournalError> {
        Ok(self.conn.execute(
            "UPDATE sessions SET result = 'interrupted', ended_at = ?1,
                 error_code = 'session.interrupted',
                 error_message = 'the station stopped before this session ended'
             WHERE result = 'running'",
            params![ts(now)],
        )?)
    }

    pub fn begin_session(&self, s: &NewSession<'_>) -> Result<i64, JournalError> {
        self.conn.execute(
            "INSERT INTO sessions (started_at, station_id, operator, port, result)
             VALUES (?1, ?2, ?3, ?4, 'running')",
            params![ts(s.started_at), s.station_id, s.operator, s.port],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn set_identity(
        &self,
        session_id: i64,
        device_id: &str,
        model: &str,
        firmware: &str,
    ) -> Result<(), JournalError> {
        self.conn.execute(
            "UPDATE sessions SET device_id = ?2, model = ?3, firmware = ?4 WHERE id = ?1",
            params![session_id, device_id, model, firmware],
        )?;
        Ok(())
    }

    pub fn record_step(&self, session_id: i64, step: &StepRecord<'_>) -> Result<(), JournalError> {
        self.conn.execute(
            "INSERT INTO steps (session_id, name, started_at, ended_at, outcome, error_code, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                session_id,
                step.name,
                ts(step.started_at),
                ts(step.ended_at),
                if step.error.is_some() { "failed" } else { "ok" },
                step.error.map(|e| e.code.as_str()),
                step.detail.or(step.error.map(|e| e.message.as_str())),
            ],
        )?;
        Ok(())
    }

    /// Records a certificate whose key the unit generated; see [`Journal::record_issued`].
    pub fn record_certificate(
        &self,
        session_id: i64,
        device_id: &str,
        cert: &IssuedCert,
    ) -> Result<(), JournalError> {
        self.record_issued(
            session_id,
            device_id,
            cert,
            cert.not_before + crate::pki::issue::BACKDATE,
            KeyOrigin::Device,
        )
    }

    pub fn set_certificate_status(&self, serial: &str, status: &str) -> Result<(), JournalError> {
        self.conn.execute(
            "UPDATE certificates SET status = ?2 WHERE serial = ?1",
            params![serial, status],
        )?;
        Ok(())
    }

    pub fn add_device_log(
        &self,
        session_id: i64,
        at: OffsetDateTime,
        lines: &[String],
    ) -> Result<(), JournalError> {
        if lines.is_empty() {
            return Ok(());
        }
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO device_log (session_id, at, line) VALUES (?1, ?2, ?3)",
            )?;
            for line in lines {
                stmt.execute(params![session_id, ts(at), line])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn finish_session(
        &self,
        session_id: i64,
        result: SessionResult,
        error: Option<&ErrorInfo>,
        at: OffsetDateTime,
    ) -> Result<(), JournalError> {
        self.conn.execute(
            "UPDATE sessions SET result = ?2, ended_at = ?3, error_code = ?4, error_message = ?5
             WHERE id = ?1",
            params![
                session_id,
                result.as_str(),
                ts(at),
                error.map(|e| e.code.as_str()),
                error.map(|e| e.message.as_str())
            ],
        )?;
        Ok(())
    }

    pub fn session(&self, id: i64) -> Result<Option<SessionRow>, JournalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, started_at, ended_at, station_id, operator, port, device_id, model,
                        firmware, result, error_code, error_message
                 FROM sessions WHERE id = ?1",
                params![id],
                |r| {
                    Ok(SessionRow {
                        id: r.get(0)?,
                        started_at: r.get(1)?,
                        ended_at: r.get(2)?,
                        station_id: r.get(3)?,
                        operator: r.get(4)?,
                        port: r.get(5)?,
                        device_id: r.get(6)?,
                        model: r.get(7)?,
                        firmware: r.get(8)?,
                        result: SessionResult::parse(&r.get::<_, String>(9)?),
                        error_code: r.get(10)?,
                        error_message: r.get(11)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn steps(&self, session_id: i64) -> Result<Vec<StepRow>, JournalError> {
        let mut stmt = self.conn.prepare(
            "SELECT name, started_at, ended_at, outcome, error_code, detail
             FROM steps WHERE session_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![session_id], |r| {
            Ok(StepRow {
                name: r.get(0)?,
                started_at: r.get(1)?,
                ended_at: r.get(2)?,
                outcome: r.get(3)?,
                error_code: r.get(4)?,
                detail: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn certificates_for_session(
        &self,
        session_id: i64,
    ) -> Result<Vec<CertificateRow>, JournalError> {
        let mut stmt = self.conn.prepare(
            "SELECT serial, session_id, device_id, sha256, status, pem
             FROM certificates WHERE session_id = ?1",
        )?;
        let rows = stmt.query_map(params![session_id], |r| {
            Ok(CertificateRow {
                serial: r.get(0)?,
                session_id: r.get(1)?,
                device_id: r.get(2)?,
                sha256: r.get(3)?,
                status: r.get(4)?,
                pem: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn device_log(&self, session_id: i64) -> Result<Vec<String>, JournalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT line FROM device_log WHERE session_id = ?1 ORDER BY id")?;
        let rows = stmt.query_map(params![session_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
