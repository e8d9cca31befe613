//! What a session seal covers and how it is encoded.
//!
//! Seal v3 covers, per session: the session row, its steps, its certificates (their status *as
//! it was at the seal* and the recommission link included), its device log and its audit
//! checks; seal v4 adds its assurance (family and what the session may claim). Every value is a one-byte type tag, then 8 bytes for numbers or a varint length and
//! the bytes for text: unambiguous (each part has a fixed column count) and about a third fewer
//! bytes to hash than v2's fixed 8-byte lengths, which is most of what `verify` spends.

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, Row};
use sha2::{Digest, Sha256};

use super::super::JournalError;

pub(crate) type Digest32 = [u8; 32];

/// Bumped whenever what a seal covers or how it is encoded changes.
const SEAL_DOMAIN_V3: &[u8] = b"commissioner-session-v3\0";
const SEAL_DOMAIN: &[u8] = b"commissioner-session-v4\0";

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
const ASSURANCE_COLS: &str = "session_id, family, assurance";

/// How many tables a session's content spans.
pub(crate) const NPARTS: usize = 6;

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

pub(crate) const PARTS: [Part; NPARTS] = [
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
    // Last: seal v3 is the first five parts alone.
    Part {
        cols: ASSURANCE_COLS,
        table: "session_assurance",
        order: "session_id",
        key: "session_id",
        tag: b'Q',
        skip: 1,
        hashed: 3,
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

/// A session's content hash from its part digests: v4 over all of them.
pub(crate) fn combine(parts: &[Digest32; NPARTS]) -> Digest32 {
    combine_as(SEAL_DOMAIN, parts)
}

fn combine_as(domain: &[u8], parts: &[Digest32]) -> Digest32 {
    let mut h = Sha256::new_with_prefix(domain);
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// A session's content hash as seal v4 and as seal v3 (without its assurance): which one its
/// chain entry holds depends on when it was sealed, known only once the chain is walked.
/// The v3 hash costs one more SHA-256 per session, so it is computed only for a journal that
/// holds v3 seals (`with_v3`, from [`super::SealMarks::has_v3`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SealHashes {
    pub v4: Digest32,
    pub v3: Option<Digest32>,
}

impl SealHashes {
    pub(crate) fn of(parts: &[Digest32; NPARTS], with_v3: bool) -> Self {
        Self {
            v4: combine(parts),
            v3: with_v3.then(|| combine_as(SEAL_DOMAIN_V3, &parts[..NPARTS - 1])),
        }
    }

    /// The hash a seal written at `seq` holds. `marks` are the ones `with_v3` came from, so a
    /// v3 seq always has its v3 hash.
    pub(crate) fn at(&self, seq: i64, marks: &super::SealMarks) -> &Digest32 {
        match &self.v3 {
            Some(v3) if marks.is_v3(seq) => v3,
            _ => &self.v4,
        }
    }
}

/// Content hash of one session, read from the tables (used when sealing).
pub(crate) fn session_digest(conn: &Connection, session_id: i64) -> Result<Digest32, JournalError> {
    Ok(session_hashes(conn, session_id)?.v4)
}

fn session_hashes(conn: &Connection, session_id: i64) -> Result<SealHashes, JournalError> {
    let mut digests = [[0u8; 32]; NPARTS];
    for (i, part) in PARTS.iter().enumerate() {
        digests[i] = part
            .scan(conn, session_id, session_id.saturating_add(1))?
            .digests
            .first()
            .map(|d| d.1)
            .unwrap_or_else(|| part.empty());
    }
    Ok(SealHashes::of(&digests, true))
}

#[cfg(test)]
mod tests {
    use rusqlite::params;
    use time::OffsetDateTime;

    use super::super::{append, V3_UNTIL_KEY};
    use super::session_hashes;
    use crate::journal::{Journal, NewSession, SessionResult};

    fn session(journal: &Journal) -> i64 {
        let id = journal
            .begin_session(&NewSession {
                station_id: "s",
                operator: "alice",
                port: "/dev/ttyUSB0",
                work_order: None,
                started_at: OffsetDateTime::now_utc(),
            })
            .expect("begin");
        journal
            .connection()
            .execute(
                "INSERT INTO session_assurance (session_id, family, assurance)
                 VALUES (?1, 'nrf91-at', 'key made on the unit, handshake not run as the unit')",
                params![id],
            )
            .expect("assurance");
        id
    }

    /// A journal sealed by a v3 build (assurance not covered), then opened by this one: its
    /// v3 seals verify next to v4 ones, and an assurance edited after a v4 seal is found.
    #[test]
    fn v3_seals_verify_next_to_v4_ones_and_assurance_is_sealed() {
        let dir = tempfile::tempdir().expect("tmp");
        let journal = Journal::open(&dir.path().join("j.sqlite")).expect("open");
        let conn = journal.connection();
        let old = session(&journal);
        conn.execute(
            "UPDATE sessions SET result = 'pass', ended_at = started_at WHERE id = ?1",
            params![old],
        )
        .expect("close");
        let v3 = hex::encode(
            session_hashes(conn, old)
                .expect("digest")
                .v3
                .expect("v3 hash"),
        );
        let seal = append(
            conn,
            "session",
            &old.to_string(),
            &v3,
            "2026-01-01T00:00:00Z",
        )
        .expect("seal");
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![V3_UNTIL_KEY, seal.seq.to_string()],
        )
        .expect("migration note");

        let new = session(&journal);
        journal
            .finish_session(new, SessionResult::Pass, None, OffsetDateTime::now_utc())
            .expect("v4 seal");
        let report = journal.verify().expect("verify");
        assert!(report.ok(), "{:?}", report.problem);
        assert_eq!(report.sealed_sessions, 2);

        // What QA reads about a session's key is sealed with it.
        conn.execute(
            "UPDATE session_assurance SET assurance = 'key made on the unit, handshake run as the unit'
             WHERE session_id = ?1",
            params![new],
        )
        .expect("edit");
        let p = journal.verify().expect("verify").problem.expect("found");
        assert_eq!(p.code, "chain.session_edited");
        assert!(
            p.message.contains(&format!("session {new}")),
            "{}",
            p.message
        );
        // The v3 session's assurance was never sealed: editing it is not an edit of its seal.
        conn.execute(
            "UPDATE session_assurance SET assurance = 'x' WHERE session_id = ?1",
            params![old],
        )
        .expect("edit old");
        let p = journal.verify().expect("verify").problem.expect("found");
        assert!(
            p.message.contains(&format!("session {new}")),
            "{}",
            p.message
        );
    }
}
