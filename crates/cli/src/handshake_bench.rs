//! `commissioner lab bench`: the provisioning handshake's wall time side by side with the
//! mosquitto clients doing the same with the same certificates against the same broker and
//! responder: `mosquitto_rr` (request, wait for the reply: the same work) and `mosquitto_pub`
//! (request only, PUBACK). p50 over many runs; the clients' times include process start-up.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use commissioner_core::error::ErrorInfo;
use commissioner_core::journal::{CertificateRecords, KeyOrigin, NewSession};
use commissioner_core::lab::Lab;
use commissioner_core::mqtt::handshake::{self, HandshakeSpec};
use commissioner_core::mqtt::tls::{client_config, install_crypto_provider, ClientIdentity};
use commissioner_core::pki::issue::{Subject, Usage};
use commissioner_core::station::init_lab_station;
use rustls_pki_types::CertificateDer;

use crate::{usage_error, CmdResult};

const PASS: &str = "bench-only-passphrase";
const ID: &str = "BENCH-HS-1";

fn err(e: impl std::fmt::Display) -> ErrorInfo {
    usage_error("bench.failed", e.to_string())
}

fn pct(sorted: &[Duration], p: usize) -> f64 {
    let i = (sorted.len() * p / 100).min(sorted.len().saturating_sub(1));
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn line(name: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{name:<34} {:>5} {:>9.1} {:>9.1} {:>9.1}",
        times.len(),
        pct(&times, 50),
        pct(&times, 90),
        pct(&times, 0)
    );
}

/// Times `runs` runs of a mosquitto client; `None` if the client is not installed.
fn client_runs(
    bin: &str,
    args: &[String],
    runs: usize,
) -> Result<Option<Vec<Duration>>, ErrorInfo> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let out = match Command::new(bin).args(args).stdout(Stdio::null()).output() {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(err(format!("{bin}: {e}"))),
        };
        times.push(t.elapsed());
        if !out.status.success() {
            return Err(err(format!(
                "{bin} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    Ok(Some(times))
}

pub fn run(runs: usize) -> CmdResult {
    install_crypto_provider();
    let dir = tempfile::tempdir().map_err(err)?;
    let mut station = init_lab_station(&dir.path().join("station"), PASS)?;
    let ca = station.unlock_ca(PASS)?;
    let lab = Lab::up(&mut station, &ca)?;
    let now = time::OffsetDateTime::now_utc();
    let (cert, key_text) = ca.issue_with_new_key(
        &Subject {
            common_name: ID,
            organization: "Bench",
            validity_days: 2,
            usage: Usage::Client,
            alt_names: vec![],
        },
        now,
    )?;
    let key = PrivateKeyDer::from_pem_slice(key_text.as_bytes())
        .ok()
        .ok_or_else(|| err("the bench key does not parse"))?;
    // Registered, so the responder answers Completed.
    let journal = station.journal()?;
    let session = journal.begin_session(&NewSession {
        station_id: &station.config.station_id,
        operator: "bench",
        port: "bench",
        work_order: None,
        started_at: now,
    })?;
    journal.record_issued(session, ID, &cert, now, KeyOrigin::Host)?;

    // The same certificate and key as PEM files for the mosquitto clients.
    let d = dir.path();
    let (cert_pem, key_pem, ca_pem) = (d.join("unit.pem"), d.join("unit.key"), d.join("ca.pem"));
    let issuing = commissioner_core::pki::cert_pem(ca.issuing_der());
    std::fs::write(&cert_pem, format!("{}{issuing}", cert.pem)).map_err(err)?;
    std::fs::write(&ca_pem, commissioner_core::pki::cert_pem(ca.root_der())).map_err(err)?;
    std::fs::write(&key_pem, key_text).map_err(err)?;

    let payload =
        serde_json::json!({ "deviceId": ID, "certificateSerial": cert.serial }).to_string();
    let spec = HandshakeSpec {
        host: "127.0.0.1".into(),
        port: lab.port(),
        client_id: ID.into(),
        request_topic: format!("provisioning/{ID}/request"),
        response_topic: format!("provisioning/{ID}/response"),
        user_properties: vec![("deviceType".into(), "BENCH".into())],
        payload: payload.clone().into_bytes(),
        timeout: Duration::from_secs(20),
        connect_timeout: Duration::from_secs(20),
        session_expiry_secs: 0,
    };
    let tls = client_config(
        &[ca.root_der().to_vec()],
        ClientIdentity::Local {
            chain: vec![
                CertificateDer::from(cert.der.clone()),
                CertificateDer::from(ca.issuing_der().to_vec()),
            ],
            key,
        },
    )?;
    eprintln!(
        "{runs} runs each against mosquitto on 127.0.0.1:{}...",
        lab.port()
    );
    let mut ours = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        handshake::run(&spec, tls.clone())?;
        ours.push(t.elapsed());
    }
    let common = |tool_args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "-h",
            "127.0.0.1",
            "-p",
            &lab.port().to_string(),
            "--cafile",
            &ca_pem.display().to_string(),
            "--cert",
            &cert_pem.display().to_string(),
            "--key",
            &key_pem.display().to_string(),
            "-i",
            ID,
            "-V",
            "mqttv5",
            "-q",
            "1",
            "-t",
            &spec.request_topic,
            "-m",
            &payload,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        v.extend(tool_args.iter().map(|s| (*s).to_owned()));
        v
    };
    let rr = client_runs(
        "mosquitto_rr",
        &common(&["-e", &spec.response_topic, "-W", "20"]),
        runs,
    )?;
    let publ = client_runs("mosquitto_pub", &common(&[]), runs)?;

    println!(
        "{:<34} {:>5} {:>9} {:>9} {:>9}",
        "handshake wall time", "runs", "p50 ms", "p90 ms", "min ms"
    );
    line("commissioner handshake (reply)", ours);
    match rr {
        Some(t) => line("mosquitto_rr (reply)", t),
        None => println!("mosquitto_rr: not installed"),
    }
    match publ {
        Some(t) => line("mosquitto_pub (PUBACK only)", t),
        None => println!("mosquitto_pub: not installed"),
    }
    Ok(ExitCode::SUCCESS)
}
