//! A rustls signing key whose private half lives on the unit: the TLS 1.3 CertificateVerify
//! signature is produced by the device over serial, so the key never leaves it.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use rustls::sign::{Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};

use crate::device::{DeviceError, Driver};

/// Something that can sign a TLS 1.3 client CertificateVerify input with a unit's key.
pub trait RemoteSigner: Send + Sync {
    fn sign_tls13(&self, msg: &[u8]) -> Result<Vec<u8>, DeviceError>;
}

impl<P: Read + Write + Send> RemoteSigner for Mutex<Driver<P>> {
    fn sign_tls13(&self, msg: &[u8]) -> Result<Vec<u8>, DeviceError> {
        // A poisoned lock means another thread panicked mid-request; the line state is
        // unknown, but the next frame resynchronises on its id, so carry on.
        let mut driver = self.lock().unwrap_or_else(|p| p.into_inner());
        driver.sign_tls13(msg)
    }
}

/// The rustls side of a device-held P-256 key. Keeps the device error behind a failed
/// signature so that the handshake can report "the unit did not answer" rather than a bare
/// TLS failure.
#[derive(Clone)]
pub struct DeviceSigningKey {
    remote: Arc<dyn RemoteSigner>,
    last_error: Arc<Mutex<Option<DeviceError>>>,
    /// The broker negotiated TLS 1.2, whose CertificateVerify input the unit refuses.
    tls12_asked: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for DeviceSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceSigningKey(ecdsa-p256, on device)")
    }
}

impl DeviceSigningKey {
    pub fn new(remote: Arc<dyn RemoteSigner>) -> Self {
        Self {
            remote,
            last_error: Arc::new(Mutex::new(None)),
            tls12_asked: Arc::default(),
        }
    }

    /// Whether a handshake asked the unit to sign a TLS 1.2 CertificateVerify, which it
    /// cannot (see [`Signer::sign`] below).
    pub fn was_asked_tls12(&self) -> bool {
        self.tls12_asked.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The device error behind the most recent failed signature, if any.
    pub fn take_error(&self) -> Option<DeviceError> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

impl SigningKey for DeviceSigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        offered
            .contains(&SignatureScheme::ECDSA_NISTP256_SHA256)
            .then(|| Box::new(self.clone()) as Box<dyn Signer>)
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ECDSA
    }
}

impl Signer for DeviceSigningKey {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        // TLS 1.2 signs the whole handshake transcript, which carries no context the unit could
        // check: the reference protocol signs only TLS 1.3 CertificateVerify input, so that a
        // cable cannot turn the unit's key into a signer of anything. Say so here instead of
        // sending the unit a request it must refuse.
        if !crate::device::protocol::is_tls13_client_cv(message) {
            self.tls12_asked
                .store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(rustls::Error::General(
                "the broker negotiated TLS 1.2; the unit signs only TLS 1.3 handshakes".into(),
            ));
        }
        self.remote.sign_tls13(message).map_err(|e| {
            let text = e.to_string();
            *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            rustls::Error::General(format!("device signature failed: {text}"))
        })
    }

    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::ECDSA_NISTP256_SHA256
    }
}
