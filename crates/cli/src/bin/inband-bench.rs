//! In-band benchmark: for each dialect, N units' exchanges, each unit with a bootstrap
//! identity of its own, run by the station's unit side and by the vendor's own device SDK
//! (awsiotsdk for aws-fleet, azure-iot-device for azure-dps; Commissioner's dialect has no
//! vendor) against the same mosquitto and the same responder, alternating unit by unit.
//!
//! `cargo build --release -p commissioner-cli --bin inband-bench && ./target/release/inband-bench [--units 10]`
//!
//! Both sides hold the bootstrap key in memory, so this measures the exchange, not a unit's
//! signing: connect with the bootstrap identity, send the CSR, get the operational certificate
//! (DPS: the assignment; azure-iot-device 2.14.0 sends no CSR), disconnect. The SDK's time is
//! taken inside its Python process (from connect to result); its process wall time, Python's
//! start-up included, is printed beside it. The DPS responder answers `retry-after: 0`, so
//! neither side waits for a poll interval.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use commissioner_core::journal::{CertificateRecords, KeyOrigin, NewSession, SessionResult};
use commissioner_core::lab::{self, free_port, inband};
use commissioner_core::mqtt::dialect::Dialect;
use commissioner_core::mqtt::handshake::{self, HandshakeSpec};
use commissioner_core::mqtt::inband::{
    aws_fleet_exchange, azure_dps_exchange, commissioner_chain, commissioner_request, DpsRequest,
    FleetRequest, InbandConnection,
};
use commissioner_core::mqtt::responder::Responder;
use commissioner_core::mqtt::tls::{client_config, install_crypto_provider, ClientIdentity};
use commissioner_core::pki::issue::{Subject, Usage};
use commissioner_core::pki::{cert_pem, UnlockedCa};
use commissioner_core::station::provisioning::ProvisioningMode;
use commissioner_core::station::{init_lab_station, Station};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

const PASS: &str = "bench-only-passphrase";
const USAGE: &str = "inband-bench [--units N (10)]: in-band exchange wall time per unit in each \
dialect, the station's unit side next to the vendor's device SDK on the same broker and responder";
const TIMEOUT: Duration = Duration::from_secs(15);

#[path = "shared/args.rs"]
mod args;
#[path = "shared/peers.rs"]
mod peers;
use args::{arg, BenchResult};
use peers::venv;

/// A unit's bootstrap identity, in memory (the station's side) and in files (the SDK's).
struct Identity {
    device_id: String,
    cn: String,
    tls: Arc<rustls::ClientConfig>,
    chain: PathBuf,
    key: PathBuf,
    csr_der: Vec<u8>,
    csr: PathBuf,
}

/// Issues `device_id` a bootstrap certificate on a host key and records it as the unit's
/// active bootstrap, as the station's `issue` step does in band.
fn bootstrap(
    station: &Station,
    ca: &UnlockedCa,
    dir: &Path,
    device_id: &str,
) -> BenchResult<Identity> {
    let now = time::OffsetDateTime::now_utc();
    let cn = station.config.provisioning.bootstrap_common_name(device_id);
    let (cert, key_pem) = ca.issue_with_new_key(
        &Subject {
            common_name: &cn,
            organization: "Bench",
            validity_days: 1,
            usage: Usage::Client,
            alt_names: vec![],
        },
        now,
    )?;
    let journal = station.journal()?;
    let session = journal.begin_session(&NewSession {
        station_id: &station.config.station_id,
        operator: "bench",
        port: "bench",
        work_order: None,
        started_at: now,
    })?;
    journal.record_issued(session, device_id, &cert, now, KeyOrigin::Host)?;
    journal.mark_bootstrap(&cert.serial, device_id, &cn)?;
    journal.activate_certificate(&cert.serial)?;
    journal.finish_session(session, SessionResult::Pass, None, now)?;

    let chain = dir.join(format!("{cn}.pem"));
    std::fs::write(
        &chain,
        format!("{}{}", cert.pem, cert_pem(ca.issuing_der())),
    )?;
    let key = dir.join(format!("{cn}.key"));
    std::fs::write(&key, &key_pem)?;
    let tls = client_config(
        &[ca.root_der().to_vec()],
        ClientIdentity::Local {
            chain: vec![
                CertificateDer::from(cert.der.clone()),
                CertificateDer::from(ca.issuing_der().to_vec()),
            ],
            key: PrivateKeyDer::from_pem_slice(key_pem.as_bytes())?,
        },
    )?;
    // The unit's CSR: its own key, its id as CN.
    let unit_key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, device_id);
    let request = params.serialize_request(&unit_key)?;
    let csr = dir.join(format!("{device_id}.csr"));
    std::fs::write(&csr, request.pem()?)?;
    Ok(Identity {
        device_id: device_id.to_owned(),
        cn,
        tls,
        chain,
        key,
        csr_der: request.der().to_vec(),
        csr,
    })
}

/// The station's unit side of one exchange; returns its wall time.
fn station_once(station: &Station, port: u16, id: &Identity) -> BenchResult<Duration> {
    let profile = &station.config.provisioning;
    let conn = InbandConnection {
        host: "127.0.0.1".into(),
        port,
        client_id: id.cn.clone(),
        timeout: TIMEOUT,
    };
    let t0 = Instant::now();
    let issued = match profile.dialect()? {
        Dialect::AwsFleet => {
            let request = FleetRequest {
                template: profile.template.clone(),
                csr_pem: std::fs::read_to_string(&id.csr)?,
                parameters: [("SerialNumber".to_owned(), id.device_id.clone())].into(),
            };
            let outcome = aws_fleet_exchange(&conn, &request, id.tls.clone())
                .map_err(|f| format!("{}: {:?}", f.error, f.messages))?;
            !outcome.created.certificate_pem.is_empty()
        }
        Dialect::AzureDps => {
            let request = DpsRequest {
                id_scope: profile.id_scope.clone(),
                csr_der: id.csr_der.clone(),
            };
            let outcome = azure_dps_exchange(&conn, &request, id.tls.clone())
                .map_err(|f| format!("{}: {:?}", f.error, f.messages))?;
            !outcome.chain.is_empty()
        }
        Dialect::Commissioner => {
            let broker = station.broker()?;
            let spec = HandshakeSpec {
                host: conn.host.clone(),
                port,
                client_id: id.cn.clone(),
                request_topic: broker.request_topic.replace("{device_id}", &id.cn),
                response_topic: broker.response_topic.replace("{device_id}", &id.cn),
                user_properties: vec![],
                payload: commissioner_request(&id.cn, &id.csr_der, &station.config.station_id),
                timeout: TIMEOUT,
                connect_timeout: TIMEOUT,
                session_expiry_secs: 0,
            };
            let outcome = handshake::run(&spec, id.tls.clone())?;
            !commissioner_chain(&outcome.reply_body).is_empty()
        }
    };
    let wall = t0.elapsed();
    if !issued {
        return Err(format!("{}: no certificate came back", id.device_id).into());
    }
    Ok(wall)
}

/// The vendor SDK's exchange for one unit: its own time, and the process's.
fn sdk_once(
    dialect: Dialect,
    python: &Path,
    station: &Station,
    port: u16,
    cafile: &Path,
    id: &Identity,
) -> BenchResult<Option<(Duration, Duration)>> {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/peers");
    let profile = &station.config.provisioning;
    let mut cmd = Command::new(python);
    match dialect {
        Dialect::AwsFleet => cmd
            .arg(scripts.join("aws_fleet_sdk.py"))
            .args(["127.0.0.1", &port.to_string()])
            .args([&id.chain, &id.key, &cafile.to_path_buf()])
            .arg(&id.cn)
            .arg(&id.csr)
            .args([&profile.template, &id.device_id]),
        Dialect::AzureDps => cmd
            .arg(scripts.join("azure_dps_sdk.py"))
            .args(["127.0.0.1", &port.to_string()])
            .args([&id.chain, &id.key, &cafile.to_path_buf()])
            .args([&id.cn, &profile.id_scope]),
        Dialect::Commissioner => return Ok(None),
    };
    let t0 = Instant::now();
    let out = cmd.output()?;
    let wall = t0.elapsed();
    if !out.status.success() {
        return Err(format!(
            "{dialect} SDK failed for {}: {}{}",
            id.device_id,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let result: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let inner = result["elapsed_ms"]
        .as_f64()
        .ok_or("the SDK driver printed no elapsed_ms")?;
    Ok(Some((Duration::from_secs_f64(inner / 1000.0), wall)))
}

/// Median and 95th percentile, in ms.
fn spread(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
    (at(0.5), at(0.95))
}

fn run_dialect(
    dialect: Dialect,
    station: &mut Station,
    ca: &UnlockedCa,
    python: &Path,
    dir: &Path,
    units: usize,
) -> BenchResult<()> {
    station.config.provisioning.mode = ProvisioningMode::InBand;
    station.config.provisioning.dialect = dialect.name().to_owned();
    station.save()?;
    let ids: Vec<String> = (0..units)
        .flat_map(|i| {
            [
                format!("bench-{dialect}-s{i}"),
                format!("bench-{dialect}-v{i}"),
            ]
        })
        .collect();
    let cns: Vec<String> = ids
        .iter()
        .map(|d| station.config.provisioning.bootstrap_common_name(d))
        .collect();
    let port = free_port()?;
    let (files, broker) = inband::vendor_sdk_broker(station, ca, port, &cns)?;
    let backend = inband::in_band_backend(station, station.unlock_ca(PASS)?, port)?;
    let mut cfg = match dialect {
        Dialect::Commissioner => lab::station_responder_config(station, port),
        _ => lab::responder_config(port),
    };
    cfg.client_id = inband::FLEET_CLIENT_ID.into();
    let tls = lab::backend_tls(&files, ca.root_der())?;
    let responder = Responder::start_dialect(cfg, tls, backend)?;

    let (mut ours, mut theirs, mut theirs_wall) = (Vec::new(), Vec::new(), Vec::new());
    for pair in ids.chunks(2) {
        let ours_id = bootstrap(station, ca, dir, &pair[0])?;
        ours.push(station_once(station, port, &ours_id)?);
        let sdk_id = bootstrap(station, ca, dir, &pair[1])?;
        if let Some((inner, wall)) =
            sdk_once(dialect, python, station, port, &files.cafile, &sdk_id)?
        {
            theirs.push(inner);
            theirs_wall.push(wall);
        }
    }
    drop(responder);
    drop(broker);

    let (p50, p95) = spread(ours);
    println!("{dialect} ({units} units each, mosquitto + responder on this machine)");
    println!("  Commissioner (the station's unit side): p50 {p50:>7.1} ms  p95 {p95:>7.1} ms");
    let sdk = match dialect {
        Dialect::AwsFleet => "awsiotsdk 1.31.0 (IotIdentityClient)",
        Dialect::AzureDps => "azure-iot-device 2.14.0 (ProvisioningDeviceClient)",
        Dialect::Commissioner => "",
    };
    if theirs.is_empty() {
        println!("  (no vendor SDK speaks Commissioner's own dialect)");
    } else {
        let (s50, s95) = spread(theirs);
        let (w50, _) = spread(theirs_wall);
        println!("  {sdk}: p50 {s50:>7.1} ms  p95 {s95:>7.1} ms  (process wall p50 {w50:.1} ms)");
    }
    Ok(())
}

fn main() -> BenchResult<()> {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    install_crypto_provider();
    let units = arg("--units", 10).max(1);
    let dir = tempfile::tempdir()?;
    let mut station = init_lab_station(&dir.path().join("station"), PASS)?;
    station.config.policy.max_per_hour = u32::MAX;
    let ca = station.unlock_ca(PASS)?;
    let python = venv()?.join("bin/python");
    for dialect in [Dialect::AwsFleet, Dialect::AzureDps, Dialect::Commissioner] {
        run_dialect(dialect, &mut station, &ca, &python, dir.path(), units)?;
    }
    Ok(())
}
