//! Recommission end to end: a locked unit in service is unlocked with a challenge signed by
//! the station's unlock authority (the factory CA's own key for older firmware), re-keyed and re-certified; its old certificate is revoked as superseded and
//! refused by the real broker after the CRL reload, while the new one connects.

use rustls_pki_types::{pem::PemObject, CertificateDer};
use std::path::Path;
use std::time::Duration;

use commissioner_core::error::Coded;
use commissioner_core::journal::{CertStatus, SessionResult};
use commissioner_core::pipeline::{
    commission, CommissionOptions, CommissionRequest, Report, StepStatus, Stop, StopSignal,
};
use commissioner_devsim::{SimConfig, SimDevice};

use crate::fixture::{station_with_lab, LabStation};
use crate::revocation::connect_as;

pub fn run(s: &LabStation, port: &str, recommission: bool) -> Report {
    let req = CommissionRequest {
        port,
        baud: 115_200,
        operator: "field",
    };
    let opts = CommissionOptions {
        recommission,
        ..CommissionOptions::default()
    };
    commission(&s.station, &s.ca, &req, opts, &mut |_| {})
}

/// The unit's current key, from the simulator's flash file.
fn unit_key(store: &Path) -> String {
    let text = std::fs::read_to_string(store).expect("store");
    let flash: serde_json::Value = serde_json::from_str(&text).expect("json");
    flash["key_pem"].as_str().expect("key").to_owned()
}

fn cert_der(s: &LabStation, report: &Report) -> Vec<u8> {
    let journal = s.station.journal().expect("journal");
    let certs = journal
        .certificates_for_session(report.session_id)
        .expect("certs");
    let pem = &certs[0].pem;
    let der = CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .expect("one cert")
        .expect("pem");
    der.to_vec()
}

#[test]
fn recommission_unlocks_rekeys_and_retires_the_old_certificate_at_the_broker() {
    let (s, lab) = station_with_lab();
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("unit.json");
    let sim = SimDevice::spawn(SimConfig {
        store: Some(store.clone()),
        ..SimConfig::default()
    })
    .expect("simulator");
    let id = sim.device_id().to_owned();

    let first = run(&s, sim.path(), false);
    assert!(first.passed(), "{}", first.render());
    let old_serial = first.certificate_serial.clone().expect("serial");
    let old_der = cert_der(&s, &first);
    let old_key = unit_key(&store);
    connect_as(&s, &lab, &id, &old_der, &old_key).expect("the first identity connects");

    // A locked unit is not re-keyed by plain commissioning.
    let refused = run(&s, sim.path(), false);
    assert_eq!(
        refused.error.as_ref().map(|e| e.code.as_str()),
        Some("device.locked")
    );

    let second = run(&s, sim.path(), true);
    assert!(second.passed(), "{}", second.render());
    let names: Vec<&str> = second.steps.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"unlock") && names.contains(&"revoke_old"),
        "{names:?}"
    );
    let new_serial = second.certificate_serial.clone().expect("serial");
    assert_ne!(new_serial, old_serial);
    let new_key = unit_key(&store);
    assert_ne!(new_key, old_key, "the unit has a new key");

    // The journal links the two and tells why the old one went.
    let journal = s.station.journal().expect("journal");
    assert_eq!(
        journal.supersedes(&new_serial).expect("query"),
        Some(old_serial.clone())
    );
    let old = journal.certificate(&old_serial).expect("q").expect("row");
    assert_eq!(old.status, CertStatus::Revoked);
    assert_eq!(old.revocation_reason.as_deref(), Some("superseded"));
    let new = journal.certificate(&new_serial).expect("q").expect("row");
    assert_eq!(new.status, CertStatus::Active);
    let session = journal.session(second.session_id).expect("q").expect("row");
    assert_eq!(session.result, SessionResult::Pass);
    assert!(journal.verify().expect("verify").ok());

    // The link is sealed with the recommission session: the API refuses to rewrite it and an
    // edit behind its back breaks that session's seal.
    let err = journal
        .set_supersedes(&new_serial, &new_serial)
        .expect_err("sealed");
    assert_eq!(err.code(), "journal.session_sealed");
    let db = s.station.journal_path();
    let forged = format!("UPDATE certificates SET supersedes = NULL WHERE serial = '{new_serial}'");
    crate::journal::sqlite3(&db, &forged);
    let p = journal
        .verify()
        .expect("verify")
        .problem
        .expect("the edit is found");
    assert_eq!(p.code, "chain.session_edited");
    assert!(
        p.message
            .contains(&format!("session {} ", second.session_id)),
        "{}",
        p.message
    );
    let restore = format!(
        "UPDATE certificates SET supersedes = '{old_serial}' WHERE serial = '{new_serial}'"
    );
    crate::journal::sqlite3(&db, &restore);
    assert!(journal.verify().expect("verify").ok());

    lab.reload_crl(&s.station, &s.ca).expect("CRL reload");
    // SIGHUP is asynchronous: give mosquitto a few tries to pick the CRL up.
    let mut last = Ok(());
    for _ in 0..20 {
        last = connect_as(&s, &lab, &id, &old_der, &old_key);
        if last.is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let err = last.expect_err("the superseded certificate must be refused");
    assert_eq!(err.code(), "mqtt.certificate_revoked", "{err:?}");
    connect_as(&s, &lab, &id, &cert_der(&s, &second), &new_key).expect("the new one connects");
}

#[test]
fn a_stop_once_the_unit_is_locked_still_revokes_the_old_certificate() {
    let (s, _lab) = station_with_lab();
    let sim = SimDevice::spawn(SimConfig::default()).expect("simulator");
    let first = run(&s, sim.path(), false);
    assert!(first.passed(), "{}", first.render());
    let old_serial = first.certificate_serial.clone().expect("serial");

    // Stop is pressed as the unit locks, the last step before the new certificate becomes
    // the unit's: too late to stop anything, and above all the old certificate's revocation.
    let cancel = StopSignal::default();
    let req = CommissionRequest {
        port: sim.path(),
        baud: 115_200,
        operator: "field",
    };
    let opts = CommissionOptions {
        recommission: true,
        cancel: Some(&cancel),
        ..CommissionOptions::default()
    };
    let second = commission(&s.station, &s.ca, &req, opts, &mut |e| {
        if e.step == "lock" && e.status == StepStatus::Passed {
            cancel.stop(Stop::Cancelled);
        }
    });
    assert!(second.passed(), "{}", second.render());
    let names: Vec<&str> = second.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.last(), Some(&"revoke_old"), "{names:?}");

    let journal = s.station.journal().expect("journal");
    let new_serial = second.certificate_serial.clone().expect("serial");
    let new = journal.certificate(&new_serial).expect("q").expect("row");
    assert_eq!(new.status, CertStatus::Active);
    let old = journal.certificate(&old_serial).expect("q").expect("row");
    assert_eq!(old.status, CertStatus::Revoked);
    assert_eq!(old.revocation_reason.as_deref(), Some("superseded"));
    assert!(journal.verify().expect("verify").ok());
}

/// Issue 18: the station signed an unlock for any locked unit that asked, so a unit whose
/// certificate was revoked (taken out of service), or one this station never certified, could
/// be re-keyed and certified again with a cable and a field engineer's sign-in.
#[test]
fn a_locked_unit_without_an_active_certificate_is_not_unlocked() {
    let (s, _lab) = station_with_lab();
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("unit.json");
    let sim = SimDevice::spawn(SimConfig {
        store: Some(store.clone()),
        ..SimConfig::default()
    })
    .expect("simulator");
    let first = run(&s, sim.path(), false);
    assert!(first.passed(), "{}", first.render());
    let serial = first.certificate_serial.clone().expect("serial");
    let journal = s.station.journal().expect("journal");
    journal
        .revoke(
            std::slice::from_ref(&serial),
            "cessation-of-operation",
            time::OffsetDateTime::now_utc(),
        )
        .expect("revoke");
    let key = unit_key(&store);

    let report = run(&s, sim.path(), true);
    assert_eq!(report.result, SessionResult::Fail, "{}", report.render());
    let error = report.error.as_ref().expect("error");
    assert_eq!(
        error.code, "recommission.no_active_certificate",
        "{}",
        error.message
    );
    assert!(report.certificate_serial.is_none());
    // Still locked, still its old key: nothing was signed for it.
    assert_eq!(unit_key(&store), key);
    let again = run(&s, sim.path(), false);
    assert_eq!(
        again.error.as_ref().map(|e| e.code.as_str()),
        Some("device.locked")
    );
}

/// The unlock authority's certificate chains to the station's root under `openssl verify`, is
/// refused as a TLS client or server identity, and is minted once per day, not per unit; a unit
/// whose firmware predates it is still unlocked, with the issuing key.
#[test]
fn the_unlock_authority_is_certified_by_the_ca_for_unlocks_only_and_older_units_still_unlock() {
    use crate::fixture::openssl_verify;
    let (s, _lab) = station_with_lab();
    let now = time::OffsetDateTime::now_utc();
    let authority = s.ca.unlock_authority(now).expect("authority");
    let pem = commissioner_core::pki::cert_pem(authority.cert_der());
    let ca_dir = s.station.ca_dir();
    let (ok, out) = openssl_verify(&ca_dir, &pem, "any");
    assert!(ok, "{out}");
    for purpose in ["sslclient", "sslserver"] {
        let (ok, out) = openssl_verify(&ca_dir, &pem, purpose);
        assert!(!ok, "the unlock authority passed as {purpose}: {out}");
    }
    let again = s.ca.unlock_authority(now).expect("authority");
    assert_eq!(again.cert_der(), authority.cert_der());
    let tomorrow =
        s.ca.unlock_authority(now + time::Duration::hours(23) + time::Duration::minutes(30))
            .expect("a new authority near the end of the day");
    assert_ne!(tomorrow.cert_der(), authority.cert_der());

    let legacy = SimDevice::spawn(SimConfig {
        legacy_unlock: true,
        ..SimConfig::default()
    })
    .expect("simulator");
    let first = run(&s, legacy.path(), false);
    assert!(first.passed(), "{}", first.render());
    let second = run(&s, legacy.path(), true);
    assert!(second.passed(), "{}", second.render());
}
