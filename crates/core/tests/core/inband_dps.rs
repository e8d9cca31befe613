//! The station's in-band mode in the azure-dps dialect, end to end over the real mosquitto:
//! simulated units register with the DPS responder as their bootstrap identities (the unit's
//! key signing every TLS handshake), send the CSR they made, receive the operational
//! certificate in `issuedCertificateChain`, write and prove it, and the bootstrap is revoked.
//! Then the backend's refusals, each with its own code, and the broker's limits on a bootstrap
//! identity.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use commissioner_core::journal::CertStatus;
use commissioner_core::lab::Lab;
use commissioner_core::mqtt::inband::{self, DpsOutcome, DpsRequest, InbandConnection};
use commissioner_core::pipeline::CommissionRequest;
use commissioner_core::pki::cert_pem;
use commissioner_core::pki::revoke::Reason;
use commissioner_core::station::admin::{self, RevokeTarget};
use commissioner_core::station::provisioning::{ProvisioningMode, ProvisioningProfile};
use commissioner_devsim::{SimConfig, SimDevice};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use time::OffsetDateTime;

use crate::fixture::{station, LabStation, PASSPHRASE};
use crate::inband_station::{denied_the_unit_topics, entry, host_bootstrap, refused_with};

fn in_band_dps(s: &mut LabStation) {
    s.station.config.provisioning = ProvisioningProfile {
        mode: ProvisioningMode::InBand,
        dialect: "azure-dps".into(),
        bootstrap_validity_hours: 2,
        ..ProvisioningProfile::default()
    };
    s.station.save().expect("save");
}

pub(crate) fn csr_der(cn: &str) -> Vec<u8> {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.serialize_request(&key).expect("csr").der().to_vec()
}

/// Registers `registration_id` with the bootstrap TLS identity `tls`, asking for a certificate
/// for `csr_cn`.
fn register(
    port: u16,
    registration_id: &str,
    csr_cn: &str,
    tls: Arc<rustls::ClientConfig>,
) -> Result<DpsOutcome, inband::ExchangeFailure> {
    inband::azure_dps_exchange(
        &InbandConnection {
            host: "127.0.0.1".into(),
            port,
            client_id: registration_id.into(),
            timeout: Duration::from_secs(10),
        },
        &DpsRequest {
            id_scope: "0ne0test".into(),
            csr_der: csr_der(csr_cn),
        },
        tls,
    )
}

#[test]
fn units_register_with_dps_and_each_gets_its_operational_certificate() {
    let mut s = station();
    in_band_dps(&mut s);
    let sims: Vec<SimDevice> = (0..2)
        .map(|_| SimDevice::spawn(SimConfig::default()).expect("simulator"))
        .collect();
    let ids: Vec<&str> = sims.iter().map(SimDevice::device_id).collect();
    let dps_ca = s.station.unlock_ca(PASSPHRASE).expect("unlock");
    let _lab = Lab::up_in_band(&mut s.station, &s.ca, dps_ca, &ids).expect("lab");
    let jobs: Vec<_> = sims
        .iter()
        .map(|sim| CommissionRequest {
            port: sim.path(),
            baud: 115_200,
            operator: "test",
        })
        .collect();
    // Side by side: DPS answers carry the request's id, so no exchange waits for another.
    let reports = commissioner_core::pipeline::commission_many(
        &s.station,
        &s.ca,
        &jobs,
        Default::default(),
        &|_, _| {},
    );
    let journal = s.station.journal().expect("journal");
    for (report, id) in reports.iter().zip(&ids) {
        assert!(report.passed(), "{}", report.render());
        let op = report.certificate_serial.as_deref().expect("serial");
        let boot = report.bootstrap_serial.as_deref().expect("bootstrap");
        assert_ne!(op, boot);
        assert_eq!(entry(&s, op).device_id, *id);
        assert_eq!(entry(&s, op).status, CertStatus::Active);
        assert_eq!(
            entry(&s, boot).revocation_reason.as_deref(),
            Some("superseded")
        );
        let text = journal
            .device_log(report.session_id)
            .expect("log")
            .join("\n");
        for expected in [
            format!("CONNACK as bootstrap-{id} (bootstrap identity"),
            "-> register $rid=".into(),
            "<- 202 assigning: operation 4.".into(),
            "-> poll $rid=".into(),
            format!("<- 200 assigned: hub hub.commissioner.lab, device id {id}, 2 issued"),
            format!("CONNACK as {id} (operational identity {op})"),
        ] {
            assert!(text.contains(&expected), "{expected} missing from:\n{text}");
        }
    }
}

#[test]
fn dps_refuses_a_used_revoked_or_mismatched_registration_with_its_own_code() {
    let mut s = station();
    in_band_dps(&mut s);
    let dps_ca = s.station.unlock_ca(PASSPHRASE).expect("unlock");
    let units = ["unit-dps-1", "unit-dps-2", "unit-dps-3"];
    let lab = Lab::up_in_band(&mut s.station, &s.ca, dps_ca, &units).expect("lab");

    let (_, tls) = host_bootstrap(&s, "unit-dps-1");
    let first = register(
        lab.port(),
        "bootstrap-unit-dps-1",
        "unit-dps-1",
        tls.clone(),
    )
    .expect("first registration");
    assert_eq!(first.state.device_id, "unit-dps-1");
    assert_eq!(first.state.assigned_hub, "hub.commissioner.lab");
    // The issued chain is the unit's certificate then the issuing CA: openssl agrees it leads
    // to the station's root.
    let dir = tempfile::tempdir().expect("tmp");
    let (leaf, untrusted, root) = (
        dir.path().join("leaf.pem"),
        dir.path().join("issuing.pem"),
        dir.path().join("root.pem"),
    );
    std::fs::write(&leaf, cert_pem(&first.chain[0])).expect("w");
    std::fs::write(&untrusted, cert_pem(&first.chain[1])).expect("w");
    std::fs::write(&root, cert_pem(s.ca.root_der())).expect("w");
    let verify = Command::new("openssl")
        .args(["verify", "-purpose", "sslclient", "-CAfile"])
        .arg(&root)
        .arg("-untrusted")
        .arg(&untrusted)
        .arg(&leaf)
        .output()
        .expect("openssl");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // The same registration replayed (the broker's CRL not reloaded yet): already used.
    refused_with(
        register(lab.port(), "bootstrap-unit-dps-1", "unit-dps-1", tls),
        "inband.bootstrap_used",
    );

    let (serial, tls) = host_bootstrap(&s, "unit-dps-2");
    admin::revoke(
        &s.station.journal().expect("journal"),
        RevokeTarget::Serial(&serial),
        Reason::KeyCompromise,
        OffsetDateTime::now_utc(),
    )
    .expect("revoke");
    refused_with(
        register(lab.port(), "bootstrap-unit-dps-2", "unit-dps-2", tls),
        "inband.bootstrap_revoked",
    );

    // A bootstrap asking for another unit's certificate.
    let (_, tls) = host_bootstrap(&s, "unit-dps-3");
    refused_with(
        register(
            lab.port(),
            "bootstrap-unit-dps-3",
            "unit-dps-1",
            tls.clone(),
        ),
        "inband.parameter_mismatch",
    );
    // A registration id that is no bootstrap identity.
    refused_with(
        register(lab.port(), "unit-dps-3", "unit-dps-3", tls),
        "inband.not_bootstrap",
    );
}

#[test]
fn a_dps_bootstrap_identity_reaches_only_its_in_band_topics() {
    let mut s = station();
    in_band_dps(&mut s);
    let dps_ca = s.station.unlock_ca(PASSPHRASE).expect("unlock");
    let lab = Lab::up_in_band(&mut s.station, &s.ca, dps_ca, &["unit-dps-4"]).expect("lab");
    let (_, tls) = host_bootstrap(&s, "unit-dps-4");
    denied_the_unit_topics(lab.port(), "bootstrap-unit-dps-4", tls.clone());
    register(lab.port(), "bootstrap-unit-dps-4", "unit-dps-4", tls).expect("registration");
}
