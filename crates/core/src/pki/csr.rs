//! CSR checks done before anything is signed. The request is parsed with x509-parser, not
//! rcgen: rcgen's CSR parser keeps the requester's CA bit and rejects some extensions outright,
//! and we never copy anything from the request except its public key.

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::ParsedExtension;
use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY};
use x509_parser::prelude::FromDer;

use super::PkiError;

/// What survives validation: the public key to certify and the name it was requested for.
#[derive(Debug, Clone)]
pub struct ValidatedCsr {
    /// DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
    pub common_name: String,
}

/// Checks a CSR: well-formed, self-signature valid, P-256 key, CN equal to the id the unit
/// reported, and no CA bit requested.
pub fn validate(csr_der: &[u8], expected_device_id: &str) -> Result<ValidatedCsr, PkiError> {
    let (rest, csr) = X509CertificationRequest::from_der(csr_der)
        .map_err(|e| PkiError::CsrMalformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(PkiError::CsrMalformed(
            "trailing bytes after the request".into(),
        ));
    }
    csr.verify_signature()
        .map_err(|_| PkiError::CsrBadSignature)?;

    let info = &csr.certification_request_info;
    let spki = &info.subject_pki;
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok());
    if spki.algorithm.algorithm != OID_KEY_TYPE_EC_PUBLIC_KEY
        || curve.as_ref() != Some(&OID_EC_P256)
    {
        return Err(PkiError::CsrKeyType(format!(
            "{} {}",
            spki.algorithm.algorithm,
            curve.map(|c| c.to_id_string()).unwrap_or_default()
        )));
    }

    let common_name = info
        .subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_owned();
    if common_name != expected_device_id {
        return Err(PkiError::CsrCnMismatch {
            expected: expected_device_id.to_owned(),
            found: common_name,
        });
    }

    if let Some(mut exts) = csr.requested_extensions() {
        if exts.any(|ext| matches!(ext, ParsedExtension::BasicConstraints(bc) if bc.ca)) {
            return Err(PkiError::CsrRequestsCa);
        }
    }

    Ok(ValidatedCsr {
        spki_der: spki.raw.to_vec(),
        common_name,
    })
}
