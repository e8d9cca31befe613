//! `verify`: a full check of every seal, link and certificate status, spread over the cores.
//!
//! The work is cut into tasks (the chain walk, and each table over a slice of session ids), and
//! every core takes tasks on a read connection of its own until none are left. On one
//! connection (an in-memory journal, or the confirmation pass) the same tasks run in turn.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::content::{Digest32, Drift, PartScan, SealHashes, NPARTS, PARTS};
use super::records;
use super::{
    entry_digest, legacy, revocation_content_hash, status_content_hash, ChainHead, ChainProblem,
    JournalError, SealMarks, VerifyReport, ZERO_HASH,
};

/// Session-id slices per core: enough that the cores finish close together.
const SLICES_PER_CORE: usize = 16;

pub(super) struct Seal {
    pub(super) seq: i64,
    pub(super) session: i64,
    /// The recorded content hash as stored (hex); `None` when it is not even 64 bytes long.
    pub(super) content: Option<[u8; 64]>,
}

/// What a walk over a run of chain entries found, before it is compared with the tables.
#[derive(Default)]
pub(super) struct Walk {
    pub(super) entries: i64,
    pub(super) seals: Vec<Seal>,
    /// Last status entry per certificate serial: (seq, content hash).
    pub(super) statuses: HashMap<String, (i64, String)>,
    /// Last entry per chained record (kind, key): (seq, content hash).
    pub(super) records: HashMap<(String, String), (i64, String)>,
    pub(super) problems: Vec<ChainProblem>,
    /// The first entry's seq and prev_hash, and the last entry's seq and hash: where runs join.
    pub(super) first: Option<(i64, Vec<u8>)>,
    pub(super) last: Option<(i64, Vec<u8>)>,
}

fn bytes(v: ValueRef<'_>) -> &[u8] {
    match v {
        ValueRef::Text(t) | ValueRef::Blob(t) => t,
        _ => b"",
    }
}

/// Whether `hex` is `digest` in lower-case hex, as the chain stores hashes. Encoding the
/// digest is a table lookup per byte; decoding the text would branch on every digit.
pub(super) fn is_hex_of(hex: &[u8], digest: &Digest32) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    hex.len() == 64
        && digest.iter().zip(hex.chunks_exact(2)).all(|(b, pair)| {
            pair[0] == DIGITS[usize::from(b >> 4)] && pair[1] == DIGITS[usize::from(b & 15)]
        })
}

/// Walks the entries with seq in `[from, to)` in order: sequence, links, entry hashes. Values
/// are compared in place, so a million entries cost a million hashes and no allocation each.
pub(super) fn walk_chain(conn: &Connection, from: i64, to: i64) -> Result<Walk, JournalError> {
    let mut walk = Walk::default();
    let mut prev: Option<Vec<u8>> = None;
    let mut last_seq = None;
    let mut stmt = conn.prepare_cached(
        "SELECT seq, kind, ref, content_hash, prev_hash, hash, at FROM chain
         WHERE seq >= ?1 AND seq < ?2 ORDER BY seq",
    )?;
    let mut rows = stmt.query(params![from, to])?;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let kind = bytes(r.get_ref(1)?);
        let reference = bytes(r.get_ref(2)?);
        let content = bytes(r.get_ref(3)?);
        let prev_hash = bytes(r.get_ref(4)?);
        let hash = bytes(r.get_ref(5)?);
        let at = bytes(r.get_ref(6)?);
        walk.entries += 1;
        match last_seq {
            None => walk.first = Some((seq, prev_hash.to_vec())),
            Some(last) => check_join(&mut walk.problems, last + 1, seq, None),
        }
        last_seq = Some(seq);
        if prev.as_deref().is_some_and(|p| p != prev_hash) {
            check_join(&mut walk.problems, seq, seq, Some(false));
        }
        let digest = entry_digest(prev_hash, kind, reference, content, at);
        if !is_hex_of(hash, &digest) {
            walk.problems.push(ChainProblem {
                code: "chain.entry_edited",
                seq: Some(seq),
                message: format!("chain entry {seq} was edited"),
            });
        }
        match kind {
            b"session" => walk.seals.push(Seal {
                seq,
                session: std::str::from_utf8(reference)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(-1),
                content: content.try_into().ok(),
            }),
            b"certificate_status" => {
                walk.statuses.insert(
                    String::from_utf8_lossy(reference).into_owned(),
                    (seq, String::from_utf8_lossy(content).into_owned()),
                );
            }
            k if records::is_record_kind(k) => {
                walk.records.insert(
                    (
                        String::from_utf8_lossy(k).into_owned(),
                        String::from_utf8_lossy(reference).into_owned(),
                    ),
                    (seq, String::from_utf8_lossy(content).into_owned()),
                );
            }
            _ => {}
        }
        match &mut prev {
            Some(p) => {
                p.clear();
                p.extend_from_slice(hash);
            }
            None => prev = Some(hash.to_vec()),
        }
    }
    walk.last = last_seq.zip(prev);
    Ok(walk)
}

/// Records a gap before entry `seq` (expected `expected`) or, with `linked == Some(false)`, a
/// link that does not follow.
fn check_join(problems: &mut Vec<ChainProblem>, expected: i64, seq: i64, linked: Option<bool>) {
    if linked == Some(false) {
        problems.push(ChainProblem {
            code: "chain.link_broken",
            seq: Some(seq),
            message: format!("entry {seq} does not follow the entry before it: entries were deleted, inserted or reordered"),
        });
    } else if seq != expected {
        problems.push(ChainProblem {
            code: "chain.entry_missing",
            seq: Some(seq),
            message: format!("chain entries {expected}..{} are missing: deleted", seq - 1),
        });
    }
}

/// Joins the walks of consecutive runs into one, checking the links between them.
fn join_walks(runs: Vec<Walk>) -> (Walk, ChainHead) {
    let mut all = Walk::default();
    let mut last: Option<(i64, Vec<u8>)> = None;
    for run in runs {
        if let Some((seq, prev_hash)) = &run.first {
            let expected = last.as_ref().map_or(1, |l| l.0 + 1);
            check_join(&mut all.problems, expected, *seq, None);
            if last.as_ref().is_some_and(|l| l.1 != *prev_hash) {
                check_join(&mut all.problems, *seq, *seq, Some(false));
            }
        }
        if run.last.is_some() {
            last = run.last;
        }
        all.entries += run.entries;
        all.seals.extend(run.seals);
        all.statuses.extend(run.statuses);
        all.records.extend(run.records);
        all.problems.extend(run.problems);
    }
    let head = match last {
        Some((seq, hash)) => ChainHead {
            seq,
            hash: String::from_utf8_lossy(&hash).into_owned(),
        },
        None => ChainHead {
            seq: 0,
            hash: ZERO_HASH.into(),
        },
    };
    (all, head)
}

enum Task {
    /// The chain entries of one run.
    Walk(usize),
    /// Every table for the sessions of one slice, hashed and combined.
    Slice(usize),
}

enum Done {
    Walk(usize, Walk),
    Slice(usize, Contents),
}

/// The tasks, biggest first, and the session-id slices they cover. The first and last slices
/// are open-ended so that rows of sessions that do not exist are scanned too, and so are the
/// first and last chain runs.
struct Plan {
    tasks: Vec<Task>,
    bounds: Vec<(i64, i64)>,
    /// Seq ranges of the chain runs.
    runs: Vec<(i64, i64)>,
    running: Vec<i64>,
    /// The journal holds v3 seals (see [`SealHashes`]).
    with_v3: bool,
}

/// `[min, max]` cut into `n` ranges; the first and last are open-ended.
fn split(min: Option<i64>, max: Option<i64>, n: usize) -> Vec<(i64, i64)> {
    let (min, max) = (min.unwrap_or(0), max.unwrap_or(0));
    let n = n.max(1) as i64;
    let width = ((max - min) / n).max(1);
    let mut bounds: Vec<(i64, i64)> = (0..n)
        .map(|k| (min + k * width, min + (k + 1) * width))
        .collect();
    if let Some(first) = bounds.first_mut() {
        first.0 = i64::MIN;
    }
    if let Some(last) = bounds.last_mut() {
        last.1 = i64::MAX;
    }
    bounds
}

fn plan(conn: &Connection, cores: usize) -> Result<Plan, JournalError> {
    let (min, max): (Option<i64>, Option<i64>) =
        conn.query_row("SELECT min(id), max(id) FROM sessions", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let bounds = split(min, max, cores * SLICES_PER_CORE);
    let (first, last): (Option<i64>, Option<i64>) =
        conn.query_row("SELECT min(seq), max(seq) FROM chain", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let runs = split(first, last, cores);
    // The chain runs are the biggest single tasks: first, so no core waits on one at the end.
    let mut tasks: Vec<Task> = (0..runs.len()).map(Task::Walk).collect();
    tasks.extend((0..bounds.len()).map(Task::Slice));
    let running = conn
        .prepare("SELECT id FROM sessions WHERE result = 'running' ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(Plan {
        tasks,
        bounds,
        runs,
        running,
        with_v3: SealMarks::read(conn)?.has_v3(),
    })
}

pub(super) fn scan_sessions(
    conn: &Connection,
    from: i64,
    running: &[i64],
) -> Result<Contents, JournalError> {
    let mut scans: [PartScan; NPARTS] = Default::default();
    for (scan, part) in scans.iter_mut().zip(&PARTS) {
        *scan = part.scan(conn, from, i64::MAX)?;
    }
    Ok(assemble(scans, running, SealMarks::read(conn)?.has_v3()))
}

fn run(conn: &Connection, plan: &Plan, task: &Task) -> Result<Done, JournalError> {
    Ok(match *task {
        Task::Walk(run) => {
            let (from, to) = plan.runs[run];
            Done::Walk(run, walk_chain(conn, from, to)?)
        }
        Task::Slice(slice) => {
            let (from, to) = plan.bounds[slice];
            let mut scans: [PartScan; NPARTS] = Default::default();
            for (scan, part) in scans.iter_mut().zip(&PARTS) {
                *scan = part.scan(conn, from, to)?;
            }
            Done::Slice(slice, assemble(scans, &plan.running, plan.with_v3))
        }
    })
}

/// Content hash per sealed session (id order), and what the scans found on the way.
pub(super) struct Contents {
    pub(super) hashes: Vec<(i64, SealHashes)>,
    pub(super) drifts: Vec<Drift>,
    pub(super) problems: Vec<ChainProblem>,
}

/// Merges one slice's part digests (each in session order) into content hashes.
fn assemble(parts: [PartScan; NPARTS], running: &[i64], with_v3: bool) -> Contents {
    let [sessions, steps, mut certs, logs, audits, assurances] = parts;
    let drifts = std::mem::take(&mut certs.drifts);
    let others = [
        &steps.digests,
        &certs.digests,
        &logs.digests,
        &audits.digests,
        &assurances.digests,
    ];
    let mut cursors = [0usize; NPARTS - 1];
    let mut orphans: [Option<i64>; NPARTS - 1] = [None; NPARTS - 1];
    let empty = [1, 2, 3, 4, 5].map(|k| PARTS[k].empty());
    let mut hashes = Vec::with_capacity(sessions.digests.len());
    for &(sid, s_digest) in &sessions.digests {
        let mut digests = [[0; 32]; NPARTS];
        digests[0] = s_digest;
        for (k, rows) in others.iter().enumerate() {
            while cursors[k] < rows.len() && rows[cursors[k]].0 < sid {
                orphans[k].get_or_insert(rows[cursors[k]].0);
                cursors[k] += 1;
            }
            digests[k + 1] = match rows.get(cursors[k]) {
                Some((id, d)) if *id == sid => {
                    cursors[k] += 1;
                    *d
                }
                _ => empty[k],
            };
        }
        if running.binary_search(&sid).is_err() {
            hashes.push((sid, SealHashes::of(&digests, with_v3)));
        }
    }
    let mut problems = Vec::new();
    for (k, rows) in others.iter().enumerate() {
        let orphan = orphans[k].or_else(|| rows.get(cursors[k]).map(|r| r.0));
        if let Some(sid) = orphan {
            let table = PARTS[k + 1].table;
            problems.push(ChainProblem {
                code: if table == "certificates" {
                    "chain.certificate_unrecorded"
                } else {
                    "chain.rows_unrecorded"
                },
                seq: None,
                message: format!(
                    "{table} has rows of session {sid}, which is not in the journal: inserted outside Commissioner or left by a deletion"
                ),
            });
        }
    }
    Contents {
        hashes,
        drifts,
        problems,
    }
}

/// Turns finished tasks into the report.
fn finish(conn: &Connection, plan: &Plan, done: Vec<Done>) -> Result<VerifyReport, JournalError> {
    let mut runs = Vec::with_capacity(plan.runs.len());
    let mut slices = Vec::with_capacity(plan.bounds.len());
    for d in done {
        match d {
            Done::Walk(i, w) => runs.push((i, w)),
            Done::Slice(i, c) => slices.push((i, c)),
        }
    }
    slices.sort_by_key(|s| s.0);
    let mut contents = Contents {
        hashes: Vec::new(),
        drifts: Vec::new(),
        problems: Vec::new(),
    };
    for (_, c) in slices {
        contents.hashes.extend(c.hashes);
        contents.drifts.extend(c.drifts);
        contents.problems.extend(c.problems);
    }
    runs.sort_by_key(|r| r.0);
    let (walk, head) = join_walks(runs.into_iter().map(|r| r.1).collect());
    judge(conn, walk, head, contents, &plan.running)
}

/// Compares the walk with the tables and picks the first problem in chain order.
fn judge(
    conn: &Connection,
    mut walk: Walk,
    head: ChainHead,
    contents: Contents,
    running: &[i64],
) -> Result<VerifyReport, JournalError> {
    let mut problems = std::mem::take(&mut walk.problems);
    problems.extend(contents.problems);
    let marks = SealMarks::read(conn)?;
    let mut seen = vec![false; contents.hashes.len()];
    for seal in &walk.seals {
        let (seq, id) = (seal.seq, seal.session);
        let found = contents
            .hashes
            .binary_search_by_key(&id, |(sid, _)| *sid)
            .ok();
        let current = found.filter(|&i| !std::mem::replace(&mut seen[i], true));
        let Some(i) = current else {
            problems.push(ChainProblem {
                code: "chain.session_deleted",
                seq: Some(seq),
                message: format!("session {id} was deleted (or reopened) after it was recorded"),
            });
            continue;
        };
        let actual = if marks.is_v2(seq) {
            legacy::session_digest_v2(conn, id)?
        } else {
            *contents.hashes[i].1.at(seq, &marks)
        };
        if !seal.content.is_some_and(|c| is_hex_of(&c, &actual)) {
            problems.push(ChainProblem {
                code: "chain.session_edited",
                seq: Some(seq),
                message: format!("session {id} (its row, steps, certificates, device log, audit checks or assurance) was edited after it was recorded"),
            });
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
    check_statuses(conn, &walk, &contents.drifts, running, &mut problems)?;
    records::check(conn, &walk.records, &mut problems)?;
    Ok(report(&walk, running.len(), head, problems))
}

/// The report of a walk: its counts, and its first problem in chain order (problems found only
/// at the end, without an entry, come last). Full and incremental verify both end here.
pub(super) fn report(
    walk: &Walk,
    running: usize,
    head: ChainHead,
    problems: Vec<ChainProblem>,
) -> VerifyReport {
    let problem = problems
        .into_iter()
        .enumerate()
        .min_by_key(|(i, p)| (p.seq.unwrap_or(i64::MAX), *i))
        .map(|(_, p)| p);
    VerifyReport {
        entries: walk.entries,
        sealed_sessions: walk.seals.len() as i64,
        running_sessions: running as i64,
        head,
        problem,
    }
}

/// A certificate as the registry holds it now.
struct CertRow {
    status: String,
    /// Its status was sealed with its session (seal v3).
    sealed: bool,
    /// `None` for a certificate an archive carried over without its session.
    session: Option<i64>,
    revoked_at: Option<String>,
    reason: Option<String>,
}

/// A certificate's status is the one its last status entry after its seal records or,
/// without one, the one sealed with its session.
pub(super) fn check_statuses(
    conn: &Connection,
    walk: &Walk,
    drifts: &[Drift],
    running: &[i64],
    problems: &mut Vec<ChainProblem>,
) -> Result<(), JournalError> {
    let mut row = conn.prepare_cached(
        "SELECT status, sealed_status IS NOT NULL, session_id, revoked_at, revocation_reason
         FROM certificates WHERE serial = ?1",
    )?;
    let mut seal_seq =
        conn.prepare_cached("SELECT seq FROM chain WHERE kind = 'session' AND ref = ?1")?;
    let mut entries: Vec<_> = walk.statuses.iter().collect();
    entries.sort_by_key(|(_, (seq, _))| *seq);
    let mut explained = HashSet::new();
    for (serial, (seq, content)) in entries {
        let found = row
            .query_row([serial], |r| {
                Ok(CertRow {
                    status: r.get(0)?,
                    sealed: r.get(1)?,
                    session: r.get(2)?,
                    revoked_at: r.get(3)?,
                    reason: r.get(4)?,
                })
            })
            .optional()?;
        let Some(CertRow {
            status,
            sealed,
            session,
            revoked_at,
            reason,
        }) = found
        else {
            problems.push(ChainProblem {
                code: "chain.certificate_deleted",
                seq: Some(*seq),
                message: format!("certificate {serial} was deleted after it was recorded"),
            });
            continue;
        };
        // Entries from before seal v3 may precede the seal, which then has the last word.
        if let Some(session) = session.filter(|_| sealed) {
            let sealed_at: Option<i64> = seal_seq
                .query_row([session.to_string()], |r| r.get(0))
                .optional()?;
            if sealed_at.is_some_and(|s| s > *seq) {
                continue;
            }
        }
        explained.insert(serial.as_str());
        // A revocation is chained with its date and reason; one chained as a bare status
        // (journals from before that) is taken as it is.
        let revocation = match (status.as_str(), &revoked_at, &reason) {
            ("revoked", Some(at), Some(why)) => Some(revocation_content_hash(serial, at, why)),
            _ => None,
        };
        if revocation.as_ref() == Some(content) || status_content_hash(serial, &status) == *content
        {
            continue;
        }
        let recorded = ["issued", "active", "revoked", "superseded"]
            .into_iter()
            .find(|s| status_content_hash(serial, s) == *content);
        let message = match recorded {
            // Revoked then and now: what changed is when or why.
            None if status == "revoked" => format!(
                "certificate {serial} is revoked, but its revocation date or reason is not the one recorded"
            ),
            recorded => {
                let revoked_as_recorded = revoked_at
                    .as_deref()
                    .zip(reason.as_deref())
                    .is_some_and(|(at, why)| revocation_content_hash(serial, at, why) == *content);
                let recorded = recorded
                    .or(revoked_as_recorded.then_some("revoked"))
                    .unwrap_or("unknown");
                format!("certificate {serial} has status '{status}' but its recorded status is '{recorded}'")
            }
        };
        problems.push(ChainProblem {
            code: "chain.certificate_edited",
            seq: Some(*seq),
            message,
        });
    }
    let unexplained = drifts.iter().filter(|d| {
        !explained.contains(d.serial.as_str()) && running.binary_search(&d.session_id).is_err()
    });
    let mut seal_of: Option<HashMap<i64, i64>> = None;
    for d in unexplained {
        let seals =
            seal_of.get_or_insert_with(|| walk.seals.iter().map(|s| (s.session, s.seq)).collect());
        problems.push(ChainProblem {
            code: "chain.certificate_edited",
            seq: seals.get(&d.session_id).copied(),
            message: format!(
                "certificate {} has status '{}' but the status sealed with session {} differs and no later change is recorded",
                d.serial,
                d.status.as_deref().unwrap_or("NULL"),
                d.session_id
            ),
        });
    }
    Ok(())
}

/// Verifies the whole journal: every session's content against its seal, every link, every
/// certificate's status. On a file, the tasks run on one read connection per core; if that
/// finds anything, the check is repeated on this connection alone (one consistent snapshot)
/// before it is reported, so a session sealed while verify ran cannot raise a false alarm.
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
    let plan = plan(&tx, 1)?;
    let done = plan
        .tasks
        .iter()
        .map(|t| run(&tx, &plan, t))
        .collect::<Result<Vec<_>, _>>()?;
    finish(&tx, &plan, done)
}

fn verify_parallel(conn: &Connection, path: &Path) -> Result<VerifyReport, JournalError> {
    let timing = std::env::var_os("COMMISSIONER_VERIFY_TIMING").is_some();
    let t0 = Instant::now();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
    let plan = plan(conn, cores)?;
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(plan.tasks.len()));
    let worker = || -> Result<(), JournalError> {
        // One thread per connection: SQLite's per-call mutex would cost a fifth of the scan.
        let c = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let tx = c.unchecked_transaction()?;
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(task) = plan.tasks.get(i) else {
                return Ok(());
            };
            let t = Instant::now();
            let d = run(&tx, &plan, task)?;
            if timing {
                let name = match task {
                    Task::Walk(run) => format!("chain run {run}"),
                    Task::Slice(slice) => format!("sessions slice {slice}"),
                };
                eprintln!("verify: {name} took {:?}", t.elapsed());
            }
            done.lock().unwrap_or_else(|e| e.into_inner()).push(d);
        }
    };
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cores).map(|_| s.spawn(worker)).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or(Err(JournalError::Sqlite(rusqlite::Error::InvalidQuery)))
            })
            .collect()
    });
    for r in results {
        r?;
    }
    if timing {
        eprintln!("verify: tables and chain after {:?}", t0.elapsed());
    }
    let done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    let report = finish(conn, &plan, done)?;
    if timing {
        eprintln!("verify: judged after {:?}", t0.elapsed());
    }
    Ok(report)
}
