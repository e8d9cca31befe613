//! Proof that the station itself began a session. A session is sealed when it ends, so while
//! it runs nothing in the chain covers it; `recover` seals what a crash left running, and
//! without this would seal whatever a hand-written `running` row claims (its steps, its station
//! id). Each session started here gets a mark in `meta`: an HMAC over the session row as begun
//! and this journal's genesis hash, keyed by a secret kept beside the journal in `keys/`. The
//! mark is removed when the session is sealed; `recover` closes only sessions whose mark holds.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use aws_lc_rs::hmac;
use rusqlite::{params, Connection, OptionalExtension};

use super::JournalError;

/// The secret that marks sessions as this station's.
pub struct StartKey(hmac::Key);

impl std::fmt::Debug for StartKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StartKey(hidden)")
    }
}

/// `<journal dir>/keys/journal-start.key`.
pub fn key_path(journal: &Path) -> PathBuf {
    journal
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("keys")
        .join("journal-start.key")
}

impl StartKey {
    /// Loads the key of the journal at `journal`, creating it (32 random bytes, owner-only)
    /// on first use.
    pub fn beside(journal: &Path) -> Result<Self, JournalError> {
        let path = key_path(journal);
        let failed = |source| JournalError::Key {
            path: path.display().to_string(),
            source,
        };
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).map_err(failed)?;
            }
            let secret: [u8; 32] = rand::random();
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(mut f) => f
                    .write_all(&secret)
                    .and_then(|()| f.sync_all())
                    .map_err(failed)?,
                // Another process made it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(failed(e)),
            }
        }
        let secret = zeroize::Zeroizing::new(fs::read(&path).map_err(failed)?);
        if secret.len() != 32 {
            return Err(failed(std::io::Error::other("the key is not 32 bytes")));
        }
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, &secret)))
    }

    /// The mark of a session as its row stands, in this journal.
    fn tag(&self, conn: &Connection, session_id: i64) -> Result<Option<String>, JournalError> {
        let genesis: String =
            conn.query_row("SELECT hash FROM chain ORDER BY seq LIMIT 1", [], |r| {
                r.get(0)
            })?;
        let row: Option<[String; 5]> = conn
            .query_row(
                "SELECT started_at, station_id, operator, port, COALESCE(work_order, '')
                 FROM sessions WHERE id = ?1",
                params![session_id],
                |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?]),
            )
            .optional()?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(b"commissioner-session-start-v1\0");
        let id = session_id.to_string();
        for part in [genesis.as_str(), id.as_str()]
            .into_iter()
            .chain(row.iter().map(String::as_str))
        {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part.as_bytes());
        }
        Ok(Some(hex::encode(ctx.sign().as_ref())))
    }
}

fn meta_key(session_id: i64) -> String {
    format!("session_start:{session_id}")
}

/// Marks a session just begun (inside the transaction that inserts it).
pub(super) fn mark(conn: &Connection, key: &StartKey, session_id: i64) -> Result<(), JournalError> {
    if let Some(tag) = key.tag(conn, session_id)? {
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![meta_key(session_id), tag],
        )?;
    }
    Ok(())
}

/// Drops the mark of a session being sealed: the seal covers it from now on.
pub(super) fn clear(conn: &Connection, session_id: i64) -> Result<(), JournalError> {
    conn.execute(
        "DELETE FROM meta WHERE key = ?1",
        params![meta_key(session_id)],
    )?;
    Ok(())
}

/// Why a running session is not one this station began in this journal, if it is not.
pub(super) fn forged(
    conn: &Connection,
    key: &StartKey,
    session_id: i64,
    station_id: &str,
) -> Result<Option<String>, JournalError> {
    let recorded: Option<String> = conn
        .query_row(
            "SELECT station_id FROM sessions WHERE id = ?1",
            params![session_id],
            |r| r.get(0),
        )
        .optional()?;
    if recorded.as_deref() != Some(station_id) {
        return Ok(Some(format!(
            "it names station '{}', not this station ('{station_id}')",
            recorded.unwrap_or_default()
        )));
    }
    let mark: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            params![meta_key(session_id)],
            |r| r.get(0),
        )
        .optional()?;
    let expected = key.tag(conn, session_id)?;
    Ok(match mark {
        None => Some("the station never recorded beginning it".into()),
        Some(m) if Some(&m) != expected.as_ref() => Some(
            "its start does not match what the station recorded (its row was edited, or it comes from another journal)".into(),
        ),
        Some(_) => None,
    })
}
