//! Which process owns the sessions marked `running`. A process that runs sessions holds a
//! shared lock on a file beside the journal for as long as it may run them; one that finds
//! sessions `running` at its start closes them as interrupted only if it can take that lock
//! exclusively, i.e. when no process that could still finish them is alive. Without this, a
//! `commissioner commission` started beside a running line or desktop app would close the
//! line's live sessions under it.
//!
//! The lock is advisory (`flock`) and dies with its process, so a crash or power cut never
//! leaves a stale claim behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use time::OffsetDateTime;

use super::write::{Forged, Interrupted};
use super::{Journal, JournalError};

/// This process's claim on the sessions it runs; hold it while sessions may run.
#[derive(Debug)]
pub struct SessionClaim {
    _lock: File,
}

/// What [`SessionClaim::take`] found.
#[derive(Debug)]
pub struct Claimed {
    pub claim: SessionClaim,
    /// Sessions a process that is gone left running, now closed as interrupted.
    pub interrupted: Vec<Interrupted>,
    /// Sessions left `running` that this station did not begin in this journal: tampering,
    /// reported and left unsealed.
    pub forged: Vec<Forged>,
    /// Another live process holds a claim: sessions still `running` may be its own, and
    /// were left alone.
    pub shared: bool,
}

impl SessionClaim {
    /// Takes the claim at `lock_path`, first closing abandoned sessions when no other process
    /// holds one.
    pub fn take(
        lock_path: &Path,
        journal: &Journal,
        station_id: &str,
        now: OffsetDateTime,
    ) -> Result<Claimed, JournalError> {
        let failed = |source| JournalError::Claim {
            path: lock_path.display().to_string(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_path)
            .map_err(failed)?;
        let (recovered, shared) = match file.try_lock() {
            Ok(()) => {
                // Alone: whatever is still running has nobody left to finish it.
                let swept = journal.mark_interrupted(station_id, now);
                // Released before the shared lock is taken (converting a held lock is not
                // portable); a process starting in between finds none of ours running yet.
                file.unlock().map_err(failed)?;
                (swept?, false)
            }
            Err(TryLockError::WouldBlock) => (Default::default(), true),
            Err(TryLockError::Error(e)) => return Err(failed(e)),
        };
        file.lock_shared().map_err(failed)?;
        Ok(Claimed {
            claim: SessionClaim { _lock: file },
            interrupted: recovered.interrupted,
            forged: recovered.forged,
            shared,
        })
    }
}
