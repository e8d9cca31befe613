//! The bootstrap identity's audit, run in band as the unit once its operational certificate
//! is proven, in each dialect: the bootstrap reaches nothing beyond its in-band topics, a new
//! exchange with it is refused, and aws-fleet's RegisterThing cannot be replayed. A broker
//! whose ACL lets the bootstrap reach the unit's topics fails the unit.

use commissioner_core::lab::{signal_reload, Lab};
use commissioner_core::mqtt::audit::Outcome;
use commissioner_core::station::provisioning::{ProvisioningMode, ProvisioningProfile};
use commissioner_devsim::{SimConfig, SimDevice};

use crate::fixture::{commission_sim, station, LabStation, PASSPHRASE};

fn in_band(s: &mut LabStation, dialect: &str) {
    s.station.config.provisioning = ProvisioningProfile {
        mode: ProvisioningMode::InBand,
        dialect: dialect.into(),
        ..ProvisioningProfile::default()
    };
    s.station.save().expect("save");
}

#[test]
fn each_dialect_audits_the_used_bootstrap_identity() {
    for (dialect, replay) in [
        ("aws-fleet", Outcome::Pass),
        ("azure-dps", Outcome::Skipped),
        ("commissioner", Outcome::Skipped),
    ] {
        let mut s = station();
        in_band(&mut s, dialect);
        let sim = SimDevice::spawn(SimConfig::default()).expect("simulator");
        let ca = s.station.unlock_ca(PASSPHRASE).expect("unlock");
        let _lab = Lab::up_in_band(&mut s.station, &s.ca, ca, &[sim.device_id()]).expect("lab");
        let report = commission_sim(&s, &sim);
        assert!(report.passed(), "{dialect}: {}", report.render());
        let outcome = |name: &str| {
            report
                .audit_checks
                .iter()
                .find(|c| c.name == name)
                .unwrap_or_else(|| panic!("{dialect}: no {name} in {:?}", report.audit_checks))
                .clone()
        };
        let reach = outcome("bootstrap_reach");
        assert_eq!(reach.outcome, Outcome::Pass, "{dialect}: {reach:?}");
        assert!(
            reach.evidence.contains(&format!(
                "provisioning/{}/request: not authorised (0x87)",
                sim.device_id()
            )),
            "{reach:?}"
        );
        let reuse = outcome("bootstrap_reuse");
        assert_eq!(reuse.outcome, Outcome::Pass, "{dialect}: {reuse:?}");
        assert!(
            reuse.evidence.contains("inband.bootstrap_used"),
            "{reuse:?}"
        );
        let replayed = outcome("bootstrap_replay");
        assert_eq!(replayed.outcome, replay, "{dialect}: {replayed:?}");
        if replay == Outcome::Pass {
            assert!(replayed.evidence.contains("InvalidToken"), "{replayed:?}");
        }
    }
}

#[test]
fn a_broker_that_lets_the_bootstrap_reach_the_units_topics_fails_the_unit() {
    // Write access shows in the PUBACKs; read access only in what arrives while the unit
    // publishes on its own topic.
    for (grant, evidence) in [
        ("topic readwrite provisioning/#", "accepted"),
        ("topic read provisioning/#", "delivered to the bootstrap"),
    ] {
        careless_acl_fails_the_unit(grant, evidence);
    }
}

fn careless_acl_fails_the_unit(grant: &str, evidence: &str) {
    let mut s = station();
    in_band(&mut s, "aws-fleet");
    let sim = SimDevice::spawn(SimConfig::default()).expect("simulator");
    let ca = s.station.unlock_ca(PASSPHRASE).expect("unlock");
    let lab = Lab::up_in_band(&mut s.station, &s.ca, ca, &[sim.device_id()]).expect("lab");
    // A careless ACL: the bootstrap block grants the unit topics instead of denying them.
    let acl = std::fs::read_to_string(&lab.files().acl).expect("acl");
    assert!(acl.contains("topic deny provisioning/#"), "{acl}");
    std::fs::write(
        &lab.files().acl,
        acl.replace("topic deny provisioning/#", grant),
    )
    .expect("acl");
    signal_reload(lab.pid()).expect("reload");
    // mosquitto re-reads its ACL on SIGHUP; the unit's session starts after the reload.
    std::thread::sleep(std::time::Duration::from_millis(300));

    let report = commission_sim(&s, &sim);
    assert!(!report.passed(), "{grant}: {}", report.render());
    let error = report.error.clone().expect("error");
    assert_eq!(error.code, "audit.failed", "{grant}: {error:?}");
    assert!(error.message.contains("bootstrap_reach"), "{error:?}");
    let reach = report
        .audit_checks
        .iter()
        .find(|c| c.name == "bootstrap_reach")
        .expect("recorded");
    assert_eq!(reach.outcome, Outcome::Fail, "{grant}: {reach:?}");
    assert!(reach.evidence.contains(evidence), "{grant}: {reach:?}");
    // Nothing of the failed session stays usable: the operational certificate the backend
    // activated is revoked by the station's failed session.
    let op = report
        .certificate_serial
        .as_deref()
        .expect("operational serial");
    let entry = crate::inband_station::entry(&s, op);
    assert_eq!(
        entry.status,
        commissioner_core::journal::CertStatus::Revoked,
        "{entry:?}"
    );
}

#[test]
fn a_used_bootstrap_reaches_the_lab_brokers_crl_and_is_refused_there() {
    let mut s = station();
    in_band(&mut s, "azure-dps");
    let sim = SimDevice::spawn(SimConfig::default()).expect("simulator");
    let ca = s.station.unlock_ca(PASSPHRASE).expect("unlock");
    let lab =
        Lab::up_in_band(&mut s.station, &s.ca, ca, &[sim.device_id(), "unit-crl-1"]).expect("lab");

    // The pipeline: revoke_bootstrap hands the lab broker the new CRL.
    let report = commission_sim(&s, &sim);
    assert!(report.passed(), "{}", report.render());
    let boot = report.bootstrap_serial.clone().expect("bootstrap");
    let crl = std::process::Command::new("openssl")
        .args(["crl", "-noout", "-text", "-in"])
        .arg(&lab.files().crl)
        .output()
        .expect("openssl crl");
    let listed = String::from_utf8_lossy(&crl.stdout).to_uppercase();
    assert!(
        listed.contains(&boot.to_uppercase()),
        "{boot} not in:\n{listed}"
    );
    let log = s
        .station
        .journal()
        .expect("journal")
        .device_log(report.session_id)
        .expect("log")
        .join("\n");
    assert!(log.contains("and reloaded"), "{log}");

    // The broker side, with a bootstrap whose key the test holds: once used and published,
    // mosquitto refuses its TLS handshake.
    let (_, tls) = crate::inband_station::host_bootstrap(&s, "unit-crl-1");
    let probe = |tls| {
        commissioner_core::mqtt::inband::connect_only(
            &commissioner_core::mqtt::inband::InbandConnection {
                host: "127.0.0.1".into(),
                port: lab.port(),
                client_id: "bootstrap-unit-crl-1".into(),
                timeout: std::time::Duration::from_secs(10),
            },
            tls,
        )
    };
    probe(tls.clone()).expect("a fresh bootstrap connects");
    commissioner_core::station::admin::revoke(
        &s.station.journal().expect("journal"),
        commissioner_core::station::admin::RevokeTarget::Serial(
            &crate::inband_station::entry_of_device(&s, "unit-crl-1"),
        ),
        commissioner_core::pki::revoke::Reason::Superseded,
        time::OffsetDateTime::now_utc(),
    )
    .expect("revoke");
    let published =
        commissioner_core::mqtt::audit::session::publish_crl_to_broker(&s.station, &s.ca)
            .expect("publish");
    assert_eq!(
        published,
        commissioner_core::mqtt::audit::session::CrlPublished::LabBroker(lab.pid())
    );
    // mosquitto re-reads the CRL on SIGHUP, asynchronously.
    let mut refused = None;
    for _ in 0..20 {
        match probe(tls.clone()) {
            Err(e) => {
                refused = Some(e);
                break;
            }
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    }
    let err = refused.expect("the revoked bootstrap was still admitted after 2 s");
    assert_eq!(
        commissioner_core::error::Coded::code(&err),
        "mqtt.certificate_revoked",
        "{err}"
    );
}
