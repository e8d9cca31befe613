//! The station's in-band mode in Commissioner's own dialect: the bootstrap identity asks on its
//! own request topic (the unit patterns of the ACL give it exactly that) with the unit's CSR,
//! and the station responder, given the CA, answers Completed with the certificate chain. A
//! responder without the CA refuses in-band requests with its own code.

use commissioner_core::journal::CertStatus;
use commissioner_core::lab::Lab;
use commissioner_core::station::provisioning::{ProvisioningMode, ProvisioningProfile};
use commissioner_devsim::{SimConfig, SimDevice};

use crate::fixture::{commission_sim, station, LabStation, PASSPHRASE};
use crate::inband_station::entry;

fn in_band_commissioner(s: &mut LabStation) {
    s.station.config.provisioning = ProvisioningProfile {
        mode: ProvisioningMode::InBand,
        dialect: "commissioner".into(),
        bootstrap_validity_hours: 1,
        ..ProvisioningProfile::default()
    };
    s.station.save().expect("save");
}

#[test]
fn a_unit_gets_its_operational_certificate_over_commissioners_own_dialect() {
    let mut s = station();
    in_band_commissioner(&mut s);
    let sim = SimDevice::spawn(SimConfig::default()).expect("simulator");
    let id = sim.device_id().to_owned();
    let ca = s.station.unlock_ca(PASSPHRASE).expect("unlock");
    let _lab = Lab::up_in_band(&mut s.station, &s.ca, ca, &[&id]).expect("lab");

    let report = commission_sim(&s, &sim);
    assert!(report.passed(), "{}", report.render());
    let op = report.certificate_serial.clone().expect("operational");
    let boot = report.bootstrap_serial.clone().expect("bootstrap");
    assert_eq!(entry(&s, &op).status, CertStatus::Active);
    assert_eq!(
        entry(&s, &boot).revocation_reason.as_deref(),
        Some("superseded")
    );
    let journal = s.station.journal().expect("journal");
    let text = journal
        .device_log(report.session_id)
        .expect("log")
        .join("\n");
    for expected in [
        format!("-> provisioning/bootstrap-{id}/request as bootstrap-{id} (bootstrap identity"),
        "<- Completed after".into(),
        "certificate chain of 2".into(),
        format!("CONNACK as {id} (operational identity {op})"),
    ] {
        assert!(text.contains(&expected), "{expected} missing from:\n{text}");
    }
}

#[test]
fn a_responder_without_the_ca_refuses_in_band_requests_with_its_own_code() {
    let mut s = station();
    in_band_commissioner(&mut s);
    let sim = SimDevice::spawn(SimConfig::default()).expect("simulator");
    // The plain lab: its responder checks the registry and issues nothing.
    let _lab = Lab::up(&mut s.station, &s.ca).expect("lab");
    let report = commission_sim(&s, &sim);
    assert!(!report.passed());
    let error = report.error.expect("error");
    assert!(error.message.contains("inband.not_served"), "{error:?}");
    let handshake = report
        .steps
        .iter()
        .find(|st| st.name == "handshake")
        .expect("handshake step");
    assert_eq!(handshake.outcome, "failed");
}
