//! The sync worker: drains the outbox to the server in batches, in outbox order, one batch per
//! server transaction, acknowledging each only after the server committed it. Delivery is at
//! least once; the server makes it exactly-once in effect (see `ingest`). While the server is
//! away, `follow` waits with exponential backoff and keeps the station's work in the outbox.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::Rng;
use serde::Serialize;
use time::OffsetDateTime;

use super::ingest::{ingest, Delivered};
use super::outbox::{self, Backlog, Batch};
use super::{connect, Central, CentralError, CentralProfile};
use crate::journal::{ts, Journal};

/// How to drain.
#[derive(Debug, Clone, Copy)]
pub struct SyncOptions<'a> {
    pub station_id: &'a str,
    /// Outbox entries per batch.
    pub batch: usize,
    /// Stop after this many batches (a bounded drain); all of them when `None`.
    pub max_batches: Option<usize>,
}

/// What one drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub batches: u64,
    /// Outbox entries acknowledged.
    pub entries: u64,
    /// Sessions the server did not hold before.
    pub new_sessions: u64,
    /// Review items raised by these batches.
    pub new_reviews: u64,
}

/// Hands one batch to the server in one transaction. Delivering the same batch again changes
/// nothing. A journal whose entries differ from what the server holds is refused and listed for
/// review.
pub fn deliver(central: &mut Central, batch: &Batch) -> Result<Delivered, CentralError> {
    let mut tx = central.client.transaction()?;
    match ingest(&mut tx, batch) {
        Ok(d) => {
            tx.commit()?;
            Ok(d)
        }
        Err(e) => {
            drop(tx);
            if let CentralError::Rewritten { seq } = &e {
                central.client.execute(
                    "INSERT INTO review (key, kind, station_id, journal_id, detail)
                     VALUES ($1, 'journal_rewritten', $2, $3, $4) ON CONFLICT (key) DO NOTHING",
                    &[
                        &format!("rewritten:{}:{seq}", batch.journal_id),
                        &batch.station_id,
                        &batch.journal_id,
                        &format!("chain entry {seq} differs from the one received earlier"),
                    ],
                )?;
            }
            Err(e)
        }
    }
}

/// Drains the outbox once (up to `max_batches`).
pub fn sync_once(
    journal: &Journal,
    central: &mut Central,
    opts: &SyncOptions<'_>,
) -> Result<SyncReport, CentralError> {
    let mut report = SyncReport::default();
    while opts.max_batches.is_none_or(|m| report.batches < m as u64) {
        let Some(batch) = outbox::next_batch(journal, opts.station_id, opts.batch.max(1))? else {
            break;
        };
        let d = deliver(central, &batch)?;
        outbox::acknowledge(journal, &batch, &ts(OffsetDateTime::now_utc()))?;
        report.batches += 1;
        report.entries += batch.entries.len() as u64;
        report.new_sessions += d.new_sessions as u64;
        report.new_reviews += d.new_reviews as u64;
    }
    Ok(report)
}

/// What `follow` reports after each round.
#[derive(Debug)]
pub enum SyncEvent<'a> {
    Synced(&'a SyncReport, &'a Backlog),
    /// The round failed; the next try is after `retry_in`.
    Failed(&'a CentralError, Duration, &'a Backlog),
}

/// Backoff after `failures` failed rounds in a row: 250 ms doubling to 30 s, with jitter.
pub fn backoff(failures: u32) -> Duration {
    let base = 250u64.saturating_mul(1 << failures.min(7)).min(30_000);
    let jitter = rand::thread_rng().gen_range(0..=base / 4);
    Duration::from_millis(base + jitter)
}

/// Keeps draining until `stop` is set: polls every `poll` while online, backs off while the
/// server is away, reconnecting as needed.
pub fn follow(
    journal: &Journal,
    profile: &CentralProfile,
    station_dir: &std::path::Path,
    opts: &SyncOptions<'_>,
    poll: Duration,
    stop: &AtomicBool,
    on_event: &mut dyn FnMut(SyncEvent<'_>),
) -> Result<(), CentralError> {
    let mut central: Option<Central> = None;
    let mut failures = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let round = match central.as_mut() {
            Some(c) => sync_once(journal, c, opts),
            None => connect(profile, station_dir).and_then(|mut c| {
                let r = sync_once(journal, &mut c, opts);
                central = Some(c);
                r
            }),
        };
        let backlog = outbox::backlog(journal)?;
        let wait = match round {
            Ok(report) => {
                failures = 0;
                on_event(SyncEvent::Synced(&report, &backlog));
                poll
            }
            Err(e) => {
                // A journal error is the station's own problem: no retry fixes it.
                if let CentralError::Journal(_) = e {
                    return Err(e);
                }
                central = None;
                let wait = backoff(failures);
                failures = failures.saturating_add(1);
                on_event(SyncEvent::Failed(&e, wait, &backlog));
                wait
            }
        };
        let until = std::time::Instant::now() + wait;
        while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20).min(wait));
        }
    }
    Ok(())
}
