//! Every fault the simulator can show, driven through the real pipeline against a real
//! mosquitto: each ends in its own stable code, a plain-language message, and a journal
//! session with every step closed.

use std::collections::HashSet;
use std::time::Duration;

use commissioner_core::device::Timeouts;
use commissioner_core::journal::SessionResult;
use commissioner_core::pipeline::{commission, CommissionOptions, CommissionRequest, Report};
use commissioner_devsim::{Delays, Fault, SimConfig, SimDevice};

use crate::fixture::{station_with_lab, LabStation};

/// Short enough to keep the test quick, long enough for a loaded machine's pty round trip.
fn timeouts() -> Timeouts {
    Timeouts {
        hello: Duration::from_millis(300),
        keygen: Duration::from_millis(800),
        write: Duration::from_millis(800),
        sign: Duration::from_millis(800),
        other: Duration::from_millis(800),
        attempts: 3,
        step: None,
    }
}

/// What each fault must end in: result, error code, and the step that failed.
fn expected(fault: Fault) -> (SessionResult, Option<&'static str>, &'static str) {
    use SessionResult::{Fail, Interrupted, Pass};
    match fault {
        Fault::BootNoise => (Pass, None, "lock"),
        Fault::DropBytes => (Fail, Some("device.request_damaged"), "identify"),
        Fault::CorruptBytes => (Fail, Some("device.corrupted_frame"), "identify"),
        Fault::LateReply => (Fail, Some("device.slow_reply"), "identify"),
        Fault::NoReply => (Fail, Some("device.timeout"), "keygen"),
        Fault::RebootMidWrite => (Interrupted, Some("device.rebooted"), "write_cert"),
        Fault::UnplugMidSession => (Interrupted, Some("device.unplugged"), "prove_possession"),
        Fault::WrongCsrCn => (Fail, Some("csr.cn_mismatch"), "validate_csr"),
        Fault::BadCsrSignature => (Fail, Some("csr.bad_signature"), "validate_csr"),
        Fault::WrongPopKey => (Fail, Some("pop.failed"), "prove_possession"),
        Fault::WriteNotPersisted => (Fail, Some("write.readback_mismatch"), "write_cert"),
        Fault::Clock1970 => (Fail, Some("device.clock_invalid"), "identify"),
        Fault::Locked => (Fail, Some("device.locked"), "identify"),
        // The lab profile does not allow host-generated keys (see pipeline.rs for one that does).
        Fault::NoKeygen => (Fail, Some("device.missing_capability"), "identify"),
    }
}

fn run(s: &LabStation, fault: Fault) -> (SimDevice, Report) {
    let sim = SimDevice::spawn(SimConfig {
        faults: vec![fault],
        delays: Delays {
            // Later than the 300 ms hello timeout, early enough to be seen before the
            // third attempt gives up.
            late_reply: Duration::from_millis(400),
            ..Delays::default()
        },
        ..SimConfig::default()
    })
    .expect("simulator");
    let req = CommissionRequest {
        port: sim.path(),
        baud: 115_200,
        operator: "faults",
    };
    let report = commission(
        &s.station,
        &s.ca,
        &req,
        CommissionOptions {
            timeouts: timeouts(),
            ..CommissionOptions::default()
        },
        &mut |_| {},
    );
    (sim, report)
}

/// Checks one fault's outcome; returns what is wrong with it.
fn check(s: &LabStation, fault: Fault, report: &Report) -> Vec<String> {
    let (result, code, last_step) = expected(fault);
    let mut wrong = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            wrong.push(what);
        }
    };
    expect(
        report.result == result,
        format!("result {:?}", report.result),
    );
    let error = report.error.as_ref();
    expect(
        error.map(|e| e.code.as_str()) == code,
        format!("code {:?}", error.map(|e| &e.code)),
    );
    if let Some(e) = error {
        // Plain language: a sentence for a person, not a code or a debug dump.
        expect(
            e.message.len() > 30 && !e.message.contains(&e.code) && !e.message.contains("{"),
            format!("message {:?}", e.message),
        );
    }

    let journal = s.station.journal().expect("journal");
    let session = journal
        .session(report.session_id)
        .expect("query")
        .expect("session row");
    expect(
        session.result == result,
        format!("journal result {:?}", session.result),
    );
    expect(session.ended_at.is_some(), "session left open".into());
    expect(
        session.error_code.as_deref() == code,
        format!("journal code {:?}", session.error_code),
    );
    let steps = journal.steps(report.session_id).expect("steps");
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    // A step the profile leaves out is reported skipped and has no journal row.
    let reported: Vec<&str> = report
        .steps
        .iter()
        .filter(|s| s.outcome != "skipped")
        .map(|s| s.name.as_str())
        .collect();
    expect(
        names == reported,
        format!("journal steps {names:?} vs report {reported:?}"),
    );
    expect(
        names.last() == Some(&last_step),
        format!("last step {:?}", names.last()),
    );
    for (i, step) in steps.iter().enumerate() {
        let last = i + 1 == steps.len();
        let want = if last && code.is_some() {
            "failed"
        } else {
            "ok"
        };
        expect(
            step.outcome == want && !step.ended_at.is_empty(),
            format!("step {} outcome {}", step.name, step.outcome),
        );
        if last && code.is_some() {
            expect(
                step.error_code.as_deref() == code,
                format!("step code {:?}", step.error_code),
            );
        }
    }
    wrong
}

#[test]
fn every_fault_ends_in_its_own_code_with_a_complete_journal() {
    let (s, _lab) = station_with_lab();
    let mut failures = Vec::new();
    let mut codes = HashSet::new();
    for fault in Fault::ALL {
        let (sim, report) = run(&s, fault);
        let wrong = check(&s, fault, &report);
        if !wrong.is_empty() {
            failures.push(format!(
                "{fault}: {}\n{}",
                wrong.join("; "),
                report.render()
            ));
        }
        if let Some(e) = &report.error {
            codes.insert(e.code.clone());
        }
        let journal = s.station.journal().expect("journal");
        let log = journal.device_log(report.session_id).expect("device log");
        match fault {
            // The noise is kept with the session, not mistaken for frames.
            Fault::BootNoise if !log.iter().any(|l| l.contains("wifi: scan done")) => {
                failures.push(format!("{fault}: noise not in the device log: {log:?}"));
            }
            // The unit went away after its certificate was issued: never `active`, revoked as
            // the session closed.
            Fault::UnplugMidSession => {
                let certs = journal
                    .certificates_for_session(report.session_id)
                    .expect("certs");
                if certs.len() != 1 || certs[0].status != "revoked" {
                    failures.push(format!("{fault}: certificates {certs:?}"));
                }
            }
            _ => {}
        }
        drop(sim);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // Twelve faults that fail, twelve different codes.
    assert_eq!(codes.len(), Fault::ALL.len() - 1, "{codes:?}");
}
