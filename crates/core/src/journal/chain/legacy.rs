//! Seal v2, for sessions sealed before migration 5: checked one session at a time (slow, but
//! only journals from before seal v3 have any), so such journals still verify and archive.

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection};
use sha2::{Digest, Sha256};

use super::content::Digest32;
use super::JournalError;

// (columns, table, order, tag): v2 sealed certificates without status or recommission link.
const PARTS_V2: [(&str, &str, &str, u8); 5] = [
    (
        super::content::SESSION_COLS,
        "sessions WHERE id = ?1",
        "id",
        b'S',
    ),
    (
        "session_id, id, name, started_at, ended_at, outcome, error_code, detail",
        "steps WHERE session_id = ?1",
        "session_id, id",
        b'T',
    ),
    (
        "session_id, serial, device_id, sha256, not_before, not_after, pem, issued_at, key_origin",
        "certificates WHERE session_id = ?1",
        "session_id, rowid",
        b'C',
    ),
    (
        "session_id, id, at, line",
        "device_log WHERE session_id = ?1",
        "session_id, id",
        b'L',
    ),
    (
        "session_id, id, name, outcome, evidence, at",
        "audit_checks WHERE session_id = ?1",
        "session_id, id",
        b'A',
    ),
];

/// v2 encoding: a type letter, then 8 bytes for numbers or an 8-byte length and the bytes.
fn encode_v2(v: ValueRef<'_>, out: &mut Vec<u8>) {
    match v {
        ValueRef::Null => out.push(b'N'),
        ValueRef::Integer(v) => {
            out.push(b'I');
            out.extend_from_slice(&v.to_be_bytes());
        }
        ValueRef::Real(v) => {
            out.push(b'R');
            out.extend_from_slice(&v.to_bits().to_be_bytes());
        }
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            out.push(if matches!(v, ValueRef::Text(_)) {
                b'T'
            } else {
                b'B'
            });
            out.extend_from_slice(&(t.len() as u64).to_be_bytes());
            out.extend_from_slice(t);
        }
    }
}

/// The v2 content digest of one session.
pub(super) fn session_digest_v2(conn: &Connection, id: i64) -> Result<Digest32, JournalError> {
    let mut h = Sha256::new_with_prefix(b"commissioner-session-v2\0");
    let mut buf = Vec::new();
    for (i, (cols, table, order, tag)) in PARTS_V2.iter().enumerate() {
        let mut part = Sha256::new_with_prefix([*tag]);
        let n = cols.split(',').count();
        let skip = usize::from(i > 0);
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {cols} FROM {table} ORDER BY {order}"))?;
        let mut rows = stmt.query(params![id])?;
        while let Some(row) = rows.next()? {
            buf.clear();
            for c in skip..n {
                encode_v2(row.get_ref(c)?, &mut buf);
            }
            part.update((buf.len() as u64).to_be_bytes());
            part.update(&buf);
        }
        h.update(part.finalize());
    }
    Ok(h.finalize().into())
}
