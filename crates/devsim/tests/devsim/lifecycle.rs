//! The simulator's flash across runs, and the operations beyond commissioning: set_config,
//! reboot and the authorised unlock, driven by the station's driver over a pty.

use std::time::Duration;

use commissioner_core::device::protocol::{unlock_message, DeviceConfig, Lifecycle, Slot};
use commissioner_core::device::{open_serial, SerialDriver, Timeouts};
use commissioner_core::error::Coded;
use commissioner_core::pki::unlock::{UNLOCK_EKU, UNLOCK_OU};
use commissioner_devsim::{Delays, SimConfig, SimDevice};
use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SigningKey,
};

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

/// A factory CA: its key and its certificate (DER).
fn factory_ca() -> (KeyPair, Vec<u8>, CertificateParams) {
    let ca_key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec![]).expect("params");
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = params.self_signed(&ca_key).expect("ca");
    (ca_key, ca_cert.der().to_vec(), params)
}

/// A locked unit whose chain slot holds `ca_der`.
fn locked_unit(cfg: SimConfig, ca_der: &[u8]) -> (SimDevice, SerialDriver) {
    let sim = SimDevice::spawn(cfg).expect("sim");
    let mut driver = open(&sim);
    driver.hello().expect("hello");
    driver.keygen().expect("keygen");
    driver.write_cert(Slot::Chain, ca_der).expect("chain");
    driver
        .write_cert(Slot::Device, b"device cert")
        .expect("device");
    driver.lock().expect("lock");
    (sim, driver)
}

/// An unlock authority certificate issued by `ca`, with `ou` and `eku`, valid from `days_from`
/// for `days` days; and its key.
fn authority(
    ca: (&KeyPair, &CertificateParams),
    ou: &str,
    eku: ExtendedKeyUsagePurpose,
    days_from: i64,
    days: i64,
) -> (KeyPair, Vec<u8>) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec![]).expect("params");
    params
        .distinguished_name
        .push(DnType::OrganizationalUnitName, ou);
    params.extended_key_usages = vec![eku];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(days_from);
    params.not_after = params.not_before + time::Duration::days(days);
    let issuer = Issuer::from_params(ca.1, ca.0);
    let cert = params.signed_by(&key, &issuer).expect("authority");
    (key, cert.der().to_vec())
}

#[test]
fn a_current_unit_takes_unlocks_from_the_unlock_authority_only() {
    let (ca_key, ca_der, ca_params) = factory_ca();
    let (_sim, mut driver) = locked_unit(SimConfig::default(), &ca_der);
    let hello = driver.hello().expect("hello");
    assert!(hello.caps.iter().any(|c| c == "unlock_authority"));
    let id = hello.device_id;
    let unlock_eku = || ExtendedKeyUsagePurpose::Other(UNLOCK_EKU.to_vec());

    // The factory CA's own signature, without an authority: refused.
    let nonce = driver.unlock_begin().expect("nonce");
    let sig = ca_key.sign(&unlock_message(&id, &nonce)).expect("sign");
    let err = driver.unlock(&sig, None).expect_err("no authority");
    assert!(err.to_string().contains("bad_signature"), "{err}");

    // Authorities the unit must not take: another CA's, the wrong OU, a client certificate,
    // an expired one.
    let (other_key, _, other_params) = factory_ca();
    let refused = [
        authority((&other_key, &other_params), UNLOCK_OU, unlock_eku(), -1, 2),
        authority(
            (&ca_key, &ca_params),
            "Commissioner service identity",
            unlock_eku(),
            -1,
            2,
        ),
        authority(
            (&ca_key, &ca_params),
            UNLOCK_OU,
            ExtendedKeyUsagePurpose::ClientAuth,
            -1,
            2,
        ),
        authority((&ca_key, &ca_params), UNLOCK_OU, unlock_eku(), -3, 1),
    ];
    for (key, der) in &refused {
        let nonce = driver.unlock_begin().expect("nonce");
        let sig = key.sign(&unlock_message(&id, &nonce)).expect("sign");
        let err = driver
            .unlock(&sig, Some(der))
            .expect_err("refused authority");
        assert!(
            err.to_string().contains("unlock authority refused"),
            "{err}"
        );
    }

    // The authority's certificate with another key's signature: refused.
    let (key, der) = authority((&ca_key, &ca_params), UNLOCK_OU, unlock_eku(), -1, 2);
    let nonce = driver.unlock_begin().expect("nonce");
    let sig = ca_key.sign(&unlock_message(&id, &nonce)).expect("sign");
    assert!(driver.unlock(&sig, Some(&der)).is_err());

    let nonce = driver.unlock_begin().expect("nonce");
    let sig = key.sign(&unlock_message(&id, &nonce)).expect("sign");
    let ack = driver.unlock(&sig, Some(&der)).expect("unlock");
    assert_eq!(ack.state, Lifecycle::Keyed);
    assert!(driver
        .take_log()
        .iter()
        .any(|l| l.contains("unlocked by the unlock authority")));
}

#[test]
fn only_the_factory_ca_unlocks_a_unit_from_before_the_unlock_authority() {
    let (ca_key, ca_der, _) = factory_ca();
    let legacy = SimConfig {
        legacy_unlock: true,
        ..SimConfig::default()
    };
    let sim = SimDevice::spawn(legacy).expect("sim");
    let id = sim.device_id().to_owned();
    let mut driver = open(&sim);
    let hello = driver.hello().expect("hello");
    assert!(!hello.caps.iter().any(|c| c == "unlock_authority"));
    driver.keygen().expect("keygen");
    driver.write_cert(Slot::Chain, &ca_der).expect("chain");
    driver
        .write_cert(Slot::Device, b"device cert")
        .expect("device");
    driver.lock().expect("lock");
    assert_eq!(driver.keygen().expect_err("locked").code(), "device.locked");

    // A key that is not the factory CA's: refused, and the nonce is spent.
    let nonce = driver.unlock_begin().expect("nonce");
    let intruder = KeyPair::generate().expect("key");
    let sig = intruder.sign(&unlock_message(&id, &nonce)).expect("sign");
    let err = driver.unlock(&sig, None).expect_err("not the factory CA");
    assert!(err.to_string().contains("bad_signature"), "{err}");
    let sig = ca_key.sign(&unlock_message(&id, &nonce)).expect("sign");
    let err = driver.unlock(&sig, None).expect_err("nonce spent");
    assert!(err.to_string().contains("bad_state"), "{err}");

    // Signed for another unit: refused.
    let nonce = driver.unlock_begin().expect("nonce");
    let sig = ca_key
        .sign(&unlock_message("SOMEONE-ELSE", &nonce))
        .expect("sign");
    assert!(driver.unlock(&sig, None).is_err());

    let nonce = driver.unlock_begin().expect("nonce");
    let sig = ca_key.sign(&unlock_message(&id, &nonce)).expect("sign");
    assert_eq!(
        driver.unlock(&sig, None).expect("unlock").state,
        Lifecycle::Keyed
    );
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
