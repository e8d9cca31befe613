//! `commissioner responder` joins the lab broker's shared subscription next to the lab's own.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::commands::{commissioner, text, PASSPHRASE};

/// Starts `commissioner responder ARGS` and returns its first line of output.
fn first_line(station: &std::path::Path, args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_commissioner"))
        .arg("--station")
        .arg(station)
        .arg("responder")
        .args(args)
        .env("COMMISSIONER_CA_PASSPHRASE", PASSPHRASE)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn responder");
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let _ = child.kill();
    let _ = child.wait();
    line
}

#[test]
fn a_second_responder_starts_against_the_station_profile_in_each_dialect() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    assert!(commissioner(&station, &["lab", "init"]).status.success());
    let up = commissioner(&station, &["lab", "up"]);
    assert!(up.status.success(), "{}", text(&up));
    let lines: Vec<String> = ["commissioner", "aws-fleet", "azure-dps"]
        .iter()
        .map(|dialect| {
            let client_id = format!("responder-{dialect}");
            first_line(&station, &["--client-id", &client_id, "--dialect", dialect])
        })
        .collect();
    let down = commissioner(&station, &["lab", "down"]);
    assert!(down.status.success(), "{}", text(&down));
    for (line, dialect) in lines.iter().zip(["commissioner", "aws-fleet", "azure-dps"]) {
        assert!(line.starts_with("responder ready"), "{line}");
        assert!(line.contains(&format!("({dialect};")), "{line}");
    }
}

#[test]
fn lab_bench_prints_the_handshake_next_to_the_mosquitto_clients() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = commissioner(&dir.path().join("unused"), &["lab", "bench", "--runs", "2"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for row in [
        "commissioner handshake (reply)",
        "mosquitto_rr (reply)",
        "mosquitto_pub",
    ] {
        assert!(stdout.contains(row), "{stdout}");
    }
}

#[test]
fn inband_bench_runs_each_dialect_next_to_the_vendor_sdks() {
    let out = Command::new(env!("CARGO_BIN_EXE_inband-bench"))
        .args(["--units", "1"])
        .output()
        .expect("run inband-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for row in [
        "aws-fleet (1 units each",
        "awsiotsdk 1.31.0 (IotIdentityClient): p50",
        "azure-dps (1 units each",
        "azure-iot-device 2.14.0 (ProvisioningDeviceClient): p50",
        "commissioner (1 units each",
    ] {
        assert!(stdout.contains(row), "{row} missing from:\n{stdout}");
    }
}

/// `lab up` on an in-band station serves its dialect on the station's CA; the technician's
/// `commission` then exchanges the unit's bootstrap for its operational certificate.
#[test]
fn lab_up_serves_an_in_band_station_in_each_vendor_dialect_and_its_own() {
    for dialect in ["azure-dps", "aws-fleet", "commissioner"] {
        let dir = tempfile::tempdir().expect("tmp");
        let station = dir.path().join("station");
        assert!(commissioner(&station, &["lab", "init"]).status.success());
        let toml = station.join("station.toml");
        let text_before = std::fs::read_to_string(&toml).expect("station.toml");
        std::fs::write(
            &toml,
            format!("{text_before}\n[provisioning]\nmode = \"in-band\"\ndialect = \"{dialect}\"\n"),
        )
        .expect("write");
        let sim = commissioner_devsim::SimDevice::spawn(Default::default()).expect("sim");
        let up = commissioner(&station, &["lab", "up", "--unit", sim.device_id()]);
        assert!(up.status.success(), "{}", text(&up));
        assert!(
            text(&up).contains(&format!("in-band:    {dialect} served")),
            "{}",
            text(&up)
        );
        let out = commissioner(&station, &["commission", "--port", sim.path()]);
        let down = commissioner(&station, &["lab", "down"]);
        assert!(down.status.success(), "{}", text(&down));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.starts_with("PASS"), "{dialect}: {}", text(&out));
        assert!(stdout.contains("(in-band)"), "{stdout}");
    }
}
