//! The pipeline's `audit` step against real mosquitto: with the unit's new identity (its key
//! signing on the simulated unit), checks sealed with the unit's session, a weak broker failing
//! the session with `audit.failed`; and the device-signed handshake over MQTT 3.1.1.

use std::collections::HashMap;

use commissioner_core::journal::{CertStatus, SessionResult};
use commissioner_core::lab::Lab;
use commissioner_core::mqtt::audit::Outcome;
use commissioner_core::pipeline::{
    commission, CommissionRequest, ProgressEvent, Report, StepStatus, STEPS,
};
use commissioner_core::station::{MqttVersion, PIPELINE_AUDIT_CHECKS};
use commissioner_devsim::{SimConfig, SimDevice};

use crate::fixture::{station, LabStation};

/// The simulated unit's log line for each TLS signature it made.
const SIGNED: &str = "tls: signed a TLS 1.3 CertificateVerify";

fn with_audit(s: &mut LabStation) {
    if let Some(b) = s.station.config.broker.as_mut() {
        b.audit.in_pipeline = true;
    }
}

fn run(s: &LabStation, sim: &SimDevice) -> (Report, Vec<ProgressEvent>) {
    let mut events = Vec::new();
    let report = commission(
        &s.station,
        &s.ca,
        &CommissionRequest {
            port: sim.path(),
            baud: 115_200,
            operator: "test",
        },
        Default::default(),
        &mut |e| events.push(e),
    );
    (report, events)
}

fn signatures(s: &LabStation, session: i64) -> usize {
    let journal = s.station.journal().expect("journal");
    let log = journal.device_log(session).expect("device log");
    log.iter().filter(|l| l.contains(SIGNED)).count()
}

#[test]
fn audit_step_passes_on_the_default_lab_with_the_units_identity() {
    let mut s = station();
    let _lab = Lab::up(&mut s.station, &s.ca).expect("lab up");
    with_audit(&mut s);
    let sim = SimDevice::spawn(SimConfig::default()).expect("simulator");
    let (report, events) = run(&s, &sim);
    assert!(report.passed(), "expected PASS:\n{}", report.render());
    let names: Vec<&str> = report.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, STEPS);
    let audit: Vec<StepStatus> = events
        .iter()
        .filter(|e| e.step == "audit")
        .map(|e| e.status)
        .collect();
    assert_eq!(audit, [StepStatus::Started, StepStatus::Passed]);
    let audit_index = STEPS.iter().position(|s| *s == "audit").expect("audit");
    assert!(events
        .iter()
        .filter(|e| e.step == "audit")
        .all(|e| e.index as usize == audit_index && e.total as usize == STEPS.len()));

    let journal = s.station.journal().expect("journal");
    let rows = journal.audit_checks(report.session_id).expect("rows");
    let got: HashMap<&str, &str> = rows
        .iter()
        .map(|(n, o, _)| (n.as_str(), o.as_str()))
        .collect();
    assert_eq!(got.len(), PIPELINE_AUDIT_CHECKS.len(), "{rows:#?}");
    for name in PIPELINE_AUDIT_CHECKS {
        // mosquitto does not tie a client id to the certificate; its ACL follows the
        // certificate identity, so spoofing gains nothing: a warning, not a failure.
        let want = if *name == "client_id_binding" {
            "warn"
        } else {
            "pass"
        };
        assert_eq!(got[name], want, "{name}: {rows:#?}");
    }
    // The checks spoke for this unit: its device id, its key.
    let evidence: HashMap<&str, &str> = rows
        .iter()
        .map(|(n, _, e)| (n.as_str(), e.as_deref().unwrap_or("")))
        .collect();
    assert!(
        evidence["client_id_binding"].contains(sim.device_id()),
        "{}",
        evidence["client_id_binding"]
    );
    assert!(evidence["foreign_ca"].contains("mqtt.untrusted_client_ca"));
    // One signature for the handshake and one per audit connection made as the unit (its
    // own connection, on which the topic checks run, and the client id binding): no TLS
    // session is resumed.
    assert_eq!(signatures(&s, report.session_id), 3, "{rows:#?}");
    assert_eq!(report.audit_checks.len(), PIPELINE_AUDIT_CHECKS.len());
    let v = journal.verify().expect("verify");
    assert!(v.ok(), "{:?}", v.problem);
    let certs = journal
        .certificates_for_session(report.session_id)
        .expect("certs");
    assert_eq!(
        certs.len(),
        1,
        "the audit's test identities are not the unit's"
    );
    assert_eq!(certs[0].status, "active");
}

#[test]
fn audit_step_fails_the_session_on_a_weak_broker() {
    let mut s = station();
    let _lab = Lab::up_weak(&mut s.station, &s.ca).expect("weak lab up");
    with_audit(&mut s);
    let sim = SimDevice::spawn(SimConfig::default()).expect("simulator");
    let (report, events) = run(&s, &sim);
    assert_eq!(report.result, SessionResult::Fail, "{}", report.render());
    let error = report.error.as_ref().expect("error");
    assert_eq!(error.code, "audit.failed", "{}", report.render());
    for weakness in [
        "foreign_ca",
        "client_id_binding",
        "publish_foreign_topic",
        "subscribe_isolation",
    ] {
        assert!(error.message.contains(weakness), "{}", error.message);
        assert!(
            error.detail.as_deref().unwrap_or("").contains(weakness),
            "{error:?}"
        );
    }
    assert!(events
        .iter()
        .any(|e| e.step == "audit" && e.status == StepStatus::Failed));
    // The unit stays in factory mode: no lock after a failed audit.
    let names: Vec<&str> = report.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.last(), Some(&"audit"));

    let journal = s.station.journal().expect("journal");
    let session = journal
        .session(report.session_id)
        .expect("query")
        .expect("row");
    assert_eq!(session.error_code.as_deref(), Some("audit.failed"));
    let steps = journal.steps(report.session_id).expect("steps");
    let last = steps.last().expect("steps");
    assert_eq!(
        (last.name.as_str(), last.outcome.as_str()),
        ("audit", "failed")
    );
    let rows = journal.audit_checks(report.session_id).expect("rows");
    assert!(rows
        .iter()
        .any(|(n, o, _)| n == "publish_foreign_topic" && o == "fail"));
    // Proven on the broker but not confirmed: revoked as the session closed, like any failed
    // session's.
    let serial = report.certificate_serial.clone().expect("serial");
    let cert = journal
        .certificate(&serial)
        .expect("q")
        .expect("registered");
    assert_eq!(cert.status, CertStatus::Revoked);
    assert!(journal
        .unconfirmed_serials(Some(report.session_id))
        .expect("unconfirmed")
        .is_empty());
    assert!(journal.verify().expect("verify").ok());
}

#[test]
fn audit_step_is_reported_skipped_when_the_profile_leaves_it_off() {
    let mut s = station();
    let _lab = Lab::up(&mut s.station, &s.ca).expect("lab up");
    let sim = SimDevice::spawn(SimConfig::default()).expect("simulator");
    let (report, events) = run(&s, &sim);
    assert!(report.passed(), "{}", report.render());
    let step = report
        .steps
        .iter()
        .find(|s| s.name == "audit")
        .expect("audit in the report");
    assert_eq!(step.outcome, "skipped");
    let skipped: Vec<&ProgressEvent> = events.iter().filter(|e| e.step == "audit").collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].status, StepStatus::Skipped);
    assert!(skipped[0].message.contains("in_pipeline"), "{skipped:?}");
    assert!(
        report.render().contains("skip audit"),
        "{}",
        report.render()
    );
    let journal = s.station.journal().expect("journal");
    let steps = journal.steps(report.session_id).expect("steps");
    assert!(steps.iter().all(|s| s.name != "audit"));
    assert!(journal
        .audit_checks(report.session_id)
        .expect("rows")
        .is_empty());
}

#[test]
fn device_signed_handshake_over_mqtt_311_is_flagged_weaker() {
    let mut s = station();
    let _lab = Lab::up(&mut s.station, &s.ca).expect("lab up");
    if let Some(b) = s.station.config.broker.as_mut() {
        b.mqtt_version = MqttVersion::V311;
    }
    let sim = SimDevice::spawn(SimConfig::default()).expect("simulator");
    let (report, _) = run(&s, &sim);
    assert!(report.passed(), "expected PASS:\n{}", report.render());
    // The default lab requires a client certificate: the handshake needed the unit's signature.
    let journal = s.station.journal().expect("journal");
    let steps = journal.steps(report.session_id).expect("steps");
    assert!(steps
        .iter()
        .any(|st| st.name == "handshake" && st.outcome == "ok"));
    assert_eq!(signatures(&s, report.session_id), 1);
    // Weaker, and said so on the unit's own record.
    let rows = journal.audit_checks(report.session_id).expect("rows");
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let (name, outcome, evidence) = &rows[0];
    assert_eq!(
        (name.as_str(), outcome.as_str()),
        ("protocol_version", "warn")
    );
    assert!(evidence.as_deref().unwrap_or("").contains("MQTT 3.1.1"));
    assert_eq!(report.audit_checks[0].outcome, Outcome::Warn);
    assert!(
        report.render().contains("WARN protocol_version"),
        "{}",
        report.render()
    );
    assert!(journal.verify().expect("verify").ok());
}

#[test]
fn mqtt_311_with_the_audit_records_the_version_once() {
    let mut s = station();
    let _lab = Lab::up(&mut s.station, &s.ca).expect("lab up");
    with_audit(&mut s);
    if let Some(b) = s.station.config.broker.as_mut() {
        b.mqtt_version = MqttVersion::V311;
    }
    let sim = SimDevice::spawn(SimConfig::default()).expect("simulator");
    let (report, _) = run(&s, &sim);
    // A warning is not a failure.
    assert!(report.passed(), "expected PASS:\n{}", report.render());
    let journal = s.station.journal().expect("journal");
    let rows = journal.audit_checks(report.session_id).expect("rows");
    assert_eq!(rows.len(), PIPELINE_AUDIT_CHECKS.len(), "{rows:#?}");
    assert_eq!(
        rows.iter()
            .filter(|(n, o, _)| n == "protocol_version" && o == "warn")
            .count(),
        1
    );
}
