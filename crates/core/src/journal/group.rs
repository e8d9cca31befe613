//! Group commit: concurrent sessions' journal writes committed together.
//!
//! Under `synchronous=FULL` every commit waits for the disk while it holds the file's only
//! write lock, so sixteen sessions that begin (or identify, or finish) at the same moment queue
//! for sixteen disk flushes, one after another. Here one writer thread and connection per
//! journal file take every write that is waiting, run each in a savepoint of one transaction
//! and commit once: one flush for the whole group. Each caller still gets its answer only
//! after the commit that holds its write, so what was reported written survives a power cut
//! exactly as before; a write that fails rolls back to its savepoint alone.

use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;
use std::thread;

use rusqlite::Connection;
use time::OffsetDateTime;

use super::chain::ChainHead;
use super::start_mark::StartKey;
use super::{write, Journal, JournalError, NewSession, SessionResult, StepRecord};
use crate::error::ErrorInfo;

/// Hands a write's outcome to its caller once the group's commit is known.
type Deliver = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A write: given the writer's connection (or why there is none), does its work.
type Job = Box<dyn FnOnce(Result<&Connection, String>) -> Deliver + Send>;

/// Most writes in one transaction, so a flood of writers still sees commits regularly.
const MAX_GROUP: usize = 64;

/// The writer of one journal file. Dropping every handle ends its thread.
#[derive(Debug)]
pub struct GroupCommit {
    jobs: Mutex<Sender<Job>>,
    start_key: std::sync::Arc<StartKey>,
}

impl GroupCommit {
    /// Opens (and migrates) the journal and starts its writer thread.
    pub fn start(path: &Path) -> Result<Self, JournalError> {
        let journal = Journal::open(path)?;
        let start_key = std::sync::Arc::new(StartKey::beside(path)?);
        let (tx, rx) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer(journal, rx))
            .map_err(|e| JournalError::Group(format!("cannot start the journal writer: {e}")))?;
        Ok(Self {
            jobs: Mutex::new(tx),
            start_key,
        })
    }

    /// Runs `work` inside the next group's transaction and returns once that group is
    /// committed (or has failed).
    pub fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, JournalError> {
        let (tx, rx) = mpsc::sync_channel::<Result<T, JournalError>>(1);
        let job: Job = Box::new(move |conn| {
            let out = match conn {
                Ok(conn) => in_savepoint(conn, work),
                Err(e) => Err(JournalError::Group(e)),
            };
            Box::new(move |commit| {
                let answer = match (out, commit) {
                    (Ok(v), Ok(())) => Ok(v),
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(e)) => Err(JournalError::Group(e)),
                };
                // The caller waits for this; it is gone only if its thread died.
                let _ = tx.send(answer);
            })
        });
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .map_err(|_| JournalError::Group("the journal writer has stopped".into()))?;
        rx.recv()
            .map_err(|_| JournalError::Group("the journal writer has stopped".into()))?
    }
}

fn in_savepoint<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, JournalError>,
) -> Result<T, JournalError> {
    conn.execute_batch("SAVEPOINT job")?;
    match work(conn) {
        Ok(v) => {
            conn.execute_batch("RELEASE job")?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            Err(e)
        }
    }
}

fn writer(journal: Journal, rx: Receiver<Job>) {
    let conn = journal.connection();
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let delivers: Vec<Deliver> = match conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => group.into_iter().map(|job| job(Ok(conn))).collect(),
            Err(e) => {
                let e = e.to_string();
                group.into_iter().map(|job| job(Err(e.clone()))).collect()
            }
        };
        let commit = if conn.is_autocommit() {
            // BEGIN failed: nothing to commit, and every job already has its error.
            Ok(())
        } else {
            conn.execute_batch("COMMIT").map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                e.to_string()
            })
        };
        for deliver in delivers {
            deliver(commit.clone());
        }
    }
}

/// The pipeline's writes, the ones that sessions running side by side make at the same moments
/// (begin, identity, every step, finish). Same rows and chain as the [`Journal`] methods.
impl GroupCommit {
    pub fn begin_session(&self, s: &NewSession<'_>) -> Result<i64, JournalError> {
        let station_id = s.station_id.to_owned();
        let operator = s.operator.to_owned();
        let port = s.port.to_owned();
        let work_order = s.work_order.map(str::to_owned);
        let started_at = s.started_at;
        let key = std::sync::Arc::clone(&self.start_key);
        self.run(move |conn| {
            write::begin_session(
                conn,
                &NewSession {
                    station_id: &station_id,
                    operator: &operator,
                    port: &port,
                    work_order: work_order.as_deref(),
                    started_at,
                },
                &key,
            )
        })
    }

    pub fn set_identity(
        &self,
        session_id: i64,
        device_id: &str,
        model: &str,
        firmware: &str,
    ) -> Result<(), JournalError> {
        let (device_id, model, firmware) =
            (device_id.to_owned(), model.to_owned(), firmware.to_owned());
        self.run(move |conn| write::set_identity(conn, session_id, &device_id, &model, &firmware))
    }

    pub fn set_assurance(
        &self,
        session_id: i64,
        family: &str,
        assurance: &str,
    ) -> Result<(), JournalError> {
        let (family, assurance) = (family.to_owned(), assurance.to_owned());
        self.run(move |conn| write::set_assurance(conn, session_id, &family, &assurance))
    }

    pub fn record_step_with_log(
        &self,
        session_id: i64,
        step: &StepRecord<'_>,
        lines: &[String],
    ) -> Result<(), JournalError> {
        let name = step.name.to_owned();
        let error = step.error.cloned();
        let detail = step.detail.map(str::to_owned);
        let (started_at, ended_at) = (step.started_at, step.ended_at);
        let lines = lines.to_vec();
        self.run(move |conn| {
            let step = StepRecord {
                name: &name,
                started_at,
                ended_at,
                error: error.as_ref(),
                detail: detail.as_deref(),
            };
            write::step_with_log(conn, session_id, &step, &lines)
        })
    }

    pub fn finish_session(
        &self,
        session_id: i64,
        result: SessionResult,
        error: Option<&ErrorInfo>,
        at: OffsetDateTime,
    ) -> Result<ChainHead, JournalError> {
        let error = error.cloned();
        self.run(move |conn| write::finish_session(conn, session_id, result, error.as_ref(), at))
    }
}
