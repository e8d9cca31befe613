//! AWS's own device SDK (awsiotsdk, pinned in scripts/python-peers.sh), unchanged, obtains its
//! operational certificate over the real mosquitto from the aws-fleet responder, connected with
//! a bootstrap certificate the station issued; and the station's own exchange puts the same
//! requests on the wire, witnessed by mosquitto_sub.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use commissioner_core::lab::{self, free_port, inband, LabFiles};
use commissioner_core::mqtt::inband::{aws_fleet_exchange, FleetRequest, InbandConnection};
use commissioner_core::mqtt::responder::Responder;
use commissioner_core::mqtt::tls::install_crypto_provider;
use commissioner_core::pki::{cert_pem, IssuedCert};
use serde_json::Value;

use crate::fixture::{station, LabStation};
use crate::inband_fleet::{backend, bootstrap_identity, csr_pem};
use crate::sniff::{json_keys, sniff, topic_shape};

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

/// Runs the vendor SDK driver `scripts/peers/<script>` connected to the broker on `port` as
/// `boot` (its key PEM beside it), with `args` after the connection ones, while mosquitto_sub
/// witnesses `filters`. Returns its output and the requests it put on the wire.
pub(crate) fn run_sdk(
    s: &LabStation,
    script: &str,
    (port, files, filters): (u16, &LabFiles, &[&str]),
    (boot, key): (&IssuedCert, &str),
    args: &[&OsStr],
) -> (Output, Vec<(String, String)>) {
    let dir = tempfile::tempdir().expect("tmp");
    let chain = dir.path().join("boot.pem");
    std::fs::write(
        &chain,
        format!("{}{}", boot.pem, cert_pem(s.ca.issuing_der())),
    )
    .expect("w");
    let key_path = dir.path().join("boot.key");
    std::fs::write(&key_path, key).expect("w");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/peers")
        .join(script);
    let python = venv().join("bin/python");
    let mut out = None;
    let wire = sniff(port, files, filters, || {
        out = Some(
            Command::new(python)
                .arg(script)
                .args(["127.0.0.1", &port.to_string()])
                .args([&chain, &key_path, &files.cafile])
                .args(args)
                .output()
                .expect("run the SDK"),
        );
    });
    (out.expect("the SDK ran"), wire)
}

#[test]
fn awsiotsdk_obtains_its_operational_certificate_from_the_fleet_responder() {
    install_crypto_provider();
    let mut s = station();
    let port = free_port().expect("port");
    let unit = "unit-sdk-1";
    s.station.config.provisioning.dialect = "aws-fleet".into();
    s.station.config.provisioning.template = "line-1".into();
    let station_unit = "unit-station-1";
    let (files, broker) = inband::vendor_sdk_broker(
        &mut s.station,
        &s.ca,
        port,
        &[unit.to_owned(), format!("bootstrap-{station_unit}")],
    )
    .expect("broker");
    let tls = lab::backend_tls(&files, s.ca.root_der()).expect("backend tls");
    let _responder =
        Responder::start_dialect(lab::responder_config(port), tls, Box::new(backend(&s)))
            .expect("responder");

    let (boot, key) = bootstrap_identity(&s, unit);
    let dir = tempfile::tempdir().expect("tmp");
    let csr = dir.path().join("unit.csr");
    std::fs::write(&csr, csr_pem(unit)).expect("w");
    let filters = [
        "$aws/certificates/create-from-csr/json",
        "$aws/provisioning-templates/+/provision/json",
    ];
    let (out, sdk_wire) = run_sdk(
        &s,
        "aws_fleet_sdk.py",
        (port, &files, &filters),
        (&boot, &key),
        &[
            unit.as_ref(),
            csr.as_os_str(),
            "line-1".as_ref(),
            unit.as_ref(),
        ],
    );
    // The station's exchange for another unit, on the same broker and responder.
    let (_, tls) = crate::inband_station::host_bootstrap(&s, station_unit);
    let station_wire = sniff(port, &files, &filters, || {
        aws_fleet_exchange(
            &InbandConnection {
                host: "127.0.0.1".into(),
                port,
                client_id: format!("bootstrap-{station_unit}"),
                timeout: Duration::from_secs(10),
            },
            &FleetRequest {
                template: "line-1".into(),
                csr_pem: csr_pem(station_unit),
                parameters: BTreeMap::from([("SerialNumber".into(), station_unit.into())]),
            },
            tls,
        )
        .expect("the station's exchange");
    });
    drop(broker);
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
    // Same topics, same fields, in the same order: the station speaks as AWS's SDK does.
    let shape = |wire: &[(String, String)]| -> Vec<(String, Vec<String>)> {
        wire.iter()
            .map(|(t, p)| (topic_shape(t), json_keys(p)))
            .collect()
    };
    assert_eq!(sdk_wire.len(), 2, "{sdk_wire:?}");
    assert_eq!(shape(&station_wire), shape(&sdk_wire));
}
