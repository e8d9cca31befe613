//! AWS's own device SDK (awsiotsdk, pinned in scripts/python-peers.sh), unchanged, obtains its
//! operational certificate over the real mosquitto from the aws-fleet responder, connected with
//! a bootstrap certificate the station issued.

use std::path::PathBuf;
use std::process::Command;

use commissioner_core::lab::{self, free_port, inband};
use commissioner_core::mqtt::responder::Responder;
use commissioner_core::mqtt::tls::install_crypto_provider;
use commissioner_core::pki::cert_pem;
use serde_json::Value;

use crate::fixture::station;
use crate::inband_fleet::{backend, bootstrap_identity, csr_pem};

pub(crate) fn venv() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("bash")
        .arg(root.join("scripts/python-peers.sh"))
        .output()
        .expect("run scripts/python-peers.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

#[test]
fn awsiotsdk_obtains_its_operational_certificate_from_the_fleet_responder() {
    install_crypto_provider();
    let mut s = station();
    let port = free_port().expect("port");
    let unit = "unit-sdk-1";
    s.station.config.provisioning.dialect = "aws-fleet".into();
    s.station.config.provisioning.template = "line-1".into();
    let (files, mut broker) =
        inband::vendor_sdk_broker(&mut s.station, &s.ca, port, &[unit.to_owned()]).expect("broker");
    let tls = lab::backend_tls(&files, s.ca.root_der()).expect("backend tls");
    let _responder =
        Responder::start_dialect(lab::responder_config(port), tls, Box::new(backend(&s)))
            .expect("responder");

    let (boot, key) = bootstrap_identity(&s, unit);
    let dir = tempfile::tempdir().expect("tmp");
    let chain = dir.path().join("boot.pem");
    std::fs::write(
        &chain,
        format!("{}{}", boot.pem, cert_pem(s.ca.issuing_der())),
    )
    .expect("w");
    let key_path = dir.path().join("boot.key");
    std::fs::write(&key_path, key).expect("w");
    let csr = dir.path().join("unit.csr");
    std::fs::write(&csr, csr_pem(unit)).expect("w");
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/peers/aws_fleet_sdk.py");
    let out = Command::new(venv().join("bin/python"))
        .arg(script)
        .args(["127.0.0.1", &port.to_string()])
        .args([&chain, &key_path, &files.cafile])
        .args([unit])
        .arg(&csr)
        .args(["line-1", unit])
        .output()
        .expect("run the SDK");
    let _ = broker.kill();
    let _ = broker.wait();
    assert!(
        out.status.success(),
        "SDK failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).expect("SDK output");
    let created = &result["created"];
    assert!(created["certificate_pem"]
        .as_str()
        .is_some_and(|p| p.starts_with("-----BEGIN CERTIFICATE-----")));
    assert_eq!(result["registered"]["thing_name"], unit);
    assert_eq!(
        result["registered"]["device_configuration"]["Fleet"],
        "line-1"
    );
}
