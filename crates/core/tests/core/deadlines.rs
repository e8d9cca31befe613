//! Whole-step deadlines and a cancel that reaches into a step in flight, against slow
//! simulated units and a broker that never answers.

use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use commissioner_core::journal::SessionResult;
use commissioner_core::pipeline::{
    commission, CommissionOptions, CommissionRequest, Report, StepStatus, Stop, StopSignal,
};
use commissioner_core::pki::UnlockedCa;
use commissioner_core::station::Station;
use commissioner_devsim::{Delays, SimConfig, SimDevice};

use crate::fixture::{station_with_lab, LabStation};

/// A keygen that takes far longer than any test waits: the session can only end early if
/// the cancel reaches into the step.
const SLOW_KEYGEN: Duration = Duration::from_secs(60);

fn slow_sim(delays: Delays) -> SimDevice {
    SimDevice::spawn(SimConfig {
        delays,
        ..SimConfig::default()
    })
    .expect("simulator")
}

fn request(sim: &SimDevice) -> CommissionRequest<'_> {
    CommissionRequest {
        port: sim.path(),
        baud: 115_200,
        operator: "line",
    }
}

fn step_names(report: &Report) -> Vec<&str> {
    report.steps.iter().map(|s| s.name.as_str()).collect()
}

/// Commissions the unit and cancels the session 300 ms after `step` has started.
fn cancel_during(station: &Station, ca: &UnlockedCa, sim: &SimDevice, step: &str) -> Report {
    let cancel = StopSignal::default();
    let opts = CommissionOptions {
        cancel: Some(&cancel),
        ..CommissionOptions::default()
    };
    let (started_tx, started_rx) = mpsc::channel();
    thread::scope(|scope| {
        let cancel = &cancel;
        scope.spawn(move || {
            // A session that never reaches the step drops the sender and ends this wait.
            if started_rx.recv().is_ok() {
                thread::sleep(Duration::from_millis(300));
                cancel.stop(Stop::Cancelled);
            }
        });
        let started_tx = started_tx;
        commission(station, ca, &request(sim), opts, &mut |e| {
            if e.step == step && e.status == StepStatus::Started {
                let _ = started_tx.send(());
            }
        })
    })
}

/// The session is journaled like any other: closed with its code and failed step, sealed.
fn assert_journaled(
    s: &LabStation,
    report: &Report,
    result: SessionResult,
    code: &str,
    step: &str,
) {
    let journal = s.station.journal().expect("journal");
    let row = journal
        .session(report.session_id)
        .expect("query")
        .expect("row");
    assert_eq!(row.result, result);
    assert_eq!(row.error_code.as_deref(), Some(code));
    assert_eq!(row.failed_step.as_deref(), Some(step));
    let steps = journal.steps(report.session_id).expect("steps");
    let last = steps.last().expect("a step row");
    assert_eq!(
        (last.name.as_str(), last.outcome.as_str()),
        (step, "failed")
    );
    assert_eq!(last.error_code.as_deref(), Some(code));
    assert!(journal.verify().expect("verify").ok(), "the chain holds");
}

/// The station with one step's deadline overridden in its profile, as an operator would.
fn with_step_deadline(station: &Station, step: &str, secs: u64) -> Station {
    let mut station = station.clone();
    station.config.timeouts.steps.insert(step.into(), secs);
    station
}

#[test]
fn a_step_that_crawls_ends_at_its_deadline_with_the_step_named() {
    let (s, _lab) = station_with_lab();
    // Every chunk is acknowledged well inside the 5 s write timeout, but the certificate,
    // chain and broker CA take several chunks: far more than the step's one second.
    let sim = slow_sim(Delays {
        flash_write: Duration::from_millis(600),
        ..Delays::default()
    });
    let station = with_step_deadline(&s.station, "write_cert", 1);
    let report = commission(
        &station,
        &s.ca,
        &request(&sim),
        CommissionOptions::default(),
        &mut |_| {},
    );
    assert_eq!(report.result, SessionResult::Fail, "{}", report.render());
    let error = report.error.as_ref().expect("error");
    assert_eq!(error.code, "pipeline.step_timeout", "{}", report.render());
    assert!(error.message.contains("write_cert"), "{}", error.message);
    assert_eq!(
        step_names(&report),
        ["identify", "keygen", "validate_csr", "issue", "write_cert"]
    );
    assert_journaled(
        &s,
        &report,
        SessionResult::Fail,
        "pipeline.step_timeout",
        "write_cert",
    );
    // The certificate was issued but never confirmed: revoked as the session closed.
    let journal = s.station.journal().expect("journal");
    let serial = report.certificate_serial.clone().expect("serial");
    let cert = journal
        .certificate(&serial)
        .expect("q")
        .expect("registered");
    assert_eq!(cert.status, commissioner_core::journal::CertStatus::Revoked);
    assert_eq!(
        cert.revocation_reason.as_deref(),
        Some("cessation-of-operation")
    );
}

#[test]
fn a_cancel_during_a_slow_keygen_ends_the_session_before_the_unit_answers() {
    let (s, _lab) = station_with_lab();
    let sim = slow_sim(Delays {
        keygen: SLOW_KEYGEN,
        ..Delays::default()
    });
    // The operator presses stop a moment after the keygen request went out, i.e. after the
    // check before the step.
    let report = cancel_during(&s.station, &s.ca, &sim, "keygen");
    assert_eq!(
        report.result,
        SessionResult::Interrupted,
        "{}",
        report.render()
    );
    let error = report.error.as_ref().expect("error");
    assert_eq!(error.code, "session.cancelled");
    assert!(
        error.message.contains("during 'keygen'"),
        "{}",
        error.message
    );
    assert_eq!(step_names(&report), ["identify", "keygen"]);
    // Ordering, not timing: the unit had not finished its keygen when the session ended.
    assert!(
        sim.stats().device_time < SLOW_KEYGEN,
        "the session waited for the keygen"
    );
    assert_journaled(
        &s,
        &report,
        SessionResult::Interrupted,
        "session.cancelled",
        "keygen",
    );
}

/// A broker address that accepts TCP connections and never says a word.
fn silent_broker(station: &Station) -> (Station, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut station = station.clone();
    let broker = station.config.broker.as_mut().expect("broker profile");
    broker.port = listener.local_addr().expect("addr").port();
    broker.timeout_secs = 60;
    broker.connect_timeout_secs = 60;
    (station, listener)
}

#[test]
fn a_cancel_during_the_broker_wait_ends_the_session() {
    let (s, _lab) = station_with_lab();
    let (station, _listener) = silent_broker(&s.station);
    let sim = slow_sim(Delays::default());
    let report = cancel_during(&station, &s.ca, &sim, "handshake");
    assert_eq!(
        report.result,
        SessionResult::Interrupted,
        "{}",
        report.render()
    );
    let error = report.error.as_ref().expect("error");
    assert_eq!(error.code, "session.cancelled");
    assert!(
        error.message.contains("during 'handshake'"),
        "{}",
        error.message
    );
    // Well before the broker's own 60 s timeout could have ended the step.
    assert!(report.total_millis < 60_000, "{}", report.render());
    assert_journaled(
        &s,
        &report,
        SessionResult::Interrupted,
        "session.cancelled",
        "handshake",
    );
}

#[test]
fn a_broker_that_never_answers_ends_at_the_handshake_deadline() {
    let (s, _lab) = station_with_lab();
    let (station, _listener) = silent_broker(&s.station);
    let station = with_step_deadline(&station, "handshake", 1);
    let sim = slow_sim(Delays::default());
    let report = commission(
        &station,
        &s.ca,
        &request(&sim),
        CommissionOptions::default(),
        &mut |_| {},
    );
    assert_eq!(report.result, SessionResult::Fail, "{}", report.render());
    let error = report.error.as_ref().expect("error");
    assert_eq!(error.code, "pipeline.step_timeout", "{}", report.render());
    assert!(error.message.contains("handshake"), "{}", error.message);
    assert_journaled(
        &s,
        &report,
        SessionResult::Fail,
        "pipeline.step_timeout",
        "handshake",
    );
}
