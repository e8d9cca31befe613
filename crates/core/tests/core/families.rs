//! The device-family seam: the reference family runs every step and records its assurance;
//! an unknown family is refused before the unit is touched.

use std::process::Command;

use commissioner_core::pipeline::{
    commission, CommissionOptions, CommissionRequest, Report, SessionResult,
};
use commissioner_devsim::{SimConfig, SimDevice};

use crate::fixture::{station_with_lab, LabStation};

fn run(s: &LabStation, port: &str, family: Option<&str>) -> Report {
    commission(
        &s.station,
        &s.ca,
        &CommissionRequest {
            port,
            baud: 115_200,
            operator: "test",
        },
        CommissionOptions {
            family,
            ..CommissionOptions::default()
        },
        &mut |_| {},
    )
}

fn journal_row(s: &LabStation, session: i64) -> String {
    let out = Command::new("sqlite3")
        .arg(s.station.journal_path())
        .arg(format!(
            "SELECT family || '|' || assurance FROM session_assurance WHERE session_id = {session}"
        ))
        .output()
        .expect("sqlite3");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn reference_family_passes_and_records_its_assurance() {
    let (s, _lab) = station_with_lab();
    let sim = SimDevice::spawn(SimConfig::default()).expect("simulator");
    let report = run(&s, sim.path(), Some("reference"));
    assert!(report.passed(), "expected PASS:\n{}", report.render());
    assert_eq!(report.family, "reference");
    let assurance = report.assurance.clone().expect("assurance");
    assert_eq!(assurance.key_made, "unit");
    assert!(assurance.handshake_as_unit);
    // Nothing skipped but the audit the lab profile leaves off.
    let skipped: Vec<&str> = report
        .steps
        .iter()
        .filter(|s| s.outcome == "skipped")
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(skipped, ["audit"]);
    assert_eq!(
        journal_row(&s, report.session_id),
        format!("reference|{}", assurance.summary())
    );
    assert!(report.render().contains("family       reference"));
}

#[test]
fn unknown_family_is_refused_before_the_unit_is_touched() {
    let (s, _lab) = station_with_lab();
    let sim = SimDevice::spawn(SimConfig::default()).expect("simulator");
    let report = run(&s, sim.path(), Some("no-such-family"));
    assert_eq!(report.result, SessionResult::Fail);
    let error = report.error.expect("error");
    assert_eq!(error.code, "device.unknown_family");
    assert!(
        report.steps.is_empty(),
        "no step may run: {:?}",
        report.steps
    );
    assert!(report.assurance.is_none());
}
