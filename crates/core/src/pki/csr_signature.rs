//! A CSR's self-signature, checked by our own table of algorithms rather than x509-parser's:
//! that one accepts SHA-1 (which a unit must not use) and knows no ECDSA with SHA-512 (which
//! `openssl req -sha512` makes, and which is a perfectly good signature). A weak digest gets its
//! own refusal, so a unit with old firmware is told apart from a forged request.

use aws_lc_rs::signature::{self, VerificationAlgorithm};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::oid_registry::{OID_EC_P256, OID_NIST_EC_P384};
use x509_parser::signature_algorithm::RsaSsaPssParams;

use super::PkiError;

/// Signature algorithms whose digest is broken: refused as weak whatever the key.
const WEAK: [(&str, &str); 6] = [
    ("1.2.840.113549.1.1.2", "md2WithRSAEncryption"),
    ("1.2.840.113549.1.1.4", "md5WithRSAEncryption"),
    ("1.2.840.113549.1.1.5", "sha1WithRSAEncryption"),
    ("1.3.14.3.2.29", "sha1WithRSAEncryption (OIW)"),
    ("1.2.840.10045.4.1", "ecdsa-with-SHA1"),
    ("1.2.840.10040.4.3", "dsa-with-SHA1"),
];

/// SHA-1 as a digest OID (RSA-PSS names its digest separately).
const SHA1: &str = "1.3.14.3.2.26";

/// The curve of an EC key, as the digest table below needs it.
#[derive(Clone, Copy)]
enum Curve {
    P256,
    P384,
}

/// Checks that the request is signed by the key it carries, with an algorithm the station
/// accepts: ECDSA (P-256, P-384) with SHA-256/384/512, RSA PKCS#1 v1.5 or PSS with SHA-256/384/512,
/// Ed25519.
pub fn verify(csr: &X509CertificationRequest<'_>) -> Result<(), PkiError> {
    let alg = &csr.signature_algorithm;
    let oid = alg.algorithm.to_id_string();
    if let Some((_, name)) = WEAK.iter().find(|(o, _)| *o == oid) {
        return Err(PkiError::CsrWeakSignature((*name).into()));
    }
    let spki = &csr.certification_request_info.subject_pki;
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .and_then(|c| {
            if c == OID_EC_P256 {
                Some(Curve::P256)
            } else if c == OID_NIST_EC_P384 {
                Some(Curve::P384)
            } else {
                None
            }
        });
    let verifier: &dyn VerificationAlgorithm = match (oid.as_str(), curve) {
        ("1.2.840.10045.4.3.2", Some(Curve::P256)) => &signature::ECDSA_P256_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", Some(Curve::P256)) => &signature::ECDSA_P256_SHA384_ASN1,
        ("1.2.840.10045.4.3.4", Some(Curve::P256)) => &signature::ECDSA_P256_SHA512_ASN1,
        ("1.2.840.10045.4.3.2", Some(Curve::P384)) => &signature::ECDSA_P384_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", Some(Curve::P384)) => &signature::ECDSA_P384_SHA384_ASN1,
        ("1.2.840.10045.4.3.4", Some(Curve::P384)) => &signature::ECDSA_P384_SHA512_ASN1,
        ("1.2.840.113549.1.1.11", _) => &signature::RSA_PKCS1_2048_8192_SHA256,
        ("1.2.840.113549.1.1.12", _) => &signature::RSA_PKCS1_2048_8192_SHA384,
        ("1.2.840.113549.1.1.13", _) => &signature::RSA_PKCS1_2048_8192_SHA512,
        ("1.2.840.113549.1.1.10", _) => pss(alg.parameters.as_ref())?,
        ("1.3.101.112", _) => &signature::ED25519,
        // Anything else (another curve, an unknown algorithm, an ECDSA signature over a key
        // that is not EC) cannot be this key's signature as far as the station can tell.
        _ => return Err(PkiError::CsrBadSignature),
    };
    signature::UnparsedPublicKey::new(verifier, &spki.subject_public_key.data)
        .verify(
            csr.certification_request_info.raw,
            &csr.signature_value.data,
        )
        .map_err(|_| PkiError::CsrBadSignature)
}

/// RSA-PSS by its digest: SHA-1 (the default when the parameters name none) is weak.
fn pss(
    params: Option<&x509_parser::der_parser::asn1_rs::Any<'_>>,
) -> Result<&'static dyn VerificationAlgorithm, PkiError> {
    let params = params
        .and_then(|p| RsaSsaPssParams::try_from(p).ok())
        .ok_or(PkiError::CsrBadSignature)?;
    match params.hash_algorithm_oid().to_id_string().as_str() {
        "2.16.840.1.101.3.4.2.1" => Ok(&signature::RSA_PSS_2048_8192_SHA256),
        "2.16.840.1.101.3.4.2.2" => Ok(&signature::RSA_PSS_2048_8192_SHA384),
        "2.16.840.1.101.3.4.2.3" => Ok(&signature::RSA_PSS_2048_8192_SHA512),
        SHA1 => Err(PkiError::CsrWeakSignature("rsassa-pss with sha1".into())),
        _ => Err(PkiError::CsrBadSignature),
    }
}
