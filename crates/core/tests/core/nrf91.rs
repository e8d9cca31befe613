//! The station's pipeline against the emulated nRF91 modem (crates/devsim/src/nrf91).

use commissioner_core::pipeline::{
    commission, CommissionOptions, CommissionRequest, Report, SessionResult, StepStatus, Stop,
    StopSignal,
};
use commissioner_devsim::nrf91::{ModemConfig, Nrf91Sim, Nrf91SimConfig};

use crate::fixture::{station, station_with_lab, LabStation};

fn commission_nrf91(s: &LabStation, sim: &Nrf91Sim) -> Report {
    commission(
        &s.station,
        &s.ca,
        &CommissionRequest {
            port: sim.path(),
            baud: 115_200,
            operator: "test",
        },
        CommissionOptions {
            family: Some("nrf91-at"),
            ..CommissionOptions::default()
        },
        &mut |_| {},
    )
}

fn spawn(modem: ModemConfig, shell: bool) -> Nrf91Sim {
    Nrf91Sim::spawn(Nrf91SimConfig {
        modem,
        shell,
        chatter: shell,
        ..Nrf91SimConfig::default()
    })
    .expect("nrf91 emulator")
}

#[test]
fn a_modem_left_active_is_commissioned_and_put_back() {
    // The lab's broker profile gives the broker CA the modem is written.
    let (s, _lab) = station_with_lab();
    let sim = spawn(
        ModemConfig {
            cfun: 1,
            ..ModemConfig::default()
        },
        false,
    );
    let report = commission_nrf91(&s, &sim);
    assert!(report.passed(), "expected PASS:\n{}", report.render());
    assert_eq!(report.family, "nrf91-at");
    assert_eq!(report.device_id.as_deref(), Some(sim.uuid()));
    assert_eq!(
        report.family_details.get("imei").map(String::as_str),
        Some(sim.imei())
    );
    assert_eq!(
        report.family_details.get("sec_tag").map(String::as_str),
        Some("16842753")
    );
    assert_eq!(
        report
            .family_details
            .get("attested_uuid")
            .map(String::as_str),
        Some(sim.uuid())
    );
    let text = report.render();
    for needle in ["PASS", "family       nrf91-at", sim.imei(), "16842753"] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    let skipped: Vec<&str> = report
        .steps
        .iter()
        .filter(|s| s.outcome == "skipped")
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(skipped, ["prove_possession", "handshake", "audit", "lock"]);
    let assurance = report.assurance.expect("assurance");
    assert_eq!(assurance.key_made, "unit");
    assert!(!assurance.handshake_as_unit);
    // Offline for the credential work, back to where it was afterwards.
    assert_eq!(sim.cfun(), 1);
    // The certificate is the unit's now.
    let journal = s.station.journal().expect("journal");
    let certs = journal
        .certificates_for_session(report.session_id)
        .expect("certs");
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0].status, "active");
    // Skipped steps leave the journal's chain whole.
    let v = journal.verify().expect("verify");
    assert!(v.ok(), "{:?}", v.problem);
}

#[test]
fn zephyr_shell_with_log_chatter_and_an_old_csr_encoding_passes() {
    let (s, _lab) = station_with_lab();
    let sim = spawn(
        ModemConfig {
            null_parameter: true,
            ..ModemConfig::default()
        },
        true,
    );
    let report = commission_nrf91(&s, &sim);
    assert!(report.passed(), "expected PASS:\n{}", report.render());
}

#[test]
fn firmware_too_old_for_keygen_is_refused_with_its_own_code() {
    let s = station();
    let sim = spawn(
        ModemConfig {
            firmware: "mfw_nrf9160_1.2.7".into(),
            ..ModemConfig::default()
        },
        false,
    );
    let report = commission_nrf91(&s, &sim);
    assert_eq!(report.result, SessionResult::Fail);
    assert_eq!(report.error.expect("error").code, "nrf91.firmware_too_old");
    assert!(report.certificate_serial.is_none());
}

#[test]
fn a_csr_the_attestation_does_not_cover_is_refused_before_issuing() {
    let s = station();
    let sim = spawn(
        ModemConfig {
            bad_cose_digest: true,
            ..ModemConfig::default()
        },
        false,
    );
    let report = commission_nrf91(&s, &sim);
    assert_eq!(report.result, SessionResult::Fail);
    assert_eq!(
        report.error.expect("error").code,
        "nrf91.cose_digest_mismatch"
    );
    assert!(report.certificate_serial.is_none(), "nothing may be issued");
}

#[test]
fn a_full_store_and_a_write_that_does_not_persist_fail_with_their_codes() {
    let (s, _lab) = station_with_lab();
    for (modem, code) in [
        (
            ModemConfig {
                capacity: 0,
                ..ModemConfig::default()
            },
            "nrf91.memory_full",
        ),
        (
            ModemConfig {
                corrupt_write: true,
                ..ModemConfig::default()
            },
            "nrf91.write_mismatch",
        ),
    ] {
        let sim = spawn(modem, false);
        let report = commission_nrf91(&s, &sim);
        assert_eq!(report.result, SessionResult::Fail, "{}", report.render());
        let failed = report
            .steps
            .iter()
            .find(|st| st.outcome == "failed")
            .expect("a failed step");
        assert_eq!(failed.name, "write_cert");
        assert_eq!(report.error.expect("error").code, code);
        // Left as it was found, not offline.
        assert_eq!(sim.cfun(), 0);
    }
}

#[test]
fn a_modem_that_restarts_mid_write_fails_with_its_own_code_and_is_commissioned_again() {
    let (s, _lab) = station_with_lab();
    let sim = spawn(
        ModemConfig {
            reboot_mid_write: true,
            ..ModemConfig::default()
        },
        false,
    );
    let first = commission_nrf91(&s, &sim);
    assert_eq!(first.result, SessionResult::Fail, "{}", first.render());
    assert_eq!(
        first.error.as_ref().map(|e| e.code.as_str()),
        Some("nrf91.rebooted"),
        "{}",
        first.render()
    );
    let failed = first
        .steps
        .iter()
        .find(|st| st.outcome == "failed")
        .expect("a failed step");
    assert_eq!(failed.name, "write_cert");
    // What it was issued is revoked with the failed session; the unit is simply run again.
    let journal = s.station.journal().expect("journal");
    let certs = journal
        .certificates_for_session(first.session_id)
        .expect("certs");
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0].status, "revoked");

    let second = commission_nrf91(&s, &sim);
    assert!(second.passed(), "expected PASS:\n{}", second.render());
    assert_eq!(second.device_id, first.device_id);
}

#[test]
fn line_noise_between_replies_is_set_aside() {
    let (s, _lab) = station_with_lab();
    for shell in [false, true] {
        let sim = Nrf91Sim::spawn(Nrf91SimConfig {
            shell,
            garbage: true,
            ..Nrf91SimConfig::default()
        })
        .expect("nrf91 emulator");
        let report = commission_nrf91(&s, &sim);
        assert!(report.passed(), "shell={shell}:\n{}", report.render());
        assert_eq!(
            report.family_details.get("imei").map(String::as_str),
            Some(sim.imei())
        );
    }
}

#[test]
fn a_stop_ends_a_keygen_in_flight() {
    let s = station();
    let keygen = std::time::Duration::from_secs(6);
    let sim = spawn(
        ModemConfig {
            keygen_delay: keygen,
            ..ModemConfig::default()
        },
        false,
    );
    let stop = StopSignal::default();
    let started = std::time::Instant::now();
    let report = commission(
        &s.station,
        &s.ca,
        &CommissionRequest {
            port: sim.path(),
            baud: 115_200,
            operator: "test",
        },
        CommissionOptions {
            family: Some("nrf91-at"),
            cancel: Some(&stop),
            ..CommissionOptions::default()
        },
        &mut |e| {
            if e.step == "keygen" && e.status == StepStatus::Started {
                stop.stop(Stop::Cancelled);
            }
        },
    );
    assert_eq!(
        report.result,
        SessionResult::Interrupted,
        "{}",
        report.render()
    );
    assert_eq!(
        report.error.as_ref().map(|e| e.code.as_str()),
        Some("session.cancelled"),
        "{}",
        report.render()
    );
    // The station stopped waiting; the modem's 6 s keygen was not sat out.
    assert!(started.elapsed() < keygen, "took {:?}", started.elapsed());
}

#[test]
fn the_profile_names_the_sec_tag() {
    let (mut s, _lab) = station_with_lab();
    s.station.config.nrf91 = toml::from_str("sec_tag = 42").expect("profile");
    let sim = spawn(ModemConfig::default(), false);
    let report = commission_nrf91(&s, &sim);
    assert!(report.passed(), "{}", report.render());
    assert_eq!(
        report.family_details.get("sec_tag").map(String::as_str),
        Some("42")
    );
    // Nordic's reserved range is refused when the profile is read.
    let err =
        toml::from_str::<commissioner_core::device::family::Nrf91Profile>("sec_tag = 2147483648")
            .expect_err("reserved");
    assert!(err.to_string().contains("reserved by Nordic"), "{err}");
}

#[test]
fn an_in_band_station_refuses_a_modem_before_any_key_or_certificate() {
    let (mut s, _lab) = station_with_lab();
    s.station.config.provisioning.mode =
        commissioner_core::station::provisioning::ProvisioningMode::InBand;
    let sim = spawn(ModemConfig::default(), false);
    let report = commission_nrf91(&s, &sim);
    assert_eq!(report.result, SessionResult::Fail);
    let error = report.error.expect("error");
    assert_eq!(error.code, "inband.family_unsupported", "{}", error.message);
    assert!(report.certificate_serial.is_none() && report.bootstrap_serial.is_none());
    let keygen = report
        .steps
        .iter()
        .find(|st| st.name == "keygen")
        .expect("keygen");
    assert_eq!(keygen.outcome, "failed");
}
