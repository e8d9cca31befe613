//! Retention: nothing is ever deleted. Archiving exports everything, moves the journal file
//! aside, and starts a fresh file whose chain continues from the old head, so the archive and
//! the new file together verify as one history.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

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
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = PathBuf::from(p);
        if p.exists() {
            fs::remove_file(&p).map_err(io(&p))?;
        }
    }
    Journal::create_continuing(path, &head.hash)?;
    Ok(Archived {
        archived_journal,
        export,
        manifest,
        head,
    })
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
