//! SMP benchmark: writing a certificate set (key, certificate + chain, broker CA, as PEM files)
//! to one emulated Zephyr unit, Commissioner's SMP client against `smpmgr file upload`, same
//! emulator, same baud, side by side in one run.
//!
//! `cargo build --release -p commissioner-cli && ./target/release/smp-bench [--baud 115200] [--runs 5]`
//!
//! Commissioner's figure includes reading `mcumgr params` and the SHA-256 read-back of every
//! file (`fs hash`); smpmgr's is three `smpmgr file upload` runs (one per file, as a technician
//! types them, each paying Python's start-up); smpclient's is the library smpmgr is built on,
//! connecting and uploading the three files in one process, timed inside Python (no start-up,
//! no read-back). The emulator paces its own output at the baud rate; all clients write as
//! fast as the pseudo-terminal takes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use commissioner_core::device::smp::{SmpClient, SmpTimeouts};
use commissioner_devsim::zephyr::{ZephyrSim, ZephyrSimConfig};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// The baud rate the emulator paces its output at, and how many runs the median is over.
#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value_t = 115_200)]
    baud: u32,
    #[arg(long, default_value_t = 5)]
    runs: u32,
}

/// Writes the set to local files for the Python clients: (local path, path on the unit).
fn stage<'a>(dir: &Path, files: &[(&'a str, Vec<u8>)]) -> BenchResult<Vec<(PathBuf, &'a str)>> {
    let mut out = Vec::new();
    for (i, (remote, data)) in files.iter().enumerate() {
        let local = dir.join(format!("file-{i}"));
        std::fs::write(&local, data)?;
        out.push((local, *remote));
    }
    Ok(out)
}

/// The files a stock unit is given: (path on the unit, contents).
fn certificate_set() -> BenchResult<Vec<(&'static str, Vec<u8>)>> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(vec![])?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key)?;
    let unit_key = KeyPair::generate()?;
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let unit =
        CertificateParams::new(vec!["zephyr-bench".into()])?.signed_by(&unit_key, &issuer)?;
    Ok(vec![
        (
            "/lfs/certs/device-key.pem",
            unit_key.serialize_pem().into_bytes(),
        ),
        ("/lfs/certs/broker-ca.pem", ca.pem().into_bytes()),
        (
            "/lfs/certs/device-cert.pem",
            format!("{}{}", unit.pem(), ca.pem()).into_bytes(),
        ),
    ])
}

fn venv() -> BenchResult<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/python-peers.sh");
    let out = Command::new("bash").arg(script).output()?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn commissioner(sim: &ZephyrSim, files: &[(&str, Vec<u8>)], baud: u32) -> BenchResult<Duration> {
    let t0 = Instant::now();
    let port = serialport::new(sim.path(), baud)
        .timeout(Duration::from_millis(20))
        .open()?;
    let mut client = SmpClient::new(
        port,
        SmpTimeouts {
            request: Duration::from_secs(5),
            slow: Duration::from_secs(20),
        },
    );
    client.params()?;
    for (path, data) in files {
        client.fs_upload(path, data)?;
        let (len, _digest) = client.fs_sha256(path)?;
        if len != data.len() {
            return Err(format!("{path}: the unit hashed {len} bytes of {}", data.len()).into());
        }
    }
    Ok(t0.elapsed())
}

fn smpmgr(
    venv: &Path,
    sim: &ZephyrSim,
    staged: &[(PathBuf, &str)],
    baud: u32,
) -> BenchResult<Duration> {
    let t0 = Instant::now();
    for (local, path) in staged {
        let out = Command::new(venv.join("bin/smpmgr"))
            .args([
                "--port",
                sim.path(),
                "--baudrate",
                &baud.to_string(),
                "file",
                "upload",
            ])
            .arg(local)
            .arg(path)
            .output()?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
        }
    }
    Ok(t0.elapsed())
}

/// smpclient in one process: connect (it reads `mcumgr params`), upload every file; prints
/// the milliseconds that took.
const SMPCLIENT_UPLOAD: &str = r#"
import asyncio, sys, time
from smpclient import SMPClient
from smpclient.transport.serial import SMPSerialTransport

async def main(port, baud, pairs):
    t0 = time.perf_counter()
    async with SMPClient(SMPSerialTransport(baudrate=baud), port, timeout_s=5) as c:
        for local, remote in pairs:
            data = open(local, "rb").read()
            async for _ in c.upload_file(data, remote):
                pass
    print((time.perf_counter() - t0) * 1000)

args = sys.argv[3:]
asyncio.run(main(sys.argv[1], int(sys.argv[2]), list(zip(args[::2], args[1::2]))))
"#;

fn smpclient(
    venv: &Path,
    sim: &ZephyrSim,
    staged: &[(PathBuf, &str)],
    baud: u32,
) -> BenchResult<Duration> {
    let mut cmd = Command::new(venv.join("bin/python"));
    cmd.args(["-c", SMPCLIENT_UPLOAD, sim.path(), &baud.to_string()]);
    for (local, path) in staged {
        cmd.arg(local).arg(path);
    }
    let out = cmd.output()?;
    let ms: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| format!("smpclient: {}", String::from_utf8_lossy(&out.stderr)))?;
    Ok(Duration::from_secs_f64(ms / 1e3))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> BenchResult<()> {
    let Args { baud, runs } = Args::parse();
    let runs = runs.max(1);
    let venv = venv()?;
    let files = certificate_set()?;
    let bytes: usize = files.iter().map(|(_, d)| d.len()).sum();
    let dir = tempfile::tempdir()?;
    let staged = stage(dir.path(), &files)?;
    let (mut ours, mut theirs, mut library) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let cfg = || ZephyrSimConfig {
            baud: Some(baud),
            ..ZephyrSimConfig::default()
        };
        let sim = ZephyrSim::spawn(cfg())?;
        ours.push(commissioner(&sim, &files, baud)?);
        let sim = ZephyrSim::spawn(cfg())?;
        theirs.push(smpmgr(&venv, &sim, &staged, baud)?);
        let sim = ZephyrSim::spawn(cfg())?;
        library.push(smpclient(&venv, &sim, &staged, baud)?);
    }
    let (ours, theirs, library) = (median(ours), median(theirs), median(library));
    println!(
        "certificate set: {} files, {bytes} bytes; emulator paced at {baud} baud; median of {runs}",
        files.len()
    );
    println!(
        "commissioner (params + upload + SHA-256 read-back): {:>8.1} ms",
        ours.as_secs_f64() * 1e3
    );
    println!(
        "smpmgr file upload x{} (no read-back):              {:>8.1} ms",
        files.len(),
        theirs.as_secs_f64() * 1e3
    );
    println!(
        "smpclient, one process, timed inside (no read-back): {:>8.1} ms",
        library.as_secs_f64() * 1e3
    );
    Ok(())
}
