//! Many simulated units commissioned at once against the real lab mosquitto: each session
//! stands on its own, whatever its neighbours do.

use std::collections::HashSet;
use std::sync::Mutex;

use commissioner_core::journal::SessionResult;
use commissioner_core::pipeline::{
    commission, commission_many, CommissionOptions, CommissionRequest, StepStatus, Stop, StopSignal,
};
use commissioner_devsim::{Fault, SimConfig, SimDevice};

use crate::fixture::station_with_lab;

fn spawn(faults: Vec<Fault>) -> SimDevice {
    SimDevice::spawn(SimConfig {
        faults,
        ..SimConfig::default()
    })
    .expect("simulator")
}

fn requests(sims: &[SimDevice]) -> Vec<CommissionRequest<'_>> {
    sims.iter()
        .map(|sim| CommissionRequest {
            port: sim.path(),
            baud: 115_200,
            operator: "line",
        })
        .collect()
}

#[test]
fn sixteen_units_in_parallel_all_pass_with_distinct_certificates() {
    let (s, _lab) = station_with_lab();
    let sims: Vec<SimDevice> = (0..16).map(|_| spawn(Vec::new())).collect();
    let jobs = requests(&sims);
    let events = Mutex::new(Vec::new());
    let opts = CommissionOptions {
        work_order: Some("WO-4711"),
        ..CommissionOptions::default()
    };
    let reports = commission_many(&s.station, &s.ca, &jobs, opts, &|i, e| {
        events.lock().expect("events").push((i, e));
    });

    assert_eq!(reports.len(), 16);
    let journal = s.station.journal().expect("journal");
    let mut serials = HashSet::new();
    let mut fingerprints = HashSet::new();
    for (report, sim) in reports.iter().zip(&sims) {
        assert!(report.passed(), "expected PASS:\n{}", report.render());
        assert_eq!(report.device_id.as_deref(), Some(sim.device_id()));
        serials.insert(report.certificate_serial.clone().expect("serial"));
        fingerprints.insert(report.fingerprint_sha256.clone().expect("fingerprint"));
        let row = journal
            .session(report.session_id)
            .expect("query")
            .expect("row");
        assert_eq!(row.work_order.as_deref(), Some("WO-4711"));
    }
    assert_eq!(serials.len(), 16);
    assert_eq!(fingerprints.len(), 16);
    // Every session reported its own progress, all the way to the last step.
    let events = events.into_inner().expect("events");
    for i in 0..16 {
        let passed = events
            .iter()
            .filter(|(j, e)| *j == i && e.status == StepStatus::Passed)
            .count();
        assert_eq!(passed, 8, "session {i}");
    }
    // Concurrent sessions sealed into one intact chain.
    let verdict = journal.verify().expect("verify");
    assert!(verdict.ok(), "{verdict:?}");
    // The units' sixteen, and the lab's broker and backend identities (a session each).
    assert_eq!(verdict.sealed_sessions, 18);
}

#[test]
fn a_mixed_batch_passes_the_healthy_and_fails_each_faulty_unit_with_its_own_code() {
    let (s, _lab) = station_with_lab();
    let cases: [(Option<Fault>, SessionResult, Option<&str>); 8] = [
        (None, SessionResult::Pass, None),
        (
            Some(Fault::WrongCsrCn),
            SessionResult::Fail,
            Some("csr.cn_mismatch"),
        ),
        (None, SessionResult::Pass, None),
        (
            Some(Fault::BadCsrSignature),
            SessionResult::Fail,
            Some("csr.bad_signature"),
        ),
        (
            Some(Fault::WriteNotPersisted),
            SessionResult::Fail,
            Some("write.readback_mismatch"),
        ),
        (None, SessionResult::Pass, None),
        (
            Some(Fault::Clock1970),
            SessionResult::Fail,
            Some("device.clock_invalid"),
        ),
        (
            Some(Fault::UnplugMidSession),
            SessionResult::Interrupted,
            Some("device.unplugged"),
        ),
    ];
    let sims: Vec<SimDevice> = cases
        .iter()
        .map(|(fault, _, _)| spawn(fault.iter().copied().collect()))
        .collect();
    let jobs = requests(&sims);
    let reports = commission_many(
        &s.station,
        &s.ca,
        &jobs,
        CommissionOptions::default(),
        &|_, _| {},
    );
    for ((fault, result, code), report) in cases.iter().zip(&reports) {
        assert_eq!(report.result, *result, "{fault:?}:\n{}", report.render());
        assert_eq!(
            report.error.as_ref().map(|e| e.code.as_str()),
            *code,
            "{fault:?}:\n{}",
            report.render()
        );
    }
}

#[test]
fn a_cancelled_session_ends_interrupted_between_steps() {
    let (s, _lab) = station_with_lab();
    let sim = spawn(Vec::new());
    let cancel = StopSignal::default();
    let req = CommissionRequest {
        port: sim.path(),
        baud: 115_200,
        operator: "line",
    };
    let opts = CommissionOptions {
        cancel: Some(&cancel),
        ..CommissionOptions::default()
    };
    // The operator presses stop while the key is being generated.
    let report = commission(&s.station, &s.ca, &req, opts, &mut |e| {
        if e.step == "keygen" && e.status == StepStatus::Started {
            cancel.stop(Stop::Cancelled);
        }
    });
    assert_eq!(
        report.result,
        SessionResult::Interrupted,
        "{}",
        report.render()
    );
    assert_eq!(
        report.error.as_ref().map(|e| e.code.as_str()),
        Some("session.cancelled")
    );
    let names: Vec<&str> = report.steps.iter().map(|s| s.name.as_str()).collect();
    // The step under way ran to its end; nothing after it started.
    assert_eq!(names, ["identify", "keygen"]);
    let journal = s.station.journal().expect("journal");
    let row = journal
        .session(report.session_id)
        .expect("query")
        .expect("row");
    assert_eq!(row.result, SessionResult::Interrupted);
    assert_eq!(row.error_code.as_deref(), Some("session.cancelled"));
}
