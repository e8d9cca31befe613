//! What a batch report says about one work order, read from the journal in one go: the yield
//! figures, who and where, the chain head it was read at, and one line per unit.

use rusqlite::params;
use serde::Serialize;
use ts_rs::TS;

use super::chain::{self, ChainHead};
use super::query::SessionFilter;
use super::stats::{Bucket, StatsRequest, YieldStats};
use super::{Journal, JournalError};

/// One unit of the batch: its last attempt decides its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct UnitLine {
    /// `None` for attempts that failed before the unit said who it is.
    pub device_id: Option<String>,
    pub result: String,
    /// Sessions this unit went through in the batch.
    pub attempts: u64,
    pub last_started: String,
    /// The certificate of its last passing attempt, when it has one.
    pub serial: Option<String>,
    pub sha256: Option<String>,
    pub error_code: Option<String>,
}

/// The content of a batch report.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BatchSummary {
    pub work_order: String,
    pub stats: YieldStats,
    pub stations: Vec<String>,
    pub operators: Vec<String>,
    /// The chain head the report was read at; anchored when the report is published.
    #[ts(type = "{ seq: number, hash: string }")]
    pub chain_head: ChainHead,
    pub units: Vec<UnitLine>,
}

impl Journal {
    /// Reads everything a batch report shows for `work_order`, in one read transaction so
    /// that the figures, the units and the chain head describe the same journal.
    pub fn batch_summary(&self, work_order: &str) -> Result<BatchSummary, JournalError> {
        self.conn.execute_batch("BEGIN")?;
        let out = self.batch_summary_in_tx(work_order);
        let _ = self.conn.execute_batch("COMMIT");
        out
    }

    fn batch_summary_in_tx(&self, work_order: &str) -> Result<BatchSummary, JournalError> {
        let stats = self.yield_stats(&StatsRequest {
            filter: SessionFilter {
                work_order: Some(work_order.to_owned()),
                ..Default::default()
            },
            bucket: Bucket::Hour,
        })?;
        let distinct = |column: &str| -> Result<Vec<String>, JournalError> {
            let mut stmt = self.conn.prepare(&format!(
                "SELECT DISTINCT {column} FROM sessions WHERE work_order = ?1 ORDER BY 1"
            ))?;
            let rows = stmt.query_map(params![work_order], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        };
        let chain_head = chain::head(&self.conn)?.unwrap_or(ChainHead {
            seq: 0,
            hash: String::new(),
        });
        Ok(BatchSummary {
            work_order: work_order.to_owned(),
            stations: distinct("station_id")?,
            operators: distinct("operator")?,
            units: self.units(work_order)?,
            stats,
            chain_head,
        })
    }

    fn units(&self, work_order: &str) -> Result<Vec<UnitLine>, JournalError> {
        // Per unit, its last session (by start, then id); sessions without a device id are
        // lines of their own. The certificate is the active one that session left, if any.
        let mut stmt = self.conn.prepare(
            "WITH w AS (
                 SELECT id, device_id, result, started_at, error_code,
                        count(*) OVER (PARTITION BY coalesce(device_id, '#' || id)) AS attempts,
                        row_number() OVER (PARTITION BY coalesce(device_id, '#' || id)
                                           ORDER BY started_at DESC, id DESC) AS rn
                 FROM sessions WHERE work_order = ?1)
             SELECT w.device_id, w.result, w.attempts, w.started_at, w.error_code,
                    (SELECT c.serial FROM certificates c WHERE c.session_id = w.id
                     ORDER BY c.status = 'active' DESC, c.rowid DESC LIMIT 1),
                    (SELECT c.sha256 FROM certificates c WHERE c.session_id = w.id
                     ORDER BY c.status = 'active' DESC, c.rowid DESC LIMIT 1)
             FROM w WHERE rn = 1
             ORDER BY w.device_id IS NULL, w.device_id, w.started_at",
        )?;
        let rows = stmt.query_map(params![work_order], |r| {
            let result: String = r.get(1)?;
            let passed = result == "pass";
            Ok(UnitLine {
                device_id: r.get(0)?,
                attempts: r.get::<_, i64>(2)? as u64,
                last_started: r.get(3)?,
                error_code: r.get(4)?,
                // A failed attempt's certificate was revoked with it: not the unit's.
                serial: if passed { r.get(5)? } else { None },
                sha256: if passed { r.get(6)? } else { None },
                result,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
