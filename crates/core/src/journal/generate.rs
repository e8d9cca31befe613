//! Synthetic sessions for scale tests and benchmarks: realistic shapes (8 steps, a certificate
//! on PASS, a failed step on FAIL), spread over a date range, sealed like real ones.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::params;
use time::{Duration, OffsetDateTime};

use super::{chain, ts, Journal, JournalError};
use crate::pipeline::STEPS;

/// Shape of the generated data.
#[derive(Debug, Clone)]
pub struct Synthetic {
    pub sessions: u64,
    pub start: OffsetDateTime,
    /// Spacing between session starts.
    pub every: Duration,
    pub seed: u64,
    /// The sessions' station; its units are `SYN-…` for `synthetic`, else `<station>-…`, so
    /// that stations generated side by side never share a device id.
    pub station_id: String,
}

pub const MODELS: [&str; 4] = ["CM-SENSOR-1", "CM-SENSOR-2", "CM-GATEWAY-1", "CM-METER-3"];
pub const FIRMWARE: [&str; 3] = ["1.4.2", "1.5.0", "2.0.1"];
pub const OPERATORS: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];

/// Appends synthetic sessions. Runs in large transactions with `synchronous=OFF` for speed:
/// it is a generator for benchmarks, not a path real sessions take.
pub fn generate(journal: &Journal, spec: &Synthetic) -> Result<(), JournalError> {
    let conn = journal.connection();
    conn.pragma_update(None, "synchronous", "OFF")?;
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let batch = 5_000;
    let mut done = 0u64;
    while done < spec.sessions {
        let n = batch.min(spec.sessions - done);
        conn.execute_batch("BEGIN IMMEDIATE")?;
        for i in done..done + n {
            insert_one(conn, spec, i, &mut rng)?;
        }
        conn.execute_batch("COMMIT")?;
        done += n;
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(())
}

fn insert_one(
    conn: &rusqlite::Connection,
    spec: &Synthetic,
    i: u64,
    rng: &mut StdRng,
) -> Result<(), JournalError> {
    let started = spec.start + spec.every * (i as i32);
    let device_id = if spec.station_id == "synthetic" {
        format!("SYN-{i:08X}")
    } else {
        format!("{}-{i:08X}", spec.station_id)
    };
    let model = MODELS[rng.gen_range(0..MODELS.len())];
    let firmware = FIRMWARE[rng.gen_range(0..FIRMWARE.len())];
    let operator = OPERATORS[rng.gen_range(0..OPERATORS.len())];
    let work_order = format!("WO-{}", i / 500);
    // About 4 % of units fail, at a random step.
    let fail_at = (rng.gen_range(0..100) < 4).then(|| rng.gen_range(1..STEPS.len()));
    let mut t = started;
    conn.prepare_cached(
        "INSERT INTO sessions (started_at, station_id, operator, port, device_id, model, firmware, work_order, result)
         VALUES (?1, ?7, ?2, '/dev/ttyUSB0', ?3, ?4, ?5, ?6, 'running')",
    )?
    .execute(params![ts(started), operator, device_id, model, firmware, work_order, spec.station_id])?;
    let id = conn.last_insert_rowid();
    let mut step_stmt = conn.prepare_cached(
        "INSERT INTO steps (session_id, name, started_at, ended_at, outcome, error_code, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)",
    )?;
    for (k, name) in STEPS.iter().enumerate() {
        let ms = rng.gen_range(1..400);
        let end = t + Duration::milliseconds(ms);
        let failed = fail_at == Some(k);
        step_stmt.execute(params![
            id,
            name,
            ts(t),
            ts(end),
            if failed { "failed" } else { "ok" },
            failed.then_some("device.timeout"),
        ])?;
        super::stats::record_duration(conn, conn.last_insert_rowid(), id, name, ms)?;
        t = end;
        if failed {
            break;
        }
    }
    if fail_at.is_none() || fail_at > Some(3) {
        let serial = format!("{:032X}", rng.gen::<u128>() >> 1);
        let sha: [u8; 32] = rng.gen();
        let status = if fail_at.is_none() {
            "active"
        } else {
            "issued"
        };
        // Status changes during the session are sealed with it, as `finish_session` does.
        conn.prepare_cached(
            "INSERT INTO certificates (serial, session_id, device_id, sha256, not_before, not_after, pem, status, sealed_status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'synthetic', ?7, ?7)",
        )?
        .execute(params![serial, id, device_id, hex::encode(sha), ts(started), ts(started + Duration::days(1825)), status])?;
    }
    let (result, code, failed_step) = match fail_at {
        None => ("pass", None, None),
        Some(k) => ("fail", Some("device.timeout"), Some(STEPS[k])),
    };
    conn.prepare_cached(
        "UPDATE sessions SET result = ?2, ended_at = ?3, error_code = ?4, failed_step = ?5 WHERE id = ?1",
    )?
    .execute(params![id, result, ts(t), code, failed_step])?;
    let content = chain::session_content_hash(conn, id)?;
    chain::append(conn, "session", &id.to_string(), &content, &ts(t))?;
    Ok(())
}
