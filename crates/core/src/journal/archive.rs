//! Retention: nothing is ever deleted. Archiving exports everything, moves the journal file
//! aside, and starts a fresh file whose chain continues from the old head, so the archive and
//! the new file together verify as one history.
//!
//! Only sessions, their steps, device logs and audit checks stay behind. What decides who may
//! act and what the CA has signed is carried into the new file and chained there: operators
//! (roles, PIN hashes), unexpired sign-in tokens, sign-in attempts (a lockout survives), every
//! certificate with its status (the registry, the CRL's revocations, the hourly quota), the
//! CRLs signed so far (their numbers only grow) and the devices seen. An archive therefore
//! never opens a station to whoever runs the next command.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use super::chain::records::{LOGIN_ATTEMPT, OPERATOR, SESSIONLESS_CERTIFICATE, TOKEN};
use super::chain::ChainHead;
use super::export::{ExportError, ExportFormat, Manifest, StationKey};
use super::query::SessionFilter;
use super::{Journal, JournalError};

/// What `archive` produced.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Archived {
    pub archived_journal: PathBuf,
    pub export: PathBuf,
    pub manifest: Manifest,
    /// The head the new journal continues from.
    pub head: ChainHead,
}

/// Archives the journal at `path` into `out_dir`. Refuses a journal whose chain does not verify
/// or that has sessions still running.
pub fn archive(
    path: &Path,
    out_dir: &Path,
    station_id: &str,
    key: &StationKey,
    now: OffsetDateTime,
) -> Result<Archived, ExportError> {
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |source| ExportError::Io { path: p, source }
    };
    fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let stamp = now.unix_timestamp();
    let export = out_dir.join(format!("journal-{stamp}.jsonl"));
    let archived_journal = out_dir.join(format!("journal-{stamp}.sqlite"));

    let journal = Journal::open(path)?;
    let report = journal.verify()?;
    if let Some(problem) = report.problem {
        return Err(ExportError::ManifestInvalid(format!(
            "the journal does not verify ({}: {}); archive refused",
            problem.code, problem.message
        )));
    }
    if report.running_sessions > 0 {
        return Err(ExportError::ManifestInvalid(format!(
            "{} session(s) still running; finish or recover them first",
            report.running_sessions
        )));
    }
    let manifest = journal.export(
        &SessionFilter::default(),
        ExportFormat::Jsonl,
        &export,
        station_id,
        key,
        now,
    )?;
    // Fold the WAL into the main file so the archive is one self-contained file.
    journal
        .connection()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .map_err(JournalError::from)?;
    let head = manifest.chain_head.clone();
    drop(journal);

    fs::copy(path, &archived_journal).map_err(io(&archived_journal))?;
    let check = Journal::open(&archived_journal)?;
    if check.verify()?.head != head {
        return Err(ExportError::ManifestInvalid(
            "the archived copy differs".into(),
        ));
    }
    drop(check);
    // The new journal is made complete beside the old one and only then put in its place: a
    // failure on the way leaves the station's journal as it was.
    let fresh = with_suffix(path, ".new");
    remove_journal_files(&fresh)?;
    let next = Journal::create_continuing(&fresh, &head.hash)?;
    carry(&next, &archived_journal, now)?;
    let report = next.verify()?;
    if let Some(problem) = report.problem {
        return Err(ExportError::ManifestInvalid(format!(
            "the new journal does not verify ({}: {})",
            problem.code, problem.message
        )));
    }
    next.connection()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .map_err(JournalError::from)?;
    drop(next);
    remove_journal_files(path)?;
    fs::rename(&fresh, path).map_err(io(path))?;
    remove_journal_files(&fresh)?;
    Ok(Archived {
        archived_journal,
        export,
        manifest,
        head,
    })
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

fn remove_journal_files(path: &Path) -> Result<(), ExportError> {
    for suffix in ["", "-wal", "-shm"] {
        let p = with_suffix(path, suffix);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(ExportError::Io {
                    path: p.display().to_string(),
                    source: e,
                })
            }
            _ => {}
        }
    }
    Ok(())
}

/// Copies what outlives an archive from the archived file `old` into `next` and chains it, in
/// one transaction.
fn carry(next: &Journal, old: &Path, now: OffsetDateTime) -> Result<(), JournalError> {
    let conn = next.connection();
    conn.execute(
        "ATTACH DATABASE ?1 AS archived",
        [old.display().to_string()],
    )?;
    let at = super::ts(now);
    let carried = next.immediate(|conn| {
        conn.execute_batch(
            "INSERT INTO stations SELECT station_id, first_seen FROM archived.stations;
             INSERT INTO operators (operator_id, first_seen, role, pin_hash, created_at)
                 SELECT operator_id, first_seen, role, pin_hash, created_at
                 FROM archived.operators;
             INSERT INTO login_attempts (id, operator_id, at, at_unix, ok)
                 SELECT id, operator_id, at, at_unix, ok FROM archived.login_attempts;
             INSERT INTO devices (device_id, model, first_seen, last_seen)
                 SELECT device_id, model, first_seen, last_seen FROM archived.devices;
             INSERT INTO crls (number, this_update, next_update, revoked_count, sha256)
                 SELECT number, this_update, next_update, revoked_count, sha256
                 FROM archived.crls;
             INSERT INTO certificates (serial, session_id, device_id, sha256, not_before,
                     not_after, pem, status, issued_at, key_origin, revoked_at,
                     revocation_reason, supersedes, sealed_status, kind)
                 SELECT serial, NULL, device_id, sha256, not_before, not_after, pem, status,
                     COALESCE(issued_at, not_before), key_origin, revoked_at,
                     revocation_reason, supersedes, NULL, kind
                 FROM archived.certificates ORDER BY rowid;",
        )?;
        conn.execute(
            "INSERT INTO operator_tokens (token_sha256, operator_id, expires_unix)
             SELECT token_sha256, operator_id, expires_unix FROM archived.operator_tokens
             WHERE expires_unix > ?1",
            [now.unix_timestamp()],
        )?;
        for kind in [&OPERATOR, &TOKEN, &LOGIN_ATTEMPT] {
            for key in kind.keys(conn)? {
                kind.record(conn, &key, &at)?;
            }
        }
        let certs: Vec<(String, String, Option<String>, Option<String>)> = conn
            .prepare("SELECT serial, status, revoked_at, revocation_reason FROM certificates ORDER BY rowid")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
        for (serial, status, revoked_at, reason) in &certs {
            SESSIONLESS_CERTIFICATE.record(conn, serial, &at)?;
            match (revoked_at, reason) {
                (Some(when), Some(why)) if status == "revoked" => {
                    super::write::chain_revocation(conn, serial, when, why)?
                }
                _ => super::write::chain_status(conn, serial, status)?,
            };
        }
        Ok(())
    });
    let detached = conn.execute_batch("DETACH DATABASE archived");
    carried?;
    detached?;
    Ok(())
}

impl Journal {
    /// The first published head (see [`super::anchor`]) this journal no longer contains.
    pub fn check_anchors(
        &self,
        anchors: &[super::anchor::Anchor],
        public_key: &[u8],
    ) -> Result<Option<super::chain::ChainProblem>, JournalError> {
        super::anchor::check(&self.conn, anchors, public_key)
    }

    /// Verifies the hash chain; see [`super::chain::verify`].
    pub fn verify(&self) -> Result<super::chain::VerifyReport, JournalError> {
        super::chain::verify(&self.conn)
    }
}
