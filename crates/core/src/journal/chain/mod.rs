//! The hash chain that makes edits, deletions and reordering visible.
//!
//! A session is *sealed* when it ends: its content hash ([`content`]) covers the session row,
//! its steps, its certificates as they stand at the seal, its device log and its broker audit
//! checks. A certificate status change made while its session runs is folded into that seal;
//! one made after the seal (a revocation, a supersede) is a chain entry of its own. Every
//! entry's hash covers the previous entry's hash, so removing, reordering or rewriting an entry
//! breaks the link after it. Anyone with write access can recompute the whole chain; the chain
//! head that every export carries (and that QA keeps) is what anchors it.

mod content;
pub mod incremental;
mod legacy;
pub mod records;
mod verify;

pub(super) use content::SESSION_COLS;
pub use verify::verify;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::JournalError;

/// `prev_hash` of the first entry of a journal that does not continue an archived one.
pub const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `meta` key of the last chain entry written before seal v3 (migration 5); seals up to it
/// are v2 and are checked the v2 way.
pub(super) const V2_UNTIL_KEY: &str = "chain_v2_until_seq";

/// `meta` key of the last chain entry written before seal v4 (migration 12); seals up to it
/// (and after the v2 ones) are v3.
pub(super) const V3_UNTIL_KEY: &str = "chain_v3_until_seq";

/// The seal-version marks of a journal, read once per verify.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct SealMarks {
    pub v2_until: Option<i64>,
    pub v3_until: Option<i64>,
}

impl SealMarks {
    pub(super) fn read(conn: &Connection) -> Result<Self, JournalError> {
        let mark = |key: &str| -> Result<Option<i64>, JournalError> {
            Ok(conn
                .query_row(
                    "SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1",
                    params![key],
                    |r| r.get(0),
                )
                .optional()?)
        };
        Ok(Self {
            v2_until: mark(V2_UNTIL_KEY)?,
            v3_until: mark(V3_UNTIL_KEY)?,
        })
    }

    pub(super) fn is_v2(&self, seq: i64) -> bool {
        self.v2_until.is_some_and(|u| seq <= u)
    }

    pub(super) fn is_v3(&self, seq: i64) -> bool {
        self.v3_until.is_some_and(|u| seq <= u)
    }

    /// Whether any seal may be v3: only a journal upgraded across migration 12 has one, and
    /// only then does verify compute the v3 hash too.
    pub(super) fn has_v3(&self) -> bool {
        self.v3_until.is_some_and(|u| u > 0)
    }
}

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

/// Content hash of a certificate status change.
pub(super) fn status_content_hash(serial: &str, status: &str) -> String {
    let mut h = Sha256::new_with_prefix(b"commissioner-cert-status-v1\0");
    h.update((serial.len() as u64).to_be_bytes());
    h.update(serial.as_bytes());
    h.update(status.as_bytes());
    hex::encode(h.finalize())
}

/// Content hash of a revocation: the status with when and why, so that the date and reason a
/// CRL carries are as tamper-evident as the status itself.
pub(super) fn revocation_content_hash(serial: &str, revoked_at: &str, reason: &str) -> String {
    let mut h = Sha256::new_with_prefix(b"commissioner-cert-revoked-v1\0");
    for part in [serial, revoked_at, reason] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// An entry's hash. Unchanged since v1: the chain links of archived journals and the heads
/// that exports carry stay valid.
fn entry_digest(prev: &[u8], kind: &[u8], reference: &[u8], content: &[u8], at: &[u8]) -> [u8; 32] {
    const DOMAIN: &[u8] = b"commissioner-chain-v1\0";
    // Assembled in one buffer and hashed in one call: verify does this a million times.
    let mut buf = [0u8; 512];
    let parts = [prev, kind, reference, content, at];
    let total = DOMAIN.len() + parts.iter().map(|p| 8 + p.len()).sum::<usize>();
    if total > buf.len() {
        let mut h = Sha256::new_with_prefix(DOMAIN);
        for part in parts {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        return h.finalize().into();
    }
    buf[..DOMAIN.len()].copy_from_slice(DOMAIN);
    let mut at_byte = DOMAIN.len();
    for part in parts {
        buf[at_byte..at_byte + 8].copy_from_slice(&(part.len() as u64).to_be_bytes());
        buf[at_byte + 8..at_byte + 8 + part.len()].copy_from_slice(part);
        at_byte += 8 + part.len();
    }
    Sha256::digest(&buf[..at_byte]).into()
}

fn entry_hash(prev: &str, kind: &str, reference: &str, content_hash: &str, at: &str) -> String {
    hex::encode(entry_digest(
        prev.as_bytes(),
        kind.as_bytes(),
        reference.as_bytes(),
        content_hash.as_bytes(),
        at.as_bytes(),
    ))
}

/// Content hash of a session, read from the tables: what [`append`] records when it is sealed.
pub(super) fn session_content_hash(
    conn: &Connection,
    session_id: i64,
) -> Result<String, JournalError> {
    Ok(hex::encode(content::session_digest(conn, session_id)?))
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
