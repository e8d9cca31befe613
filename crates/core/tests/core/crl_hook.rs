//! Revocation on a broker the station did not start: the profile's CRL hook writes the CRL
//! where mosquitto reads it (`crlfile`) and signals that mosquitto; without a hook the check is
//! skipped with instructions; a lab station signals only the lab broker it audits.

use commissioner_core::lab::{is_lab_broker_of, Lab, LabFiles};
use commissioner_core::mqtt::audit::session::{audit_station_with_lab, StationAudit};
use commissioner_core::mqtt::audit::{CheckResult, Outcome, NO_CRL_RELOAD};
use commissioner_core::station::CrlHook;

use crate::custom_broker::{self, common, tls_listener, CustomBroker};
use crate::fixture::{station, LabStation};

fn revoked(a: &StationAudit) -> &CheckResult {
    a.results
        .iter()
        .find(|r| r.name == "revoked_certificate")
        .expect("revoked_certificate reported")
}

/// A mosquitto with a CRL, as an operator would write it, and a profile that audits only
/// revocation.
fn broker_with_crl(s: &mut LabStation) -> CustomBroker {
    let broker = custom_broker::start(s, |files, port| {
        format!(
            "{}{}allow_anonymous false\nrequire_certificate true\n\
             use_identity_as_username true\ncrlfile {}\n",
            common(files),
            tls_listener(files, port),
            files.crl.display()
        )
    });
    if let Some(b) = s.station.config.broker.as_mut() {
        b.audit.checks = vec!["revoked_certificate".into()];
    }
    broker
}

#[test]
fn a_crl_hook_that_writes_the_crlfile_and_signals_the_broker_proves_revocation() {
    let mut s = station();
    let broker = broker_with_crl(&mut s);
    let crl = LabFiles::new(&s.station).crl;
    let before = std::fs::read(&crl).expect("initial CRL");
    if let Some(b) = s.station.config.broker.as_mut() {
        b.audit.crl_hook = Some(CrlHook {
            path: Some(crl.clone()),
            // What an operator writes for a mosquitto they run: reload it once the file is there.
            command: Some(format!(
                "test -s \"$COMMISSIONER_CRL\" && kill -HUP {}",
                broker.pid()
            )),
            timeout_secs: 10,
        });
    }
    // No lab pid: this broker is reached only through the hook.
    let a = audit_station_with_lab(&s.station, &s.ca, "qa", None).expect("audit runs");
    let r = revoked(&a);
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.evidence);
    assert!(
        r.evidence.contains("mqtt.certificate_revoked"),
        "{}",
        r.evidence
    );
    assert_ne!(
        std::fs::read(&crl).expect("CRL"),
        before,
        "the hook's path was rewritten"
    );
}

#[test]
fn a_failing_hook_makes_revocation_inconclusive_and_no_hook_skips_it_with_instructions() {
    let mut s = station();
    let _broker = broker_with_crl(&mut s);
    let a = audit_station_with_lab(&s.station, &s.ca, "qa", None).expect("audit runs");
    let r = revoked(&a);
    assert_eq!(r.outcome, Outcome::Skipped, "{}", r.evidence);
    assert_eq!(r.evidence, NO_CRL_RELOAD);
    assert!(r.evidence.contains("crl_hook"), "{}", r.evidence);

    if let Some(b) = s.station.config.broker.as_mut() {
        b.audit.crl_hook = Some(CrlHook {
            path: None,
            command: Some("echo no such broker >&2; exit 3".into()),
            timeout_secs: 10,
        });
    }
    let a = audit_station_with_lab(&s.station, &s.ca, "qa", None).expect("audit runs");
    let r = revoked(&a);
    assert_eq!(r.outcome, Outcome::Inconclusive, "{}", r.evidence);
    assert!(r.evidence.contains("audit.crl_hook"), "{}", r.evidence);
    assert!(r.evidence.contains("no such broker"), "{}", r.evidence);
}

#[test]
fn a_lab_station_signals_only_the_lab_broker_it_audits() {
    let mut s = station();
    let lab = Lab::up(&mut s.station, &s.ca).expect("lab up");
    let files = LabFiles::new(&s.station);
    let profile = s.station.broker().expect("profile").clone();
    assert!(is_lab_broker_of(&files, &profile, lab.pid()));
    // Another process (a reused pid in a stale pid file) is not the lab broker.
    assert!(!is_lab_broker_of(&files, &profile, std::process::id()));

    // The profile now points at another broker (a hand-written [broker] next to the lab).
    let mut other = station();
    let _elsewhere = Lab::up(&mut other.station, &other.ca).expect("second lab");
    let elsewhere = other.station.broker().expect("profile").port;
    if let Some(b) = s.station.config.broker.as_mut() {
        b.port = elsewhere;
        b.audit.checks = vec!["revoked_certificate".into()];
    }
    let moved = s.station.broker().expect("profile").clone();
    assert!(!is_lab_broker_of(&files, &moved, lab.pid()));
    let log_before = std::fs::read_to_string(&files.log).unwrap_or_default();
    let a = audit_station_with_lab(&s.station, &s.ca, "qa", Some(lab.pid())).expect("audit runs");
    // Not the lab's broker: never signalled, so revocation is not proven there.
    assert_ne!(revoked(&a).outcome, Outcome::Pass, "{:#?}", a.results);
    let log_after = std::fs::read_to_string(&files.log).unwrap_or_default();
    assert_eq!(
        log_after.matches("Reloading config").count(),
        log_before.matches("Reloading config").count(),
        "the lab broker was signalled:\n{log_after}"
    );
}
