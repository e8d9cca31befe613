//! The seam for families that bring their own link: the pipeline runs its steps through a
//! [`UnitLink`] a family opens, so a new family of this kind is a new module, never a change
//! to the pipeline.

use std::sync::{Arc, Mutex};

use crate::device::{DeviceError, Interrupt, Timeouts};
use crate::error::ErrorInfo;
use crate::mqtt::signer::RemoteSigner;
use crate::station::StationConfig;

use super::DeviceFamily;

/// What a family needs to open the unit's port.
#[derive(Debug, Clone, Copy)]
pub struct LinkRequest<'a> {
    pub port: &'a str,
    pub baud: u32,
    pub timeouts: Timeouts,
    pub interrupt: &'a Arc<Interrupt>,
    /// The station profile, for the family's own section.
    pub config: &'a StationConfig,
}

impl LinkRequest<'_> {
    /// Opens the unit's serial port with a short read timeout, which bounds how late a
    /// deadline or the operator's stop is noticed.
    pub fn open_port(&self) -> Result<Box<dyn serialport::SerialPort>, ErrorInfo> {
        serialport::new(self.port, self.baud)
            .timeout(std::time::Duration::from_millis(20))
            .open()
            .map_err(|source| {
                crate::error::Coded::info(&DeviceError::Open {
                    path: self.port.to_owned(),
                    source,
                })
            })
    }
}

/// Who a unit is, as its family reads it.
#[derive(Debug, Clone)]
pub struct UnitIdentity {
    pub device_id: String,
    pub model: String,
    pub firmware: String,
    /// The mode the unit turned out to speak (a family may have several, e.g. stock firmware
    /// and firmware with Commissioner's own group): its capabilities decide which steps run.
    pub mode: &'static dyn DeviceFamily,
    /// Family-specific facts for the report (`familyDetails`).
    pub details: Vec<(String, String)>,
}

/// What the station writes to a unit.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// The unit's certificate, DER.
    pub certificate: &'a [u8],
    /// The issuing CA the unit presents after its own certificate, DER.
    pub chain: &'a [u8],
    /// The broker's trust anchors, DER.
    pub broker_ca: &'a [Vec<u8>],
    /// A station-made key (PKCS#8 PEM) for a unit without a key generator.
    pub host_key_pem: Option<&'a str>,
}

/// One session's link to a unit of a family that brings its own driver. Every operation
/// blocks; errors carry their stable codes.
pub trait UnitLink: Send {
    fn identify(&mut self) -> Result<UnitIdentity, ErrorInfo>;
    /// The unit makes a key and returns a CSR (DER) with subject `CN=<device_id>`.
    fn keygen(&mut self, device_id: &str) -> Result<Vec<u8>, ErrorInfo>;
    /// Writes the credentials and verifies each one on the unit.
    fn write_credentials(&mut self, creds: &Credentials<'_>) -> Result<(), ErrorInfo>;
    /// The unit signs the reference protocol's proof-of-possession message for `nonce`.
    fn challenge(&mut self, nonce: &[u8]) -> Result<Vec<u8>, ErrorInfo>;
    /// The unit signs a TLS 1.3 client CertificateVerify input.
    fn sign_tls13(&mut self, msg: &[u8]) -> Result<Vec<u8>, DeviceError>;
    /// The unit leaves factory mode.
    fn lock(&mut self) -> Result<(), ErrorInfo>;
    /// Device log lines seen since the last call.
    fn take_log(&mut self) -> Vec<String>;
    /// Facts the unit gave since the last call, for the report (`familyDetails`), e.g. the
    /// UUID its key generation attested.
    fn take_facts(&mut self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Called once the session's steps are over, however they ended: put the unit back the
    /// way the field needs it (e.g. a modem back online).
    fn close(&mut self) {}
}

/// A link shared between the session and the TLS signer of its handshake.
pub type SharedLink = Arc<Mutex<Box<dyn UnitLink>>>;

/// The handshake's signatures go to the unit through the session's link.
#[derive(Clone)]
pub struct LinkSigner(pub SharedLink);

impl RemoteSigner for LinkSigner {
    fn sign_tls13(&self, msg: &[u8]) -> Result<Vec<u8>, DeviceError> {
        // A poisoned lock means another thread panicked mid-request; the next request is
        // matched by its sequence number, so carry on.
        let mut link = self.0.lock().unwrap_or_else(|p| p.into_inner());
        link.sign_tls13(msg)
    }
}
