//! Records that decide who may do what (operators and their roles, sign-in tokens, sign-in
//! attempts that make a lockout) are chained like certificate status changes: every write
//! appends an entry whose content hash covers the row as written, and the last entry per row
//! is what the row must still be. A row written by hand (an admin token inserted with
//! `sqlite3`), edited (a role raised) or deleted (failed attempts removed to lift a lockout)
//! no longer matches the chain: `verify` names it, and sign-in refuses it.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use super::content::encode_value;
use super::{append, ChainHead, ChainProblem};
use crate::journal::JournalError;

/// What a deleted row's last entry records.
const DELETED: &str = "deleted";

/// One kind of chained record.
pub struct RecordKind {
    /// The chain entry kind; its `ref` is the row's key as text.
    pub kind: &'static str,
    table: &'static str,
    key: &'static str,
    cols: &'static str,
    /// Rows that are records: an operator row without a PIN or role is a name seen on a
    /// session, which decides nothing.
    filter: &'static str,
    /// Codes for a row that is not in the chain, differs from it, or is gone.
    unrecorded_code: &'static str,
    edited_code: &'static str,
    deleted_code: &'static str,
}

pub const OPERATOR: RecordKind = RecordKind {
    kind: "operator",
    table: "operators",
    key: "operator_id",
    cols: "operator_id, role, pin_hash, created_at",
    filter: "pin_hash IS NOT NULL OR role IS NOT NULL",
    unrecorded_code: "chain.operator_unrecorded",
    edited_code: "chain.operator_edited",
    deleted_code: "chain.operator_deleted",
};

pub const TOKEN: RecordKind = RecordKind {
    kind: "token",
    table: "operator_tokens",
    key: "token_sha256",
    cols: "token_sha256, operator_id, expires_unix",
    filter: "1",
    unrecorded_code: "chain.token_unrecorded",
    edited_code: "chain.token_edited",
    deleted_code: "chain.token_deleted",
};

pub const LOGIN_ATTEMPT: RecordKind = RecordKind {
    kind: "login_attempt",
    table: "login_attempts",
    key: "id",
    cols: "id, operator_id, at, at_unix, ok",
    filter: "1",
    unrecorded_code: "chain.login_attempt_unrecorded",
    edited_code: "chain.login_attempt_edited",
    deleted_code: "chain.login_attempt_deleted",
};

/// A certificate without a session: carried into a new journal by an archive (the session that
/// issued it stays in the archived file). The row as written is recorded; its status is chained by `certificate_status` entries like any
/// other certificate's.
pub const SESSIONLESS_CERTIFICATE: RecordKind = RecordKind {
    kind: "sessionless_certificate",
    table: "certificates",
    key: "serial",
    cols: "serial, device_id, sha256, not_before, not_after, pem, issued_at, key_origin, \
           supersedes, kind",
    filter: "session_id IS NULL",
    unrecorded_code: "chain.certificate_unrecorded",
    edited_code: "chain.certificate_edited",
    deleted_code: "chain.certificate_deleted",
};

pub const KINDS: [&RecordKind; 4] = [&OPERATOR, &TOKEN, &LOGIN_ATTEMPT, &SESSIONLESS_CERTIFICATE];

/// Whether `kind` is one of the record kinds.
pub(super) fn is_record_kind(kind: &[u8]) -> bool {
    KINDS.iter().any(|k| k.kind.as_bytes() == kind)
}

fn row_hash(kind: &RecordKind, row: &rusqlite::Row<'_>, cols: usize) -> rusqlite::Result<String> {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(b"commissioner-record-v1\0");
    buf.extend_from_slice(kind.kind.as_bytes());
    buf.push(0);
    for i in 0..cols {
        encode_value(row.get_ref(i + 1)?, &mut buf);
    }
    Ok(hex::encode(Sha256::digest(&buf)))
}

impl RecordKind {
    fn col_count(&self) -> usize {
        self.cols.split(',').count()
    }

    fn select(&self, one: bool) -> String {
        let which = if one {
            format!("WHERE {} = ?1 AND ({})", self.key, self.filter)
        } else {
            format!("WHERE {}", self.filter)
        };
        format!(
            "SELECT CAST({key} AS TEXT), {cols} FROM {table} {which}",
            key = self.key,
            cols = self.cols,
            table = self.table
        )
    }

    /// Keys of every row that is a record of this kind.
    pub fn keys(&self, conn: &Connection) -> Result<Vec<String>, JournalError> {
        Ok(conn
            .prepare(&self.select(false))?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?)
    }

    /// Content hash of the row with key `key` as it is now; `None` when there is none.
    pub fn current(&self, conn: &Connection, key: &str) -> Result<Option<String>, JournalError> {
        let n = self.col_count();
        Ok(conn
            .prepare_cached(&self.select(true))?
            .query_row([key], |r| row_hash(self, r, n))
            .optional()?)
    }

    /// Chains the row with key `key` as it is now (or its deletion). Call in the IMMEDIATE
    /// transaction that wrote it.
    pub fn record(
        &self,
        conn: &Connection,
        key: &str,
        at: &str,
    ) -> Result<ChainHead, JournalError> {
        let content = self
            .current(conn, key)?
            .unwrap_or_else(|| DELETED.to_owned());
        append(conn, self.kind, key, &content, at)
    }

    /// Whether the row with key `key` is the one the chain last recorded for it. A lookup on
    /// the chain's (kind, ref) index: cheap enough for every sign-in.
    pub fn covered(&self, conn: &Connection, key: &str) -> Result<bool, JournalError> {
        let recorded: Option<String> = conn
            .prepare_cached(
                "SELECT content_hash FROM chain WHERE kind = ?1 AND ref = ?2
                 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row(params![self.kind, key], |r| r.get(0))
            .optional()?;
        Ok(recorded.is_some() && recorded == self.current(conn, key)?)
    }
}

/// Chains every record row the chain does not cover yet. Run once, when a journal from before
/// records were chained is migrated: what was there then is taken as it is.
pub(crate) fn adopt(conn: &Connection, at: &str) -> Result<(), JournalError> {
    let any_record: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM chain WHERE kind IN ('operator', 'token', 'login_attempt'))",
        [],
        |r| r.get(0),
    )?;
    // A journal that has chained records once never adopts again: resetting the schema
    // version must not turn hand-written rows into recorded ones.
    if any_record || super::head(conn)?.is_none() {
        return Ok(());
    }
    // The kinds chained by migration 8; sessionless certificates (and their `kind` column)
    // only came with migration 9, and a file has none before that.
    for kind in [&OPERATOR, &TOKEN, &LOGIN_ATTEMPT] {
        for key in kind.keys(conn)? {
            kind.record(conn, &key, at)?;
        }
    }
    Ok(())
}

/// Compares every record row with the last chain entry for it. `last` is the last entry per
/// (kind, ref), as the walk found them: (seq, content hash).
pub(super) fn check(
    conn: &Connection,
    last: &HashMap<(String, String), (i64, String)>,
    problems: &mut Vec<ChainProblem>,
) -> Result<(), JournalError> {
    for kind in KINDS {
        let n = kind.col_count();
        let mut stmt = conn.prepare_cached(&kind.select(false))?;
        let mut rows = stmt.query([])?;
        let mut seen = std::collections::HashSet::new();
        while let Some(r) = rows.next()? {
            let key: String = r.get(0)?;
            let hash = row_hash(kind, r, n)?;
            let (unrecorded, edited) = (kind.unrecorded_code, kind.edited_code);
            match last.get(&(kind.kind.to_owned(), key.clone())) {
                None => problems.push(ChainProblem {
                    code: unrecorded,
                    seq: None,
                    message: format!(
                        "{} row {key} is not in the chain: written outside Commissioner",
                        kind.table
                    ),
                }),
                Some((seq, content)) if *content != hash => problems.push(ChainProblem {
                    code: edited,
                    seq: Some(*seq),
                    message: format!(
                        "{} row {key} differs from what was recorded: edited outside Commissioner",
                        kind.table
                    ),
                }),
                Some(_) => {}
            }
            seen.insert(key);
        }
        for ((k, key), (seq, content)) in last {
            if k == kind.kind && content != DELETED && !seen.contains(key) {
                problems.push(ChainProblem {
                    code: kind.deleted_code,
                    seq: Some(*seq),
                    message: format!("{} row {key} was deleted outside Commissioner", kind.table),
                });
            }
        }
    }
    Ok(())
}
