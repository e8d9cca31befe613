//! The AWS fleet-provisioning backend on a real station (CA, policy, SQLite registry): a unit
//! holding a registered bootstrap certificate gets an operational one for its own CSR, and
//! RegisterThing with the ownership token activates it and retires the bootstrap; a reused,
//! revoked or unknown bootstrap and a reused token are refused with their own codes.

use std::collections::BTreeMap;

use commissioner_core::journal::{CertFilter, CertStatus, CertificateRecords, KeyOrigin};
use commissioner_core::mqtt::dialect::aws_fleet::{self, CertificateCreated, Rejection};
use commissioner_core::mqtt::responder::fleet::{FleetBackend, FleetTemplates};
use commissioner_core::pki::issue::{Subject, Usage};
use commissioner_core::pki::revoke::Reason;
use commissioner_core::pki::IssuedCert;
use commissioner_core::station::admin::{self, RevokeTarget};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use serde_json::Value;
use time::OffsetDateTime;

use crate::fixture::{station, test_session, LabStation, PASSPHRASE};

/// Registers an active bootstrap certificate for `id`; returns its serial.
fn bootstrap(s: &LabStation, id: &str) -> String {
    bootstrap_identity(s, id).0.serial
}

/// Issues `id` a bootstrap certificate with a host key and registers it as active; returns the
/// certificate and the key's PEM.
pub fn bootstrap_identity(s: &LabStation, id: &str) -> (IssuedCert, String) {
    bootstrap_identity_named(s, id, id)
}

/// [`bootstrap_identity`] with its own common name (the unit stays `id` in the registry).
pub fn bootstrap_identity_named(s: &LabStation, id: &str, cn: &str) -> (IssuedCert, String) {
    let now = OffsetDateTime::now_utc();
    let subject = Subject {
        common_name: cn,
        organization: "Test",
        validity_days: 1,
        usage: Usage::Client,
        alt_names: vec![],
    };
    let (cert, key_pem) = s.ca.issue_with_new_key(&subject, now).expect("cert");
    let journal = s.station.journal().expect("journal");
    let session = test_session(&journal);
    journal
        .record_issued(session, id, &cert, now, KeyOrigin::Host)
        .expect("record");
    journal.mark_bootstrap(&cert.serial, id, cn).expect("mark");
    journal
        .activate_certificate(&cert.serial)
        .expect("activate");
    (cert, key_pem)
}

pub fn csr_pem(id: &str) -> String {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, id);
    params.distinguished_name = dn;
    params
        .serialize_request(&key)
        .expect("csr")
        .pem()
        .expect("pem")
}

pub fn backend(s: &LabStation) -> FleetBackend {
    let templates = FleetTemplates {
        templates: BTreeMap::from([(
            "line-1".to_owned(),
            BTreeMap::from([("Fleet".to_owned(), "line-1".to_owned())]),
        )]),
    };
    let ca = s.station.unlock_ca(PASSPHRASE).expect("unlock");
    FleetBackend::new(s.station.clone(), ca, templates).expect("backend")
}

fn create(b: &mut FleetBackend, csr: &str) -> Result<CertificateCreated, Rejection> {
    let body = serde_json::json!({ "certificateSigningRequest": csr }).to_string();
    let (topic, payload) = b
        .answer(
            aws_fleet::CREATE_FROM_CSR_TOPIC,
            body.as_bytes(),
            OffsetDateTime::now_utc(),
        )
        .expect("a reply");
    if topic.ends_with("/accepted") {
        Ok(serde_json::from_slice(&payload).expect("accepted body"))
    } else {
        assert_eq!(topic, "$aws/certificates/create-from-csr/json/rejected");
        Err(serde_json::from_slice(&payload).expect("rejected body"))
    }
}

fn register(b: &mut FleetBackend, token: &str, serial_number: &str) -> (String, Value) {
    let body = serde_json::json!({
        "certificateOwnershipToken": token,
        "parameters": {"SerialNumber": serial_number},
    })
    .to_string();
    let (topic, payload) = b
        .answer(
            &aws_fleet::register_thing_topic("line-1"),
            body.as_bytes(),
            OffsetDateTime::now_utc(),
        )
        .expect("a reply");
    (topic, serde_json::from_slice(&payload).expect("json"))
}

fn status_of(s: &LabStation, serial: &str) -> CertStatus {
    let journal = s.station.journal().expect("journal");
    journal
        .list_certificates(&CertFilter {
            search: Some(serial),
            ..CertFilter::default()
        })
        .expect("list")[0]
        .status
}

#[test]
fn fleet_exchange_issues_activates_and_retires_the_bootstrap() {
    let s = station();
    let boot = bootstrap(&s, "unit-fleet-1");
    let mut b = backend(&s);
    let created = create(&mut b, &csr_pem("unit-fleet-1")).expect("accepted");
    assert!(created
        .certificate_pem
        .starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(created.certificate_id.len(), 64, "SHA-256 hex");
    let (ok, out) =
        crate::fixture::openssl_verify(&s.station.ca_dir(), &created.certificate_pem, "sslclient");
    assert!(ok, "{out}");

    let (topic, body) = register(&mut b, &created.certificate_ownership_token, "unit-fleet-1");
    assert_eq!(
        topic,
        "$aws/provisioning-templates/line-1/provision/json/accepted"
    );
    assert_eq!(body["thingName"], "unit-fleet-1");
    assert_eq!(body["deviceConfiguration"]["Fleet"], "line-1");
    assert_eq!(
        status_of(&s, &boot),
        CertStatus::Revoked,
        "bootstrap superseded"
    );

    // The token is spent, and the bootstrap is used.
    let (topic, body) = register(&mut b, &created.certificate_ownership_token, "unit-fleet-1");
    assert!(topic.ends_with("/rejected"));
    assert_eq!(body["errorCode"], "InvalidToken");
    let again = create(&mut b, &csr_pem("unit-fleet-1")).expect_err("reused bootstrap");
    assert_eq!(again.status_code, 403);
    assert!(
        again.error_message.starts_with("inband.bootstrap_used"),
        "{again:?}"
    );
}

#[test]
fn fleet_refuses_revoked_and_unknown_bootstraps_and_foreign_csrs() {
    let s = station();
    let boot = bootstrap(&s, "unit-fleet-2");
    admin::revoke(
        &s.station.journal().expect("journal"),
        RevokeTarget::Serial(&boot),
        Reason::KeyCompromise,
        OffsetDateTime::now_utc(),
    )
    .expect("revoke");
    let mut b = backend(&s);
    let revoked = create(&mut b, &csr_pem("unit-fleet-2")).expect_err("revoked");
    assert!(
        revoked
            .error_message
            .starts_with("inband.bootstrap_revoked"),
        "{revoked:?}"
    );
    let unknown = create(&mut b, &csr_pem("unit-nobody")).expect_err("unknown");
    assert!(
        unknown
            .error_message
            .starts_with("inband.bootstrap_unknown"),
        "{unknown:?}"
    );
    let junk = create(&mut b, "not a csr").expect_err("junk");
    assert_eq!(
        (junk.status_code, junk.error_code.as_str()),
        (400, "InvalidCSR")
    );
}

#[test]
fn fleet_refuses_an_operational_certificate_as_a_bootstrap() {
    let s = station();
    // Commissioned out of band: active, but never marked bootstrap.
    let now = OffsetDateTime::now_utc();
    let (cert, _) =
        s.ca.issue_with_new_key(
            &Subject {
                common_name: "unit-fleet-4",
                organization: "Test",
                validity_days: 1,
                usage: Usage::Client,
                alt_names: vec![],
            },
            now,
        )
        .expect("cert");
    let journal = s.station.journal().expect("journal");
    let session = test_session(&journal);
    journal
        .record_issued(session, "unit-fleet-4", &cert, now, KeyOrigin::Host)
        .expect("record");
    journal
        .activate_certificate(&cert.serial)
        .expect("activate");
    let mut b = backend(&s);
    let refused = create(&mut b, &csr_pem("unit-fleet-4")).expect_err("not a bootstrap");
    assert_eq!(refused.status_code, 403);
    assert!(
        refused.error_message.starts_with("inband.not_bootstrap"),
        "{refused:?}"
    );
    assert_eq!(
        status_of(&s, &cert.serial),
        CertStatus::Active,
        "left alone"
    );
}

#[test]
fn fleet_register_thing_checks_template_and_serial_number() {
    let s = station();
    bootstrap(&s, "unit-fleet-3");
    let mut b = backend(&s);
    let created = create(&mut b, &csr_pem("unit-fleet-3")).expect("accepted");
    let (_, body) = register(&mut b, &created.certificate_ownership_token, "unit-other");
    assert_eq!(body["errorCode"], "InvalidParameters");
    let body = br#"{"certificateOwnershipToken":"x"}"#;
    let (topic, reply) = b
        .answer(
            &aws_fleet::register_thing_topic("nope"),
            body,
            OffsetDateTime::now_utc(),
        )
        .expect("reply");
    assert!(topic.ends_with("/rejected"));
    assert!(String::from_utf8_lossy(&reply).contains("NotFound"));
}

#[test]
fn an_ownership_token_that_expires_unregistered_revokes_its_certificate() {
    let s = station();
    bootstrap(&s, "unit-fleet-9");
    let mut b = backend(&s);
    let created = create(&mut b, &csr_pem("unit-fleet-9")).expect("accepted");
    let serial = {
        let journal = s.station.journal().expect("journal");
        journal
            .list_certificates(&CertFilter {
                device_id: Some("unit-fleet-9"),
                status: Some(CertStatus::Issued),
                ..CertFilter::default()
            })
            .expect("list")[0]
            .serial
            .clone()
    };
    // An hour and a minute later the unit comes back with its token: too late.
    let later = OffsetDateTime::now_utc() + time::Duration::minutes(61);
    let body = serde_json::json!({
        "certificateOwnershipToken": created.certificate_ownership_token,
        "parameters": {"SerialNumber": "unit-fleet-9"},
    })
    .to_string();
    let (topic, reply) = b
        .answer(
            &aws_fleet::register_thing_topic("line-1"),
            body.as_bytes(),
            later,
        )
        .expect("reply");
    assert!(topic.ends_with("/rejected"), "{topic}");
    assert!(String::from_utf8_lossy(&reply).contains("InvalidToken"));
    assert_eq!(status_of(&s, &serial), CertStatus::Revoked);
    let journal = s.station.journal().expect("journal");
    let code: Option<String> = journal
        .connection()
        .query_row(
            "SELECT s.error_code FROM sessions s JOIN certificates c ON c.session_id = s.id
             WHERE c.serial = ?1",
            [&serial],
            |r| r.get(0),
        )
        .expect("session");
    assert_eq!(code.as_deref(), Some("inband.token_expired"));
}
