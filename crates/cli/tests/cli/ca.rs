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
    let row = &rows[0];
    assert_eq!(row["status"], "active");
    assert_eq!(row["keyOrigin"], "device");
    let serial = row["serial"].as_str().expect("serial").to_owned();
    let device = row["deviceId"].as_str().expect("device").to_owned();

    // Search by fingerprint prefix and by device id.
    let prefix = &row["sha256"].as_str().expect("sha")[..12];
    let out = commissioner(&station, &["ca", "list", "--search", prefix]);
    assert!(text(&out).contains(&serial), "{}", text(&out));
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
