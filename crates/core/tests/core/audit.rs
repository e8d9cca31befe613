//! The broker audit against real mosquitto: the default lab passes, the weak lab
//! (`lab up --weak`) is caught on every weakness, and the checks are sealed in the journal.

use std::collections::HashMap;
use std::process::Command;

use commissioner_core::lab::Lab;
use commissioner_core::mqtt::audit::session::{
    audit_station, audit_station_with_lab, StationAudit,
};
use commissioner_core::mqtt::audit::{Outcome, NO_CRL_RELOAD};
use commissioner_core::station::AUDIT_CHECKS;

use crate::fixture::{station, LabStation};

/// The audit as `commissioner audit` runs it on a lab station: the lab broker is the audited
/// one, so its CRL is rewritten and that process signalled.
fn audit(s: &LabStation, lab: &Lab) -> StationAudit {
    audit_station_with_lab(&s.station, &s.ca, "qa", Some(lab.pid())).expect("audit runs")
}

fn outcomes(a: &StationAudit) -> HashMap<&'static str, Outcome> {
    a.results.iter().map(|r| (r.name, r.outcome)).collect()
}

#[test]
fn default_lab_passes_and_the_checks_are_sealed() {
    let mut s = station();
    let lab = Lab::up(&mut s.station, &s.ca).expect("lab up");
    let a = audit(&s, &lab);
    let got = outcomes(&a);
    assert_eq!(got.len(), AUDIT_CHECKS.len(), "{:#?}", a.results);
    for r in &a.results {
        // mosquitto cannot tie a client id to the certificate; its ACL follows the certificate
        // identity, so spoofing gains no topic: a warning, not a failure.
        let want = if r.name == "client_id_binding" {
            Outcome::Warn
        } else {
            Outcome::Pass
        };
        assert_eq!(r.outcome, want, "{}: {}", r.name, r.evidence);
    }
    let by_name: HashMap<_, _> = a.results.iter().map(|r| (r.name, &r.evidence)).collect();
    assert!(by_name["publish_foreign_topic"].contains("0x87"));
    assert!(by_name["no_client_certificate"].contains("mqtt.certificate_required"));
    assert!(by_name["foreign_ca"].contains("mqtt.untrusted_client_ca"));
    assert!(by_name["revoked_certificate"].contains("mqtt.certificate_revoked"));
    // mosquitto without an auth plugin answers an Authentication Method as MQTT 5 says.
    assert!(
        by_name["enhanced_auth"].contains("not supported; CONNACK 0x8C"),
        "{}",
        by_name["enhanced_auth"]
    );

    let journal = s.station.journal().expect("journal");
    let rows = journal.audit_checks(a.session_id).expect("rows");
    assert_eq!(rows.len(), AUDIT_CHECKS.len());
    assert!(rows.iter().all(|(_, _, ev)| ev.is_some()));
    let v = journal.verify().expect("verify");
    assert!(v.ok(), "{:?}", v.problem);

    // An edited audit row is an edit of its sealed session.
    let out = Command::new("sqlite3")
        .arg(s.station.journal_path())
        .arg("UPDATE audit_checks SET outcome = 'pass' WHERE name = 'client_id_binding'")
        .output()
        .expect("sqlite3");
    assert!(out.status.success());
    let problem = journal.verify().expect("verify").problem.expect("found");
    assert_eq!(problem.code, "chain.session_edited");
}

#[test]
fn weak_lab_is_flagged_on_every_weakness() {
    let mut s = station();
    let lab = Lab::up_weak(&mut s.station, &s.ca).expect("weak lab up");
    let a = audit(&s, &lab);
    let got = outcomes(&a);
    for weakness in [
        "plaintext_listener",
        "no_client_certificate",
        "foreign_ca",
        "client_id_binding",
        "publish_foreign_topic",
        "publish_response_topic",
        "subscribe_isolation",
        "sys_topics",
        "revoked_certificate",
    ] {
        assert_eq!(got[weakness], Outcome::Fail, "{weakness}: {:#?}", a.results);
    }
    // The server side of TLS is still right on the weak lab.
    assert_eq!(got["server_certificate"], Outcome::Pass);
    let journal = s.station.journal().expect("journal");
    let session = journal
        .session(a.session_id)
        .expect("session")
        .expect("row");
    assert_eq!(session.error_code.as_deref(), Some("audit.findings"));
}

#[test]
fn the_profiles_server_name_is_what_the_broker_certificate_must_carry() {
    let mut s = station();
    let lab = Lab::up(&mut s.station, &s.ca).expect("lab up");
    let checks = |s: &mut LabStation, name: &str| {
        if let Some(b) = s.station.config.broker.as_mut() {
            b.server_name = Some(name.into());
            b.audit.checks = vec!["server_certificate".into()];
        }
        audit_station(&s.station, &s.ca, "qa", None).expect("audit runs")
    };
    // The lab broker's certificate names localhost and 127.0.0.1.
    let ok = checks(&mut s, "localhost");
    assert_eq!(
        outcomes(&ok)["server_certificate"],
        Outcome::Pass,
        "{:#?}",
        ok.results
    );
    let bad = checks(&mut s, "broker.example.com");
    let r = &bad
        .results
        .iter()
        .find(|r| r.name == "server_certificate")
        .expect("check");
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(
        r.evidence.contains("mqtt.server_name_mismatch"),
        "{}",
        r.evidence
    );
    drop(lab);
}

#[test]
fn a_station_that_cannot_reload_the_crl_skips_the_revocation_check_and_says_why() {
    let mut s = station();
    let _lab = Lab::up(&mut s.station, &s.ca).expect("lab up");
    // What a station in front of a production broker passes: no way to refresh its CRL.
    if let Some(b) = s.station.config.broker.as_mut() {
        b.lab = false;
    }
    s.station.config.lab = false;
    let a = audit_station(&s.station, &s.ca, "qa", None).expect("audit runs");
    let r = a
        .results
        .iter()
        .find(|r| r.name == "revoked_certificate")
        .expect("check");
    assert_eq!(r.outcome, Outcome::Skipped);
    assert_eq!(r.evidence, NO_CRL_RELOAD);
    assert!(r.evidence.contains("CRL"), "{}", r.evidence);
    // Skipped is not failed: the rest of the audit still judges the broker.
    assert!(
        !commissioner_core::mqtt::audit::any_failed(&a.results),
        "{:#?}",
        a.results
    );
    let journal = s.station.journal().expect("journal");
    let rows = journal.audit_checks(a.session_id).expect("rows");
    assert!(rows.iter().any(|(n, o, e)| n == "revoked_certificate"
        && o == "skipped"
        && e.as_deref() == Some(NO_CRL_RELOAD)));
    // Nothing was revoked for the audit's sake in the registry.
    assert!(journal
        .certificates_for_session(a.session_id)
        .expect("certs")
        .is_empty());
}

#[test]
fn a_journal_from_before_inconclusive_keeps_its_sealed_audit_rows_and_takes_the_new_outcome() {
    let mut s = station();
    let lab = Lab::up(&mut s.station, &s.ca).expect("lab up");
    let a = audit(&s, &lab);
    drop(lab);
    let path = s.station.journal_path();
    // Back to the table as schema 5 made it: 'inconclusive' not allowed yet.
    let out = Command::new("sqlite3")
        .arg(&path)
        .arg(
            "CREATE TABLE audit_checks_v5 (id INTEGER PRIMARY KEY,
                 session_id INTEGER NOT NULL REFERENCES sessions (id), name TEXT NOT NULL,
                 outcome TEXT NOT NULL CHECK (outcome IN ('pass', 'fail', 'warn', 'skipped')),
                 evidence TEXT, at TEXT NOT NULL);
             INSERT INTO audit_checks_v5 SELECT * FROM audit_checks;
             DROP TABLE audit_checks;
             ALTER TABLE audit_checks_v5 RENAME TO audit_checks;
             CREATE INDEX audit_checks_session ON audit_checks (session_id);
             PRAGMA user_version = 5;",
        )
        .output()
        .expect("sqlite3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let refused = Command::new("sqlite3")
        .arg(&path)
        .arg("INSERT INTO audit_checks (session_id, name, outcome, at) VALUES (1, 'x', 'inconclusive', 'now')")
        .output()
        .expect("sqlite3");
    assert!(
        !refused.status.success(),
        "schema 5 must refuse the new outcome"
    );

    let journal = s.station.journal().expect("journal migrates");
    assert_eq!(
        journal.audit_checks(a.session_id).expect("rows").len(),
        AUDIT_CHECKS.len()
    );
    let v = journal.verify().expect("verify");
    assert!(v.ok(), "{:?}", v.problem);
    let at = time::OffsetDateTime::now_utc();
    journal
        .record_audit_check(a.session_id, "foreign_ca", "inconclusive", "why", at)
        .expect("the new outcome is accepted");
}

/// Over 3.1.1 mosquitto acknowledges a publish its ACL dropped with a plain PUBACK: the audit
/// speaks the profile's version and must neither pass nor fail a publish on that answer.
#[test]
fn over_mqtt_311_a_puback_proves_nothing_either_way() {
    let mut s = station();
    let lab = Lab::up(&mut s.station, &s.ca).expect("lab up");
    if let Some(b) = s.station.config.broker.as_mut() {
        b.mqtt_version = commissioner_core::station::MqttVersion::V311;
    }
    let a = audit(&s, &lab);
    let got = outcomes(&a);
    for name in ["publish_foreign_topic", "publish_response_topic"] {
        let r = a.results.iter().find(|r| r.name == name).expect("check");
        assert_eq!(r.outcome, Outcome::Warn, "{name}: {}", r.evidence);
        assert!(
            r.evidence.contains("PUBACK without a reason code"),
            "{}",
            r.evidence
        );
    }
    // TLS and the revocation check answer alike in both versions.
    for name in ["no_client_certificate", "foreign_ca", "revoked_certificate"] {
        assert_eq!(got[name], Outcome::Pass, "{name}: {:#?}", a.results);
    }
    assert!(
        !got.values().any(|o| *o == Outcome::Fail),
        "{:#?}",
        a.results
    );
}
