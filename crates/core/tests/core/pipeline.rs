use commissioner_core::journal::{KeyOrigin, SessionResult};
use commissioner_core::pipeline::{
    commission, CommissionRequest, ProgressEvent, Report, StepStatus, STEPS,
};
use commissioner_devsim::{Fault, SimConfig, SimDevice};

use crate::fixture::{openssl_verify, station_with_lab, LabStation};

fn commission_port(s: &LabStation, port: &str, progress: &mut dyn FnMut(ProgressEvent)) -> Report {
    commission(
        &s.station,
        &s.ca,
        &CommissionRequest {
            port,
            baud: 115_200,
            operator: "test",
        },
        Default::default(),
        progress,
    )
}

#[test]
fn simulated_unit_commissions_end_to_end() {
    let (s, _lab) = station_with_lab();
    let sim = SimDevice::spawn(SimConfig::default()).expect("simulator");
    let mut events = Vec::new();
    let report = commission_port(&s, sim.path(), &mut |e| events.push(e));
    assert!(report.passed(), "expected PASS:\n{}", report.render());
    assert_eq!(report.device_id.as_deref(), Some(sim.device_id()));
    let step_names: Vec<&str> = report.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(step_names, STEPS);
    // Every step but the audit, which the lab profile leaves off, passed.
    assert_eq!(
        events
            .iter()
            .filter(|e| e.status == StepStatus::Passed)
            .count(),
        STEPS.len() - 1
    );

    // The journal holds the session, every step and the certificate, as they happened.
    let journal = s.station.journal().expect("journal");
    let session = journal
        .session(report.session_id)
        .expect("query")
        .expect("session row");
    assert_eq!(session.result, SessionResult::Pass);
    assert_eq!(session.device_id.as_deref(), Some(sim.device_id()));
    let steps = journal.steps(report.session_id).expect("steps");
    // The skipped audit has no step row: the journal keeps the steps that ran.
    assert_eq!(steps.len(), STEPS.len() - 1);
    assert!(steps.iter().all(|s| s.outcome == "ok"));
    let certs = journal
        .certificates_for_session(report.session_id)
        .expect("certs");
    assert_eq!(certs.len(), 1);
    let cert = &certs[0];
    assert_eq!(cert.status, "active");
    assert_eq!(cert.key_origin, KeyOrigin::Device);
    assert_eq!(Some(&cert.serial), report.certificate_serial.as_ref());
    assert_eq!(Some(&cert.sha256), report.fingerprint_sha256.as_ref());
    assert_eq!(cert.sha256.len(), 64);
    // The unit's boot log and its log lines during the session were kept.
    let log = journal.device_log(report.session_id).expect("device log");
    assert!(
        log.iter().any(|l| l.contains("keystore: generating")),
        "{log:?}"
    );
    // The unit got the broker settings the handshake proved.
    assert!(
        log.iter().any(|l| l.contains("config: broker 127.0.0.1")),
        "{log:?}"
    );

    // An independent check of the issued certificate.
    let (ok, out) = openssl_verify(&s.station.ca_dir(), &cert.pem, "sslclient");
    assert!(ok, "openssl verify failed: {out}");
}

#[test]
fn csr_with_wrong_cn_fails_with_specific_code_and_complete_journal() {
    let (s, _lab) = station_with_lab();
    let sim = SimDevice::spawn(SimConfig {
        faults: vec![Fault::WrongCsrCn],
        ..SimConfig::default()
    })
    .expect("simulator");
    let report = commission_port(&s, sim.path(), &mut |_| {});
    assert_eq!(report.result, SessionResult::Fail);
    let error = report.error.as_ref().expect("error");
    assert_eq!(error.code, "csr.cn_mismatch");
    assert!(error.message.contains(sim.device_id()), "{}", error.message);

    let journal = s.station.journal().expect("journal");
    let session = journal
        .session(report.session_id)
        .expect("query")
        .expect("row");
    assert_eq!(session.result, SessionResult::Fail);
    assert_eq!(session.error_code.as_deref(), Some("csr.cn_mismatch"));
    assert!(session.ended_at.is_some());
    let steps = journal.steps(report.session_id).expect("steps");
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["identify", "keygen", "validate_csr"]);
    assert_eq!(steps[2].outcome, "failed");
    assert_eq!(steps[2].error_code.as_deref(), Some("csr.cn_mismatch"));
    // Nothing was signed for a unit that lied about its name.
    assert!(journal
        .certificates_for_session(report.session_id)
        .expect("certs")
        .is_empty());
}

#[test]
fn missing_port_is_a_failed_attempt_in_the_journal() {
    let s = crate::fixture::station();
    let report = commission_port(&s, "/dev/does-not-exist", &mut |_| {});
    assert_eq!(
        report.error.as_ref().map(|e| e.code.as_str()),
        Some("device.open_failed")
    );
    let journal = s.station.journal().expect("journal");
    let session = journal
        .session(report.session_id)
        .expect("query")
        .expect("row");
    assert_eq!(session.result, SessionResult::Fail);
    assert_eq!(journal.steps(report.session_id).expect("steps").len(), 1);
}

#[test]
fn a_unit_without_a_key_generator_gets_a_host_key_where_the_profile_allows_it() {
    let (mut s, _lab) = station_with_lab();
    s.station.config.policy.allow_host_generated_key = true;
    let sim = SimDevice::spawn(SimConfig {
        faults: vec![Fault::NoKeygen],
        ..SimConfig::default()
    })
    .expect("simulator");
    let report = commission_port(&s, sim.path(), &mut |_| {});
    assert!(report.passed(), "expected PASS:\n{}", report.render());
    // No CSR: its check is reported skipped, with the reason; everything else ran.
    let outcome = |name: &str| {
        report
            .steps
            .iter()
            .find(|st| st.name == name)
            .map(|st| st.outcome.as_str())
    };
    assert_eq!(outcome("validate_csr"), Some("skipped"));
    assert_eq!(outcome("keygen"), Some("ok"));
    assert_eq!(outcome("prove_possession"), Some("ok"));
    assert_eq!(outcome("handshake"), Some("ok"));

    // The registry says where the key came from; the unit itself says it was injected.
    let journal = s.station.journal().expect("journal");
    let certs = journal
        .certificates_for_session(report.session_id)
        .expect("certs");
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0].status, "active");
    assert_eq!(certs[0].key_origin, KeyOrigin::Host);
    let entry = journal
        .certificate(&certs[0].serial)
        .expect("query")
        .expect("registry entry");
    assert_eq!(entry.key_origin, KeyOrigin::Host);
    let log = journal.device_log(report.session_id).expect("device log");
    assert!(
        log.iter().any(|l| l.contains("host key injected")),
        "{log:?}"
    );
    let (ok, out) = openssl_verify(&s.station.ca_dir(), &certs[0].pem, "sslclient");
    assert!(ok, "openssl verify failed: {out}");
    let verified = journal.verify().expect("verify");
    assert!(verified.ok(), "{:?}", verified.problem);
}
