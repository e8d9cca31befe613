//! `commissioner ca bench`: certificates issued per second by the station's issuance path with a
//! file key, side by side with an `openssl x509 -req` loop issuing the same certificates (same
//! CSRs, same issuing CA, same profile). Run it with `--release`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use commissioner_core::error::ErrorInfo;
use commissioner_core::journal::{KeyOrigin, NewSession};
use commissioner_core::pki::csr;
use commissioner_core::pki::setup::{self, InitOptions, IssuingKey};
use commissioner_core::pki::{pkcs11, UnlockedCa};
use commissioner_core::station::issuing::{self, Issuing};
use commissioner_core::station::{create_station, Station};
use rcgen::{CertificateParams, DnType, KeyPair};

use crate::{usage_error, CmdResult};

const PASS: &str = "bench-only-passphrase";

fn err(e: impl std::fmt::Display) -> ErrorInfo {
    usage_error("bench.failed", e.to_string())
}

pub fn run(count: usize, softhsm: bool) -> CmdResult {
    let dir = tempfile::tempdir().map_err(err)?;
    let d = dir.path();
    let station = create_station(&d.join("station"), "Bench Devices", true)?;
    let now = time::OffsetDateTime::now_utc();
    setup::init_ca(
        &station.ca_dir(),
        &InitOptions {
            organization: "Bench Devices",
            passphrase: PASS,
            issuing_key: IssuingKey::Generate,
            root_key_out: None,
            root_passphrase: None,
            lab: station.config.lab,
            now,
        },
    )?;
    let mut station = station;
    // The bench must not be stopped by the quota it is not measuring.
    station.config.policy.max_per_hour = u32::MAX;
    let ca = UnlockedCa::unlock(&station.ca_dir(), PASS)?;

    eprintln!("generating {count} device CSRs (P-256)...");
    let mut csrs = Vec::with_capacity(count);
    for i in 0..count {
        let id = format!("BENCH-{i:06}");
        let key = KeyPair::generate().map_err(err)?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, id.as_str());
        let req = params.serialize_request(&key).map_err(err)?;
        let pem = req.pem().map_err(err)?;
        let path = d.join(format!("{id}.csr"));
        std::fs::write(&path, pem).map_err(err)?;
        csrs.push((id, req.der().to_vec()));
    }

    // 1. In process: validate + sign, nothing written.
    let (in_process, _) = issue_all(&station, &ca, &csrs, now)?;

    // 2. The commissioning path: validate, quota check, sign, journal row (WAL, fsync).
    let journal = station.journal()?;
    let session_id = journal.begin_session(&NewSession {
        station_id: "bench",
        operator: "bench",
        port: "none",
        work_order: None,
        started_at: now,
    })?;
    let ctx = Issuing {
        station: &station,
        ca: &ca,
        journal: &journal,
        records: &journal,
        session_id,
    };
    let t = Instant::now();
    let mut last_pem = String::new();
    for (id, der) in &csrs {
        let v = csr::validate(der, id)?;
        last_pem = issuing::issue_for_device(ctx, &v.spki_der, id, KeyOrigin::Device, now)?.pem;
    }
    let journaled = t.elapsed();
    std::fs::write(d.join("ours.pem"), last_pem).map_err(err)?;

    // 3. openssl x509 -req, one process per certificate, same CA and extensions. openssl gets
    // the issuing key unencrypted (in the temp dir): decrypting the scrypt-protected file each
    // time would measure scrypt, not issuance.
    let key_pem = std::fs::read_to_string(station.ca_dir().join("issuing.key.pem")).map_err(err)?;
    let plain = d.join("issuing.plain.key");
    openssl(
        &["pkey", "-passin", &format!("pass:{PASS}"), "-out"],
        &[&plain],
        Some(&key_pem),
    )?;
    let ext = d.join("ext.cnf");
    std::fs::write(
        &ext,
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
    )
    .map_err(err)?;
    let issuing = station.ca_dir().join("issuing.pem");
    let t = Instant::now();
    for (id, _) in &csrs {
        // OpenSSL 3 picks a random serial when none is given.
        openssl(
            &["x509", "-req", "-sha256", "-days", "1825", "-in"],
            &[
                &d.join(format!("{id}.csr")),
                Path::new("-CA"),
                &issuing,
                Path::new("-CAkey"),
                &plain,
                Path::new("-extfile"),
                &ext,
                Path::new("-out"),
                &d.join("theirs.pem"),
            ],
            None,
        )?;
    }
    let openssl_loop = t.elapsed();

    let hsm = if softhsm {
        Some(softhsm_run(d, &csrs, now)?)
    } else {
        None
    };

    for name in ["ours.pem", "theirs.pem"] {
        openssl(
            &["verify", "-x509_strict", "-purpose", "sslclient", "-CAfile"],
            &[
                &station.ca_dir().join("root.pem"),
                Path::new("-untrusted"),
                &issuing,
                &d.join(name),
            ],
            None,
        )?;
    }

    let mut out = String::new();
    let row = |out: &mut String, name: &str, t: Duration| {
        let _ = writeln!(
            out,
            "{name:<52} {:>8.3} s {:>10.0} certs/s",
            t.as_secs_f64(),
            count as f64 / t.as_secs_f64().max(1e-9)
        );
    };
    let _ = writeln!(
        out,
        "{count} client certificates, P-256 device keys, P-256 issuing key"
    );
    row(
        &mut out,
        "commissioner: validate + sign (in process)",
        in_process,
    );
    row(
        &mut out,
        "commissioner: validate + quota + sign + journal row",
        journaled,
    );
    row(
        &mut out,
        "openssl x509 -req loop (one process per cert)",
        openssl_loop,
    );
    if let Some(t) = hsm {
        row(
            &mut out,
            "commissioner: validate + sign, key in SoftHSM2",
            t,
        );
    }
    let _ = writeln!(out, "every output passes openssl verify -x509_strict");
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// Validates and signs every CSR in process; returns the time and the last certificate.
fn issue_all(
    station: &Station,
    ca: &UnlockedCa,
    csrs: &[(String, Vec<u8>)],
    now: time::OffsetDateTime,
) -> Result<(Duration, String), ErrorInfo> {
    let t = Instant::now();
    let mut last = String::new();
    for (id, der) in csrs {
        let v = csr::validate(der, id)?;
        last = ca
            .issue_device(
                &v.spki_der,
                id,
                &station.config.policy,
                &station.config.organization,
                now,
            )?
            .pem;
    }
    Ok((t.elapsed(), last))
}

/// The same issuance with the key in a SoftHSM2 token made for the run.
fn softhsm_run(
    d: &Path,
    csrs: &[(String, Vec<u8>)],
    now: time::OffsetDateTime,
) -> Result<Duration, ErrorInfo> {
    const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
    const PIN: &str = "bench-pin-1234";
    let tokens = d.join("softhsm");
    std::fs::create_dir_all(&tokens).map_err(err)?;
    let conf = d.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\n",
            tokens.display()
        ),
    )
    .map_err(err)?;
    // Read by the module when it is initialised; nothing else in this process is running yet.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let init = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", "bench"])
        .args(["--so-pin", "bench-so-5678", "--pin", PIN])
        .output()
        .map_err(|e| usage_error("bench.softhsm_missing", format!("softhsm2-util: {e}")))?;
    if !init.status.success() {
        return Err(usage_error(
            "bench.softhsm_failed",
            String::from_utf8_lossy(&init.stderr),
        ));
    }
    let uri = format!("pkcs11:token=bench;object=issuing;id=%01?module-path={MODULE}");
    pkcs11::generate_p256(&uri, PIN)?;
    let station = create_station(&d.join("hsm-station"), "Bench Devices", true)?;
    setup::init_ca(
        &station.ca_dir(),
        &InitOptions {
            organization: "Bench Devices",
            passphrase: PIN,
            issuing_key: IssuingKey::Pkcs11Uri(&uri),
            root_key_out: None,
            root_passphrase: None,
            lab: station.config.lab,
            now,
        },
    )?;
    let ca = UnlockedCa::unlock(&station.ca_dir(), PIN)?;
    let (t, last) = issue_all(&station, &ca, csrs, now)?;
    std::fs::write(d.join("hsm.pem"), last).map_err(err)?;
    openssl(
        &["verify", "-x509_strict", "-purpose", "sslclient", "-CAfile"],
        &[
            &station.ca_dir().join("root.pem"),
            Path::new("-untrusted"),
            &station.ca_dir().join("issuing.pem"),
            &d.join("hsm.pem"),
        ],
        None,
    )?;
    Ok(t)
}

fn openssl(args: &[&str], paths: &[&Path], stdin: Option<&str>) -> Result<(), ErrorInfo> {
    use std::io::Write;
    let mut cmd = Command::new("openssl");
    cmd.args(args).args(paths);
    if stdin.is_some() {
        cmd.stdin(std::process::Stdio::piped());
    }
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().map_err(err)?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).map_err(err)?;
    }
    let out = child.wait_with_output().map_err(err)?;
    if !out.status.success() {
        return Err(usage_error(
            "bench.openssl_failed",
            format!(
                "openssl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ),
        ));
    }
    Ok(())
}
