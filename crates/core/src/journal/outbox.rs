//! The MES outbox: a session-end event per sealed session, queued in the transaction that
//! seals it and handed out in order until the MES acknowledges it (see `crate::mes`).

use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};

use super::chain::ChainHead;
use super::{Journal, JournalError};

/// What the MES is told when a session ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionEvent {
    /// Always `session.ended`.
    pub event: String,
    /// Unique per event and stable across retries: the MES drops a repeat.
    pub idempotency_key: String,
    pub station_id: String,
    pub session_id: i64,
    pub device_id: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub work_order: Option<String>,
    pub operator: String,
    pub result: String,
    pub error_code: Option<String>,
    pub failed_step: Option<String>,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub certificate_serial: Option<String>,
    pub certificate_sha256: Option<String>,
    /// The seal's chain entry: ties the event to the journal.
    pub chain_seq: i64,
    pub chain_hash: String,
}

/// One queued event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub id: i64,
    pub idempotency_key: String,
    /// The event's JSON, exactly as sent (and signed).
    pub body: String,
    pub attempts: u32,
}

/// Queues the session-end event of `session_id`, sealed at `seal`. Runs inside the sealing
/// transaction.
pub(super) fn enqueue(
    conn: &Connection,
    session_id: i64,
    seal: &ChainHead,
    at: &str,
) -> Result<(), JournalError> {
    let mut event = conn.query_row(
        "SELECT station_id, device_id, model, firmware, work_order, operator, result,
                error_code, failed_step, started_at, ended_at
         FROM sessions WHERE id = ?1",
        params![session_id],
        |r| {
            Ok(SessionEvent {
                event: "session.ended".into(),
                idempotency_key: String::new(),
                station_id: r.get(0)?,
                session_id,
                device_id: r.get(1)?,
                model: r.get(2)?,
                firmware: r.get(3)?,
                work_order: r.get(4)?,
                operator: r.get(5)?,
                result: r.get(6)?,
                error_code: r.get(7)?,
                failed_step: r.get(8)?,
                started_at: r.get(9)?,
                ended_at: r.get(10)?,
                certificate_serial: None,
                certificate_sha256: None,
                chain_seq: seal.seq,
                chain_hash: seal.hash.clone(),
            })
        },
    )?;
    if event.result == "pass" {
        if let Some((serial, sha)) = conn
            .prepare(
                "SELECT serial, sha256 FROM certificates
                 WHERE session_id = ?1 AND status = 'active' ORDER BY rowid DESC LIMIT 1",
            )?
            .query_map(params![session_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .next()
            .transpose()?
        {
            event.certificate_serial = Some(serial);
            event.certificate_sha256 = Some(sha);
        }
    }
    // The seal hash is unique to this session in this chain, across stations and archives.
    event.idempotency_key = format!("{}:{}", event.station_id, seal.hash);
    let body = serde_json::to_string(&event)
        .map_err(|e| JournalError::Group(format!("cannot encode the MES event: {e}")))?;
    conn.prepare_cached(
        "INSERT INTO outbox (session_id, idempotency_key, event, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![session_id, event.idempotency_key, body, at])?;
    Ok(())
}

impl Journal {
    /// Undelivered events in order, up to `limit`, with the time the first may be sent next
    /// (seconds since the epoch): later events wait behind it, so the MES sees them in order.
    pub fn outbox_pending(&self, limit: u32) -> Result<(Vec<Pending>, i64), JournalError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, idempotency_key, event, attempts, next_attempt_unix FROM outbox
             WHERE delivered_at IS NULL ORDER BY id LIMIT ?1",
        )?;
        let mut due = 0;
        let rows = stmt
            .query_map(params![limit], |r| {
                Ok((
                    Pending {
                        id: r.get(0)?,
                        idempotency_key: r.get(1)?,
                        body: r.get(2)?,
                        attempts: r.get::<_, i64>(3)?.try_into().unwrap_or(u32::MAX),
                    },
                    r.get::<_, i64>(4)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        if let Some((_, next)) = rows.first() {
            due = *next;
        }
        Ok((rows.into_iter().map(|(p, _)| p).collect(), due))
    }

    /// The MES acknowledged event `id`.
    pub fn outbox_delivered(&self, id: i64, at: &str) -> Result<(), JournalError> {
        self.conn.execute(
            "UPDATE outbox SET delivered_at = ?2, last_error = NULL WHERE id = ?1",
            params![id, at],
        )?;
        Ok(())
    }

    /// Event `id` could not be delivered: why, and when to try again.
    pub fn outbox_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_unix: i64,
    ) -> Result<(), JournalError> {
        self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_unix = ?3
             WHERE id = ?1",
            params![id, error, next_attempt_unix],
        )?;
        Ok(())
    }

    /// How many events wait for the MES.
    pub fn outbox_backlog(&self) -> Result<u64, JournalError> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM outbox WHERE delivered_at IS NULL",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }
}
