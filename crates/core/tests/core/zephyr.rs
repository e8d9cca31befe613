//! The station's pipeline against the emulated Zephyr SMP unit (crates/devsim/src/zephyr),
//! in both modes: stock firmware and firmware with Commissioner's SMP group.

use std::time::Duration;

use commissioner_core::clock::SystemClock;
use commissioner_core::device::family::ZephyrSmpProfile;
use commissioner_core::device::Timeouts;
use commissioner_core::pipeline::{
    commission_opts, CommissionOptions, CommissionRequest, Report, SessionResult,
};
use commissioner_devsim::zephyr::{ZephyrFault, ZephyrSim, ZephyrSimConfig};

use commissioner_core::lab::Lab;

use crate::fixture::{station, station_with_lab, LabStation};

fn commission(s: &LabStation, sim: &ZephyrSim) -> Report {
    commission_opts(
        &s.station,
        &s.ca,
        &CommissionRequest {
            port: sim.path(),
            baud: 115_200,
            operator: "test",
        },
        CommissionOptions {
            family: Some("zephyr-smp"),
            timeouts: Timeouts {
                other: Duration::from_secs(2),
                write: Duration::from_secs(2),
                ..Timeouts::default()
            },
            ..CommissionOptions::default()
        },
        &SystemClock,
        &mut |_| {},
    )
}

fn spawn(cfg: ZephyrSimConfig) -> ZephyrSim {
    ZephyrSim::spawn(cfg).expect("zephyr emulator")
}

fn skipped(report: &Report) -> Vec<&str> {
    report
        .steps
        .iter()
        .filter(|s| s.outcome == "skipped")
        .map(|s| s.name.as_str())
        .collect()
}

/// A station with the lab broker (whose CA the unit is given) that allows station-made keys.
fn host_key_station() -> (LabStation, Lab) {
    let (mut s, lab) = station_with_lab();
    s.station.config.policy.allow_host_generated_key = true;
    (s, lab)
}

#[test]
fn a_stock_unit_gets_a_station_made_key_and_the_session_says_it_proved_nothing() {
    let (s, _lab) = host_key_station();
    let sim = spawn(ZephyrSimConfig::default());
    let report = commission(&s, &sim);
    assert!(report.passed(), "expected PASS:\n{}", report.render());
    assert_eq!(report.family, "zephyr-smp");
    assert_eq!(report.device_id.as_deref(), Some(sim.node_name()));
    assert_eq!(report.model.as_deref(), Some("nrf52840dk"));
    assert_eq!(
        report.family_details.get("mode").map(String::as_str),
        Some("stock")
    );
    assert_eq!(
        skipped(&report),
        [
            "validate_csr",
            "prove_possession",
            "handshake",
            "audit",
            "lock"
        ]
    );
    let assurance = report.assurance.clone().expect("assurance");
    assert_eq!(assurance.key_made, "station");
    assert!(!assurance.handshake_as_unit);
    let text = report.render();
    assert!(
        text.contains("key made on the station") && text.contains("the unit proved nothing"),
        "{text}"
    );

    // The profile's paths hold what was written; the hash check compared them on the unit.
    let p = ZephyrSmpProfile::default();
    let key = String::from_utf8(sim.file(&p.key_path).expect("key file")).expect("pem");
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
    let cert = String::from_utf8(sim.file(&p.cert_path).expect("cert file")).expect("pem");
    assert_eq!(cert.matches("BEGIN CERTIFICATE").count(), 2, "{cert}");
    let first = pem_der(&cert).expect("the unit's certificate");
    assert_eq!(
        Some(commissioner_core::pki::fingerprint(&first)),
        report.fingerprint_sha256
    );
    assert!(sim.file(&p.ca_path).is_some());

    let journal = s.station.journal().expect("journal");
    let certs = journal
        .certificates_for_session(report.session_id)
        .expect("certs");
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0].status, "active");
    let v = journal.verify().expect("verify");
    assert!(v.ok(), "{:?}", v.problem);
}

/// The first certificate of a PEM text, DER.
fn pem_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

#[test]
fn a_stock_unit_is_refused_where_the_profile_allows_no_station_made_keys() {
    let s = station();
    let sim = spawn(ZephyrSimConfig::default());
    let report = commission(&s, &sim);
    assert_eq!(report.result, SessionResult::Fail, "{}", report.render());
    assert_eq!(
        report.error.expect("error").code,
        "policy.host_key_not_allowed"
    );
    assert!(report.certificate_serial.is_none());
    assert!(sim.file(&ZephyrSmpProfile::default().key_path).is_none());
}

#[test]
fn a_unit_with_the_commissioner_group_keeps_its_key_signs_the_handshake_and_locks() {
    let (s, _lab) = station_with_lab();
    let sim = spawn(ZephyrSimConfig {
        commissioner_group: true,
        ..ZephyrSimConfig::default()
    });
    let report = commission(&s, &sim);
    assert!(report.passed(), "expected PASS:\n{}", report.render());
    assert_eq!(
        report.family_details.get("mode").map(String::as_str),
        Some("commissioner-group")
    );
    let assurance = report.assurance.clone().expect("assurance");
    assert_eq!(assurance.key_made, "unit");
    assert!(assurance.handshake_as_unit, "{}", report.render());
    assert!(assurance.bound_by.contains("signed challenge"));
    for step in [
        "keygen",
        "validate_csr",
        "prove_possession",
        "handshake",
        "lock",
    ] {
        assert!(
            report
                .steps
                .iter()
                .any(|st| st.name == step && st.outcome == "ok"),
            "{step} did not run:\n{}",
            report.render()
        );
    }
    assert!(sim.is_locked());
    assert!(sim.file(&ZephyrSmpProfile::default().key_path).is_none());
}

#[test]
fn damaged_split_and_chattering_answers_still_commission() {
    let (s, _lab) = host_key_station();
    let sim = spawn(ZephyrSimConfig {
        faults: vec![
            ZephyrFault::BadCrc,
            ZephyrFault::SplitFrames,
            ZephyrFault::Chatter,
        ],
        ..ZephyrSimConfig::default()
    });
    let report = commission(&s, &sim);
    assert!(report.passed(), "expected PASS:\n{}", report.render());
}

#[test]
fn a_full_file_system_a_wrong_hash_and_a_lying_mtu_fail_with_their_codes() {
    let (s, _lab) = host_key_station();
    for (fault, code) in [
        (ZephyrFault::FsFull, "smp.fs_full"),
        (ZephyrFault::BadHash, "smp.write_mismatch"),
        (ZephyrFault::MtuOverflow, "device.timeout"),
    ] {
        let sim = spawn(ZephyrSimConfig {
            faults: vec![fault],
            ..ZephyrSimConfig::default()
        });
        let report = commission(&s, &sim);
        assert_eq!(report.result, SessionResult::Fail, "{}", report.render());
        let failed = report
            .steps
            .iter()
            .find(|st| st.outcome == "failed")
            .expect("a failed step");
        assert_eq!(failed.name, "write_cert", "{fault:?}");
        assert_eq!(report.error.expect("error").code, code, "{fault:?}");
    }
}

#[test]
fn a_small_smp_buffer_is_discovered_and_respected() {
    let (s, _lab) = host_key_station();
    let sim = spawn(ZephyrSimConfig {
        buf_size: 128,
        ..ZephyrSimConfig::default()
    });
    let report = commission(&s, &sim);
    assert!(report.passed(), "expected PASS:\n{}", report.render());
    assert_eq!(
        report.family_details.get("smp_buffer").map(String::as_str),
        Some("128 x 4")
    );
}
