//! Nordic's own nrfcredstore and nrfcloud-utils, installed unchanged at pinned versions by
//! `scripts/python-peers.sh`, drive the nRF91 emulator: list, write, delete, key generation
//! and IMEI, on a raw AT UART and behind Zephyr's shell; and Nordic's whole installer script
//! (`device_credentials_installer`) provisions a unit end to end. What they read back is
//! checked here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use commissioner_devsim::nrf91::{ModemConfig, Nrf91Sim, Nrf91SimConfig};
use sha2::{Digest, Sha256};

/// The pinned venv of `scripts/python-peers.sh`, made on first use.
pub(crate) fn venv() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("bash")
        .arg(root.join("scripts/python-peers.sh"))
        .output()
        .expect("run scripts/python-peers.sh");
    assert!(
        out.status.success(),
        "python-peers.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn nrfcredstore(venv: &Path, sim: &Nrf91Sim, args: &[&str]) -> Output {
    let out = Command::new(venv.join("bin/nrfcredstore"))
        .env("COMMISSIONER_PTY_PORTS", sim.path())
        .arg(sim.path())
        .args(args)
        .output()
        .expect("run nrfcredstore");
    assert!(
        out.status.success(),
        "nrfcredstore {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBdzCCAR2gAwIBAgIUQ29tbWlzc2lvbmVyIHRlc3QgY2EwCgYIKoZIzj0EAwIw
-----END CERTIFICATE-----
";

fn drive(shell: bool) {
    let venv = venv();
    let sim = Nrf91Sim::spawn(Nrf91SimConfig {
        modem: ModemConfig {
            // An application left the modem active: the tool must take it offline itself.
            cfun: 1,
            ..ModemConfig::default()
        },
        shell,
        chatter: false,
        ..Nrf91SimConfig::default()
    })
    .expect("emulator");
    let dir = tempfile::tempdir().expect("temp dir");

    let imei = nrfcredstore(&venv, &sim, &["imei"]);
    assert!(stdout(&imei).contains(sim.imei()), "{}", stdout(&imei));

    let pem_path = dir.path().join("ca.pem");
    std::fs::write(&pem_path, PEM).expect("pem");
    let pem_arg = pem_path.to_string_lossy().into_owned();
    nrfcredstore(&venv, &sim, &["write", "4242", "ROOT_CA_CERT", &pem_arg]);
    let listed = stdout(&nrfcredstore(&venv, &sim, &["list", "--tag", "4242"]));
    // The modem lists the SHA-256 of the text as written: the file without trailing space.
    let sha = hex::encode_upper(Sha256::digest(PEM.trim_end().as_bytes()));
    assert!(
        listed.contains("4242") && listed.contains("ROOT_CA_CERT") && listed.contains(&sha),
        "{listed}"
    );

    let csr_path = dir.path().join("csr.der");
    let csr_arg = csr_path.to_string_lossy().into_owned();
    nrfcredstore(&venv, &sim, &["generate", "4243", &csr_arg]);
    let verify = Command::new("openssl")
        .args([
            "req", "-inform", "DER", "-in", &csr_arg, "-verify", "-noout", "-subject",
        ])
        .output()
        .expect("openssl");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(verify.status.success(), "openssl req -verify: {said}");
    assert!(
        said.contains(sim.uuid()),
        "the CSR names the device UUID: {said}"
    );
    let listed = stdout(&nrfcredstore(&venv, &sim, &["list"]));
    assert!(
        listed.contains("4243") && listed.contains("CLIENT_KEY"),
        "{listed}"
    );

    nrfcredstore(&venv, &sim, &["delete", "4242", "ROOT_CA_CERT"]);
    let listed = stdout(&nrfcredstore(&venv, &sim, &["list", "--tag", "4242"]));
    assert!(!listed.contains(&sha), "deleted, yet listed: {listed}");
    // The tool leaves the modem offline, as it does on real hardware.
    assert_eq!(sim.cfun(), 4);
}

#[test]
fn nrfcredstore_drives_the_emulator_on_a_raw_at_uart() {
    drive(false);
}

#[test]
fn nrfcredstore_drives_the_emulator_behind_zephyrs_shell() {
    drive(true);
}

/// Nordic's installer script, as a factory runs it today with its own CA: CFUN=4, IMEI,
/// firmware check, %KEYGEN with the COSE digest checked by Nordic's parser, the certificate
/// signed by the tool, written with CR LF line endings, and verified by SHA-256.
#[test]
fn nordics_installer_script_provisions_the_emulator() {
    let venv = venv();
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca_key, ca_pem, csv) = (
        dir.path().join("ca.key"),
        dir.path().join("ca.pem"),
        dir.path().join("onboard.csv"),
    );
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let path = |p: &Path| p.to_str().expect("utf-8 path").to_owned();
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &path(&ca_key),
    ]);
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &path(&ca_key),
        "-subj",
        "/CN=Factory CA",
        "-days",
        "30",
        "-out",
        &path(&ca_pem),
    ]);
    let sim = Nrf91Sim::spawn(Nrf91SimConfig {
        modem: ModemConfig {
            cfun: 1,
            ..ModemConfig::default()
        },
        ..Nrf91SimConfig::default()
    })
    .expect("emulator");
    let out = Command::new(venv.join("bin/device_credentials_installer"))
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
            "--sectag",
            "42",
            "--ca",
            &path(&ca_pem),
            "--ca-key",
            &path(&ca_key),
        ])
        .args(["--csv", &path(&csv)])
        .output()
        .expect("run device_credentials_installer");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    assert!(log.contains("COSE digest matches payload"), "{log}");
    assert!(log.contains("Credential verification: PASS"), "{log}");
    assert_eq!(sim.cfun(), 4, "the installer leaves the modem offline");

    // The onboarding CSV: the device UUID the modem attested, and a certificate for it that
    // chains to the factory CA.
    let text = std::fs::read_to_string(&csv).expect("csv");
    assert!(text.starts_with(sim.uuid()), "{text}");
    let begin = text
        .find("-----BEGIN CERTIFICATE-----")
        .expect("certificate");
    let end = text.find("-----END CERTIFICATE-----").expect("end") + 25;
    let cert = dir.path().join("device.pem");
    std::fs::write(&cert, text[begin..end].replace("\r\n", "\n")).expect("write");
    let out = Command::new("openssl")
        .args(["verify", "-CAfile", &path(&ca_pem), &path(&cert)])
        .output()
        .expect("openssl verify");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
