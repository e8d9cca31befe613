//! `commissioner ca`: the registry, revocation and the CRL as an operator uses them.

use std::process::Command;

use crate::commands::{commissioner, text};

#[test]
fn list_revoke_and_publish_a_crl() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    let out = commissioner(&station, &["demo"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let out = commissioner(&station, &["ca", "list", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    // The unit's, beside the lab's broker and backend.
    let row = rows
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["kind"] == "unit")
        .expect("the unit's certificate");
    // The lab's broker and backend are registered too (before issue 18 they were not: no
    // `ca list` showed them and no CRL could name them).
    for (kind, name) in [
        ("broker", "commissioner-lab-broker"),
        ("backend", "commissioner-backend"),
    ] {
        assert!(
            rows.as_array()
                .expect("rows")
                .iter()
                .any(|r| r["kind"] == kind && r["deviceId"] == name && r["status"] == "active"),
            "{rows}"
        );
    }
    assert_eq!(row["status"], "active");
    assert_eq!(row["keyOrigin"], "device");
    let serial = row["serial"].as_str().expect("serial").to_owned();
    let device = row["deviceId"].as_str().expect("device").to_owned();

    // Search by fingerprint prefix and by device id.
    let prefix = &row["sha256"].as_str().expect("sha")[..12];
    let out = commissioner(&station, &["ca", "list", "--search", prefix]);
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let header = table.lines().next().expect("header line");
    let line = table
        .lines()
        .find(|l| l.starts_with(&serial))
        .unwrap_or_else(|| panic!("no row for {serial}: {}", text(&out)));
    // Columns line up: the fingerprint starts under its heading.
    assert_eq!(line.find(prefix), header.find("sha-256"), "{table}");
    let out = commissioner(&station, &["ca", "list", "--device-id", "NOBODY", "--json"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");

    let out = commissioner(
        &station,
        &[
            "ca",
            "revoke",
            "--device-id",
            &device,
            "--reason",
            "key-compromise",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&serial), "{}", text(&out));
    let out = commissioner(&station, &["ca", "list", "--status", "revoked", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rows[0]["serial"], serial.as_str());
    assert_eq!(rows[0]["revocationReason"], "key-compromise");

    let out = commissioner(
        &station,
        &["ca", "revoke", "--serial", "ZZ", "--reason", "unspecified"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("error[revoke.bad_serial]"),
        "{}",
        text(&out)
    );

    let crl = dir.path().join("crl.pem");
    let out = commissioner(
        &station,
        &["ca", "crl", "--out", crl.to_str().expect("utf8")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let verify = Command::new("openssl")
        .args(["crl", "-noout", "-text", "-in"])
        .arg(&crl)
        .arg("-CAfile")
        .arg(station.join("ca/issuing.pem"))
        .output()
        .expect("openssl");
    let shown = text(&verify);
    assert!(
        verify.status.success() && shown.contains("verify OK"),
        "{shown}"
    );
    assert!(shown.contains(&serial), "{shown}");
}

#[test]
fn host_generated_key_needs_the_profile_and_is_recorded() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    let out = commissioner(&station, &["lab", "init"]);
    assert!(out.status.success(), "{}", text(&out));
    let bundle = dir.path().join("bundle");
    let args = [
        "ca",
        "issue-host-key",
        "--device-id",
        "UNIT-NOKEYGEN",
        "--out",
        bundle.to_str().expect("utf8"),
    ];
    let out = commissioner(&station, &args);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("error[policy.host_key_not_allowed]"),
        "{}",
        text(&out)
    );

    let toml_path = station.join("station.toml");
    let toml = std::fs::read_to_string(&toml_path).expect("toml");
    let toml = toml.replace(
        "allow_host_generated_key = false",
        "allow_host_generated_key = true",
    );
    std::fs::write(&toml_path, toml).expect("toml");
    let out = commissioner(&station, &args);
    assert!(out.status.success(), "{}", text(&out));
    let key = std::fs::read_to_string(bundle.join("device.key.pem")).expect("key");
    assert!(key.contains("PRIVATE KEY"));

    let out = commissioner(
        &station,
        &["ca", "list", "--json", "--device-id", "UNIT-NOKEYGEN"],
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rows[0]["keyOrigin"], "host");
    assert_eq!(rows[0]["status"], "active");
    // The key and certificate belong together and chain to the station's CA.
    let verify = Command::new("openssl")
        .args(["verify", "-x509_strict", "-purpose", "sslclient", "-CAfile"])
        .arg(station.join("ca/root.pem"))
        .arg("-untrusted")
        .arg(bundle.join("chain.pem"))
        .arg(bundle.join("device.pem"))
        .output()
        .expect("openssl");
    assert!(verify.status.success(), "{}", text(&verify));
    // A second run would overwrite a key: refused, and the unit already has a certificate.
    let out = commissioner(&station, &args);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn lab_reload_publishes_the_crl_to_the_running_broker() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    assert!(commissioner(&station, &["lab", "init"]).status.success());
    let out = commissioner(&station, &["lab", "reload"]);
    assert!(
        text(&out).contains("error[lab.not_running]"),
        "{}",
        text(&out)
    );
    let out = commissioner(&station, &["lab", "up"]);
    assert!(out.status.success(), "{}", text(&out));
    let conf = std::fs::read_to_string(station.join("lab/mosquitto.conf")).expect("conf");
    assert!(conf.contains("crlfile"), "{conf}");
    let out = commissioner(&station, &["lab", "reload"]);
    let down = commissioner(&station, &["lab", "down"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("CRL #2"), "{}", text(&out));
    assert!(down.status.success(), "{}", text(&down));
}

#[test]
fn ca_bench_runs_every_contestant() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = commissioner(
        &dir.path().join("unused"),
        &["ca", "bench", "--count", "3", "--softhsm"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    for row in ["in process", "journal row", "openssl x509 -req", "SoftHSM2"] {
        assert!(shown.contains(row), "{shown}");
    }
}

/// `openssl verify -crl_check_all` wants a CRL from every CA in the chain: the issuing CA's
/// (`ca crl`) and the root's (`ca root-crl`). The README's recipe, run as written.
#[test]
fn crl_check_all_with_the_root_crl() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    assert!(commissioner(&station, &["lab", "init"]).status.success());
    let toml_path = station.join("station.toml");
    let toml = std::fs::read_to_string(&toml_path).expect("toml");
    std::fs::write(
        &toml_path,
        toml.replace(
            "allow_host_generated_key = false",
            "allow_host_generated_key = true",
        ),
    )
    .expect("toml");
    let bundle = dir.path().join("bundle");
    let out = commissioner(
        &station,
        &[
            "ca",
            "issue-host-key",
            "--device-id",
            "UNIT-CRLALL",
            "--out",
            bundle.to_str().expect("utf8"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let (crl, root_crl) = (dir.path().join("crl.pem"), dir.path().join("root-crl.pem"));
    let publish = |args: &[&str]| {
        let out = commissioner(&station, args);
        assert!(out.status.success(), "{}", text(&out));
    };
    publish(&["ca", "crl", "--out", crl.to_str().expect("utf8")]);
    let check = |crls: &[&std::path::Path]| {
        let mut cmd = Command::new("openssl");
        cmd.args(["verify", "-crl_check_all", "-CAfile"])
            .arg(station.join("ca/root.pem"))
            .arg("-untrusted")
            .arg(station.join("ca/issuing.pem"));
        for c in crls {
            cmd.arg("-CRLfile").arg(c);
        }
        cmd.arg(bundle.join("device.pem"))
            .output()
            .expect("openssl")
    };
    // Before `ca root-crl` existed there was no CRL for the root: the check could not pass.
    let without_root = check(&[&crl]);
    assert!(!without_root.status.success(), "{}", text(&without_root));
    assert!(
        text(&without_root).contains("unable to get certificate CRL"),
        "{}",
        text(&without_root)
    );
    publish(&["ca", "root-crl", "--out", root_crl.to_str().expect("utf8")]);
    let ok = check(&[&crl, &root_crl]);
    assert!(ok.status.success(), "{}", text(&ok));
    let root_text = Command::new("openssl")
        .args(["crl", "-noout", "-text", "-in"])
        .arg(&root_crl)
        .arg("-CAfile")
        .arg(station.join("ca/root.pem"))
        .output()
        .expect("openssl");
    assert!(
        text(&root_text).contains("verify OK"),
        "{}",
        text(&root_text)
    );

    // Revoked: the same recipe says so.
    publish(&[
        "ca",
        "revoke",
        "--device-id",
        "UNIT-CRLALL",
        "--reason",
        "key-compromise",
    ]);
    publish(&["ca", "crl", "--out", crl.to_str().expect("utf8")]);
    let revoked = check(&[&crl, &root_crl]);
    assert!(!revoked.status.success(), "{}", text(&revoked));
    assert!(
        text(&revoked).contains("certificate revoked"),
        "{}",
        text(&revoked)
    );
}
