//! Proof of possession: a signature by the unit over a fresh nonce, checked against the public
//! key in its new certificate.

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::PkiError;
use crate::device::protocol::pop_message;

/// Verifies `sig` (DER ECDSA P-256 / SHA-256) over the challenge message for `nonce`.
pub fn verify(cert_der: &[u8], nonce: &[u8], sig: &[u8]) -> Result<(), PkiError> {
    let (_, cert) =
        X509Certificate::from_der(cert_der).map_err(|e| PkiError::CertMalformed(e.to_string()))?;
    let point = cert.public_key().subject_public_key.data.as_ref();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
        .verify(&pop_message(nonce), sig)
        .map_err(|_| PkiError::PossessionFailed)
}
