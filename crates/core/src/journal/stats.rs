//! Yield figures for QA's dashboard and batch reports: pass rate over time, units per hour,
//! failures by step and error code (Pareto), by model, firmware and work order, and step
//! times. Computed by SQLite over the sessions that match the Journal screen's filter, so the
//! UI never adds rows up; `journal-bench --stats` times them at a million sessions.

use std::collections::BTreeMap;

use rusqlite::params_from_iter;
use rusqlite::types::Value;
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, Time, UtcOffset};
use ts_rs::TS;

use super::query::SessionFilter;
use super::{Journal, JournalError};

/// How wide a time bucket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, Default)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    #[default]
    Hour,
    Day,
}

impl Bucket {
    /// Length of the RFC 3339 prefix that names the bucket (`2026-12-04T08`, `2026-12-04`).
    /// Journal timestamps are UTC, so the prefix is the bucket.
    fn prefix_len(self) -> i64 {
        match self {
            Bucket::Hour => 13,
            Bucket::Day => 10,
        }
    }
}

/// Counts of one group of sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    pub total: u64,
    pub pass: u64,
    pub fail: u64,
    pub interrupted: u64,
    pub running: u64,
}

impl Tally {
    /// Passes over finished sessions (running ones are not judged yet); 0 when none finished.
    pub fn yield_ratio(&self) -> f64 {
        let finished = self.pass + self.fail + self.interrupted;
        if finished == 0 {
            0.0
        } else {
            self.pass as f64 / finished as f64
        }
    }

    fn add(&mut self, result: &str, n: u64) {
        self.total += n;
        match result {
            "pass" => self.pass += n,
            "fail" => self.fail += n,
            "interrupted" => self.interrupted += n,
            _ => self.running += n,
        }
    }
}

/// One time bucket.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TimePoint {
    /// The bucket's start, RFC 3339 (`2026-12-04T08:00:00Z`).
    pub at: String,
    pub tally: Tally,
}

/// One group (a model, a firmware, a work order).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// `None` for sessions that never reported it (e.g. failed before identify).
    pub key: Option<String>,
    pub tally: Tally,
}

/// One bar of a Pareto chart: failures sharing a cause, most frequent first.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ParetoBar {
    pub key: Option<String>,
    pub count: u64,
    /// Share of all failures up to and including this bar, 0..=1.
    pub cumulative: f64,
}

/// How long one step takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StepTime {
    pub step: String,
    pub count: u64,
    pub median_ms: i64,
    pub worst_ms: i64,
}

/// Everything the dashboard shows for one filter.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct YieldStats {
    pub filter: SessionFilter,
    pub bucket: Bucket,
    pub tally: Tally,
    pub first_started: Option<String>,
    pub last_started: Option<String>,
    /// Passed units per hour between the first and the last session (at least one hour).
    pub units_per_hour: f64,
    pub over_time: Vec<TimePoint>,
    pub failures_by_step: Vec<ParetoBar>,
    pub failures_by_code: Vec<ParetoBar>,
    pub by_model: Vec<Group>,
    pub by_firmware: Vec<Group>,
    pub by_work_order: Vec<Group>,
    pub step_times: Vec<StepTime>,
}

/// What to compute.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StatsRequest {
    pub filter: SessionFilter,
    #[serde(default)]
    pub bucket: Bucket,
}

/// The technician's strip on the Line screen: today's counts and rate, nothing more (the
/// breakdowns, and who ran what, are QA's).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct LineStrip {
    /// The start of the day counted (the station's local midnight), RFC 3339 UTC.
    pub since: String,
    pub tally: Tally,
    /// Passes over finished sessions, 0..=1 (as [`Tally::yield_ratio`]).
    pub yield_ratio: f64,
    /// Passed units per hour from the day's first session until now (at least one hour), so
    /// the rate falls while the line stands still.
    pub units_per_hour: f64,
    /// The most frequent error code among the day's failures.
    pub top_failure: Option<ParetoBar>,
}

/// The widest time-zone offset in use (UTC+14): anything beyond is a caller's mistake.
const MAX_OFFSET_MINUTES: i32 = 14 * 60;

impl Journal {
    /// Today's figures for the Line screen: the sessions started since local midnight, local
    /// being `utc_offset_minutes` east of UTC (the window's time zone). The day is fixed here,
    /// not by the caller, so the strip never reads further back than one day.
    pub fn line_strip(
        &self,
        now: OffsetDateTime,
        utc_offset_minutes: i32,
    ) -> Result<LineStrip, JournalError> {
        let minutes = utc_offset_minutes.clamp(-MAX_OFFSET_MINUTES, MAX_OFFSET_MINUTES);
        let offset = UtcOffset::from_whole_seconds(minutes * 60).unwrap_or(UtcOffset::UTC);
        let midnight = now
            .to_offset(offset)
            .replace_time(Time::MIDNIGHT)
            .to_offset(UtcOffset::UTC);
        let since = super::ts(midnight);
        let filter = SessionFilter {
            from: Some(since.clone()),
            ..SessionFilter::default()
        };
        let (tally, first_started, _) = self.overall(&filter)?;
        let units_per_hour = match first_started {
            Some(first) => tally.pass as f64 / span_hours(&first, &super::ts(now)).max(1.0),
            None => 0.0,
        };
        Ok(LineStrip {
            since,
            yield_ratio: tally.yield_ratio(),
            units_per_hour,
            top_failure: self.pareto(&filter, "error_code")?.into_iter().next(),
            tally,
        })
    }

    /// The yield figures for the sessions that match `req.filter`.
    pub fn yield_stats(&self, req: &StatsRequest) -> Result<YieldStats, JournalError> {
        let filter = &req.filter;
        let (tally, first_started, last_started) = self.overall(filter)?;
        let units_per_hour = match (&first_started, &last_started) {
            (Some(a), Some(b)) => {
                let hours = span_hours(a, b).max(1.0);
                tally.pass as f64 / hours
            }
            _ => 0.0,
        };
        let over_time = self
            .grouped(
                filter,
                &format!("substr(started_at, 1, {})", req.bucket.prefix_len()),
            )?
            .into_iter()
            .map(|g| TimePoint {
                at: bucket_start(g.key.as_deref().unwrap_or_default(), req.bucket),
                tally: g.tally,
            })
            .collect();
        Ok(YieldStats {
            filter: filter.clone(),
            bucket: req.bucket,
            failures_by_step: self.pareto(filter, "failed_step")?,
            failures_by_code: self.pareto(filter, "error_code")?,
            by_model: self.grouped(filter, "model")?,
            by_firmware: self.grouped(filter, "firmware")?,
            by_work_order: self.grouped(filter, "work_order")?,
            step_times: self.step_times(filter)?,
            tally,
            first_started,
            last_started,
            units_per_hour,
            over_time,
        })
    }

    fn overall(
        &self,
        filter: &SessionFilter,
    ) -> Result<(Tally, Option<String>, Option<String>), JournalError> {
        let (clause, values) = filter.to_sql();
        let mut tally = Tally::default();
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT result, count(*) FROM sessions {clause} GROUP BY result"
        ))?;
        let rows = stmt.query_map(params_from_iter(values.iter()), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (result, n) = row?;
            tally.add(&result, n as u64);
        }
        let (first, last) = self.conn.query_row(
            &format!("SELECT min(started_at), max(started_at) FROM sessions {clause}"),
            params_from_iter(values.iter()),
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((tally, first, last))
    }

    /// Tallies grouped by `expr`, an SQL expression over `sessions` from this module only.
    fn grouped(&self, filter: &SessionFilter, expr: &str) -> Result<Vec<Group>, JournalError> {
        let (clause, values) = filter.to_sql();
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {expr} AS k, result, count(*) FROM sessions {clause} GROUP BY k, result ORDER BY k"
        ))?;
        let rows = stmt.query_map(params_from_iter(values), |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut out: Vec<Group> = Vec::new();
        for row in rows {
            let (key, result, n) = row?;
            match out.last_mut() {
                Some(g) if g.key == key => g.tally.add(&result, n as u64),
                _ => {
                    let mut tally = Tally::default();
                    tally.add(&result, n as u64);
                    out.push(Group { key, tally });
                }
            }
        }
        Ok(out)
    }

    /// Failed and interrupted sessions by `column`, most frequent first.
    fn pareto(&self, filter: &SessionFilter, column: &str) -> Result<Vec<ParetoBar>, JournalError> {
        let (clause, values) = failed_only(filter);
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {column}, count(*) AS n FROM sessions {clause} GROUP BY {column} ORDER BY n DESC, {column}"
        ))?;
        let counts: Vec<(Option<String>, i64)> = stmt
            .query_map(params_from_iter(values), |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let total: i64 = counts.iter().map(|(_, n)| n).sum();
        let mut running = 0i64;
        Ok(counts
            .into_iter()
            .map(|(key, n)| {
                running += n;
                ParetoBar {
                    key,
                    count: n as u64,
                    cumulative: running as f64 / total as f64,
                }
            })
            .collect())
    }

    /// Median and worst duration of each step over the matching sessions. SQLite counts
    /// durations per step; the median is read off those counts here, so no row list is sorted.
    fn step_times(&self, filter: &SessionFilter) -> Result<Vec<StepTime>, JournalError> {
        let (clause, values) = filter.to_sql_on("s.");
        let sql = if clause.is_empty() {
            "SELECT name, duration_ms, count(*) FROM step_durations GROUP BY name, duration_ms"
                .to_owned()
        } else {
            format!(
                "SELECT d.name, d.duration_ms, count(*) FROM sessions s
                 JOIN step_durations d ON d.session_id = s.id {clause}
                 GROUP BY d.name, d.duration_ms"
            )
        };
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(values), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        // Per step, durations ascending with their counts.
        let mut hist: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
        for row in rows {
            let (name, ms, n) = row?;
            hist.entry(name).or_default().push((ms, n as u64));
        }
        let mut out: Vec<StepTime> = hist
            .into_iter()
            .map(|(step, counts)| {
                let count: u64 = counts.iter().map(|(_, n)| n).sum();
                let middle = count.div_ceil(2);
                let mut seen = 0;
                let median_ms = counts
                    .iter()
                    .find(|(_, n)| {
                        seen += n;
                        seen >= middle
                    })
                    .map_or(0, |(ms, _)| *ms);
                let worst_ms = counts.last().map_or(0, |(ms, _)| *ms);
                StepTime {
                    step,
                    count,
                    median_ms,
                    worst_ms,
                }
            })
            .collect();
        // Pipeline order reads better than alphabetical; unknown names go last.
        let order = |s: &str| {
            crate::pipeline::STEPS
                .iter()
                .position(|p| *p == s)
                .unwrap_or(usize::MAX)
        };
        out.sort_by(|a, b| {
            order(&a.step)
                .cmp(&order(&b.step))
                .then(a.step.cmp(&b.step))
        });
        Ok(out)
    }
}

/// Notes how long a step took, beside the step row (same transaction).
pub(super) fn record_duration(
    conn: &rusqlite::Connection,
    step_id: i64,
    session_id: i64,
    name: &str,
    ms: i64,
) -> Result<(), JournalError> {
    conn.prepare_cached(
        "INSERT INTO step_durations (step_id, session_id, name, duration_ms) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(rusqlite::params![step_id, session_id, name, ms])?;
    Ok(())
}

/// The filter's clause restricted to sessions that did not pass (and are not running).
fn failed_only(filter: &SessionFilter) -> (String, Vec<Value>) {
    let (clause, values) = filter.to_sql();
    let not_passed = "result IN ('fail', 'interrupted')";
    let clause = if clause.is_empty() {
        format!("WHERE {not_passed}")
    } else {
        format!("{clause} AND {not_passed}")
    };
    (clause, values)
}

fn bucket_start(prefix: &str, bucket: Bucket) -> String {
    match bucket {
        Bucket::Hour => format!("{prefix}:00:00Z"),
        Bucket::Day => format!("{prefix}T00:00:00Z"),
    }
}

fn span_hours(first: &str, last: &str) -> f64 {
    use time::format_description::well_known::Rfc3339;
    match (
        OffsetDateTime::parse(first, &Rfc3339),
        OffsetDateTime::parse(last, &Rfc3339),
    ) {
        (Ok(a), Ok(b)) => (b - a).as_seconds_f64() / 3600.0,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::error::ErrorInfo;
    use crate::journal::{NewSession, SessionResult};

    fn unit(journal: &Journal, at: OffsetDateTime, failure: Option<&str>) {
        let id = journal
            .begin_session(&NewSession {
                station_id: "st-1",
                operator: "tom",
                port: "/dev/ttyUSB0",
                work_order: None,
                started_at: at,
            })
            .expect("begin");
        let error = failure.map(|code| ErrorInfo {
            code: code.into(),
            message: "failed".into(),
            detail: None,
        });
        let result = if error.is_some() {
            SessionResult::Fail
        } else {
            SessionResult::Pass
        };
        journal
            .finish_session(id, result, error.as_ref(), at)
            .expect("finish");
    }

    #[test]
    fn the_line_strip_counts_the_local_day_only() {
        let dir = tempfile::tempdir().expect("tmp");
        let journal = Journal::open(&dir.path().join("j.sqlite")).expect("open");
        // 22:30 UTC on the 1st is already the 2nd at UTC+2: counted there, not at UTC.
        unit(
            &journal,
            datetime!(2026-03-01 22:30 UTC),
            Some("device.timeout"),
        );
        unit(&journal, datetime!(2026-03-02 06:00 UTC), None);
        unit(
            &journal,
            datetime!(2026-03-02 07:00 UTC),
            Some("csr.cn_mismatch"),
        );
        unit(
            &journal,
            datetime!(2026-03-02 07:30 UTC),
            Some("csr.cn_mismatch"),
        );
        unit(&journal, datetime!(2026-03-02 08:00 UTC), None);
        let now = datetime!(2026-03-02 10:00 UTC);

        let utc = journal.line_strip(now, 0).expect("strip");
        assert_eq!(utc.since, "2026-03-02T00:00:00Z");
        assert_eq!((utc.tally.total, utc.tally.pass, utc.tally.fail), (4, 2, 2));
        assert!((utc.yield_ratio - 0.5).abs() < 1e-9);
        // Two passes between 06:00 and 10:00: the rate runs to now, not to the last unit.
        assert!(
            (utc.units_per_hour - 0.5).abs() < 1e-9,
            "{}",
            utc.units_per_hour
        );
        let top = utc.top_failure.expect("a failure");
        assert_eq!(
            (top.key.as_deref(), top.count),
            (Some("csr.cn_mismatch"), 2)
        );

        let east = journal.line_strip(now, 120).expect("strip");
        assert_eq!(east.since, "2026-03-01T22:00:00Z");
        assert_eq!((east.tally.total, east.tally.fail), (5, 3));

        // An absurd offset is held to the widest real one, never to "all time".
        let wild = journal.line_strip(now, i32::MIN).expect("strip");
        assert_eq!(wild.since, "2026-03-01T14:00:00Z");
    }
}
