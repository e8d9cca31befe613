//! The hash chain that makes edits, deletions and reordering visible.
//!
//! A session is *sealed* when it ends: its content hash covers the session row, its steps, its
//! certificates (without their status, which changes later), its device log and its broker
//! audit checks, in a canonical binary encoding. A certificate's status changes are entries of their own. Every entry's hash
//! covers the previous entry's hash, so removing, reordering or rewriting an entry breaks the
//! link after it. Anyone with write access can recompute the whole chain; the chain head that
//! every export carries (and that QA keeps) is what anchors it.

use std::collections::HashMap;

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

type Digest32 = [u8; 32];

/// One table's part of a session's content: the column list, the table, the order of its rows
/// within a session, a tag, and how many leading columns are the session id only.
struct Part {
    cols: &'static str,
    table: &'static str,
    order: &'static str,
    key: &'static str,
    tag: u8,
    skip: usize,
}

const PARTS: [Part; 5] = [
    Part {
        cols: SESSION_COLS,
        table: "sessions",
        order: "id",
        key: "id",
        tag: b'S',
        skip: 0,
    },
    Part {
        cols: STEP_COLS,
        table: "steps",
        order: "session_id, id",
        key: "session_id",
        tag: b'T',
        skip: 1,
    },
    Part {
        cols: CERT_COLS,
        table: "certificates",
        order: "session_id, rowid",
        key: "session_id",
        tag: b'C',
        skip: 1,
    },
    Part {
        cols: LOG_COLS,
        table: "device_log",
        order: "session_id, id",
        key: "session_id",
        tag: b'L',
        skip: 1,
    },
    Part {
        cols: AUDIT_COLS,
        table: "audit_checks",
        order: "session_id, id",
        key: "session_id",
        tag: b'A',
        skip: 1,
    },
];

impl Part {
    fn sql(&self, one_session: bool) -> String {
        let filter = if one_session {
            format!("WHERE {} = ?1", self.key)
        } else {
            String::new()
        };
        format!(
            "SELECT {} FROM {} {filter} ORDER BY {}",
            self.cols, self.table, self.order
        )
    }

    /// Digest of an empty part, so that a session without log lines hashes alike everywhere.
    fn empty(&self) -> Digest32 {
        Sha256::new_with_prefix([self.tag]).finalize().into()
    }

    /// Per-session digests of this part's rows, in session order. Rows are encoded into one
    /// reused buffer: no allocation per row, which is what makes verifying a million sessions
    /// affordable.
    fn digests(&self, rows: &mut rusqlite::Rows<'_>) -> Result<Vec<(i64, Digest32)>, JournalError> {
        let n = column_count(self.cols);
        let mut out = Vec::new();
        let mut current: Option<(i64, Sha256)> = None;
        let mut buf = Vec::with_capacity(512);
        while let Some(row) = rows.next()? {
            let sid: i64 = row.get(0)?;
            let hasher = match &mut current {
                Some((id, h)) if *id == sid => h,
                slot => {
                    if let Some((id, h)) = slot.take() {
                        out.push((id, h.finalize().into()));
                    }
                    &mut slot.insert((sid, Sha256::new_with_prefix([self.tag]))).1
                }
            };
            buf.clear();
            encode_row(row, self.skip, n, &mut buf)?;
            hasher.update((buf.len() as u64).to_be_bytes());
            hasher.update(&buf);
        }
        if let Some((id, h)) = current {
            out.push((id, h.finalize().into()));
        }
        Ok(out)
    }
}

/// A session's content hash from its four part digests.
fn combine(parts: &[Digest32; 5]) -> String {
    let mut h = Sha256::new_with_prefix(b"commissioner-session-v2\0");
    for p in parts {
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// Content hash of one session, read from the tables (used when sealing).
pub(super) fn session_content_hash(
    conn: &Connection,
    session_id: i64,
) -> Result<String, JournalError> {
    let mut digests = [[0u8; 32]; 5];
    for (i, part) in PARTS.iter().enumerate() {
        let mut stmt = conn.prepare_cached(&part.sql(true))?;
        let mut rows = stmt.query(params![session_id])?;
        digests[i] = part
            .digests(&mut rows)?
            .first()
            .map(|d| d.1)
            .unwrap_or_else(|| part.empty());
    }
    Ok(combine(&digests))
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

/// Content hash per sealed session, in id order, and how many sessions are still running.
struct Contents {
    hashes: Vec<(i64, String)>,
    running: i64,
}

fn part_digests(conn: &Connection, part: &Part) -> Result<Vec<(i64, Digest32)>, JournalError> {
    let mut stmt = conn.prepare(&part.sql(false))?;
    let mut rows = stmt.query([])?;
    part.digests(&mut rows)
}

fn running_ids(conn: &Connection) -> Result<Vec<i64>, JournalError> {
    Ok(conn
        .prepare("SELECT id FROM sessions WHERE result = 'running' ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

/// Merges the four parts' digests (each in session order) into content hashes.
fn assemble(parts: [Vec<(i64, Digest32)>; 5], running: &[i64]) -> Contents {
    let [sessions, steps, certs, logs, audits] = parts;
    let mut cursors = [0usize; 4];
    let others = [&steps, &certs, &logs, &audits];
    let mut hashes = Vec::with_capacity(sessions.len());
    for (sid, s_digest) in sessions {
        let mut digests = [s_digest, [0; 32], [0; 32], [0; 32], [0; 32]];
        for (k, rows) in others.iter().enumerate() {
            // Skip orphans of deleted sessions; the chain walk reports the deletion.
            while cursors[k] < rows.len() && rows[cursors[k]].0 < sid {
                cursors[k] += 1;
            }
            digests[k + 1] = match rows.get(cursors[k]) {
                Some((id, d)) if *id == sid => *d,
                _ => PARTS[k + 1].empty(),
            };
        }
        if running.binary_search(&sid).is_err() {
            hashes.push((sid, combine(&digests)));
        }
    }
    Contents {
        hashes,
        running: running.len() as i64,
    }
}

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
    contents: Contents,
    table_status: HashMap<String, String>,
) -> VerifyReport {
    let mut problems = std::mem::take(&mut walk.problems);
    let sealed = walk.seals.len() as i64;
    let running = contents.running;
    let mut seen = vec![false; contents.hashes.len()];
    for (seq, id, hash) in &walk.seals {
        let found = contents
            .hashes
            .binary_search_by_key(id, |(sid, _)| *sid)
            .ok();
        let current = found.filter(|&i| !std::mem::replace(&mut seen[i], true));
        match current.map(|i| &contents.hashes[i].1) {
            None => problems.push(ChainProblem {
                code: "chain.session_deleted",
                seq: Some(*seq),
                message: format!("session {id} was deleted (or reopened) after it was recorded"),
            }),
            Some(h) if h != hash => problems.push(ChainProblem {
                code: "chain.session_edited",
                seq: Some(*seq),
                message: format!("session {id} (its row, steps, certificates or device log) was edited after it was recorded"),
            }),
            Some(_) => {}
        }
    }
    if let Some((id, _)) = contents
        .hashes
        .iter()
        .zip(&seen)
        .find(|(_, s)| !**s)
        .map(|(h, _)| h)
    {
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
    let parts = [
        part_digests(&tx, &PARTS[0])?,
        part_digests(&tx, &PARTS[1])?,
        part_digests(&tx, &PARTS[2])?,
        part_digests(&tx, &PARTS[3])?,
        part_digests(&tx, &PARTS[4])?,
    ];
    let contents = assemble(parts, &running_ids(&tx)?);
    let table_status = certificate_statuses(&tx)?;
    let walk = walk_chain(&tx, &table_status)?;
    Ok(judge(walk, contents, table_status))
}

/// Each table on a read connection of its own, in parallel with the chain walk here.
fn verify_parallel(
    conn: &Connection,
    path: &std::path::Path,
) -> Result<VerifyReport, JournalError> {
    let timing = std::env::var_os("COMMISSIONER_VERIFY_TIMING").is_some();
    let t0 = std::time::Instant::now();
    let digests = |part: &Part| -> Result<Vec<(i64, Digest32)>, JournalError> {
        let c = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let tx = c.unchecked_transaction()?;
        let d = part_digests(&tx, part);
        if timing {
            eprintln!("verify: {} digests after {:?}", part.table, t0.elapsed());
        }
        d
    };
    let lost = || JournalError::Sqlite(rusqlite::Error::InvalidQuery);
    let (parts, running, table_status, walk) = std::thread::scope(|s| {
        let handles = PARTS.each_ref().map(|part| s.spawn(move || digests(part)));
        let running = running_ids(conn);
        let table_status = certificate_statuses(conn);
        let walk = table_status.as_ref().ok().map(|t| walk_chain(conn, t));
        if timing {
            eprintln!("verify: chain walk after {:?}", t0.elapsed());
        }
        let parts = handles.map(|h| h.join().unwrap_or_else(|_| Err(lost())));
        (parts, running, table_status, walk)
    });
    let [a, b, c, d, e] = parts;
    let contents = assemble([a?, b?, c?, d?, e?], &running?);
    let table_status = table_status?;
    let walk = walk.unwrap_or_else(|| Err(lost()))?;
    let report = judge(walk, contents, table_status);
    if timing {
        eprintln!("verify: judged after {:?}", t0.elapsed());
    }
    Ok(report)
}
