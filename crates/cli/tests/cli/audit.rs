//! `commissioner audit` against `lab up` and `lab up --weak`, as a technician runs it.

use commissioner_core::journal::{Journal, SessionResult};

use crate::commands::{commissioner, text};

/// Runs the audit on a fresh lab station with the given `lab up` arguments; returns the exit
/// code, the JSON checks and the journal.
fn audit_lab(up: &[&str]) -> (Option<i32>, serde_json::Value, Journal, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    let out = commissioner(&station, &["lab", "init"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = commissioner(&station, up);
    assert!(out.status.success(), "{}", text(&out));
    let out = commissioner(&station, &["audit", "--json"]);
    let down = commissioner(&station, &["lab", "down"]);
    assert!(down.status.success(), "{}", text(&down));
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let journal = Journal::open(&station.join("journal.sqlite")).expect("journal");
    (out.status.code(), json, journal, dir)
}

fn outcome<'a>(json: &'a serde_json::Value, name: &str) -> &'a str {
    json["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .and_then(|c| c["outcome"].as_str())
        .unwrap_or("missing")
}

#[test]
fn audit_of_the_default_lab_passes_and_is_journaled() {
    let (code, json, journal, _dir) = audit_lab(&["lab", "up"]);
    assert_eq!(code, Some(0), "{json:#}");
    assert_eq!(outcome(&json, "revoked_certificate"), "pass", "{json:#}");
    assert_eq!(outcome(&json, "subscribe_isolation"), "pass", "{json:#}");
    let session = json["sessionId"].as_i64().expect("session id");
    let row = journal.session(session).expect("query").expect("row");
    assert_eq!(row.port, "audit");
    assert_eq!(row.result, SessionResult::Pass);
    assert_eq!(
        journal.audit_checks(session).expect("rows").len(),
        commissioner_core::station::AUDIT_CHECKS.len()
    );
    assert!(journal.verify().expect("verify").ok());
}

#[test]
fn audit_of_the_weak_lab_exits_1_with_findings() {
    let (code, json, journal, _dir) = audit_lab(&["lab", "up", "--weak"]);
    assert_eq!(code, Some(1), "{json:#}");
    for name in [
        "plaintext_listener",
        "no_client_certificate",
        "publish_foreign_topic",
    ] {
        assert_eq!(outcome(&json, name), "fail", "{name}: {json:#}");
    }
    let session = json["sessionId"].as_i64().expect("session id");
    let row = journal.session(session).expect("query").expect("row");
    assert_eq!(row.result, SessionResult::Fail);
}

#[test]
fn audit_of_a_station_without_a_lab_broker_skips_the_revocation_check_and_says_why() {
    use commissioner_core::mqtt::audit::NO_CRL_RELOAD;
    use commissioner_core::station::Station;

    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    let out = commissioner(&station, &["lab", "init"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = commissioner(&station, &["lab", "up"]);
    assert!(out.status.success(), "{}", text(&out));
    // The same broker, seen from a station that is not its lab: it cannot reload the CRL.
    let set_lab = |lab: bool| {
        let mut s = Station::open(&station).expect("open station");
        s.config.lab = lab;
        s.save().expect("save station");
    };
    set_lab(false);
    let out = commissioner(&station, &["audit", "--json"]);
    set_lab(true);
    let down = commissioner(&station, &["lab", "down"]);
    assert!(down.status.success(), "{}", text(&down));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_eq!(outcome(&json, "revoked_certificate"), "skipped", "{json:#}");
    let evidence = json["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "revoked_certificate"))
        .and_then(|c| c["evidence"].as_str())
        .unwrap_or_default();
    assert_eq!(evidence, NO_CRL_RELOAD);
}

#[test]
fn audit_of_a_broker_the_station_cannot_reach_is_inconclusive_and_exits_1() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    let out = commissioner(&station, &["lab", "init"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = commissioner(&station, &["lab", "up"]);
    assert!(out.status.success(), "{}", text(&out));
    let down = commissioner(&station, &["lab", "down"]);
    assert!(down.status.success(), "{}", text(&down));
    // The profile still names the stopped lab broker: nobody listens there any more.
    let out = commissioner(&station, &["audit"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    for name in ["no_client_certificate", "foreign_ca", "client_id_binding"] {
        let line = shown
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} missing: {shown}"));
        assert!(line.starts_with("INCONCLUSIVE"), "{line}");
        assert!(line.contains("mqtt.unreachable"), "{line}");
    }
    assert!(
        !shown
            .lines()
            .any(|l| l.starts_with("PASS") && !l.contains("protocol_version")),
        "{shown}"
    );
}
