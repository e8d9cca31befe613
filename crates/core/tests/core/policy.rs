//! The issuance policy from the station profile: one active certificate per unit unless
//! recommissioning, the hourly quota, the subject template, and the host-key fallback.

use commissioner_core::error::Coded;
use commissioner_core::journal::{CertFilter, CertStatus, Journal, KeyOrigin, NewSession};
use commissioner_core::pipeline::{commission, CommissionOptions, CommissionRequest, Report};
use commissioner_core::station::issuing::{self, Issuing};
use commissioner_devsim::{SimConfig, SimDevice};
use rcgen::{KeyPair, PublicKeyData};

use crate::fixture::{openssl_verify, station, station_with_lab, LabStation};

fn commission_sim(s: &LabStation, device_id: &str, recommission: bool) -> Report {
    let sim = SimDevice::spawn(SimConfig {
        device_id: device_id.into(),
        ..SimConfig::default()
    })
    .expect("simulator");
    commission(
        &s.station,
        &s.ca,
        &CommissionRequest {
            port: sim.path(),
            baud: 115_200,
            operator: "test",
        },
        CommissionOptions {
            recommission,
            ..CommissionOptions::default()
        },
        &mut |_| {},
    )
}

#[test]
fn a_unit_with_an_active_certificate_needs_a_recommission() {
    let (s, _lab) = station_with_lab();
    let first = commission_sim(&s, "SIM-AGAIN001", false);
    assert!(first.passed(), "{}", first.render());

    let second = commission_sim(&s, "SIM-AGAIN001", false);
    let err = second.error.as_ref().expect("refused");
    assert_eq!(
        err.code,
        "csr.device_has_active_cert",
        "{}",
        second.render()
    );

    let third = commission_sim(&s, "SIM-AGAIN001", true);
    assert!(third.passed(), "{}", third.render());

    let journal = s.station.journal().expect("journal");
    let certs = journal
        .list_certificates(&CertFilter {
            device_id: Some("SIM-AGAIN001"),
            ..CertFilter::default()
        })
        .expect("list");
    let status_of = |serial: &Option<String>| {
        certs
            .iter()
            .find(|c| Some(&c.serial) == serial.as_ref())
            .map(|c| c.status)
    };
    assert_eq!(certs.len(), 2, "the refused attempt signed nothing");
    // The recommission retires the old certificate for good: revoked, reason superseded, so
    // the broker refuses it from the next CRL on (issue 7).
    assert_eq!(
        status_of(&first.certificate_serial),
        Some(CertStatus::Revoked)
    );
    let old = certs
        .iter()
        .find(|c| Some(&c.serial) == first.certificate_serial.as_ref())
        .expect("old certificate");
    assert_eq!(old.revocation_reason.as_deref(), Some("superseded"));
    assert_eq!(
        status_of(&third.certificate_serial),
        Some(CertStatus::Active)
    );
}

/// Signing at `s`, read from and recorded in `journal`.
fn issuing<'a>(s: &'a LabStation, journal: &'a Journal, session_id: i64) -> Issuing<'a> {
    Issuing {
        station: &s.station,
        ca: &s.ca,
        journal,
        records: journal,
        session_id,
    }
}

fn session(s: &LabStation) -> i64 {
    s.station
        .journal()
        .expect("journal")
        .begin_session(&NewSession {
            station_id: "test",
            operator: "test",
            port: "none",
            work_order: None,
            started_at: time::OffsetDateTime::now_utc(),
        })
        .expect("session")
}

#[test]
fn the_hourly_quota_stops_issuance_and_the_subject_follows_the_profile() {
    let mut s = station();
    s.station.config.policy.max_per_hour = 2;
    s.station.config.policy.organization = Some("Example Devices Ltd".into());
    s.station.config.policy.organizational_unit = Some("Line 3".into());
    let journal = s.station.journal().expect("journal");
    let session_id = session(&s);
    let ctx = issuing(&s, &journal, session_id);
    let now = time::OffsetDateTime::now_utc();
    let spki = KeyPair::generate().expect("key").subject_public_key_info();
    for i in 0..2 {
        let id = format!("UNIT-Q{i}");
        let cert = issuing::issue_for_device(ctx, &spki, &id, KeyOrigin::Device, now)
            .expect("within quota");
        let (ok, out) = openssl_verify(&s.station.ca_dir(), &cert.pem, "sslclient");
        assert!(ok, "{out}");
        let (_, parsed) = x509_parser::parse_x509_certificate(&cert.der).expect("parse");
        let subject = parsed.subject().to_string();
        assert!(subject.contains("O=Example Devices Ltd"), "{subject}");
        assert!(subject.contains("OU=Line 3"), "{subject}");
        assert!(subject.contains(&format!("CN={id}")), "{subject}");
        assert!(!parsed.is_ca());
    }
    let err = issuing::issue_for_device(ctx, &spki, "UNIT-Q2", KeyOrigin::Device, now)
        .expect_err("over quota");
    assert_eq!(err.code(), "policy.quota_exceeded");
    // An hour later the window has moved on.
    issuing::check_quota(&s.station, &journal, now + time::Duration::minutes(61))
        .expect("quota window slides");
}

#[test]
fn sessions_issuing_at_once_stay_within_the_hourly_quota() {
    let mut s = station();
    s.station.config.policy.max_per_hour = 3;
    let session_id = session(&s);
    let now = time::OffsetDateTime::now_utc();
    let spki = KeyPair::generate().expect("key").subject_public_key_info();
    let outcomes: Vec<Result<String, &'static str>> = std::thread::scope(|scope| {
        let signers: Vec<_> = (0..12)
            .map(|i| {
                let (s, spki) = (&s, &spki);
                scope.spawn(move || {
                    // Its own connection, as each session of a line has its own reads.
                    let journal = s.station.journal().expect("journal");
                    let ctx = issuing(s, &journal, session_id);
                    let id = format!("UNIT-P{i}");
                    issuing::issue_for_device(ctx, spki, &id, KeyOrigin::Device, now)
                        .map(|c| c.serial)
                        .map_err(|e| e.code())
                })
            })
            .collect();
        signers
            .into_iter()
            .map(|h| h.join().expect("signer"))
            .collect()
    });
    let signed = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(signed, 3, "{outcomes:?}");
    assert!(outcomes
        .iter()
        .filter_map(|o| o.as_ref().err())
        .all(|code| *code == "policy.quota_exceeded"));
}

#[test]
fn host_generated_keys_only_where_the_profile_allows_and_recorded_as_such() {
    let mut s = station();
    let journal = s.station.journal().expect("journal");
    let session_id = session(&s);
    let now = time::OffsetDateTime::now_utc();
    let err = issuing::issue_host_key(issuing(&s, &journal, session_id), "UNIT-H1", false, now)
        .expect_err("not allowed by default");
    assert_eq!(err.code(), "policy.host_key_not_allowed");

    s.station.config.policy.allow_host_generated_key = true;
    let (cert, key_pem) =
        issuing::issue_host_key(issuing(&s, &journal, session_id), "UNIT-H1", false, now)
            .expect("allowed");
    let key = KeyPair::from_pem(&key_pem).expect("key pem");
    let (_, parsed) = x509_parser::parse_x509_certificate(&cert.der).expect("parse");
    assert_eq!(
        parsed.public_key().raw,
        key.subject_public_key_info().as_slice()
    );
    let entry = journal
        .certificate(&cert.serial)
        .expect("query")
        .expect("recorded");
    assert_eq!(entry.key_origin, KeyOrigin::Host);
    assert_eq!(entry.device_id, "UNIT-H1");
}
