//! `ca init` and `ca import` from an operator's point of view: the root key written once and
//! encrypted, an openssl-made issuing CA imported from plain and encrypted PKCS#8, and units
//! commissioned with it.

use std::path::Path;
use std::process::Command;

use commissioner_core::journal::Journal;

use crate::commands::{commissioner, text, PASSPHRASE};

fn sh(dir: &Path, script: &str) {
    let out = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("sh");
    assert!(out.status.success(), "{script}\n{}", text(&out));
}

#[test]
fn ca_init_writes_the_root_key_once_encrypted_and_commissions() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    let out = commissioner(
        &station,
        &["ca", "init", "--lab", "--organization", "Acme Lab"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Move it offline"), "{}", text(&out));
    let root_key = std::fs::read_to_string(station.join("ca/root.key.pem")).expect("root key");
    assert!(root_key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let issuing_key = std::fs::read_to_string(station.join("ca/issuing.key.pem")).expect("key");
    assert!(issuing_key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));

    let again = commissioner(&station, &["ca", "init", "--lab"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again).contains("error[ca.exists]"),
        "{}",
        text(&again)
    );
    // The root key was not rewritten.
    assert_eq!(
        std::fs::read_to_string(station.join("ca/root.key.pem")).expect("root key"),
        root_key
    );

    let out = commissioner(&station, &["demo"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// An issuing CA made by openssl, as a factory PKI would hand it over.
fn openssl_ca(dir: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/openssl-ca.sh");
    sh(dir, &format!("sh '{}' .", script.display()));
}

#[test]
fn ca_import_from_plain_and_encrypted_pkcs8_stores_the_key_encrypted() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    openssl_ca(d);
    let station = d.join("station");
    let path = |name: &str| d.join(name).display().to_string();
    let (cert, root) = (path("issuing.pem"), path("root.pem"));

    // A lab station first, so that `demo` runs; its lab CA is replaced by the import.
    let out = commissioner(&station, &["lab", "init"]);
    assert!(out.status.success(), "{}", text(&out));
    let args = ["ca", "import", "--cert", &cert, "--root", &root];
    let plain = path("issuing.key");
    let out = commissioner(&station, &[&args[..], &["--key", &plain]].concat());
    assert_eq!(
        out.status.code(),
        Some(2),
        "an existing CA is never silently replaced"
    );
    assert!(text(&out).contains("error[ca.exists]"), "{}", text(&out));

    let out = commissioner(
        &station,
        &[&args[..], &["--key", &plain, "--replace"]].concat(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("shred -u"), "{}", text(&out));
    let stored = std::fs::read_to_string(station.join("ca/issuing.key.pem")).expect("key");
    assert!(stored.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));

    // The same CA from encrypted PKCS#8: the wrong transport passphrase is refused.
    let enc = path("issuing.enc.pem");
    let with_pass = |pass: &str| {
        Command::new(env!("CARGO_BIN_EXE_commissioner"))
            .arg("--station")
            .arg(&station)
            .args(args)
            .args([
                "--key",
                &enc,
                "--key-passphrase-env",
                "KEY_PASS",
                "--replace",
            ])
            .env("COMMISSIONER_CA_PASSPHRASE", PASSPHRASE)
            .env("KEY_PASS", pass)
            .output()
            .expect("run")
    };
    let out = with_pass("wrong");
    assert!(
        text(&out).contains("error[ca.bad_passphrase]"),
        "{}",
        text(&out)
    );
    let out = with_pass("transport");
    assert!(out.status.success(), "{}", text(&out));

    // A key that belongs to another certificate is refused.
    let out = commissioner(
        &station,
        &[&args[..], &["--key", &path("root.key"), "--replace"]].concat(),
    );
    assert!(
        text(&out).contains("error[ca.key_mismatch]"),
        "{}",
        text(&out)
    );

    // Units are commissioned under the imported CA, and openssl agrees with the chain.
    let out = commissioner(&station, &["demo"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let journal = Journal::open(&station.join("journal.sqlite")).expect("journal");
    // The unit's session, after the lab's broker and backend identities.
    let first: i64 = journal
        .connection()
        .query_row(
            "SELECT min(id) FROM sessions WHERE port != 'service-identity'",
            [],
            |r| r.get(0),
        )
        .expect("the unit's session");
    let cert = &journal.certificates_for_session(first).expect("certs")[0];
    std::fs::write(d.join("unit.pem"), &cert.pem).expect("write");
    sh(
        d,
        "openssl verify -x509_strict -purpose sslclient -CAfile root.pem -untrusted issuing.pem unit.pem",
    );
}

#[test]
fn softhsm_station_commissions_a_unit_end_to_end() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    std::fs::create_dir_all(d.join("tokens")).expect("tokens");
    let conf = d.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\n",
            d.join("tokens").display()
        ),
    )
    .expect("conf");
    let pin = "cli-hsm-pin-4321";
    let module = "/usr/lib/softhsm/libsofthsm2.so";
    let run = |program: &str, args: &[&str]| {
        let out = Command::new(program)
            .args(args)
            .env("SOFTHSM2_CONF", &conf)
            .env("COMMISSIONER_CA_PASSPHRASE", pin)
            .output()
            .expect(program);
        (out.status.success(), text(&out))
    };
    let (ok, out) = run(
        "softhsm2-util",
        &[
            "--init-token",
            "--free",
            "--label",
            "line-ca",
            "--so-pin",
            "so-9876",
            "--pin",
            pin,
        ],
    );
    assert!(ok, "{out}");
    // The key is made by another tool (OpenSC), as a factory would.
    let (ok, out) = run(
        "pkcs11-tool",
        &[
            "--module",
            module,
            "--login",
            "--pin",
            pin,
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--label",
            "issuing",
            "--id",
            "01",
        ],
    );
    assert!(ok, "{out}");

    let station = d.join("station").display().to_string();
    let uri = format!("pkcs11:token=line-ca;object=issuing?module-path={module}");
    let bin = env!("CARGO_BIN_EXE_commissioner");
    let (ok, out) = run(
        bin,
        &[
            "--station",
            &station,
            "ca",
            "init",
            "--lab",
            "--issuing-key-uri",
            &uri,
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("key: pkcs11:token=line-ca"), "{out}");
    assert!(!d.join("station/ca/issuing.key.pem").exists());
    // The export key is made at CA setup, encrypted under the token's PIN (the station's
    // passphrase here), and pinned.
    assert!(out.contains("export key  "), "{out}");
    sh(
        d,
        &format!("openssl pkey -in station/keys/export-signing.key.pem -passin pass:{pin} -noout"),
    );

    let (ok, out) = run(bin, &["--station", &station, "demo"]);
    assert!(ok && out.starts_with("PASS"), "{out}");
    let journal = Journal::open(&d.join("station/journal.sqlite")).expect("journal");
    // The unit's session, after the lab's broker and backend identities.
    let first: i64 = journal
        .connection()
        .query_row(
            "SELECT min(id) FROM sessions WHERE port != 'service-identity'",
            [],
            |r| r.get(0),
        )
        .expect("the unit's session");
    let cert = &journal.certificates_for_session(first).expect("certs")[0];
    std::fs::write(d.join("unit.pem"), &cert.pem).expect("write");
    sh(
        d,
        "openssl verify -x509_strict -purpose sslclient -CAfile station/ca/root.pem \
         -untrusted station/ca/issuing.pem unit.pem",
    );
}

#[test]
fn an_offline_root_key_has_its_own_passphrase_and_never_touches_the_station() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    let media = dir.path().join("usb");
    std::fs::create_dir(&media).expect("media");
    let root_out = media.join("root.key.pem");
    let init = |root_pass: &str| {
        Command::new(env!("CARGO_BIN_EXE_commissioner"))
            .arg("--station")
            .arg(&station)
            .args(["ca", "init", "--lab", "--root-key-out"])
            .arg(&root_out)
            .env("COMMISSIONER_CA_PASSPHRASE", PASSPHRASE)
            .env("COMMISSIONER_ROOT_PASSPHRASE", root_pass)
            .output()
            .expect("run")
    };
    // The station's passphrase again is refused: it is typed at the line every day.
    let out = init(PASSPHRASE);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("error[ca.root_passphrase_reused]"),
        "{}",
        text(&out)
    );
    assert!(!root_out.exists());

    let out = init("root-only-passphrase");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !station.join("ca/root.key.pem").exists(),
        "a root key on the station"
    );
    // openssl opens the root key with its own passphrase, not with the station's.
    let opens = |pass: &str| {
        Command::new("openssl")
            .args(["pkey", "-noout", "-in"])
            .arg(&root_out)
            .args(["-passin", &format!("pass:{pass}")])
            .status()
            .expect("openssl")
            .success()
    };
    assert!(opens("root-only-passphrase"));
    assert!(!opens(PASSPHRASE));
    // The station commissions with its issuing key alone.
    let out = commissioner(&station, &["demo"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// Issue 18: `ca init` made every new station a lab station with its root key in `ca/` under
/// the station passphrase. A station that is not a lab's now gets the root key written once
/// to the admin's path with its own passphrase, and keeps only the issuing key.
#[test]
fn a_new_production_station_keeps_its_root_key_offline() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    let out = commissioner(&station, &["ca", "init", "--organization", "Acme"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--root-key-out"), "{}", text(&out));
    assert!(!station.join("ca").exists(), "nothing made");

    let root_out = dir.path().join("root.key.pem");
    let out = Command::new(env!("CARGO_BIN_EXE_commissioner"))
        .arg("--station")
        .arg(&station)
        .args(["ca", "init", "--organization", "Acme", "--root-key-out"])
        .arg(&root_out)
        .env("COMMISSIONER_CA_PASSPHRASE", PASSPHRASE)
        .env("COMMISSIONER_ROOT_PASSPHRASE", "root-only-passphrase")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out));
    assert!(root_out.exists());
    assert!(!station.join("ca/root.key.pem").exists());
    assert!(station.join("ca/issuing.key.pem").exists());
    let config = std::fs::read_to_string(station.join("station.toml")).expect("profile");
    assert!(config.contains("lab = false"), "{config}");
}
