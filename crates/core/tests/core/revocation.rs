//! Revocation end to end: the registry, a signed CRL that openssl accepts, and a real mosquitto
//! that refuses the revoked unit after the reload while another unit still gets in.

use rustls_pki_types::{pem::PemObject, PrivateKeyDer};
use std::process::Command;
use std::time::Duration;

use commissioner_core::error::Coded;
use commissioner_core::journal::{CertFilter, CertStatus, CertificateRecords, Journal, NewSession};
use commissioner_core::lab::Lab;
use commissioner_core::mqtt::handshake::{self, HandshakeSpec};
use commissioner_core::mqtt::tls::{client_config, ClientIdentity};
use commissioner_core::mqtt::MqttError;
use commissioner_core::pki::issue::{Subject, Usage};
use commissioner_core::pki::revoke::Reason;
use commissioner_core::pki::IssuedCert;
use commissioner_core::station::admin::{self, RevokeTarget};
use rustls_pki_types::CertificateDer;

use crate::fixture::{station_with_lab, LabStation};

/// A unit whose key the test holds, so it can connect as that unit.
struct Unit {
    id: String,
    cert: IssuedCert,
    key_pem: String,
}

fn unit(s: &LabStation, journal: &Journal, id: &str) -> Unit {
    let session = journal
        .begin_session(&NewSession {
            station_id: "test",
            operator: "test",
            port: "none",
            work_order: None,
            started_at: time::OffsetDateTime::now_utc(),
        })
        .expect("session");
    let (cert, key_pem) =
        s.ca.issue_with_new_key(
            &Subject {
                common_name: id,
                organization: "Test",
                validity_days: 30,
                usage: Usage::Client,
                alt_names: vec![],
            },
            time::OffsetDateTime::now_utc(),
        )
        .expect("issue");
    journal
        .record_certificate(session, id, &cert)
        .expect("record");
    journal.activate_certificate(&cert.serial).expect("active");
    Unit {
        id: id.to_owned(),
        cert,
        key_pem,
    }
}

fn connect(s: &LabStation, lab: &Lab, unit: &Unit) -> Result<(), MqttError> {
    connect_as(s, lab, &unit.id, &unit.cert.der, &unit.key_pem)
}

/// Connects to the lab broker as unit `id` with a certificate and the key it belongs to.
pub fn connect_as(
    s: &LabStation,
    lab: &Lab,
    id: &str,
    cert_der: &[u8],
    key_pem: &str,
) -> Result<(), MqttError> {
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key");
    let tls = client_config(
        &[s.ca.root_der().to_vec()],
        ClientIdentity::Local {
            chain: vec![
                CertificateDer::from(cert_der.to_vec()),
                CertificateDer::from(s.ca.issuing_der().to_vec()),
            ],
            key,
        },
    )?;
    let spec = HandshakeSpec {
        host: "127.0.0.1".into(),
        port: lab.port(),
        client_id: id.to_owned(),
        request_topic: format!("provisioning/{id}/request"),
        response_topic: format!("provisioning/{id}/response"),
        user_properties: vec![],
        payload: b"{}".to_vec(),
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(10),
        session_expiry_secs: 0,
    };
    handshake::run(&spec, tls).map(|_| ())
}

fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn revoked_unit_is_refused_by_the_broker_after_the_crl_reload() {
    let (s, lab) = station_with_lab();
    let journal = s.station.journal().expect("journal");
    let a = unit(&s, &journal, "UNIT-REVOKED");
    let b = unit(&s, &journal, "UNIT-GOOD");
    connect(&s, &lab, &a).expect("unit A connects before revocation");
    connect(&s, &lab, &b).expect("unit B connects before revocation");

    let revoked = admin::revoke(
        &journal,
        RevokeTarget::Device("UNIT-REVOKED"),
        Reason::KeyCompromise,
        time::OffsetDateTime::now_utc(),
    )
    .expect("revoke")
    .revoked;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].status, CertStatus::Revoked);
    assert_eq!(
        revoked[0].revocation_reason.as_deref(),
        Some("key-compromise")
    );
    let crl = lab.reload_crl(&s.station, &s.ca).expect("reload");
    assert_eq!(crl.revoked, 1);
    assert!(crl.number >= 2, "the lab's first CRL was number 1");

    // SIGHUP is asynchronous: give mosquitto a few tries to pick the CRL up.
    let mut last = Ok(());
    for _ in 0..20 {
        last = connect(&s, &lab, &a);
        // The responder rejects the revoked unit from the registry at once; wait for the
        // broker itself to refuse it at TLS.
        if matches!(&last, Err(e) if e.code() == "mqtt.certificate_revoked") {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let err = last.expect_err("the revoked unit must be refused");
    assert_eq!(err.code(), "mqtt.certificate_revoked", "{err:?}");
    connect(&s, &lab, &b).expect("the other unit still connects");

    // openssl agrees: the CRL is signed by the issuing CA and names the revoked serial.
    let ca_dir = s.station.ca_dir();
    let crl_path = lab.files().crl.display().to_string();
    let issuing = ca_dir.join("issuing.pem").display().to_string();
    let (ok, out) = openssl(&["crl", "-in", &crl_path, "-CAfile", &issuing, "-noout"]);
    assert!(ok && out.contains("verify OK"), "{out}");
    let (_, text) = openssl(&["crl", "-in", &crl_path, "-noout", "-text"]);
    assert!(text.contains(&a.cert.serial), "{text}");
    assert!(!text.contains(&b.cert.serial), "{text}");
    assert!(text.contains("Key Compromise"), "{text}");

    let dir = tempfile::tempdir().expect("tmp");
    let cert_path = dir.path().join("a.pem");
    std::fs::write(&cert_path, &a.cert.pem).expect("write");
    let root = ca_dir.join("root.pem").display().to_string();
    let (ok, out) = openssl(&[
        "verify",
        "-x509_strict",
        "-crl_check",
        "-CRLfile",
        &crl_path,
        "-CAfile",
        &root,
        "-untrusted",
        &issuing,
        &cert_path.display().to_string(),
    ]);
    assert!(!ok && out.contains("revoked"), "{out}");

    // The registry shows both (beside the lab's broker and backend).
    let listed: Vec<_> = journal
        .list_certificates(&CertFilter {
            status: Some(CertStatus::Active),
            ..CertFilter::default()
        })
        .expect("list")
        .into_iter()
        .filter(|c| c.kind == commissioner_core::journal::CertKind::Unit)
        .collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].device_id, "UNIT-GOOD");
}

#[test]
fn revoking_unknown_serials_and_reasons_fails_with_codes() {
    let s = crate::fixture::station();
    let journal = s.station.journal().expect("journal");
    let err = admin::revoke(
        &journal,
        RevokeTarget::Serial("0A0B"),
        Reason::Unspecified,
        time::OffsetDateTime::now_utc(),
    )
    .expect_err("unknown");
    assert_eq!(err.code(), "registry.unknown_serial");
    let err = admin::revoke(
        &journal,
        RevokeTarget::Serial("not hex"),
        Reason::Unspecified,
        time::OffsetDateTime::now_utc(),
    )
    .expect_err("bad");
    assert_eq!(err.code(), "revoke.bad_serial");
    let err = "because".parse::<Reason>().expect_err("reason");
    assert_eq!(err.code(), "revoke.bad_reason");
    let err = admin::revoke(
        &journal,
        RevokeTarget::Device("NOBODY"),
        Reason::Unspecified,
        time::OffsetDateTime::now_utc(),
    )
    .expect_err("device");
    assert_eq!(err.code(), "registry.unknown_device");
}
