//! The factory PKI: the CA on disk (encrypted keys), CSR policy checks, issuance and proof of
//! possession.

pub mod ca;
pub mod csr;
mod csr_signature;
pub mod issue;
pub mod pkcs11;
pub mod pop;
pub mod revoke;
pub mod service;
pub mod setup;
pub mod signer;
pub mod unlock;

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::error::Coded;

pub use ca::UnlockedCa;
pub use issue::IssuedCert;

/// SHA-256 of DER bytes, lower-case hex, as the journal and the device report it.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// PEM-encodes a certificate.
pub fn cert_pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Errors of the PKI.
#[derive(Debug, Error)]
pub enum PkiError {
    #[error("no CA in {0}: initialise the station first (commissioner ca init or lab station)")]
    CaMissing(String),
    #[error("the CA passphrase is wrong, or the key file is damaged")]
    BadPassphrase,
    #[error("no CA passphrase: set COMMISSIONER_CA_PASSPHRASE or enter it when asked")]
    NoPassphrase,
    #[error("the CA files in {path} are damaged: {reason}")]
    CaCorrupt { path: String, reason: String },
    #[error("cannot read or write CA file {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the unit's certificate request is not a valid PKCS#10 request")]
    CsrMalformed(String),
    #[error("the unit's certificate request is not signed by the key it contains")]
    CsrBadSignature,
    #[error("the unit's certificate request is signed with {0}, a broken digest this station does not accept: update the unit's firmware to sign with SHA-256 or better")]
    CsrWeakSignature(String),
    #[error("the certificate request names '{found}' but the unit reported id '{expected}'")]
    CsrCnMismatch { expected: String, found: String },
    #[error("the certificate request uses a key type this station does not allow: {0}")]
    CsrKeyType(String),
    #[error("the factory CA could not sign the unit's unlock challenge: {0}")]
    UnlockSign(String),
    #[error("the certificate request's key is too small for this station's policy: {0}")]
    CsrKeySize(String),
    #[error("the certificate request asks for a CA certificate; a device never gets one")]
    CsrRequestsCa,
    #[error("the certificate request carries an extension this station does not accept ({0})")]
    CsrExtension(String),
    #[error(
        "unit {device_id} already holds active certificate {serial}; recommission it to replace it"
    )]
    CsrDeviceHasCert { device_id: String, serial: String },
    #[error("this station has signed {issued} certificates in the last hour, its limit is {limit}: ask the line supervisor")]
    QuotaExceeded { issued: u64, limit: u32 },
    #[error(
        "the station profile does not allow host-generated keys (policy.allow_host_generated_key)"
    )]
    HostKeyNotAllowed,
    #[error("the issuance policy in station.toml is not valid: {0}")]
    BadPolicy(String),
    #[error("policy.validity_days in station.toml is {0}: a certificate must be valid for at least one day")]
    BadValidity(i64),
    #[error("policy.validity_days in station.toml ({validity_days} days) would outlive the issuing CA, which expires on {ca_not_after}: shorten it or renew the issuing CA")]
    OutlivesCa {
        validity_days: i64,
        ca_not_after: String,
    },
    #[error(
        "policy.crl_validity_days in station.toml is {0}: a CRL must be valid for 1 to 366 days"
    )]
    BadCrlValidity(i64),
    #[error("this CA key is not supported: {0}")]
    UnsupportedCaKey(String),
    #[error("the PKCS#11 URI is not usable ({0})")]
    BadPkcs11Uri(String),
    #[error("the PKCS#11 token could not {what}: {reason}")]
    Pkcs11 { what: &'static str, reason: String },
    #[error("the CA key does not belong to the issuing certificate {0}")]
    KeyMismatch(String),
    #[error("a CA already exists in {0}; it is never overwritten")]
    CaExists(String),
    #[error("issuing the certificate failed")]
    Issue(#[source] rcgen::Error),
    #[error("the unit's proof of possession does not verify against its new certificate")]
    PossessionFailed,
    #[error("the certificate does not parse: {0}")]
    CertMalformed(String),
    #[error("'{0}' is not a revocation reason (unspecified, key-compromise, affiliation-changed, superseded, cessation-of-operation, privilege-withdrawn)")]
    BadReason(String),
    #[error("'{0}' is not a certificate serial (hex, as `commissioner ca list` prints it)")]
    BadSerial(String),
    #[error("refusing to issue a certificate for {0}: a common name must be 1 to 64 characters without MQTT topic characters ('/', '+', '#', a leading '$') or control characters")]
    UnsafeCommonName(String),
    #[error("the CA key's PKCS#11 module {0} is not the one this station's profile allows (pkcs11_module in station.toml, set by `ca init`/`ca import` with a key URI)")]
    Pkcs11ModuleNotAllowed(String),
    #[error("the root key needs a passphrase of its own, not empty and not the station's: the station's passphrase is typed every day, the root's should not be")]
    RootPassphraseReused,
    #[error("'{0}' is the name of this station's backend or broker identity; no unit may take it")]
    ServiceName(String),
    #[error("'{0}' is held by a unit (or by the other service) in this station's registry; a backend or broker needs a name of its own")]
    ServiceNameTaken(String),
    #[error("a production station keeps its root CA key offline: give the path to write it to once (removable media) and a passphrase of its own; only a lab station keeps its root key in ca/")]
    RootKeyMustLeave,
}

impl Coded for PkiError {
    fn code(&self) -> &'static str {
        match self {
            PkiError::CaMissing(_) => "ca.missing",
            PkiError::BadPassphrase => "ca.bad_passphrase",
            PkiError::NoPassphrase => "ca.no_passphrase",
            PkiError::CaCorrupt { .. } => "ca.corrupt",
            PkiError::Io { .. } => "ca.io",
            PkiError::CsrMalformed(_) => "csr.malformed",
            PkiError::CsrBadSignature => "csr.bad_signature",
            PkiError::CsrWeakSignature(_) => "csr.weak_signature_algorithm",
            PkiError::CsrCnMismatch { .. } => "csr.cn_mismatch",
            PkiError::CsrKeyType(_) => "csr.key_type",
            PkiError::CsrKeySize(_) => "csr.key_size",
            PkiError::CsrRequestsCa => "csr.ca_requested",
            PkiError::CsrExtension(_) => "csr.extension_not_allowed",
            PkiError::CsrDeviceHasCert { .. } => "csr.device_has_active_cert",
            PkiError::QuotaExceeded { .. } => "policy.quota_exceeded",
            PkiError::HostKeyNotAllowed => "policy.host_key_not_allowed",
            PkiError::BadPolicy(_) => "policy.invalid",
            PkiError::BadValidity(_) => "policy.bad_validity",
            PkiError::OutlivesCa { .. } => "policy.outlives_ca",
            PkiError::BadCrlValidity(_) => "policy.bad_crl_validity",
            PkiError::UnsupportedCaKey(_) => "ca.unsupported_key",
            PkiError::BadPkcs11Uri(_) => "pkcs11.bad_uri",
            PkiError::Pkcs11 { .. } => "pkcs11.failed",
            PkiError::KeyMismatch(_) => "ca.key_mismatch",
            PkiError::CaExists(_) => "ca.exists",
            PkiError::Issue(_) => "pki.issue_failed",
            PkiError::PossessionFailed => "pop.failed",
            PkiError::CertMalformed(_) => "cert.malformed",
            PkiError::BadReason(_) => "revoke.bad_reason",
            PkiError::BadSerial(_) => "revoke.bad_serial",
            PkiError::UnlockSign(_) => "ca.unlock_sign_failed",
            PkiError::UnsafeCommonName(_) => "pki.unsafe_common_name",
            PkiError::Pkcs11ModuleNotAllowed(_) => "pkcs11.module_not_allowed",
            PkiError::RootPassphraseReused => "ca.root_passphrase_reused",
            PkiError::ServiceName(_) => "pki.service_identity_name",
            PkiError::ServiceNameTaken(_) => "pki.service_name_taken",
            PkiError::RootKeyMustLeave => "ca.root_key_out_required",
        }
    }
}
