//! The hash chain that makes edits, deletions and reordering visible.
//!
//! A session is *sealed* when it ends: its content hash covers the session row, its steps, its
//! certificates (without their status, which changes later), its device log and its broker
//! audit checks, in a canonical binary encoding. A certificate's status changes are entries of
//! their own. Every entry's hash covers the previous entry's hash, so removing, reordering or
//! rewriting an entry breaks the link after it. Anyone with write access can recompute the whole
//! chain; the chain head that every export carries (and that QA keeps) is what anchors it.

use std::collections::HashMap;
use std::iter::Peekable;

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::JournalError;

/// `prev_hash` of the first entry of a journal that does not continue an archived one.
pub const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub(super) const SESSION_COLS: &str = "id, started_at, ended_at, station_id, operator, port, \
     device_id, model, firmware, result, error_code, error_message, work_order, failed_step";
const STEP_COLS: &str = "session_id, id, name, started_at, ended_at, outcome, error_code, detail";
// Status, revocation time and reason change after the session; status changes are chain
// entries of their own.
const CERT_COLS: &str =
    "session_id, serial, device_id, sha256, not_before, not_after, pem, issued_at, key_origin";
const LOG_COLS: &str = "session_id, id, at, line";
const AUDIT_COLS: &str = "session_id, id, name, outcome, evidence, at";

/// The newest entry of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

/// What `verify` found wrong first, in chain order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainProblem {
    /// Stable code, e.g. `chain.session_edited`.
    pub code: &'static str,
    /// The chain entry where the problem shows, if any.
    pub seq: Option<i64>,
    pub message: String,
}

/// Result of verifying a journal.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub entries: i64,
    pub sealed_sessions: i64,
    /// Sessions still running: not sealed yet, so not covered.
    pub running_sessions: i64,
    pub head: ChainHead,
    pub problem: Option<ChainProblem>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// Appends the canonical encoding of a row's first `n` columns: a type tag, then for text and
/// blobs a length, so that no two different rows encode alike.
fn encode_row(row: &Row<'_>, skip: usize, n: usize, out: &mut Vec<u8>) -> rusqlite::Result<()> {
    for i in skip..n {
        match row.get_ref(i)? {
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
                out.push(if matches!(row.get_ref(i)?, ValueRef::Text(_)) {
                    b'T'
                } else {
                    b'B'
                });
                out.extend_from_slice(&(t.len() as u64).to_be_bytes());
                out.extend_from_slice(t);
            }
        }
    }
    Ok(())
}

fn column_count(cols: &str) -> usize {
    cols.split(',').count()
}

/// Hash of one session's content, fed section by section.
struct ContentHasher(Sha256);

impl ContentHasher {
    fn new() -> Self {
        Self(Sha256::new_with_prefix(b"commissioner-session-v1\0"))
    }
    fn section(&mut self, tag: u8, bytes: &[u8]) {
        self.0.update([tag]);
        self.0.update((bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
    }
    fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// Content hash of one session, read from the tables (used when sealing).
pub(super) fn session_content_hash(
    conn: &Connection,
    session_id: i64,
) -> Result<String, JournalError> {
    let mut h = ContentHasher::new();
    let mut buf = Vec::new();
    let session = conn.query_row(
        &format!("SELECT {SESSION_COLS} FROM sessions WHERE id = ?1"),
        params![session_id],
        |r| {
            let mut b = Vec::new();
            encode_row(r, 0, column_count(SESSION_COLS), &mut b)?;
            Ok(b)
        },
    )?;
    h.section(b'S', &session);
    for (tag, cols, table, order) in [
        (b'T', STEP_COLS, "steps", "id"),
        (b'C', CERT_COLS, "certificates", "rowid"),
        (b'L', LOG_COLS, "device_log", "id"),
        (b'A', AUDIT_COLS, "audit_checks", "id"),
    ] {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {cols} FROM {table} WHERE session_id = ?1 ORDER BY {order}"
        ))?;
        let mut rows = stmt.query(params![session_id])?;
        while let Some(row) = rows.next()? {
            buf.clear();
            encode_row(row, 1, column_count(cols), &mut buf)?;
            h.section(tag, &buf);
        }
    }
    Ok(h.finish())
}

/// Content hash of a certificate status change.
pub(super) fn status_content_hash(serial: &str, status: &str) -> String {
    let mut h = Sha256::new_with_prefix(b"commissioner-cert-status-v1\0");
    h.update((serial.len() as u64).to_be_bytes());
    h.update(serial.as_bytes());
    h.update(status.as_bytes());
    hex::encode(h.finalize())
}

fn entry_hash(prev: &str, kind: &str, reference: &str, content_hash: &str, at: &str) -> String {
    let mut h = Sha256::new_with_prefix(b"commissioner-chain-v1\0");
    for part in [prev, kind, reference, content_hash, at] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The current head; `None` for a journal without a genesis entry yet.
pub fn head(conn: &Connection) -> Result<Option<ChainHead>, JournalError> {
    Ok(conn
        .query_row(
            "SELECT seq, hash FROM chain ORDER BY seq DESC LIMIT 1",
            [],
            |r| {
                Ok(ChainHead {
                    seq: r.get(0)?,
                    hash: r.get(1)?,
                })
            },
        )
        .optional()?)
}

/// Appends an entry. Call inside an IMMEDIATE transaction so that two writers cannot both
/// extend the same head.
pub(super) fn append(
    conn: &Connection,
    kind: &str,
    reference: &str,
    content_hash: &str,
    at: &str,
) -> Result<ChainHead, JournalError> {
    let prev = head(conn)?
        .map(|h| h.hash)
        .unwrap_or_else(|| ZERO_HASH.to_owned());
    let hash = entry_hash(&prev, kind, reference, content_hash, at);
    conn.execute(
        "INSERT INTO chain (kind, ref, content_hash, prev_hash, hash, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![kind, reference, content_hash, prev, hash, at],
    )?;
    Ok(ChainHead {
        seq: conn.last_insert_rowid(),
        hash,
    })
}

/// Starts a chain: its genesis entry continues `prev` (an archived journal's head) or nothing.
pub(super) fn genesis(conn: &Connection, prev: Option<&str>, at: &str) -> Result<(), JournalError> {
    let reference = prev.unwrap_or(ZERO_HASH);
    let content = hex::encode(Sha256::digest(reference.as_bytes()));
    let hash = entry_hash(reference, "genesis", reference, &content, at);
    conn.execute(
        "INSERT INTO chain (kind, ref, content_hash, prev_hash, hash, at) VALUES ('genesis', ?1, ?2, ?1, ?3, ?4)",
        params![reference, content, hash, at],
    )?;
    Ok(())
}

/// Rows of one table as (session_id, encoded row), in session order.
type Encoded = (i64, Vec<u8>);

fn encoded_rows<'s>(
    stmt: &'s mut rusqlite::Statement<'_>,
    n: usize,
    lo: i64,
    hi: i64,
) -> Result<impl Iterator<Item = rusqlite::Result<Encoded>> + 's, JournalError> {
    Ok(stmt.query_map(params![lo, hi], move |r| {
        let mut b = Vec::with_capacity(128);
        encode_row(r, 1, n, &mut b)?;
        Ok((r.get::<_, i64>(0)?, b))
    })?)
}

/// Feeds every row of `rows` that belongs to `session` into the hasher; skips orphans of
/// sessions that no longer exist (the chain walk reports those sessions as deleted).
fn drain_for<I: Iterator<Item = rusqlite::Result<Encoded>>>(
    rows: &mut Peekable<I>,
    session: i64,
    tag: u8,
    h: &mut ContentHasher,
) -> Result<(), JournalError> {
    loop {
        match rows.peek() {
            Some(Ok((sid, _))) if *sid < session => {
                rows.next();
            }
            Some(Ok((sid, _))) if *sid == session => {
                if let Some(Ok((_, bytes))) = rows.next() {
                    h.section(tag, &bytes);
                }
            }
            Some(Err(_)) => {
                if let Some(Err(e)) = rows.next() {
                    return Err(e.into());
                }
            }
            _ => return Ok(()),
        }
    }
}

/// Content hashes of the sessions with `lo <= id < hi`, by merge-joining the tables in
/// session order; running sessions are counted, not hashed.
fn content_hashes(conn: &Connection, lo: i64, hi: i64) -> Result<Hashed, JournalError> {
    let range = "BETWEEN ?1 AND ?2 - 1";
    let mut sessions = conn.prepare(&format!(
        "SELECT {SESSION_COLS} FROM sessions WHERE id {range} ORDER BY id"
    ))?;
    let mut steps = conn.prepare(&format!(
        "SELECT {STEP_COLS} FROM steps WHERE session_id {range} ORDER BY session_id, id"
    ))?;
    let mut certs = conn.prepare(&format!(
        "SELECT {CERT_COLS} FROM certificates WHERE session_id {range} ORDER BY session_id, rowid"
    ))?;
    let mut logs = conn.prepare(&format!(
        "SELECT {LOG_COLS} FROM device_log WHERE session_id {range} ORDER BY session_id, id"
    ))?;
    let mut audits = conn.prepare(&format!(
        "SELECT {AUDIT_COLS} FROM audit_checks WHERE session_id {range} ORDER BY session_id, id"
    ))?;
    let mut steps = encoded_rows(&mut steps, column_count(STEP_COLS), lo, hi)?.peekable();
    let mut certs = encoded_rows(&mut certs, column_count(CERT_COLS), lo, hi)?.peekable();
    let mut logs = encoded_rows(&mut logs, column_count(LOG_COLS), lo, hi)?.peekable();
    let mut audits = encoded_rows(&mut audits, column_count(AUDIT_COLS), lo, hi)?.peekable();

    let mut content = HashMap::new();
    let mut running = 0;
    let n_sessions = column_count(SESSION_COLS);
    let mut rows = sessions.query(params![lo, hi])?;
    let mut buf = Vec::new();
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let is_running = row
            .get_ref(9)?
            .as_str()
            .map(|s| s == "running")
            .unwrap_or(false);
        buf.clear();
        encode_row(row, 0, n_sessions, &mut buf)?;
        let mut h = ContentHasher::new();
        h.section(b'S', &buf);
        drain_for(&mut steps, id, b'T', &mut h)?;
        drain_for(&mut certs, id, b'C', &mut h)?;
        drain_for(&mut logs, id, b'L', &mut h)?;
        drain_for(&mut audits, id, b'A', &mut h)?;
        if is_running {
            running += 1;
        } else {
            content.insert(id, h.finish());
        }
    }
    Ok((content, running))
}

/// Content hash per sealed session id, and how many sessions are still running.
type Hashed = (HashMap<i64, String>, i64);

/// What the chain walk found, before it is compared with the tables.
struct Walk {
    entries: i64,
    head: ChainHead,
    /// (seq, session id, content hash) of every session seal, in chain order.
    seals: Vec<(i64, i64, String)>,
    /// Latest chained status per certificate serial.
    statuses: HashMap<String, String>,
    problems: Vec<ChainProblem>,
}

/// Walks the chain in order: sequence, links, entry hashes, certificate status entries.
fn walk_chain(
    conn: &Connection,
    table_status: &HashMap<String, String>,
) -> Result<Walk, JournalError> {
    let mut walk = Walk {
        entries: 0,
        head: ChainHead {
            seq: 0,
            hash: ZERO_HASH.into(),
        },
        seals: Vec::new(),
        statuses: HashMap::new(),
        problems: Vec::new(),
    };
    let mut prev: Option<String> = None;
    let mut expected_seq = 1;
    let mut stmt = conn.prepare(
        "SELECT seq, kind, ref, content_hash, prev_hash, hash, at FROM chain ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let kind = r.get_ref(1)?.as_str().unwrap_or_default();
        let reference = r.get_ref(2)?.as_str().unwrap_or_default();
        let content_hash = r.get_ref(3)?.as_str().unwrap_or_default();
        let prev_hash = r.get_ref(4)?.as_str().unwrap_or_default();
        let hash = r.get_ref(5)?.as_str().unwrap_or_default();
        let at = r.get_ref(6)?.as_str().unwrap_or_default();
        walk.entries += 1;
        if seq != expected_seq {
            walk.problems.push(ChainProblem {
                code: "chain.entry_missing",
                seq: Some(seq),
                message: format!(
                    "chain entries {expected_seq}..{} are missing: deleted",
                    seq - 1
                ),
            });
        }
        expected_seq = seq + 1;
        if prev.as_deref().is_some_and(|p| p != prev_hash) {
            walk.problems.push(ChainProblem {
                code: "chain.link_broken",
                seq: Some(seq),
                message: format!("entry {seq} does not follow the entry before it: entries were deleted, inserted or reordered"),
            });
        }
        if entry_hash(prev_hash, kind, reference, content_hash, at) != hash {
            walk.problems.push(ChainProblem {
                code: "chain.entry_edited",
                seq: Some(seq),
                message: format!("chain entry {seq} was edited"),
            });
        }
        match kind {
            "session" => walk.seals.push((
                seq,
                reference.parse().unwrap_or(-1),
                content_hash.to_owned(),
            )),
            "certificate_status" => {
                let current = table_status.get(reference).map(String::as_str);
                // The table's status first: it is the answer for most entries.
                let matched = current
                    .into_iter()
                    .chain(["issued", "active", "revoked", "superseded"])
                    .find(|s| status_content_hash(reference, s) == content_hash);
                match matched {
                    Some(s) => {
                        walk.statuses.insert(reference.to_owned(), s.to_owned());
                    }
                    None => walk.problems.push(ChainProblem {
                        code: "chain.entry_edited",
                        seq: Some(seq),
                        message: format!(
                            "status entry {seq} of certificate {reference} was edited"
                        ),
                    }),
                }
                if current.is_none() {
                    walk.problems.push(ChainProblem {
                        code: "chain.certificate_deleted",
                        seq: Some(seq),
                        message: format!(
                            "certificate {reference} was deleted after it was recorded"
                        ),
                    });
                }
            }
            _ => {}
        }
        prev = Some(hash.to_owned());
        walk.head = ChainHead {
            seq,
            hash: hash.to_owned(),
        };
    }
    Ok(walk)
}

fn certificate_statuses(conn: &Connection) -> Result<HashMap<String, String>, JournalError> {
    Ok(conn
        .prepare("SELECT serial, status FROM certificates")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?)
}

/// Compares the walk with the tables and picks the first problem in chain order.
fn judge(
    mut walk: Walk,
    mut content: HashMap<i64, String>,
    running: i64,
    table_status: HashMap<String, String>,
) -> VerifyReport {
    let mut problems = std::mem::take(&mut walk.problems);
    let sealed = walk.seals.len() as i64;
    for (seq, id, hash) in &walk.seals {
        match content.remove(id) {
            None => problems.push(ChainProblem {
                code: "chain.session_deleted",
                seq: Some(*seq),
                message: format!("session {id} was deleted (or reopened) after it was recorded"),
            }),
            Some(h) if h != *hash => problems.push(ChainProblem {
                code: "chain.session_edited",
                seq: Some(*seq),
                message: format!("session {id} (its row, steps, certificates or device log) was edited after it was recorded"),
            }),
            Some(_) => {}
        }
    }
    if let Some(id) = content.keys().min() {
        problems.push(ChainProblem {
            code: "chain.session_unrecorded",
            seq: None,
            message: format!(
                "session {id} is not in the chain: inserted or closed outside Commissioner"
            ),
        });
    }
    let mut serials: Vec<_> = table_status.into_iter().collect();
    serials.sort();
    for (serial, status) in serials {
        match walk.statuses.get(&serial) {
            Some(s) if *s == status => {}
            Some(s) => problems.push(ChainProblem {
                code: "chain.certificate_edited",
                seq: None,
                message: format!(
                    "certificate {serial} has status '{status}' but its recorded status is '{s}'"
                ),
            }),
            None => problems.push(ChainProblem {
                code: "chain.certificate_unrecorded",
                seq: None,
                message: format!(
                    "certificate {serial} is not in the chain: inserted outside Commissioner"
                ),
            }),
        }
    }
    // First in chain order; problems found only at the end (no entry) come last.
    let problem = problems
        .into_iter()
        .enumerate()
        .min_by_key(|(i, p)| (p.seq.unwrap_or(i64::MAX), *i))
        .map(|(_, p)| p);
    VerifyReport {
        entries: walk.entries,
        sealed_sessions: sealed,
        running_sessions: running,
        head: walk.head,
        problem,
    }
}

/// Verifies the whole journal: every session's content against its seal, every link, every
/// certificate's status. On a file, the session tables are hashed in two halves on two read
/// connections while this one walks the chain; if that finds anything, the check is repeated
/// on one connection (one consistent snapshot) before it is reported, so a session sealed
/// while verify ran cannot raise a false alarm.
pub fn verify(conn: &Connection) -> Result<VerifyReport, JournalError> {
    if let Some(path) = conn
        .path()
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
    {
        let report = verify_parallel(conn, &path)?;
        if report.ok() {
            return Ok(report);
        }
    }
    verify_sequential(conn)
}

fn verify_sequential(conn: &Connection) -> Result<VerifyReport, JournalError> {
    let tx = conn.unchecked_transaction()?;
    let (content, running) = content_hashes(&tx, i64::MIN, i64::MAX)?;
    let table_status = certificate_statuses(&tx)?;
    let walk = walk_chain(&tx, &table_status)?;
    Ok(judge(walk, content, running, table_status))
}

fn verify_parallel(
    conn: &Connection,
    path: &std::path::Path,
) -> Result<VerifyReport, JournalError> {
    let max_id: i64 = conn.query_row("SELECT COALESCE(max(id), 0) FROM sessions", [], |r| {
        r.get(0)
    })?;
    let mid = max_id / 2 + 1;
    let half = |lo: i64, hi: i64| -> Result<Hashed, JournalError> {
        let c = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let tx = c.unchecked_transaction()?;
        content_hashes(&tx, lo, hi)
    };
    let (low, high, table_status, walk) = std::thread::scope(|s| {
        let low = s.spawn(|| half(i64::MIN, mid));
        let high = s.spawn(|| half(mid, i64::MAX));
        let table_status = certificate_statuses(conn);
        let walk = table_status.as_ref().ok().map(|t| walk_chain(conn, t));
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<Hashed, JournalError>>| {
            h.join()
                .unwrap_or_else(|_| Err(JournalError::Sqlite(rusqlite::Error::InvalidQuery)))
        };
        (join(low), join(high), table_status, walk)
    });
    let (mut content, running_low) = low?;
    let (high, running_high) = high?;
    content.extend(high);
    let table_status = table_status?;
    let walk = walk.unwrap_or_else(|| Err(JournalError::Sqlite(rusqlite::Error::InvalidQuery)))?;
    Ok(judge(
        walk,
        content,
        running_low + running_high,
        table_status,
    ))
}
