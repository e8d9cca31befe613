//! The station side of the outbox: what is waiting, one batch of it read from the journal, and
//! the acknowledgement once the server has committed it.
//!
//! The outbox holds chain sequence numbers only (the `chain_outbox` trigger fills it); a batch
//! is read from the sealed rows when it is sent. Sealed rows never change (the chain shows it if
//! they do), so reading them late sends what was sealed; a certificate's status is taken at the
//! seal (`sealed_status`), later changes travel as their own entries.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::journal::query::session_row;
use crate::journal::{Journal, JournalError, SessionRow};

/// `meta` keys of the last delivery.
const LAST_SYNC_KEY: &str = "central_last_sync";
const SYNCED_SEQ_KEY: &str = "central_synced_seq";

/// What the station has not delivered yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Backlog {
    /// Outbox entries waiting.
    pub pending: i64,
    /// Sealed sessions among them.
    pub pending_sessions: i64,
    /// When the server last committed a batch from this station (RFC 3339), if ever.
    pub last_sync: Option<String>,
    /// The newest chain entry the server holds.
    pub synced_seq: Option<i64>,
}

/// One chain entry as the station wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: i64,
    pub kind: String,
    pub reference: String,
    pub content_hash: String,
    pub prev_hash: String,
    pub hash: String,
    pub at: String,
}

/// A sealed session and the chain entry that sealed it.
#[derive(Debug, Clone)]
pub struct SessionData {
    pub chain_seq: i64,
    pub row: SessionRow,
}

/// A row of a session's steps, device log or audit checks: `(session, order, columns...)`.
#[derive(Debug, Clone)]
pub struct ChildRow {
    pub session_id: i64,
    pub ord: i32,
    pub cols: Vec<Option<String>>,
}

#[derive(Debug, Clone)]
pub struct CertData {
    pub serial: String,
    pub session_id: i64,
    pub device_id: String,
    pub sha256: String,
    pub not_before: String,
    pub not_after: String,
    pub issued_at: Option<String>,
    pub key_origin: String,
    pub supersedes: Option<String>,
    pub pem: String,
    pub status: String,
    pub revoked_at: Option<String>,
    pub revocation_reason: Option<String>,
    /// The chain entry that set this status.
    pub status_seq: i64,
}

/// One delivery: chain entries in order, and what the sealed ones carry.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The journal's identity (hash of its first chain entry).
    pub journal_id: String,
    pub station_id: String,
    /// Highest outbox id in the batch: acknowledged once the server committed it.
    pub last_outbox_id: i64,
    pub entries: Vec<Entry>,
    pub sessions: Vec<SessionData>,
    pub steps: Vec<ChildRow>,
    pub device_log: Vec<ChildRow>,
    pub audit_checks: Vec<ChildRow>,
    /// Certificates of the sealed sessions, as sealed.
    pub certificates: Vec<CertData>,
    /// Status changes after a seal.
    pub status_changes: Vec<CertData>,
}

fn meta(conn: &Connection, key: &str) -> Result<Option<String>, JournalError> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
            r.get(0)
        })
        .optional()?)
}

/// The backlog and the last successful delivery.
pub fn backlog(journal: &Journal) -> Result<Backlog, JournalError> {
    let conn = journal.connection();
    let (pending, pending_sessions): (i64, i64) = conn.query_row(
        "SELECT count(*), count(*) FILTER (WHERE c.kind = 'session')
         FROM sync_outbox o JOIN chain c ON c.seq = o.chain_seq",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(Backlog {
        pending,
        pending_sessions,
        last_sync: meta(conn, LAST_SYNC_KEY)?,
        synced_seq: meta(conn, SYNCED_SEQ_KEY)?.and_then(|s| s.parse().ok()),
    })
}

/// The next `limit` outbox entries with their content; `None` when nothing waits.
pub fn next_batch(
    journal: &Journal,
    station_id: &str,
    limit: usize,
) -> Result<Option<Batch>, JournalError> {
    let conn = journal.connection();
    let journal_id = journal
        .genesis_hash()?
        .ok_or_else(|| JournalError::Group("the journal has no chain yet".into()))?;
    let mut stmt = conn.prepare_cached(
        "SELECT o.id, c.seq, c.kind, c.ref, c.content_hash, c.prev_hash, c.hash, c.at
         FROM sync_outbox o JOIN chain c ON c.seq = o.chain_seq ORDER BY o.id LIMIT ?1",
    )?;
    let mut last_outbox_id = 0;
    let entries: Vec<Entry> = stmt
        .query_map(params![limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                Entry {
                    seq: r.get(1)?,
                    kind: r.get(2)?,
                    reference: r.get(3)?,
                    content_hash: r.get(4)?,
                    prev_hash: r.get(5)?,
                    hash: r.get(6)?,
                    at: r.get(7)?,
                },
            ))
        })?
        .map(|r| {
            r.map(|(id, e)| {
                last_outbox_id = last_outbox_id.max(id);
                e
            })
        })
        .collect::<Result<_, _>>()?;
    if entries.is_empty() {
        return Ok(None);
    }
    let sealed: Vec<(i64, i64)> = entries
        .iter()
        .filter(|e| e.kind == "session")
        .filter_map(|e| e.reference.parse().ok().map(|id| (id, e.seq)))
        .collect();
    // Integers we parsed ourselves: safe to inline, and one query per table per batch.
    let ids = sealed
        .iter()
        .map(|(id, _)| id.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let seals: std::collections::HashMap<i64, i64> = sealed.iter().copied().collect();
    let seal_of = |id: i64| seals.get(&id).copied();
    let mut batch = Batch {
        journal_id,
        station_id: station_id.to_owned(),
        last_outbox_id,
        entries,
        sessions: Vec::new(),
        steps: Vec::new(),
        device_log: Vec::new(),
        audit_checks: Vec::new(),
        certificates: Vec::new(),
        status_changes: Vec::new(),
    };
    if !ids.is_empty() {
        read_sessions(conn, &ids, &seal_of, &mut batch)?;
    }
    for e in batch
        .entries
        .iter()
        .filter(|e| e.kind == "certificate_status")
    {
        if let Some(mut cert) = read_cert(conn, "c.serial = ?1", params![e.reference], "c.status")?
            .into_iter()
            .next()
        {
            cert.status_seq = e.seq;
            batch.status_changes.push(cert);
        }
    }
    Ok(Some(batch))
}

fn read_sessions(
    conn: &Connection,
    ids: &str,
    seal_of: &dyn Fn(i64) -> Option<i64>,
    batch: &mut Batch,
) -> Result<(), JournalError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT id, started_at, ended_at, station_id, operator, port, device_id, model, firmware,
                result, error_code, error_message, work_order, failed_step
         FROM sessions WHERE id IN ({ids}) ORDER BY id"
    ))?;
    let rows = stmt.query_map([], |r| {
        let row = session_row(r)?;
        Ok(SessionData {
            chain_seq: seal_of(row.id).unwrap_or_default(),
            row,
        })
    })?;
    batch.sessions = rows.collect::<Result<_, _>>()?;
    batch.steps = children(
        conn,
        &format!(
            "SELECT session_id, name, started_at, ended_at, outcome, error_code, detail
             FROM steps WHERE session_id IN ({ids}) ORDER BY session_id, id"
        ),
    )?;
    batch.device_log = children(
        conn,
        &format!(
            "SELECT session_id, at, line FROM device_log WHERE session_id IN ({ids})
             ORDER BY session_id, id"
        ),
    )?;
    batch.audit_checks = children(
        conn,
        &format!(
            "SELECT session_id, name, outcome, evidence, at FROM audit_checks
             WHERE session_id IN ({ids}) ORDER BY session_id, id"
        ),
    )?;
    let mut certs = read_cert(
        conn,
        &format!("c.session_id IN ({ids})"),
        [],
        "coalesce(c.sealed_status, c.status)",
    )?;
    for cert in &mut certs {
        cert.status_seq = seal_of(cert.session_id).unwrap_or_default();
        if cert.status != "revoked" {
            cert.revoked_at = None;
            cert.revocation_reason = None;
        }
    }
    batch.certificates = certs;
    Ok(())
}

/// Rows of a child table, numbered per session in their journal order.
fn children(conn: &Connection, sql: &str) -> Result<Vec<ChildRow>, JournalError> {
    let mut stmt = conn.prepare(sql)?;
    let width = stmt.column_count();
    let mut out: Vec<ChildRow> = Vec::new();
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let session_id: i64 = r.get(0)?;
        let ord = match out.last() {
            Some(prev) if prev.session_id == session_id => prev.ord + 1,
            _ => 0,
        };
        let cols = (1..width)
            .map(|i| r.get::<_, Option<String>>(i))
            .collect::<Result<_, _>>()?;
        out.push(ChildRow {
            session_id,
            ord,
            cols,
        });
    }
    Ok(out)
}

fn read_cert(
    conn: &Connection,
    clause: &str,
    values: impl rusqlite::Params,
    status: &str,
) -> Result<Vec<CertData>, JournalError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT c.serial, c.session_id, c.device_id, c.sha256, c.not_before, c.not_after,
                c.issued_at, c.key_origin, c.supersedes, c.pem, {status}, c.revoked_at,
                c.revocation_reason
         FROM certificates c WHERE {clause} ORDER BY c.rowid"
    ))?;
    let rows = stmt.query_map(values, |r| {
        Ok(CertData {
            serial: r.get(0)?,
            session_id: r.get(1)?,
            device_id: r.get(2)?,
            sha256: r.get(3)?,
            not_before: r.get(4)?,
            not_after: r.get(5)?,
            issued_at: r.get(6)?,
            key_origin: r.get(7)?,
            supersedes: r.get(8)?,
            pem: r.get(9)?,
            status: r.get(10)?,
            revoked_at: r.get(11)?,
            revocation_reason: r.get(12)?,
            status_seq: 0,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Drops the delivered entries and records the delivery. Runs after the server committed: a
/// station that dies before this sends the batch again, and the server ignores what it holds.
pub fn acknowledge(journal: &Journal, batch: &Batch, at: &str) -> Result<(), JournalError> {
    let conn = journal.connection();
    let tx = conn.unchecked_transaction()?;
    tx.execute(
        "DELETE FROM sync_outbox WHERE id <= ?1",
        params![batch.last_outbox_id],
    )?;
    let seq = batch.entries.last().map(|e| e.seq).unwrap_or_default();
    for (key, value) in [
        (LAST_SYNC_KEY, at.to_owned()),
        (SYNCED_SEQ_KEY, seq.to_string()),
    ] {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
    }
    tx.commit()?;
    Ok(())
}
