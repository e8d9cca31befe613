//! The station's in-band mode (`[provisioning] mode = "in-band"`, aws-fleet) end to end: a
//! simulated unit gets a bootstrap certificate, obtains its operational one over the real
//! mosquitto from the fleet responder (the unit's key signing every TLS handshake), writes it,
//! proves it, and the bootstrap is revoked. Then the broker side: a bootstrap identity reaches
//! only its in-band topics, and a reused or revoked bootstrap certificate is refused with its
//! own code.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use commissioner_core::error::Coded;
use commissioner_core::journal::{CertFilter, CertStatus, RegistryEntry};
use commissioner_core::lab::Lab;
use commissioner_core::mqtt::inband::{self, FleetRequest, InbandConnection};
use commissioner_core::mqtt::tls::{client_config, ClientIdentity};
use commissioner_core::mqtt::MqttError;
use commissioner_core::pki::revoke::Reason;
use commissioner_core::station::admin::{self, RevokeTarget};
use commissioner_core::station::provisioning::{ProvisioningMode, ProvisioningProfile};
use commissioner_core::station::Station;
use commissioner_devsim::{Fault, SimConfig, SimDevice};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::fixture::{commission_sim, station, LabStation, PASSPHRASE};
use crate::inband_fleet::csr_pem;

fn in_band(s: &mut LabStation) {
    s.station.config.provisioning = ProvisioningProfile {
        mode: ProvisioningMode::InBand,
        template: "line-1".into(),
        bootstrap_validity_hours: 2,
        ..ProvisioningProfile::default()
    };
    s.station.save().expect("save");
}

pub(crate) fn entry(s: &LabStation, serial: &str) -> RegistryEntry {
    s.station
        .journal()
        .expect("journal")
        .list_certificates(&CertFilter {
            search: Some(serial),
            ..CertFilter::default()
        })
        .expect("list")
        .into_iter()
        .find(|c| c.serial == serial)
        .expect("registered")
}

#[test]
fn in_band_unit_exchanges_its_bootstrap_for_an_operational_certificate() {
    let mut s = station();
    in_band(&mut s);
    let sim = SimDevice::spawn(SimConfig::default()).expect("simulator");
    let id = sim.device_id().to_owned();
    let fleet_ca = s.station.unlock_ca(PASSPHRASE).expect("unlock");
    let _lab = Lab::up_in_band(&mut s.station, &s.ca, fleet_ca, &[&id]).expect("lab");

    let report = commission_sim(&s, &sim);
    assert!(report.passed(), "{}", report.render());
    let boot = report.bootstrap_serial.clone().expect("bootstrap serial");
    let op = report
        .certificate_serial
        .clone()
        .expect("operational serial");
    assert_ne!(boot, op);
    assert!(report.render().contains(&format!("bootstrap    {boot}")));

    // Operational: issued by the responder on the station's CA, registered, active.
    let op_entry = entry(&s, &op);
    assert_eq!(op_entry.status, CertStatus::Active);
    assert_eq!(op_entry.device_id, id);
    // Bootstrap: the unit's, marked as such, revoked as superseded, hours not days.
    let boot_entry = entry(&s, &boot);
    assert_eq!(boot_entry.status, CertStatus::Revoked);
    assert_eq!(boot_entry.revocation_reason.as_deref(), Some("superseded"));
    assert_eq!(boot_entry.device_id, id);
    let journal = s.station.journal().expect("journal");
    assert_eq!(
        journal.bootstrap_common_name(&boot).expect("query"),
        Some(format!("bootstrap-{id}"))
    );
    assert_eq!(journal.bootstrap_common_name(&op).expect("query"), None);
    let t = |v: &str| OffsetDateTime::parse(v, &Rfc3339).expect("date");
    let life = t(&boot_entry.not_after) - t(&boot_entry.not_before);
    assert!(life <= time::Duration::hours(3), "{life}");

    // The exchange is in the journal, without the ownership token.
    let log = journal.device_log(report.session_id).expect("log");
    let text = log.join("\n");
    for expected in [
        "bootstrap certificate",
        "-> $aws/certificates/create-from-csr/json",
        "<- accepted: certificateId",
        "-> $aws/provisioning-templates/line-1/provision/json",
        "thingName",
        "CONNACK as",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    assert!(text.contains("ownership token (withheld)"), "{text}");
    let steps: Vec<&str> = report.steps.iter().map(|s| s.name.as_str()).collect();
    assert!(steps.contains(&"revoke_bootstrap"), "{steps:?}");
}

/// The serial of `device_id`'s latest certificate.
pub(crate) fn entry_of_device(s: &LabStation, device_id: &str) -> String {
    s.station
        .journal()
        .expect("journal")
        .list_certificates(&CertFilter {
            device_id: Some(device_id),
            ..CertFilter::default()
        })
        .expect("list")
        .last()
        .expect("a certificate")
        .serial
        .clone()
}

/// A bootstrap identity made on the host (its key in a file) for broker-side checks.
pub(crate) fn host_bootstrap(s: &LabStation, id: &str) -> (String, Arc<rustls::ClientConfig>) {
    let (cert, key_pem) =
        crate::inband_fleet::bootstrap_identity_named(s, id, &format!("bootstrap-{id}"));
    let chain = vec![
        CertificateDer::from(cert.der.clone()),
        CertificateDer::from(s.ca.issuing_der().to_vec()),
    ];
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key");
    let tls = client_config(
        &[s.ca.root_der().to_vec()],
        ClientIdentity::Local { chain, key },
    )
    .expect("tls");
    (cert.serial, tls)
}

fn exchange(
    port: u16,
    id: &str,
    tls: Arc<rustls::ClientConfig>,
) -> Result<inband::FleetOutcome, inband::ExchangeFailure> {
    inband::aws_fleet_exchange(
        &InbandConnection {
            host: "127.0.0.1".into(),
            port,
            client_id: format!("bootstrap-{id}"),
            timeout: Duration::from_secs(10),
        },
        &FleetRequest {
            template: "line-1".into(),
            csr_pem: csr_pem(id),
            parameters: BTreeMap::from([("SerialNumber".into(), id.into())]),
        },
        tls,
    )
}

/// The unit topics the ACL's patterns give every user are denied to the bootstrap user `cn`:
/// mosquitto grants the SUBSCRIBE and filters silently, and answers the PUBLISH 0x87.
pub(crate) fn denied_the_unit_topics(port: u16, cn: &str, tls: Arc<rustls::ClientConfig>) {
    let spec =
        crate::fixture::handshake_spec(port, cn, Duration::from_secs(10), Duration::from_secs(10));
    let err = commissioner_core::mqtt::handshake::run(&spec, tls).expect_err("denied");
    let request = format!("provisioning/{cn}/request");
    assert!(
        matches!(&err, MqttError::PublishRefused { topic, .. } if *topic == request),
        "{err:?}"
    );
}

pub(crate) fn refused_with<T: std::fmt::Debug>(
    result: Result<T, inband::ExchangeFailure>,
    code: &str,
) {
    match result {
        Err(inband::ExchangeFailure {
            error: MqttError::Rejected(text),
            messages,
        }) => {
            assert!(text.contains(code), "{text}");
            assert!(messages.iter().any(|m| m.contains(code)), "{messages:?}");
        }
        other => panic!("expected a rejection with {code}, got {other:?}"),
    }
}

#[test]
fn a_reused_or_revoked_bootstrap_certificate_is_refused_with_its_own_code() {
    let mut s = station();
    in_band(&mut s);
    let fleet_ca = s.station.unlock_ca(PASSPHRASE).expect("unlock");
    let lab =
        Lab::up_in_band(&mut s.station, &s.ca, fleet_ca, &["unit-ib-1", "unit-ib-2"]).expect("lab");

    let (_, tls) = host_bootstrap(&s, "unit-ib-1");
    let first = exchange(lab.port(), "unit-ib-1", tls.clone()).expect("first exchange");
    assert_eq!(first.registered.thing_name, "unit-ib-1");
    // The same bootstrap again (the broker's CRL not reloaded yet): the backend refuses it.
    refused_with(
        exchange(lab.port(), "unit-ib-1", tls),
        "inband.bootstrap_used",
    );

    let (serial, tls) = host_bootstrap(&s, "unit-ib-2");
    admin::revoke(
        &s.station.journal().expect("journal"),
        RevokeTarget::Serial(&serial),
        Reason::KeyCompromise,
        OffsetDateTime::now_utc(),
    )
    .expect("revoke");
    refused_with(
        exchange(lab.port(), "unit-ib-2", tls),
        "inband.bootstrap_revoked",
    );
}

#[test]
fn a_bootstrap_identity_reaches_only_its_in_band_topics() {
    let mut s = station();
    in_band(&mut s);
    let fleet_ca = s.station.unlock_ca(PASSPHRASE).expect("unlock");
    let lab = Lab::up_in_band(&mut s.station, &s.ca, fleet_ca, &["unit-ib-3"]).expect("lab");
    let (_, tls) = host_bootstrap(&s, "unit-ib-3");
    denied_the_unit_topics(lab.port(), "bootstrap-unit-ib-3", tls.clone());
    // Its own in-band topics work.
    exchange(lab.port(), "unit-ib-3", tls).expect("in-band exchange");
}

#[test]
fn the_provisioning_profile_round_trips_and_a_bad_one_is_refused_at_load() {
    let s = station();
    let path = s.station.dir.join("station.toml");
    let plain = std::fs::read_to_string(&path).expect("read");
    assert!(!plain.contains("[provisioning]"), "default left out");
    assert!(!Station::open(&s.station.dir)
        .expect("open")
        .config
        .provisioning
        .in_band());

    let mut s = s;
    in_band(&mut s);
    let reread = Station::open(&s.station.dir).expect("open");
    assert_eq!(reread.config.provisioning, s.station.config.provisioning);

    std::fs::write(
        &path,
        format!("{plain}\n[provisioning]\nmode = \"in-band\"\ndialect = \"aws\"\n"),
    )
    .expect("write");
    let err = Station::open(&s.station.dir).expect_err("refused");
    assert_eq!(err.code(), "provisioning.unknown_dialect", "{err}");
    std::fs::write(
        &path,
        format!("{plain}\n[provisioning]\nmode = \"in-band\"\nbootstrap_cn = \"{{device_id}}\"\n"),
    )
    .expect("write");
    let err = Station::open(&s.station.dir).expect_err("refused");
    assert_eq!(err.code(), "provisioning.bad_common_name", "{err}");
}

#[test]
fn a_unit_whose_key_the_station_made_cannot_go_in_band() {
    let mut s = station();
    s.station.config.policy.allow_host_generated_key = true;
    in_band(&mut s);
    let _lab = {
        let fleet_ca = s.station.unlock_ca(PASSPHRASE).expect("unlock");
        Lab::up_in_band(&mut s.station, &s.ca, fleet_ca, &[]).expect("lab")
    };
    let sim = SimDevice::spawn(SimConfig {
        faults: vec![Fault::NoKeygen],
        ..SimConfig::default()
    })
    .expect("simulator");
    let report = commission_sim(&s, &sim);
    assert!(!report.passed());
    let error = report.error.expect("error");
    assert_eq!(
        error.code, "inband.operational_mismatch",
        "{}",
        error.message
    );
    let issue = report
        .steps
        .iter()
        .find(|st| st.name == "issue")
        .expect("issue step");
    assert_eq!(issue.outcome, "failed");
    assert!(report.bootstrap_serial.is_none(), "nothing signed");
}

#[test]
fn units_commissioned_side_by_side_in_band_each_get_their_own_certificate() {
    let mut s = station();
    in_band(&mut s);
    let sims: Vec<SimDevice> = (0..3)
        .map(|_| SimDevice::spawn(SimConfig::default()).expect("simulator"))
        .collect();
    let ids: Vec<&str> = sims.iter().map(SimDevice::device_id).collect();
    let fleet_ca = s.station.unlock_ca(PASSPHRASE).expect("unlock");
    let _lab = Lab::up_in_band(&mut s.station, &s.ca, fleet_ca, &ids).expect("lab");
    let jobs: Vec<_> = sims
        .iter()
        .map(|sim| commissioner_core::pipeline::CommissionRequest {
            port: sim.path(),
            baud: 115_200,
            operator: "test",
        })
        .collect();
    // AWS's replies carry no correlation and the broker hands them to every subscriber: each
    // session must still end up with its own unit's certificate.
    let reports = commissioner_core::pipeline::commission_many(
        &s.station,
        &s.ca,
        &jobs,
        Default::default(),
        &|_, _| {},
    );
    for (report, id) in reports.iter().zip(&ids) {
        assert!(report.passed(), "{}", report.render());
        let op = report.certificate_serial.as_deref().expect("serial");
        assert_eq!(entry(&s, op).device_id, *id);
        assert_eq!(entry(&s, op).status, CertStatus::Active);
    }
}
