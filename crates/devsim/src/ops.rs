//! The operations that change a unit's flash: key generation and injection, certificate
//! writes, broker settings, and the authorised unlock.

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use commissioner_core::device::protocol::{
    unlock_message, DeviceConfig, DeviceFault, Keygen, Lifecycle, LockAck, Signature, Slot,
    UnlockNonce, WriteAck,
};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, KeyPair, SigningKey, PKCS_ECDSA_P256_SHA256,
};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::device::{fault, ok, slot_name, OpResult, SimDevice};
use crate::fault::Fault;

/// Largest certificate a slot holds.
const MAX_SLOT: usize = 8192;

fn factory_only(
    dev: &SimDevice,
    op: &str,
) -> Result<(), commissioner_core::device::protocol::DeviceFault> {
    match dev.flash.state {
        Lifecycle::Locked => Err(fault("locked", format!("{op} is a factory-mode operation"))),
        Lifecycle::Certified => Err(fault(
            "bad_state",
            format!("{op} not allowed in state Certified"),
        )),
        Lifecycle::Blank | Lifecycle::Keyed => Ok(()),
    }
}

pub fn keygen(dev: &mut SimDevice, alg: &str) -> OpResult {
    factory_only(dev, "keygen")?;
    if dev.has(Fault::NoKeygen) {
        return Err(fault("unsupported", "this unit has no key generator"));
    }
    if alg != "ecdsa-p256" {
        return Err(fault(
            "unsupported",
            format!("algorithm {alg} not supported"),
        ));
    }
    dev.log.push("keystore: generating ecdsa-p256 key".into());
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .map_err(|e| fault("internal", e.to_string()))?;
    let cn = if dev.has(Fault::WrongCsrCn) {
        format!("{}-WRONG", dev.flash.device_id)
    } else {
        dev.flash.device_id.clone()
    };
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    let csr = params
        .serialize_request(&key)
        .map_err(|e| fault("internal", e.to_string()))?;
    let mut der = csr.der().to_vec();
    if dev.has(Fault::BadCsrSignature) {
        // The last byte is inside the signature's `s` integer: the DER still parses, the
        // signature no longer verifies.
        if let Some(last) = der.last_mut() {
            *last ^= 0x01;
        }
    }
    install_key(dev, key)?;
    ok(Keygen {
        csr: B64.encode(der),
    })
}

pub fn inject_key(dev: &mut SimDevice, key_b64: &str) -> OpResult {
    factory_only(dev, "inject_key")?;
    let der = B64
        .decode(key_b64)
        .map_err(|_| fault("bad_request", "key is not base64"))?;
    let key = KeyPair::try_from(der.as_slice())
        .map_err(|_| fault("bad_request", "key is not a PKCS#8 private key"))?;
    if key.algorithm() != &PKCS_ECDSA_P256_SHA256 {
        return Err(fault("unsupported", "only ecdsa-p256 keys are accepted"));
    }
    dev.log.push("keystore: host key injected".into());
    install_key(dev, key)?;
    ok(LockAck {
        state: Lifecycle::Keyed,
    })
}

fn install_key(
    dev: &mut SimDevice,
    key: KeyPair,
) -> Result<(), commissioner_core::device::protocol::DeviceFault> {
    dev.flash.key = Some(key);
    dev.flash.slots.clear();
    dev.partial.clear();
    dev.flash.state = Lifecycle::Keyed;
    dev.persist()
}

pub fn write_cert(
    dev: &mut SimDevice,
    slot: Slot,
    offset: usize,
    total: usize,
    data: &str,
) -> OpResult {
    match dev.flash.state {
        Lifecycle::Locked => {
            return Err(fault(
                "locked",
                "certificate slots are read-only after lock",
            ))
        }
        Lifecycle::Blank => return Err(fault("bad_state", "no key: run keygen first")),
        Lifecycle::Keyed | Lifecycle::Certified => {}
    }
    let chunk = B64
        .decode(data)
        .map_err(|_| fault("bad_request", "data is not base64"))?;
    let name = slot_name(slot);
    let buf = dev.partial.entry(name).or_default();
    if offset == 0 {
        buf.clear();
    }
    if offset != buf.len() || offset + chunk.len() > total || total > MAX_SLOT {
        buf.clear();
        return Err(fault("bad_offset", "chunk does not continue the transfer"));
    }
    buf.extend_from_slice(&chunk);
    let received = buf.len();
    let complete = received == total;
    if complete {
        let mut der = std::mem::take(buf);
        if dev.has(Fault::WriteNotPersisted) {
            // The flash program step silently failed: the page stays erased.
            der = vec![0xFF; der.len()];
        }
        dev.flash.slots.insert(name, der);
        dev.log
            .push(format!("flash: slot {name} written ({total} bytes)"));
        if slot == Slot::Device {
            dev.flash.state = Lifecycle::Certified;
        }
        dev.persist()?;
    }
    ok(WriteAck { received, complete })
}

pub fn set_config(dev: &mut SimDevice, config: DeviceConfig) -> OpResult {
    if dev.flash.state == Lifecycle::Locked {
        return Err(fault("locked", "set_config is a factory-mode operation"));
    }
    if config.broker_host.is_empty()
        || config.broker_port == 0
        || config.request_topic.is_empty()
        || config.response_topic.is_empty()
    {
        return Err(fault("bad_request", "every set_config field must be set"));
    }
    dev.log.push(format!(
        "config: broker {}:{}",
        config.broker_host, config.broker_port
    ));
    dev.flash.config = Some(config);
    dev.persist()?;
    ok(serde_json::json!({}))
}

pub fn unlock_begin(dev: &mut SimDevice) -> OpResult {
    if dev.flash.state != Lifecycle::Locked {
        return Err(fault("bad_state", "only a locked unit can be unlocked"));
    }
    let nonce: [u8; 32] = rand::random();
    dev.unlock_nonce = Some(nonce.to_vec());
    dev.unlock_cert.clear();
    ok(UnlockNonce {
        nonce: B64.encode(nonce),
    })
}

/// A chunk of the unlock authority's certificate, between `unlock_begin` and `unlock`.
pub fn unlock_cert(dev: &mut SimDevice, offset: usize, total: usize, data: &str) -> OpResult {
    if dev.flash.state != Lifecycle::Locked || dev.unlock_nonce.is_none() {
        return Err(fault(
            "bad_state",
            "no unlock in progress: send unlock_begin",
        ));
    }
    let chunk = B64
        .decode(data)
        .map_err(|_| fault("bad_request", "data is not base64"))?;
    let buf = &mut dev.unlock_cert;
    if offset != buf.len() || offset + chunk.len() > total || total > MAX_SLOT {
        buf.clear();
        return Err(fault("bad_offset", "chunk does not continue the transfer"));
    }
    buf.extend_from_slice(&chunk);
    ok(WriteAck {
        received: buf.len(),
        complete: buf.len() == total,
    })
}

pub fn unlock(dev: &mut SimDevice, sig_b64: &str) -> OpResult {
    if dev.flash.state != Lifecycle::Locked {
        return Err(fault("bad_state", "only a locked unit can be unlocked"));
    }
    // One nonce, one try: a wrong signature costs the station a new unlock_begin.
    let nonce = dev
        .unlock_nonce
        .take()
        .ok_or_else(|| fault("bad_state", "no unlock in progress: send unlock_begin"))?;
    let sig = B64
        .decode(sig_b64)
        .map_err(|_| fault("bad_request", "sig is not base64"))?;
    let chain = dev
        .flash
        .slots
        .get("chain")
        .ok_or_else(|| fault("bad_state", "no factory CA stored in the chain slot"))?;
    let (_, ca) = X509Certificate::from_der(chain)
        .map_err(|_| fault("internal", "the chain slot does not hold a certificate"))?;
    // Current firmware takes the unlock authority's signature only; older firmware the
    // factory CA's own.
    let cert = std::mem::take(&mut dev.unlock_cert);
    let authority = match (cert.is_empty(), dev.cfg.legacy_unlock) {
        (false, false) => Some(cert),
        (true, false) => {
            return Err(fault(
                "bad_signature",
                "this unit takes unlocks from the unlock authority only: send its certificate",
            ))
        }
        (_, true) => None,
    };
    let signer = match &authority {
        Some(der) => Some(unlock_authority(der, &ca, dev.now())?),
        None => None,
    };
    let point = match &signer {
        Some(cert) => cert.public_key().subject_public_key.data.as_ref(),
        None => ca.public_key().subject_public_key.data.as_ref(),
    };
    let msg = unlock_message(&dev.flash.device_id, &nonce);
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
        .verify(&msg, &sig)
        .map_err(|_| {
            fault(
                "bad_signature",
                "the unlock is not signed by the unlock authority the factory CA certified",
            )
        })?;
    dev.flash.state = Lifecycle::Keyed;
    dev.persist()?;
    dev.log.push(
        match signer {
            Some(_) => "lifecycle: unlocked by the unlock authority, factory mode on",
            None => "lifecycle: unlocked by factory CA, factory mode on",
        }
        .into(),
    );
    ok(LockAck {
        state: Lifecycle::Keyed,
    })
}

pub fn sign_with(key: &KeyPair, msg: &[u8]) -> OpResult {
    let sig = key
        .sign(msg)
        .map_err(|e| fault("internal", e.to_string()))?;
    ok(Signature {
        sig: B64.encode(sig),
    })
}

/// The OU and extended key usage of the unlock authority's certificate
/// (docs/device-protocol.md §6.11).
const UNLOCK_OU: &str = "Commissioner unlock authority";
const UNLOCK_EKU: &str = "2.25.244213706598733139";

/// Checks the unlock authority's certificate as a unit does: issued by the factory CA in the
/// chain slot, within its validity at the unit's time, with the authority's OU and extended
/// key usage. Returns it parsed.
fn unlock_authority<'a>(
    der: &'a [u8],
    ca: &X509Certificate<'_>,
    now: i64,
) -> Result<X509Certificate<'a>, DeviceFault> {
    let refused = |why: &str| fault("bad_signature", format!("unlock authority refused: {why}"));
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| refused("not a certificate"))?;
    cert.verify_signature(Some(ca.public_key()))
        .map_err(|_| refused("not issued by the factory CA"))?;
    let validity = cert.validity();
    if now < validity.not_before.timestamp() || now > validity.not_after.timestamp() {
        return Err(refused("outside its validity"));
    }
    let ou_ok = cert
        .subject()
        .iter_organizational_unit()
        .any(|ou| ou.as_str().is_ok_and(|s| s == UNLOCK_OU));
    if !ou_ok {
        return Err(refused("not the unlock authority's subject"));
    }
    let eku_ok = cert.extended_key_usage().ok().flatten().is_some_and(|e| {
        e.value
            .other
            .iter()
            .any(|oid| oid.to_id_string() == UNLOCK_EKU)
    });
    if !eku_ok {
        return Err(refused("no unlock extended key usage"));
    }
    Ok(cert)
}
