//! Yield figures computed by the journal over recorded sessions (issue 19).

use commissioner_core::error::ErrorInfo;
use commissioner_core::journal::query::SessionFilter;
use commissioner_core::journal::stats::{Bucket, StatsRequest};
use commissioner_core::journal::{Journal, NewSession, SessionResult, StepRecord};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// One recorded unit: steps of the given lengths (ms); the last one fails with `code` if set.
pub fn record_unit(
    journal: &Journal,
    started_at: OffsetDateTime,
    device: &str,
    model: &str,
    work_order: &str,
    steps: &[(&str, i64)],
    failure: Option<&str>,
) -> i64 {
    let id = journal
        .begin_session(&NewSession {
            station_id: "st-1",
            operator: "alice",
            port: "/dev/ttyUSB0",
            work_order: Some(work_order),
            started_at,
        })
        .expect("begin");
    journal
        .set_identity(id, device, model, "1.0.0")
        .expect("identity");
    let error = failure.map(|code| ErrorInfo {
        code: code.into(),
        message: "failed".into(),
        detail: None,
    });
    let mut t = started_at;
    for (i, (name, ms)) in steps.iter().enumerate() {
        let end = t + Duration::milliseconds(*ms);
        let last = i + 1 == steps.len();
        journal
            .record_step(
                id,
                &StepRecord {
                    name,
                    started_at: t,
                    ended_at: end,
                    error: error.as_ref().filter(|_| last),
                    detail: None,
                },
            )
            .expect("step");
        t = end;
    }
    let result = if failure.is_some() {
        SessionResult::Fail
    } else {
        SessionResult::Pass
    };
    journal
        .finish_session(id, result, error.as_ref(), t)
        .expect("finish");
    id
}

/// (count, median, worst) of the identify step.
fn identify_times(stats: &commissioner_core::journal::stats::YieldStats) -> (u64, i64, i64) {
    let t = stats
        .step_times
        .iter()
        .find(|s| s.step == "identify")
        .expect("identify times");
    (t.count, t.median_ms, t.worst_ms)
}

#[test]
fn yield_figures_count_what_the_journal_holds() {
    let dir = tempfile::tempdir().expect("tmp");
    let journal = Journal::open(&dir.path().join("j.sqlite")).expect("open");
    let t0 = datetime!(2026-03-02 08:10 UTC);
    let ok = [("identify", 100), ("issue", 300)];
    // Hour 08: three passes (identify 100/200/300 ms), one failure at issue.
    for (i, ms) in [100, 200, 300].iter().enumerate() {
        record_unit(
            &journal,
            t0 + Duration::minutes(i as i64),
            &format!("U-{i}"),
            "M-A",
            "WO-1",
            &[("identify", *ms), ("issue", 300)],
            None,
        );
    }
    record_unit(
        &journal,
        t0 + Duration::minutes(5),
        "U-3",
        "M-B",
        "WO-1",
        &[("identify", 50), ("issue", 900)],
        Some("ca.refused"),
    );
    // Hour 10: two failures at identify (timeout), one pass, another work order.
    let t1 = datetime!(2026-03-02 10:05 UTC);
    for (i, ms) in [4000, 5000].into_iter().enumerate() {
        record_unit(
            &journal,
            t1 + Duration::minutes(i as i64),
            &format!("U-{}", 4 + i),
            "M-B",
            "WO-2",
            &[("identify", ms)],
            Some("device.timeout"),
        );
    }
    record_unit(
        &journal,
        t1 + Duration::minutes(2),
        "U-6",
        "M-A",
        "WO-2",
        &ok,
        None,
    );

    let all = journal
        .yield_stats(&StatsRequest::default())
        .expect("stats");
    assert_eq!((all.tally.total, all.tally.pass, all.tally.fail), (7, 4, 3));
    assert!((all.tally.yield_ratio() - 4.0 / 7.0).abs() < 1e-9);
    // 4 passes between 08:10 and 10:07: about 2 per hour.
    assert!(
        (all.units_per_hour - 4.0 / (117.0 / 60.0)).abs() < 0.01,
        "{}",
        all.units_per_hour
    );

    let hours: Vec<(&str, u64, u64)> = all
        .over_time
        .iter()
        .map(|p| (p.at.as_str(), p.tally.pass, p.tally.fail))
        .collect();
    assert_eq!(
        hours,
        vec![
            ("2026-03-02T08:00:00Z", 3, 1),
            ("2026-03-02T10:00:00Z", 1, 2)
        ]
    );

    // Pareto: identify (2) before issue (1), cumulative shares.
    let steps: Vec<(Option<&str>, u64)> = all
        .failures_by_step
        .iter()
        .map(|b| (b.key.as_deref(), b.count))
        .collect();
    assert_eq!(steps, vec![(Some("identify"), 2), (Some("issue"), 1)]);
    assert!((all.failures_by_step[0].cumulative - 2.0 / 3.0).abs() < 1e-9);
    assert!((all.failures_by_step[1].cumulative - 1.0).abs() < 1e-9);
    assert_eq!(
        all.failures_by_code[0].key.as_deref(),
        Some("device.timeout")
    );
    assert_eq!(all.failures_by_code[0].count, 2);

    let models: Vec<(Option<&str>, u64, u64)> = all
        .by_model
        .iter()
        .map(|g| (g.key.as_deref(), g.tally.pass, g.tally.fail))
        .collect();
    assert_eq!(models, vec![(Some("M-A"), 4, 0), (Some("M-B"), 0, 3)]);
    assert_eq!(all.by_work_order.len(), 2);

    // identify: 100, 200, 300, 50, 4000, 5000, 100 -> median 200, worst 5000.
    assert_eq!(identify_times(&all), (7, 200, 5000));
    assert_eq!(all.step_times[0].step, "identify", "pipeline order");

    // The Journal screen's filters apply: one work order, by day.
    let wo2 = journal
        .yield_stats(&StatsRequest {
            filter: SessionFilter {
                work_order: Some("WO-2".into()),
                ..Default::default()
            },
            bucket: Bucket::Day,
        })
        .expect("stats");
    assert_eq!((wo2.tally.total, wo2.tally.pass), (3, 1));
    assert_eq!(wo2.over_time.len(), 1);
    assert_eq!(wo2.over_time[0].at, "2026-03-02T00:00:00Z");
    assert_eq!(identify_times(&wo2), (3, 4000, 5000));
    assert!(wo2
        .failures_by_step
        .iter()
        .all(|b| b.key.as_deref() == Some("identify")));
}
