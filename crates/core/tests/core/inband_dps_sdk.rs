//! Microsoft's own device SDK (azure-iot-device, pinned in scripts/python-peers.sh), unchanged,
//! registers over the real mosquitto with the azure-dps responder, connected with a bootstrap
//! certificate the station issued, and is assigned its hub and device id; and the station's own
//! DPS exchange puts the same requests on the wire (plus the CSR of certificate issuance),
//! witnessed by mosquitto_sub.

use std::time::Duration;

use commissioner_core::lab::{self, free_port, inband};
use commissioner_core::mqtt::inband::{azure_dps_exchange, DpsRequest, InbandConnection};
use commissioner_core::mqtt::responder::dps::{DpsAllocation, DpsBackend};
use commissioner_core::mqtt::responder::Responder;
use commissioner_core::mqtt::tls::install_crypto_provider;
use serde_json::{json, Value};

use crate::fixture::{station, PASSPHRASE};
use crate::inband_fleet::bootstrap_identity_named;
use crate::inband_fleet_sdk::run_sdk;
use crate::sniff::{json_keys, sniff, topic_shape};

#[test]
fn azure_iot_device_registers_with_the_dps_responder() {
    install_crypto_provider();
    let mut s = station();
    let port = free_port().expect("port");
    let unit = "unit-azure-1";
    let registration_id = format!("bootstrap-{unit}");
    s.station.config.provisioning.dialect = "azure-dps".into();
    // The SDK speaks TLS 1.2 only (ssl.PROTOCOL_TLSv1_2): this broker lets 1.2 in.
    let station_unit = "unit-station-2";
    let station_registration = format!("bootstrap-{station_unit}");
    let (files, broker) = inband::vendor_sdk_broker(
        &mut s.station,
        &s.ca,
        port,
        &[registration_id.clone(), station_registration.clone()],
    )
    .expect("broker");
    let config = std::fs::read_to_string(&files.config).expect("config");
    assert!(config.contains("tls_version tlsv1.2"), "{config}");
    let tls = lab::backend_tls(&files, s.ca.root_der()).expect("backend tls");
    let backend = DpsBackend::new(
        s.station.clone(),
        s.station.unlock_ca(PASSPHRASE).expect("unlock"),
        DpsAllocation {
            assigned_hub: "hub.sdk.lab".into(),
            payload: Some(json!({"line": "L1"})),
            retry_after_secs: 1,
        },
    )
    .expect("backend");
    let _responder = Responder::start_dialect(lab::responder_config(port), tls, Box::new(backend))
        .expect("responder");

    let (boot, key) = bootstrap_identity_named(&s, unit, &registration_id);
    let filters = [
        "$dps/registrations/PUT/iotdps-register/+",
        "$dps/registrations/GET/iotdps-get-operationstatus/+",
    ];
    let (out, sdk_wire) = run_sdk(
        &s,
        "azure_dps_sdk.py",
        (port, &files, &filters),
        (&boot, &key),
        &[registration_id.as_ref(), "0ne0sdk".as_ref()],
    );
    // The station's exchange for another unit, on the same broker and responder.
    let (_, tls) = crate::inband_station::host_bootstrap(&s, station_unit);
    let station_wire = sniff(port, &files, &filters, || {
        azure_dps_exchange(
            &InbandConnection {
                host: "127.0.0.1".into(),
                port,
                client_id: station_registration.clone(),
                timeout: Duration::from_secs(10),
            },
            &DpsRequest {
                id_scope: "0ne0sdk".into(),
                csr_der: crate::inband_dps::csr_der(station_unit),
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
    assert_eq!(result["status"], "assigned");
    assert_eq!(result["device_id"], unit);
    assert_eq!(result["assigned_hub"], "hub.sdk.lab");
    // The SDK hands the allocation's payload back as JSON text.
    let handed: Value = serde_json::from_str(result["response_payload"].as_str().expect("text"))
        .expect("payload JSON");
    assert_eq!(handed, json!({"line": "L1"}));
    assert!(result["operation_id"]
        .as_str()
        .is_some_and(|op| op.starts_with("4.")));
    // The same topics and fields in the same order; the station's registration adds only
    // certificate issuance's `csr`.
    let shape = |wire: &[(String, String)]| -> Vec<(String, Vec<String>)> {
        wire.iter()
            .map(|(t, p)| {
                let keys = json_keys(p).into_iter().filter(|k| k != "csr").collect();
                (topic_shape(t), keys)
            })
            .collect()
    };
    assert!(sdk_wire.len() >= 2, "{sdk_wire:?}");
    assert_eq!(shape(&station_wire), shape(&sdk_wire));
    assert!(json_keys(&station_wire[0].1).contains(&"csr".to_owned()));
}
