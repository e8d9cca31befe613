//! A hostile unit on the serial port controls every byte it sends. These tests play one
//! through the real pipeline (a simulated unit on a pseudo-terminal, a real mosquitto, a real
//! SQLite journal) and check it gets nothing it should not: no privileged or topic-bending
//! identity, no usable certificate from a session that failed.

use std::process::Command;

use commissioner_core::journal::{CertFilter, CertStatus, SessionResult};
use commissioner_core::pipeline::{commission, CommissionRequest, Report};
use commissioner_core::station::admin;
use commissioner_devsim::{Fault, SimConfig, SimDevice};

use crate::fixture::{station_with_lab, LabStation};

fn run(s: &LabStation, cfg: SimConfig) -> Report {
    let sim = SimDevice::spawn(cfg).expect("simulator");
    commission(
        &s.station,
        &s.ca,
        &CommissionRequest {
            port: sim.path(),
            baud: 115_200,
            operator: "hostile",
        },
        Default::default(),
        &mut |_| {},
    )
}

fn unit(id: &str) -> SimConfig {
    SimConfig {
        device_id: id.to_owned(),
        ..SimConfig::default()
    }
}

/// The unit was refused at `identify` with `code`, and the station signed nothing for it,
/// while the attempt itself is in the journal with the id as the unit sent it.
fn assert_refused(s: &LabStation, id: &str, report: &Report, code: &str) {
    assert_eq!(report.result, SessionResult::Fail, "{id:?}: {report:?}");
    let error = report.error.as_ref().expect("error");
    assert_eq!(error.code, code, "{id:?}: {}", error.message);
    assert_eq!(
        report.steps.last().map(|s| s.name.as_str()),
        Some("identify")
    );
    assert!(report.certificate_serial.is_none());
    let journal = s.station.journal().expect("journal");
    // The lab's own backend and broker hold two of these names: units got none.
    let certs: Vec<_> = journal
        .list_certificates(&CertFilter {
            device_id: Some(id),
            ..CertFilter::default()
        })
        .expect("registry")
        .into_iter()
        .filter(|c| c.kind == commissioner_core::journal::CertKind::Unit)
        .collect();
    assert!(certs.is_empty(), "{id:?} got {certs:?}");
    let row = journal
        .session(report.session_id)
        .expect("q")
        .expect("session row");
    assert_eq!(row.device_id.as_deref(), Some(id));
    assert_eq!(row.error_code.as_deref(), Some(code));
}

#[test]
fn a_unit_cannot_claim_the_backend_or_broker_identity() {
    let (s, _lab) = station_with_lab();
    // Before the rule this unit got a certificate with CN commissioner-backend, which the
    // lab broker's ACL lets read every unit's requests and answer them.
    for id in [
        "commissioner-backend",
        "COMMISSIONER-BACKEND",
        "commissioner-lab-broker",
    ] {
        let report = run(&s, unit(id));
        assert_refused(&s, id, &report, "device.id_refused");
    }
}

/// Issue 18: service identities came from the units' profile and were not told apart in the
/// registry, so a unit reporting the name of a deployment's backend (any name but the lab's
/// reserved two) got a certificate its broker took for the backend. Now they have a profile
/// and a registry kind of their own, and names never cross between the kinds.
#[test]
fn a_unit_cannot_take_a_registered_service_name_nor_a_service_a_units() {
    use commissioner_core::journal::CertKind;
    use commissioner_core::pki::service::{ServiceSubject, SERVICE_OU};
    use commissioner_core::station::ServiceRequest;

    let (s, _lab) = station_with_lab();
    let journal = s.station.journal().expect("journal");
    // The lab's broker and backend are registered, with their kinds.
    let kinds: Vec<(String, CertKind)> = journal
        .list_certificates(&CertFilter::default())
        .expect("registry")
        .into_iter()
        .map(|c| (c.device_id, c.kind))
        .collect();
    assert!(
        kinds.contains(&("commissioner-backend".into(), CertKind::Backend)),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("commissioner-lab-broker".into(), CertKind::Broker)),
        "{kinds:?}"
    );

    let request = |kind, name| ServiceRequest {
        subject: ServiceSubject {
            kind,
            name,
            organization: "Acme",
            validity_days: 30,
            alt_names: vec![],
        },
        operator: "admin",
    };
    let now = time::OffsetDateTime::now_utc();
    let backend = s
        .station
        .issue_service_identity(&s.ca, &request(CertKind::Backend, "plant-backend"), now)
        .expect("backend");
    let subject = x509_parser::parse_x509_certificate(&backend.cert.der)
        .expect("parse")
        .1
        .subject()
        .to_string();
    assert!(subject.contains(&format!("OU={SERVICE_OU}")), "{subject}");

    // A unit with the backend's name: refused when it names itself, nothing signed; also
    // once the backend's certificate is revoked (before, the unit then got that CN).
    let report = run(&s, unit("plant-backend"));
    assert_refused(&s, "plant-backend", &report, "pki.service_identity_name");
    journal
        .revoke(
            std::slice::from_ref(&backend.cert.serial),
            "superseded",
            now,
        )
        .expect("revoke");
    let report = run(&s, unit("plant-backend"));
    assert_refused(&s, "plant-backend", &report, "pki.service_identity_name");
    let held = journal
        .list_certificates(&CertFilter {
            device_id: Some("plant-backend"),
            ..CertFilter::default()
        })
        .expect("registry");
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].kind, CertKind::Backend);

    // And the other way: a commissioned unit's id never becomes a backend or a broker.
    let report = run(&s, unit("UNIT-SVC-1"));
    assert_eq!(report.result, SessionResult::Pass, "{report:?}");
    for kind in [CertKind::Backend, CertKind::Broker] {
        let err = s
            .station
            .issue_service_identity(&s.ca, &request(kind, "UNIT-SVC-1"), now)
            .expect_err("a unit's name");
        assert_eq!(
            commissioner_core::error::Coded::code(&err),
            "pki.service_name_taken"
        );
    }
    // A unit's policy cannot borrow the service OU either.
    let mut policy = s.station.config.policy.clone();
    policy.organizational_unit = Some(SERVICE_OU.into());
    let key = rcgen::KeyPair::generate().expect("key");
    let err =
        s.ca.issue_device(
            &rcgen::PublicKeyData::subject_public_key_info(&key),
            "UNIT-SVC-2",
            &policy,
            "Acme",
            now,
        )
        .expect_err("service OU");
    assert_eq!(
        commissioner_core::error::Coded::code(&err),
        "policy.invalid"
    );
}

#[test]
fn ids_with_topic_characters_control_characters_or_over_64_characters_get_nothing() {
    let (s, _lab) = station_with_lab();
    let long = "L".repeat(65);
    // `SIM-A/SIM-B` under the ACL `provisioning/%u/#` reached SIM-B's topics.
    for id in [
        "SIM-A/SIM-B",
        "+",
        "#",
        "$SYS",
        long.as_str(),
        "SIM\u{0}1",
        "SIM\u{1b}[2K",
    ] {
        let report = run(&s, unit(id));
        assert_refused(&s, id, &report, "device.id_invalid");
    }
    // The rule's edge: exactly 64 characters is a valid id.
    let report = run(&s, unit(&"L".repeat(64)));
    assert_eq!(report.result, SessionResult::Pass, "{:?}", report.error);
}

#[test]
fn the_station_profile_narrows_ids_with_a_pattern_and_an_allowlist() {
    let (mut s, _lab) = station_with_lab();
    std::fs::write(
        s.station.dir.join("work-order.txt"),
        "LINE7-0001\nLINE7-0002\n",
    )
    .expect("allowlist");
    s.station.config.device_ids.pattern = Some("LINE7-[0-9]{4}".into());
    s.station.config.device_ids.allowlist = Some("work-order.txt".into());
    s.station.save().expect("save profile");

    let report = run(&s, unit("SIM-00000001"));
    assert_refused(&s, "SIM-00000001", &report, "device.id_refused");
    let report = run(&s, unit("LINE7-0003"));
    assert_refused(&s, "LINE7-0003", &report, "device.id_refused");
    let report = run(&s, unit("LINE7-0002"));
    assert_eq!(report.result, SessionResult::Pass, "{:?}", report.error);
}

#[test]
fn a_failed_session_leaves_no_usable_certificate() {
    let (s, _lab) = station_with_lab();
    // The unit signs its proof of possession with another key: issued, written, then failed.
    let report = run(
        &s,
        SimConfig {
            faults: vec![Fault::WrongPopKey],
            ..unit("SIM-0000F00D")
        },
    );
    assert_eq!(report.result, SessionResult::Fail);
    let serial = report
        .certificate_serial
        .clone()
        .expect("issued before failing");
    let journal = s.station.journal().expect("journal");
    let entry = journal
        .certificate(&serial)
        .expect("q")
        .expect("registered");
    assert_eq!(entry.status, CertStatus::Revoked);
    assert_eq!(
        entry.revocation_reason.as_deref(),
        Some("cessation-of-operation")
    );
    assert!(journal.verify().expect("verify").ok());

    // The next CRL names it, read back by openssl.
    let dir = tempfile::tempdir().expect("dir");
    let crl_path = dir.path().join("crl.pem");
    admin::write_crl(
        &s.ca,
        &journal,
        &crl_path,
        time::OffsetDateTime::now_utc(),
        time::Duration::days(1),
        admin::CrlScope::Local,
    )
    .expect("crl");
    let out = Command::new("openssl")
        .args(["crl", "-noout", "-text", "-in"])
        .arg(&crl_path)
        .output()
        .expect("openssl crl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&serial), "{text}");
    assert!(text.contains("Cessation Of Operation"), "{text}");

    // The unit is still in factory mode and is simply commissioned again.
    let again = run(&s, unit("SIM-0000F00D"));
    assert_eq!(again.result, SessionResult::Pass, "{:?}", again.error);
}

#[test]
fn a_pkcs11_uri_planted_in_the_ca_directory_loads_no_library() {
    let s = crate::fixture::station();
    // Whoever can write `ca/` (not the admin, who writes the profile) names a library of
    // their own: the station must not load, and so run, it.
    let planted = s.station.dir.join("planted.so");
    std::fs::write(&planted, b"not a library").expect("plant");
    let uri = format!("pkcs11:object=issuing?module-path={}", planted.display());
    let uri_file = commissioner_core::pki::ca::CaPaths::new(&s.station.ca_dir()).issuing_key_uri;
    std::fs::write(&uri_file, &uri).expect("uri file");
    let err = s
        .station
        .unlock_ca(crate::fixture::PASSPHRASE)
        .expect_err("refused");
    use commissioner_core::error::Coded;
    assert_eq!(err.code(), "pkcs11.module_not_allowed", "{err}");
    assert!(err.to_string().contains("planted.so"), "{err}");
}
