//! The simulator's flash across runs, and the operations beyond commissioning: set_config,
//! reboot and the authorised unlock, driven by the station's driver over a pty.

use std::time::Duration;

use commissioner_core::device::protocol::{unlock_message, DeviceConfig, Lifecycle, Slot};
use commissioner_core::device::{open_serial, SerialDriver, Timeouts};
use commissioner_core::error::Coded;
use commissioner_devsim::{Delays, SimConfig, SimDevice};
use rcgen::{CertificateParams, IsCa, KeyPair, SigningKey};

fn open(sim: &SimDevice) -> SerialDriver {
    open_serial(sim.path(), 115_200, Timeouts::default()).expect("open pty")
}

#[test]
fn a_stored_unit_keeps_its_identity_key_and_lifecycle_across_runs() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("unit-1.json");
    let cfg = || SimConfig {
        store: Some(store.clone()),
        ..SimConfig::default()
    };
    let (id, csr) = {
        let sim = SimDevice::spawn(cfg()).expect("sim");
        let mut driver = open(&sim);
        driver.hello().expect("hello");
        let csr = driver.keygen().expect("keygen");
        driver
            .write_cert(Slot::Chain, b"chain certificate")
            .expect("write");
        (sim.device_id().to_owned(), csr)
    };
    // A new simulator process on the same store: the same unit, as it was left.
    let sim = SimDevice::spawn(cfg()).expect("sim again");
    assert_eq!(sim.device_id(), id);
    let mut driver = open(&sim);
    let hello = driver.hello().expect("hello");
    assert_eq!(hello.state, Lifecycle::Keyed);
    let digest = driver.read_cert(Slot::Chain).expect("slot survived");
    assert_eq!(digest.len, b"chain certificate".len());
    // The key survived too: its proof of possession verifies against the first CSR's key.
    let nonce = [7u8; 32];
    let sig = driver.challenge(&nonce).expect("challenge");
    let spki = commissioner_core::pki::csr::validate(&csr, &id).expect("csr");
    let point = &spki.spki_der[spki.spki_der.len() - 65..];
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
        point,
    )
    .verify(
        &commissioner_core::device::protocol::pop_message(&nonce),
        &sig,
    )
    .expect("same key as before the restart");
}

#[test]
fn set_config_and_an_ordered_reboot_are_not_an_interruption() {
    let sim = SimDevice::spawn(SimConfig {
        // Paced like a real UART and with slow flash; nothing may time out because of it.
        baud: Some(57_600),
        delays: Delays {
            keygen: Duration::from_millis(50),
            flash_write: Duration::from_millis(10),
            ..Delays::default()
        },
        ..SimConfig::default()
    })
    .expect("sim");
    let mut driver = open(&sim);
    driver.hello().expect("hello");
    let config = DeviceConfig {
        broker_host: "mqtt.example.com".into(),
        broker_port: 8883,
        request_topic: format!("provisioning/{}/request", sim.device_id()),
        response_topic: format!("provisioning/{}/response", sim.device_id()),
    };
    driver.set_config(&config).expect("set_config");
    driver.keygen().expect("keygen");
    driver.reboot().expect("reboot");
    let hello = driver.hello().expect("hello after reboot");
    assert_eq!(hello.state, Lifecycle::Keyed);
    assert!(driver
        .take_log()
        .iter()
        .any(|l| l.contains("config: broker")));

    let bad = DeviceConfig {
        broker_host: String::new(),
        ..config
    };
    let err = driver.set_config(&bad).expect_err("empty host");
    assert!(err.to_string().contains("bad_request"), "{err}");
}

#[test]
fn only_the_factory_ca_unlocks_a_locked_unit() {
    let ca_key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec![]).expect("params");
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = params.self_signed(&ca_key).expect("ca");

    let sim = SimDevice::spawn(SimConfig::default()).expect("sim");
    let id = sim.device_id().to_owned();
    let mut driver = open(&sim);
    driver.hello().expect("hello");
    driver.keygen().expect("keygen");
    driver
        .write_cert(Slot::Chain, ca_cert.der())
        .expect("chain");
    driver
        .write_cert(Slot::Device, b"device cert")
        .expect("device");
    driver.lock().expect("lock");
    assert_eq!(driver.keygen().expect_err("locked").code(), "device.locked");

    // A key that is not the factory CA's: refused, and the nonce is spent.
    let nonce = driver.unlock_begin().expect("nonce");
    let intruder = KeyPair::generate().expect("key");
    let sig = intruder.sign(&unlock_message(&id, &nonce)).expect("sign");
    let err = driver.unlock(&sig).expect_err("not the factory CA");
    assert!(err.to_string().contains("bad_signature"), "{err}");
    let sig = ca_key.sign(&unlock_message(&id, &nonce)).expect("sign");
    let err = driver.unlock(&sig).expect_err("nonce spent");
    assert!(err.to_string().contains("bad_state"), "{err}");

    // Signed for another unit: refused.
    let nonce = driver.unlock_begin().expect("nonce");
    let sig = ca_key
        .sign(&unlock_message("SOMEONE-ELSE", &nonce))
        .expect("sign");
    assert!(driver.unlock(&sig).is_err());

    let nonce = driver.unlock_begin().expect("nonce");
    let sig = ca_key.sign(&unlock_message(&id, &nonce)).expect("sign");
    assert_eq!(driver.unlock(&sig).expect("unlock").state, Lifecycle::Keyed);
    driver.keygen().expect("keygen allowed again");
}

#[test]
fn an_injected_key_is_the_one_the_unit_signs_with() {
    let sim = SimDevice::spawn(SimConfig::default()).expect("sim");
    let mut driver = open(&sim);
    driver.hello().expect("hello");
    let host_key = KeyPair::generate().expect("key");
    let ack = driver
        .inject_key(&host_key.serialize_der())
        .expect("inject");
    assert_eq!(ack.state, Lifecycle::Keyed);
    let nonce = [9u8; 16];
    let sig = driver.challenge(&nonce).expect("challenge");
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
        host_key.public_key_raw(),
    )
    .verify(
        &commissioner_core::device::protocol::pop_message(&nonce),
        &sig,
    )
    .expect("signed with the injected key");

    let p384 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("key");
    let err = driver.inject_key(&p384.serialize_der()).expect_err("p-384");
    assert!(err.to_string().contains("unsupported"), "{err}");
}
