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

#[cfg(test)]
mod tests {
    use rusqlite::params;
    use time::OffsetDateTime;

    use super::super::{append, status_content_hash, V2_UNTIL_KEY};
    use super::session_digest_v2;
    use crate::journal::{ts, Journal, NewSession, SessionResult};

    fn session(journal: &Journal) -> i64 {
        journal
            .begin_session(&NewSession {
                station_id: "s",
                operator: "alice",
                port: "/dev/ttyUSB0",
                work_order: None,
                started_at: OffsetDateTime::now_utc(),
            })
            .expect("begin")
    }

    /// A journal written by a v2 build, then opened by this one: its v2 seal and status
    /// entries verify, next to v3 sessions sealed after the upgrade, and edits are still found.
    #[test]
    fn v2_seals_verify_next_to_v3_ones() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("j.sqlite");
        let journal = Journal::open(&path).expect("open");
        let conn = journal.connection();
        let at = ts(OffsetDateTime::now_utc());
        let old = session(&journal);
        conn.execute(
            "INSERT INTO steps (session_id, name, started_at, ended_at, outcome)
             VALUES (?1, 'identify', ?2, ?2, 'ok')",
            params![old, at],
        )
        .expect("step");
        conn.execute(
            "INSERT INTO certificates (serial, session_id, device_id, sha256, not_before,
                                       not_after, pem, status)
             VALUES ('0A', ?1, 'UNIT-1', 'ff', ?2, ?2, 'pem', 'active')",
            params![old, at],
        )
        .expect("certificate");
        // What a v2 build chained: every status change, then the v2 seal.
        for status in ["issued", "active"] {
            append(
                conn,
                "certificate_status",
                "0A",
                &status_content_hash("0A", status),
                &at,
            )
            .expect("status entry");
        }
        conn.execute(
            "UPDATE sessions SET result = 'pass', ended_at = ?2 WHERE id = ?1",
            params![old, at],
        )
        .expect("close");
        let content = hex::encode(session_digest_v2(conn, old).expect("v2 digest"));
        let seal = append(conn, "session", &old.to_string(), &content, &at).expect("seal");
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)",
            params![V2_UNTIL_KEY, seal.seq.to_string()],
        )
        .expect("migration note");

        let new = session(&journal);
        journal
            .finish_session(new, SessionResult::Pass, None, OffsetDateTime::now_utc())
            .expect("v3 seal");
        journal
            .revoke(&["0A".to_owned()], "superseded", OffsetDateTime::now_utc())
            .expect("revoke after the seal");
        let report = journal.verify().expect("verify");
        assert!(report.ok(), "{:?}", report.problem);
        assert_eq!(report.sealed_sessions, 2);

        conn.execute("UPDATE steps SET name = 'forged'", [])
            .expect("edit");
        let p = journal.verify().expect("verify").problem.expect("found");
        assert_eq!((p.code, p.seq), ("chain.session_edited", Some(seal.seq)));
        conn.execute("UPDATE steps SET name = 'identify'", [])
            .expect("restore");
        conn.execute("UPDATE certificates SET status = 'active'", [])
            .expect("edit");
        let p = journal.verify().expect("verify").problem.expect("found");
        assert_eq!(p.code, "chain.certificate_edited");
    }
}
