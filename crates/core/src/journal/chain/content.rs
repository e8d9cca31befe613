//! What a session seal covers and how it is encoded.
//!
//! Seal v3 covers, per session: the session row, its steps, its certificates (their status *as
//! it was at the seal* and the recommission link included), its device log and its audit
//! checks. Every value is a one-byte type tag, then 8 bytes for numbers or a varint length and
//! the bytes for text: unambiguous (each part has a fixed column count) and about a third fewer
//! bytes to hash than v2's fixed 8-byte lengths, which is most of what `verify` spends.

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, Row};
use sha2::{Digest, Sha256};

use super::super::JournalError;

pub(crate) type Digest32 = [u8; 32];

/// Bumped whenever what a seal covers or how it is encoded changes.
const SEAL_DOMAIN: &[u8] = b"commissioner-session-v3\0";

pub(crate) const SESSION_COLS: &str = "id, started_at, ended_at, station_id, operator, port, \
     device_id, model, firmware, result, error_code, error_message, work_order, failed_step";
const STEP_COLS: &str = "session_id, id, name, started_at, ended_at, outcome, error_code, detail";
// `status` changes after the seal (a later revocation is a chain entry of its own), so the seal
// covers `sealed_status`, its copy taken at the seal. `status` is read last, unhashed, for
// verify to compare with it. Revocation time and reason are not sealed: they come later.
const CERT_COLS: &str = "session_id, serial, device_id, sha256, not_before, not_after, pem, \
     issued_at, key_origin, supersedes, sealed_status, status";
const CERT_HASHED: usize = 11;
const LOG_COLS: &str = "session_id, id, at, line";
const AUDIT_COLS: &str = "session_id, id, name, outcome, evidence, at";

/// One table's part of a session's content.
pub(crate) struct Part {
    cols: &'static str,
    pub(crate) table: &'static str,
    order: &'static str,
    key: &'static str,
    tag: u8,
    /// Leading columns that are the session id only (grouped on, not hashed).
    skip: usize,
    /// Columns hashed; any after them are read for checks only.
    hashed: usize,
}

pub(crate) const PARTS: [Part; 5] = [
    Part {
        cols: SESSION_COLS,
        table: "sessions",
        order: "id",
        key: "id",
        tag: b'S',
        skip: 0,
        hashed: 14,
    },
    Part {
        cols: STEP_COLS,
        table: "steps",
        order: "session_id, id",
        key: "session_id",
        tag: b'T',
        skip: 1,
        hashed: 8,
    },
    Part {
        cols: CERT_COLS,
        table: "certificates",
        order: "session_id, rowid",
        key: "session_id",
        tag: b'C',
        skip: 1,
        hashed: CERT_HASHED,
    },
    Part {
        cols: LOG_COLS,
        table: "device_log",
        order: "session_id, id",
        key: "session_id",
        tag: b'L',
        skip: 1,
        hashed: 4,
    },
    Part {
        cols: AUDIT_COLS,
        table: "audit_checks",
        order: "session_id, id",
        key: "session_id",
        tag: b'A',
        skip: 1,
        hashed: 6,
    },
];

/// A certificate whose status is not the one sealed: fine only if the chain has a later status
/// entry for it that says so.
#[derive(Debug, Clone)]
pub(crate) struct Drift {
    pub session_id: i64,
    pub serial: String,
    pub status: Option<String>,
}

/// One part's scan: a digest per session (in session order), and for certificates the drifts.
#[derive(Default)]
pub(crate) struct PartScan {
    pub digests: Vec<(i64, Digest32)>,
    pub drifts: Vec<Drift>,
}

fn put_len(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub(crate) fn encode_value(v: ValueRef<'_>, out: &mut Vec<u8>) {
    match v {
        ValueRef::Null => out.push(0),
        ValueRef::Integer(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_be_bytes());
        }
        ValueRef::Real(v) => {
            out.push(2);
            out.extend_from_slice(&v.to_bits().to_be_bytes());
        }
        ValueRef::Text(t) => {
            out.push(3);
            put_len(out, t.len());
            out.extend_from_slice(t);
        }
        ValueRef::Blob(b) => {
            out.push(4);
            put_len(out, b.len());
            out.extend_from_slice(b);
        }
    }
}

fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        _ => None,
    }
}

impl Part {
    /// Rows of the sessions in `[from, to)`, grouped by session in seal order.
    pub(crate) fn sql(&self) -> String {
        format!(
            "SELECT {} FROM {} WHERE {key} >= ?1 AND {key} < ?2 ORDER BY {}",
            self.cols,
            self.table,
            self.order,
            key = self.key
        )
    }

    /// Digest of an empty part, so that a session without log lines hashes alike everywhere.
    pub(crate) fn empty(&self) -> Digest32 {
        Sha256::new_with_prefix([self.tag]).finalize().into()
    }

    /// Scans this part for the sessions in `[from, to)`. Rows are encoded into one reused
    /// buffer and values are read in place: no allocation per row, which is what makes
    /// verifying a million sessions affordable.
    pub(crate) fn scan(
        &self,
        conn: &Connection,
        from: i64,
        to: i64,
    ) -> Result<PartScan, JournalError> {
        let mut stmt = conn.prepare_cached(&self.sql())?;
        let mut rows = stmt.query(params![from, to])?;
        let mut out = PartScan::default();
        // A session's rows are encoded into one buffer and hashed in one call: SHA-256 then
        // runs over whole blocks instead of copying every short row into its block buffer.
        let mut current: Option<i64> = None;
        let mut buf = Vec::with_capacity(4096);
        while let Some(row) = rows.next()? {
            let sid: i64 = row.get(0)?;
            if current != Some(sid) {
                if let Some(id) = current {
                    out.digests.push((id, Sha256::digest(&buf).into()));
                }
                current = Some(sid);
                buf.clear();
                buf.push(self.tag);
            }
            for i in self.skip..self.hashed {
                encode_value(row.get_ref(i)?, &mut buf);
            }
            if self.hashed == CERT_HASHED {
                check_drift(sid, row, &mut out.drifts)?;
            }
        }
        if let Some(id) = current {
            out.digests.push((id, Sha256::digest(&buf).into()));
        }
        Ok(out)
    }
}

fn check_drift(sid: i64, row: &Row<'_>, drifts: &mut Vec<Drift>) -> rusqlite::Result<()> {
    let (sealed, status) = (row.get_ref(CERT_HASHED - 1)?, row.get_ref(CERT_HASHED)?);
    if sealed != status {
        drifts.push(Drift {
            session_id: sid,
            serial: text(row.get_ref(1)?).unwrap_or_default(),
            status: text(status),
        });
    }
    Ok(())
}

/// A session's content hash from its five part digests.
pub(crate) fn combine(parts: &[Digest32; 5]) -> Digest32 {
    let mut h = Sha256::new_with_prefix(SEAL_DOMAIN);
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Content hash of one session, read from the tables (used when sealing).
pub(crate) fn session_digest(conn: &Connection, session_id: i64) -> Result<Digest32, JournalError> {
    let mut digests = [[0u8; 32]; 5];
    for (i, part) in PARTS.iter().enumerate() {
        digests[i] = part
            .scan(conn, session_id, session_id.saturating_add(1))?
            .digests
            .first()
            .map(|d| d.1)
            .unwrap_or_else(|| part.empty());
    }
    Ok(combine(&digests))
}
