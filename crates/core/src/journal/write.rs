//! What the pipeline records, as it happens.

use rusqlite::{params, OptionalExtension};
use time::OffsetDateTime;

use super::chain::{self, ChainHead};
use super::start_mark::{self, StartKey};
use super::{ts, CertificateRecords, Journal, JournalError, NewSession, SessionResult, StepRecord};
use crate::error::ErrorInfo;
use crate::pki::IssuedCert;

/// The revocation reason of a certificate whose session ended without confirming it on the
/// unit (RFC 5280 cessationOfOperation: it never went into service).
pub const UNCONFIRMED_REASON: &str = "cessation-of-operation";

/// A session left `running` that this station did not begin in this journal: reported as
/// tampering, never sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forged {
    pub session_id: i64,
    /// Why it is not the station's.
    pub reason: String,
}

impl Forged {
    pub const CODE: &'static str = "chain.session_forged";
}

/// What [`Journal::mark_interrupted`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    pub interrupted: Vec<Interrupted>,
    pub forged: Vec<Forged>,
}

/// A session that a previous process left running, now closed as interrupted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    pub session_id: i64,
    pub device_id: Option<String>,
    /// Certificates issued in that session but never confirmed on the unit, revoked as the
    /// session was closed (publish a CRL so that the broker knows).
    pub revoked_serials: Vec<String>,
}

/// Chains a certificate's new status, once its session is sealed. Every status change goes
/// through here, inside the transaction that makes it. While the session runs there is no
/// entry: the seal covers the status the certificate has when the session ends, which keeps
/// the chain at about one entry per session.
pub(super) fn chain_status(
    conn: &rusqlite::Connection,
    serial: &str,
    status: &str,
) -> Result<Option<ChainHead>, JournalError> {
    chain_change(conn, serial, &chain::status_content_hash(serial, status))
}

/// Chains a revocation with its date and reason (see [`chain::revocation_content_hash`]).
pub(super) fn chain_revocation(
    conn: &rusqlite::Connection,
    serial: &str,
    revoked_at: &str,
    reason: &str,
) -> Result<Option<ChainHead>, JournalError> {
    chain_change(
        conn,
        serial,
        &chain::revocation_content_hash(serial, revoked_at, reason),
    )
}

/// Appends a certificate's change to the chain, unless its session is still running: the
/// session's seal then covers the certificate as it stands when the session ends.
fn chain_change(
    conn: &rusqlite::Connection,
    serial: &str,
    content: &str,
) -> Result<Option<ChainHead>, JournalError> {
    let sealed: bool = conn
        .query_row(
            "SELECT s.result != 'running' FROM certificates c JOIN sessions s ON s.id = c.session_id
             WHERE c.serial = ?1",
            params![serial],
            |r| r.get(0),
        )
        .optional()?
        // A certificate without a session row is not the station's; chain it regardless.
        .unwrap_or(true);
    if !sealed {
        return Ok(None);
    }
    chain::append(
        conn,
        "certificate_status",
        serial,
        content,
        &ts(OffsetDateTime::now_utc()),
    )
    .map(Some)
}

impl Journal {
    /// Closes sessions left `running` by a previous process as interrupted, seals them, and
    /// names the certificates they issued that were never confirmed. Only sessions this
    /// station began in this journal (see [`super::start_mark`]) are closed; any other
    /// `running` row is reported in `forged` and left as it is. Call once at start, before
    /// this process begins sessions of its own.
    pub fn mark_interrupted(
        &self,
        station_id: &str,
        now: OffsetDateTime,
    ) -> Result<Recovered, JournalError> {
        let key = self.start_key()?;
        let ids: Vec<(i64, Option<String>)> = self
            .conn
            .prepare("SELECT id, device_id FROM sessions WHERE result = 'running' ORDER BY id")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut out = Recovered::default();
        for (session_id, device_id) in ids {
            if let Some(reason) = start_mark::forged(&self.conn, key, session_id, station_id)? {
                out.forged.push(Forged { session_id, reason });
                continue;
            }
            let error = ErrorInfo {
                code: "session.interrupted".into(),
                message: "the station stopped before this session ended".into(),
                detail: None,
            };
            let revoked_serials = self.issued_serials(session_id)?;
            self.finish_session(session_id, SessionResult::Interrupted, Some(&error), now)?;
            out.interrupted.push(Interrupted {
                session_id,
                device_id,
                revoked_serials,
            });
        }
        Ok(out)
    }

    /// A session's certificates still `issued` (not confirmed on the unit, not revoked).
    fn issued_serials(&self, session_id: i64) -> Result<Vec<String>, JournalError> {
        let mut stmt = self.conn.prepare(
            "SELECT serial FROM certificates WHERE session_id = ?1 AND status = 'issued'
             ORDER BY rowid",
        )?;
        let rows = stmt.query_map(params![session_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Certificates issued but never confirmed on a unit (status `issued` in a session that did
    /// not pass) and not revoked: only journals written before sessions revoked them as they
    /// closed have any. All sessions when `session_id` is `None`.
    pub fn unconfirmed_serials(
        &self,
        session_id: Option<i64>,
    ) -> Result<Vec<String>, JournalError> {
        let mut stmt = self.conn.prepare(
            "SELECT c.serial FROM certificates c JOIN sessions s ON s.id = c.session_id
             WHERE c.status = 'issued' AND s.result IN ('fail', 'interrupted')
               AND (?1 IS NULL OR s.id = ?1)
             ORDER BY c.rowid",
        )?;
        let rows = stmt.query_map(params![session_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn begin_session(&self, s: &NewSession<'_>) -> Result<i64, JournalError> {
        let key = self.start_key()?;
        self.immediate(|conn| begin_session(conn, s, key))
    }

    pub fn set_identity(
        &self,
        session_id: i64,
        device_id: &str,
        model: &str,
        firmware: &str,
    ) -> Result<(), JournalError> {
        self.immediate(|conn| set_identity(conn, session_id, device_id, model, firmware))
    }

    /// The session's device family and assurance (see `device::family::Assurance`).
    pub fn set_assurance(
        &self,
        session_id: i64,
        family: &str,
        assurance: &str,
    ) -> Result<(), JournalError> {
        self.immediate(|conn| set_assurance(conn, session_id, family, assurance))
    }

    pub fn record_step(&self, session_id: i64, step: &StepRecord<'_>) -> Result<(), JournalError> {
        insert_step(&self.conn, session_id, step)
    }

    /// A finished step and the device log lines that came with it, in one transaction. Under
    /// `synchronous=FULL` every commit waits for the disk while holding the file's only write
    /// lock, so concurrent sessions queue behind each other's commits: one commit per step
    /// instead of two halves that queue, and the log and its step stand or fall together.
    pub fn record_step_with_log(
        &self,
        session_id: i64,
        step: &StepRecord<'_>,
        lines: &[String],
    ) -> Result<(), JournalError> {
        let tx = self.conn.unchecked_transaction()?;
        step_with_log(&tx, session_id, step, lines)?;
        tx.commit()?;
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
            super::KeyOrigin::Device,
        )
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
        insert_log(&tx, session_id, at, lines)?;
        tx.commit()?;
        Ok(())
    }

    /// Records one broker audit check of a running session; sealed with it at
    /// [`Journal::finish_session`], so write every check before finishing.
    pub fn record_audit_check(
        &self,
        session_id: i64,
        name: &str,
        outcome: &str,
        evidence: &str,
        at: OffsetDateTime,
    ) -> Result<(), JournalError> {
        self.conn.execute(
            "INSERT INTO audit_checks (session_id, name, outcome, evidence, at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![session_id, name, outcome, evidence, ts(at)],
        )?;
        Ok(())
    }

    /// `(name, outcome, evidence)` of a session's audit checks, in the order they ran.
    pub fn audit_checks(
        &self,
        session_id: i64,
    ) -> Result<Vec<(String, String, Option<String>)>, JournalError> {
        let mut stmt = self.conn.prepare(
            "SELECT name, outcome, evidence FROM audit_checks WHERE session_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![session_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Closes a session and seals it into the chain; a sealed session never changes again.
    pub fn finish_session(
        &self,
        session_id: i64,
        result: SessionResult,
        error: Option<&ErrorInfo>,
        at: OffsetDateTime,
    ) -> Result<ChainHead, JournalError> {
        self.immediate(|conn| finish_session(conn, session_id, result, error, at))
    }
}

fn insert_step(
    conn: &rusqlite::Connection,
    session_id: i64,
    step: &StepRecord<'_>,
) -> Result<(), JournalError> {
    conn.execute(
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
    let ms = (step.ended_at - step.started_at).whole_milliseconds();
    super::stats::record_duration(
        conn,
        conn.last_insert_rowid(),
        session_id,
        step.name,
        i64::try_from(ms).unwrap_or(i64::MAX),
    )?;
    Ok(())
}

fn insert_log(
    conn: &rusqlite::Connection,
    session_id: i64,
    at: OffsetDateTime,
    lines: &[String],
) -> Result<(), JournalError> {
    let mut stmt =
        conn.prepare_cached("INSERT INTO device_log (session_id, at, line) VALUES (?1, ?2, ?3)")?;
    let at = ts(at);
    for line in lines {
        stmt.execute(params![session_id, at, line])?;
    }
    Ok(())
}

pub(super) fn begin_session(
    conn: &rusqlite::Connection,
    s: &NewSession<'_>,
    key: &StartKey,
) -> Result<i64, JournalError> {
    let at = ts(s.started_at);
    conn.execute(
        "INSERT OR IGNORE INTO stations (station_id, first_seen) VALUES (?1, ?2)",
        params![s.station_id, at],
    )?;
    conn.execute(
        "INSERT OR IGNORE INTO operators (operator_id, first_seen) VALUES (?1, ?2)",
        params![s.operator, at],
    )?;
    conn.execute(
        "INSERT INTO sessions (started_at, station_id, operator, port, work_order, result)
         VALUES (?1, ?2, ?3, ?4, ?5, 'running')",
        params![at, s.station_id, s.operator, s.port, s.work_order],
    )?;
    let id = conn.last_insert_rowid();
    start_mark::mark(conn, key, id)?;
    Ok(id)
}

pub(super) fn set_identity(
    conn: &rusqlite::Connection,
    session_id: i64,
    device_id: &str,
    model: &str,
    firmware: &str,
) -> Result<(), JournalError> {
    let now = ts(OffsetDateTime::now_utc());
    conn.execute(
        "UPDATE sessions SET device_id = ?2, model = ?3, firmware = ?4 WHERE id = ?1",
        params![session_id, device_id, model, firmware],
    )?;
    conn.execute(
        "INSERT INTO devices (device_id, model, first_seen, last_seen) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (device_id) DO UPDATE SET model = excluded.model, last_seen = excluded.last_seen",
        params![device_id, model, now],
    )?;
    Ok(())
}

pub(super) fn set_assurance(
    conn: &rusqlite::Connection,
    session_id: i64,
    family: &str,
    assurance: &str,
) -> Result<(), JournalError> {
    conn.execute(
        "INSERT INTO session_assurance (session_id, family, assurance) VALUES (?1, ?2, ?3)
         ON CONFLICT (session_id) DO UPDATE SET family = excluded.family,
             assurance = excluded.assurance",
        params![session_id, family, assurance],
    )?;
    Ok(())
}

pub(super) fn step_with_log(
    conn: &rusqlite::Connection,
    session_id: i64,
    step: &StepRecord<'_>,
    lines: &[String],
) -> Result<(), JournalError> {
    insert_log(conn, session_id, step.ended_at, lines)?;
    insert_step(conn, session_id, step)
}

pub(super) fn finish_session(
    conn: &rusqlite::Connection,
    session_id: i64,
    result: SessionResult,
    error: Option<&ErrorInfo>,
    at: OffsetDateTime,
) -> Result<ChainHead, JournalError> {
    let failed_step: Option<String> = conn
            .query_row(
                "SELECT name FROM steps WHERE session_id = ?1 AND outcome = 'failed' ORDER BY id LIMIT 1",
                params![session_id],
                |r| r.get(0),
            )
            .optional()?;
    conn.execute(
        "UPDATE sessions SET result = ?2, ended_at = ?3, error_code = ?4, error_message = ?5,
                    failed_step = ?6
             WHERE id = ?1 AND result = 'running'",
        params![
            session_id,
            result.as_str(),
            ts(at),
            error.map(|e| e.code.as_str()),
            error.map(|e| e.message.as_str()),
            failed_step
        ],
    )?;
    start_mark::clear(conn, session_id)?;
    // A session that does not pass keeps no usable certificate: whatever it issued and never
    // confirmed on the unit is revoked here, in the transaction that closes it, so a hostile or
    // broken unit cannot walk away with a certificate from a failed session, and a crash
    // between closing and revoking cannot happen.
    if result != SessionResult::Pass {
        conn.execute(
            "UPDATE certificates SET status = 'revoked', revoked_at = ?2, revocation_reason = ?3
             WHERE session_id = ?1 AND status = 'issued'",
            params![session_id, ts(at), UNCONFIRMED_REASON],
        )?;
    }
    // The status each certificate has now is the one the seal covers; later changes are
    // chain entries of their own.
    conn.execute(
        "UPDATE certificates SET sealed_status = status WHERE session_id = ?1",
        params![session_id],
    )?;
    let content = chain::session_content_hash(conn, session_id)?;
    let mut head = chain::append(conn, "session", &session_id.to_string(), &content, &ts(at))?;
    // The seal covers a certificate's status, not when and why it was revoked; a certificate
    // revoked while its session ran (the audit's test identity, say) gets its revocation
    // chained right after the seal, as a revocation after the seal would be.
    let revoked: Vec<(String, String, String)> = conn
        .prepare(
            "SELECT serial, revoked_at, revocation_reason FROM certificates
             WHERE session_id = ?1 AND status = 'revoked'
               AND revoked_at IS NOT NULL AND revocation_reason IS NOT NULL",
        )?
        .query_map(params![session_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    let seal = head.clone();
    for (serial, revoked_at, reason) in revoked {
        if let Some(h) = chain_revocation(conn, &serial, &revoked_at, &reason)? {
            head = h;
        }
    }
    // Same transaction as the seal: the MES hears of every sealed session, and of no other.
    super::outbox::enqueue(conn, session_id, &seal, &ts(at))?;
    Ok(head)
}
