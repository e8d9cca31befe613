//! nRF91 benchmark: the station against Nordic's installer script, on the same emulated modem
//! paced like a 115200-baud UART, side by side in one run; then 8 units at once.
//!
//! `cargo build --release -p commissioner-cli && ./target/release/nrf91-bench [--runs 3] [--units 8]`
//!
//! Both sides do the same work on the unit: modem offline, IMEI and firmware, `%KEYGEN` (the
//! COSE digest checked), the certificate signed by a CA, the CA and client certificates
//! written with `%CMNG` and read back by SHA-256. The station also records the session in its
//! journal, reads the attestation token and puts the modem back in its mode; Nordic's
//! `device_credentials_installer` (nrfcloud-utils, from the venv `scripts/python-peers.sh`
//! makes) also writes its onboarding CSV. Its Python start-up is printed on its own.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use commissioner_core::lab::Lab;
use commissioner_core::pipeline::{self, CommissionOptions, CommissionRequest, Report};
use commissioner_core::pki::UnlockedCa;
use commissioner_core::station::{init_lab_station, Station};
use commissioner_devsim::nrf91::{Nrf91Sim, Nrf91SimConfig};

const BAUD: u32 = 115_200;
const PASS: &str = "bench-only-passphrase";
const USAGE: &str = "nrf91-bench [--runs N (3)] [--units N (8)]: one nRF91 unit by Commissioner \
vs Nordic's device_credentials_installer on the same emulator at 115200 baud, then N units at once";

#[path = "shared/args.rs"]
mod args;
#[path = "shared/peers.rs"]
mod peers;
use args::{arg, BenchResult};
use peers::venv;

fn paced() -> BenchResult<Nrf91Sim> {
    Ok(Nrf91Sim::spawn(Nrf91SimConfig {
        baud: Some(BAUD),
        ..Nrf91SimConfig::default()
    })?)
}

fn request(port: &str) -> CommissionRequest<'_> {
    CommissionRequest {
        port,
        baud: BAUD,
        operator: "bench",
    }
}

fn opts() -> CommissionOptions<'static> {
    CommissionOptions {
        family: Some("nrf91-at"),
        ..CommissionOptions::default()
    }
}

fn check(report: &Report) -> BenchResult<()> {
    if report.passed() {
        Ok(())
    } else {
        Err(format!("a unit did not pass:\n{}", report.render()).into())
    }
}

fn station_once(station: &Station, ca: &UnlockedCa) -> BenchResult<Duration> {
    let sim = paced()?;
    let t0 = Instant::now();
    let report = pipeline::commission(station, ca, &request(sim.path()), opts(), &mut |_| {});
    let wall = t0.elapsed();
    check(&report)?;
    Ok(wall)
}

fn openssl(args: &[&str]) -> BenchResult<()> {
    let out = Command::new("openssl").args(args).output()?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
    }
    Ok(())
}

/// A factory CA for Nordic's script, made the way its documentation makes one.
fn script_ca(dir: &Path) -> BenchResult<(String, String)> {
    let key = dir.join("ca.key").display().to_string();
    let pem = dir.join("ca.pem").display().to_string();
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &key,
    ])?;
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &key,
        "-subj",
        "/CN=Bench CA",
        "-days",
        "30",
        "-out",
        &pem,
    ])?;
    Ok((pem, key))
}

fn script_once(installer: &Path, ca: &(String, String), csv: &Path) -> BenchResult<Duration> {
    let sim = paced()?;
    // A new file each run: on an existing one the script stops to ask what to do with it.
    let csv = csv.display().to_string();
    let t0 = Instant::now();
    let out = Command::new(installer)
        .env("COMMISSIONER_PTY_PORTS", sim.path())
        .args([
            "--port",
            sim.path(),
            "--cmd-type",
            "at",
            "--rtscts-off",
            "--verify",
        ])
        .args([
            "--sectag", "42", "--ca", &ca.0, "--ca-key", &ca.1, "--csv", &csv,
        ])
        .output()?;
    let wall = t0.elapsed();
    let log = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !log.contains("Credential verification: PASS") {
        return Err(format!("device_credentials_installer failed:\n{log}").into());
    }
    Ok(wall)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> BenchResult<()> {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let runs = arg("--runs", 3).max(1);
    let units = arg("--units", 8).max(1);
    let dir = tempfile::tempdir()?;
    let station_dir = dir.path().join("station");
    let mut station = init_lab_station(&station_dir, PASS)?;
    station.config.policy.max_per_hour = u32::MAX;
    let ca = station.unlock_ca(PASS)?;
    // The lab profile names the broker CA that goes on the modem.
    let _lab = Lab::up(&mut station, &ca)?;
    let installer = venv()?.join("bin/device_credentials_installer");
    let script_ca = script_ca(dir.path())?;

    // Alternate the two so that a busy moment of the machine hits both alike.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        ours.push(station_once(&station, &ca)?);
        let csv = dir.path().join(format!("onboard-{}.csv", theirs.len()));
        theirs.push(script_once(&installer, &script_ca, &csv)?);
    }
    let t0 = Instant::now();
    let help = Command::new(&installer).arg("--help").output()?;
    let startup = t0.elapsed();
    if !help.status.success() {
        return Err("device_credentials_installer --help failed".into());
    }

    let sims = (0..units)
        .map(|_| paced())
        .collect::<BenchResult<Vec<_>>>()?;
    let jobs: Vec<_> = sims.iter().map(|s| request(s.path())).collect();
    let t0 = Instant::now();
    let reports = pipeline::commission_many(&station, &ca, &jobs, opts(), &|_, _| {});
    let batch = t0.elapsed();
    for r in &reports {
        check(r)?;
    }

    let (one, script) = (median(ours), median(theirs));
    println!("nRF91 at {BAUD} baud, median of {runs} runs (emulated modem, this machine)");
    println!(
        "  Commissioner, one unit:                 {:>8.1} ms",
        ms(one)
    );
    println!(
        "  Nordic device_credentials_installer:    {:>8.1} ms  (of which Python start-up {:.1} ms)",
        ms(script),
        ms(startup)
    );
    println!(
        "  {units} units at once (Commissioner):        {:>8.1} ms wall, {:.1} units/s = {:.2} of {units} x the one-unit rate",
        ms(batch),
        units as f64 / batch.as_secs_f64(),
        // N units in the time of one would be 1.00.
        one.as_secs_f64() / batch.as_secs_f64()
    );
    Ok(())
}
