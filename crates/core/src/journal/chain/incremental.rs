//! Incremental verify: from the last head a full (or incremental) verify found intact, check
//! only what came after it. Cost follows what is new: the chain entries after the head, the
//! sessions from the oldest one sealed since (or the newest one then) on, and the records that
//! decide trust. What it does not re-check is what the verified head already covered: an
//! edit to an old session is found by a full `verify`, which QA runs on its own schedule.
//!
//! The head is recorded in the journal's `meta` (with the newest session id then) and, by the
//! station, as a signed `verified` anchor; the station starts from the meta record only when
//! the last such anchor agrees, so editing `meta` to skip ahead gains nothing.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::records::KINDS;
use super::verify::{check_statuses, is_hex_of, scan_sessions, walk_chain};
use super::{ChainHead, ChainProblem, JournalError, VerifyReport};

/// `meta` key of the last verified head.
const VERIFIED_KEY: &str = "verified_head";

/// A head verify found intact, and the newest session id at the time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    pub head: ChainHead,
    pub max_session: i64,
}

/// The last verified head recorded in the journal, if any.
pub fn last_verified(conn: &Connection) -> Result<Option<Verified>, JournalError> {
    let text: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [VERIFIED_KEY],
            |r| r.get(0),
        )
        .optional()?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

/// Records `head` as verified. Call only with the head of a report that had no problem.
pub fn record_verified(conn: &Connection, head: &ChainHead) -> Result<Verified, JournalError> {
    let max_session: i64 =
        conn.query_row("SELECT COALESCE(max(id), 0) FROM sessions", [], |r| {
            r.get(0)
        })?;
    let verified = Verified {
        head: head.clone(),
        max_session,
    };
    let text = serde_json::to_string(&verified).map_err(|e| JournalError::Group(e.to_string()))?;
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = ?2",
        params![VERIFIED_KEY, text],
    )?;
    Ok(verified)
}

fn problem(code: &'static str, seq: Option<i64>, message: String) -> ChainProblem {
    ChainProblem { code, seq, message }
}

/// Verifies what came after `from`, in one read snapshot.
pub fn verify_since(conn: &Connection, from: &Verified) -> Result<VerifyReport, JournalError> {
    let tx = conn.unchecked_transaction()?;
    let conn: &Connection = &tx;
    let mut problems = Vec::new();
    let at: Option<String> = conn
        .query_row(
            "SELECT hash FROM chain WHERE seq = ?1",
            [from.head.seq],
            |r| r.get(0),
        )
        .optional()?;
    if at.as_deref() != Some(from.head.hash.as_str()) {
        problems.push(ChainProblem {
            code: "chain.verified_head_missing",
            seq: Some(from.head.seq),
            message: format!(
                "the head verified before (entry {}, {}) is no longer in the chain: entries were cut off or rewritten",
                from.head.seq, from.head.hash
            ),
        });
    }
    let mut walk = walk_chain(conn, from.head.seq + 1, i64::MAX)?;
    if let Some((seq, prev)) = &walk.first {
        if *seq != from.head.seq + 1 || prev.as_slice() != from.head.hash.as_bytes() {
            problems.push(problem(
                "chain.link_broken",
                Some(*seq),
                format!(
                    "entry {seq} does not follow the verified head {}",
                    from.head.seq
                ),
            ));
        }
    }
    problems.append(&mut walk.problems);
    let running: Vec<i64> = conn
        .prepare("SELECT id FROM sessions WHERE result = 'running' ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    // Every session sealed since, and every session begun since the verified head.
    let from_id = walk
        .seals
        .iter()
        .map(|s| s.session)
        .chain([from.max_session + 1])
        .min()
        .unwrap_or(from.max_session + 1);
    let contents = scan_sessions(conn, from_id, &running)?;
    problems.extend(contents.problems);
    let mut seal_of = conn.prepare_cached(
        "SELECT seq, content_hash FROM chain WHERE kind = 'session' AND ref = ?1
         ORDER BY seq DESC LIMIT 1",
    )?;
    let new_seals: std::collections::HashMap<i64, &super::verify::Seal> =
        walk.seals.iter().map(|s| (s.session, s)).collect();
    for seal in &walk.seals {
        if contents
            .hashes
            .binary_search_by_key(&seal.session, |h| h.0)
            .is_err()
        {
            problems.push(problem(
                "chain.session_deleted",
                Some(seal.seq),
                format!(
                    "session {} was deleted (or reopened) after it was recorded",
                    seal.session
                ),
            ));
        }
    }
    let marks = super::SealMarks::read(conn)?;
    for (id, hashes) in &contents.hashes {
        let (seq, recorded) = match new_seals.get(id) {
            Some(s) => (Some(s.seq), s.content.map(|c| c.to_vec())),
            // Sealed before the verified head, but in the range scanned: check it as well.
            None => match seal_of
                .query_row([id.to_string()], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .optional()?
            {
                Some((seq, c)) => (Some(seq), Some(c.into_bytes())),
                None => (None, None),
            },
        };
        match (seq, recorded) {
            (None, _) => problems.push(problem(
                "chain.session_unrecorded",
                None,
                format!("session {id} is not in the chain: inserted or closed outside Commissioner"),
            )),
            (Some(seq), recorded)
                if !recorded
                    .as_deref()
                    .is_some_and(|c| is_hex_of(c, hashes.at(seq, &marks))) =>
            {
                problems.push(problem(
                    "chain.session_edited",
                    Some(seq),
                    format!("session {id} (its row, steps, certificates, device log, audit checks or assurance) was edited after it was recorded"),
                ))
            }
            _ => {}
        }
    }
    // A certificate whose status drifted from its seal may be explained by a status entry from
    // before the verified head: look those up by serial.
    let mut last_status = conn.prepare_cached(
        "SELECT seq, content_hash FROM chain WHERE kind = 'certificate_status' AND ref = ?1
         ORDER BY seq DESC LIMIT 1",
    )?;
    for d in &contents.drifts {
        if !walk.statuses.contains_key(&d.serial) {
            if let Some(entry) = last_status
                .query_row([&d.serial], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?
            {
                walk.statuses.insert(d.serial.clone(), entry);
            }
        }
    }
    // Seals looked up above are not in `walk.seals`; check_statuses only needs those of drifts.
    check_statuses(conn, &walk, &contents.drifts, &running, &mut problems)?;
    // The records that decide trust are few: all of them, against their last entries.
    let mut records = std::collections::HashMap::new();
    for kind in KINDS {
        let mut stmt = conn.prepare_cached(
            "SELECT ref, max(seq), content_hash FROM chain WHERE kind = ?1 GROUP BY ref",
        )?;
        let mut rows = stmt.query([kind.kind])?;
        while let Some(r) = rows.next()? {
            records.insert(
                (kind.kind.to_owned(), r.get::<_, String>(0)?),
                (r.get::<_, i64>(1)?, r.get::<_, String>(2)?),
            );
        }
    }
    super::records::check(conn, &records, &mut problems)?;
    let head = match &walk.last {
        Some((seq, hash)) => ChainHead {
            seq: *seq,
            hash: String::from_utf8_lossy(hash).into_owned(),
        },
        None => from.head.clone(),
    };
    Ok(super::verify::report(&walk, running.len(), head, problems))
}
