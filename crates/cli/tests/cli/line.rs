//! `commissioner line --sim N`: the line's own session handling, driven by simulated units.

use commissioner_core::journal::{Journal, SessionResult};

use crate::commands::{commissioner, text};

#[test]
fn line_commissions_every_unit_with_the_work_order_and_a_result_each() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    let out = commissioner(
        &station,
        &[
            "line",
            "--sim",
            "4",
            "--work-order",
            "WO-2026-17",
            "--operator",
            "anna",
            "--fault",
            "2=unplug-mid-session",
            "--fault",
            "3=wrong-cn",
        ],
    );
    // One unit did not pass: the line says so in its exit code.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().filter(|l| l.starts_with("PASS")).count(), 2);
    assert!(stdout.contains("csr.cn_mismatch"), "{stdout}");

    let journal = Journal::open(&station.join("journal.sqlite")).expect("journal");
    // The lab's broker and backend identities are sessions of their own, before the unit's.
    let first: i64 = journal
        .connection()
        .query_row(
            "SELECT min(id) FROM sessions WHERE port != 'service-identity'",
            [],
            |r| r.get(0),
        )
        .expect("the unit's session");
    let mut results = Vec::new();
    for id in first..first + 4 {
        let row = journal.session(id).expect("query").expect("row");
        assert_eq!(row.work_order.as_deref(), Some("WO-2026-17"));
        assert_eq!(row.operator, "anna");
        results.push((row.result, row.error_code));
    }
    // The unit that vanished mid-session is interrupted, with that reason.
    assert!(
        results.contains(&(SessionResult::Interrupted, Some("device.unplugged".into()))),
        "{results:?}"
    );
    assert!(
        results.contains(&(SessionResult::Fail, Some("csr.cn_mismatch".into()))),
        "{results:?}"
    );
    assert!(journal.verify().expect("verify").ok());
}
