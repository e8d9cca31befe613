//! CSR checks done before anything is signed. The request is parsed with x509-parser, not
//! rcgen: rcgen's CSR parser keeps the requester's CA bit and rejects some extensions outright,
//! and we never copy anything from the request except its public key. Each refusal has its own
//! code, so that a line supervisor can tell a broken unit from a hostile one.

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::ParsedExtension;
use x509_parser::oid_registry::{
    Oid, OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_SIG_ED25519, OID_X509_EXT_BASIC_CONSTRAINTS, OID_X509_EXT_EXTENDED_KEY_USAGE,
    OID_X509_EXT_KEY_USAGE, OID_X509_EXT_SUBJECT_ALT_NAME, OID_X509_EXT_SUBJECT_KEY_IDENTIFIER,
};
use x509_parser::prelude::FromDer;

use super::PkiError;

/// What survives validation: the public key to certify and the name it was requested for.
#[derive(Debug, Clone)]
pub struct ValidatedCsr {
    /// DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
    pub common_name: String,
    /// The key type as the policy names it (`ecdsa-p256`, `rsa-3072`, ...).
    pub key_type: String,
}

/// A key type the station may certify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    EcdsaP256,
    EcdsaP384,
    Ed25519,
    /// RSA of at least this many bits.
    Rsa(usize),
}

impl KeyKind {
    /// Parses a policy entry: `ecdsa-p256`, `ecdsa-p384`, `ed25519`, `rsa-2048`, ...
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "ecdsa-p256" | "p256" | "p-256" => Some(KeyKind::EcdsaP256),
            "ecdsa-p384" | "p384" | "p-384" => Some(KeyKind::EcdsaP384),
            "ed25519" => Some(KeyKind::Ed25519),
            other => other
                .strip_prefix("rsa-")
                .and_then(|bits| bits.parse().ok())
                .filter(|bits| *bits >= 2048)
                .map(KeyKind::Rsa),
        }
    }
}

/// The CSR side of the station's issuance policy.
#[derive(Debug, Clone)]
pub struct CsrPolicy {
    pub allowed_keys: Vec<KeyKind>,
}

impl Default for CsrPolicy {
    fn default() -> Self {
        Self {
            allowed_keys: vec![KeyKind::EcdsaP256],
        }
    }
}

impl CsrPolicy {
    /// From the profile's `allowed_keys`; an unknown name is a configuration error, not
    /// something to skip silently.
    pub fn from_names(names: &[String]) -> Result<Self, PkiError> {
        let allowed_keys = names
            .iter()
            .map(|n| {
                KeyKind::parse(n).ok_or_else(|| PkiError::BadPolicy(format!("key type '{n}'")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { allowed_keys })
    }
}

/// Extensions a request may carry. They are never copied into the certificate; anything else
/// is refused, because a unit that asks for unusual extensions is not behaving as designed.
const ALLOWED_EXTENSIONS: [&Oid<'static>; 5] = [
    &OID_X509_EXT_SUBJECT_ALT_NAME,
    &OID_X509_EXT_KEY_USAGE,
    &OID_X509_EXT_EXTENDED_KEY_USAGE,
    &OID_X509_EXT_BASIC_CONSTRAINTS,
    &OID_X509_EXT_SUBJECT_KEY_IDENTIFIER,
];

/// Checks a CSR under the default policy (P-256 keys only).
pub fn validate(csr_der: &[u8], expected_device_id: &str) -> Result<ValidatedCsr, PkiError> {
    validate_with(csr_der, expected_device_id, &CsrPolicy::default())
}

/// The subject CN a CSR asks for, before it is validated: in-band requests name their unit
/// only there. [`validate_with`] then checks the CSR against this same name.
pub fn common_name(csr_der: &[u8]) -> Result<String, PkiError> {
    let (_, csr) = X509CertificationRequest::from_der(csr_der)
        .map_err(|e| PkiError::CsrMalformed(e.to_string()))?;
    let cn = csr
        .certification_request_info
        .subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default();
    Ok(cn.to_owned())
}

/// Checks a CSR: well-formed, self-signature valid, an allowed key type and size, CN equal to
/// the id the unit reported, no CA bit requested, no extension outside the allow-list.
pub fn validate_with(
    csr_der: &[u8],
    expected_device_id: &str,
    policy: &CsrPolicy,
) -> Result<ValidatedCsr, PkiError> {
    let (rest, csr) = X509CertificationRequest::from_der(csr_der)
        .map_err(|e| PkiError::CsrMalformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(PkiError::CsrMalformed(
            "trailing bytes after the request".into(),
        ));
    }
    // The key policy first: a key the station would never certify is named for what it is,
    // rather than reported as a bad signature by a verifier that refuses small RSA keys.
    let info = &csr.certification_request_info;
    let (kind, key_type) = key_kind(&info.subject_pki)?;
    let allowed = policy.allowed_keys.iter().any(|a| match (a, kind) {
        (KeyKind::Rsa(min), KeyKind::Rsa(bits)) => bits >= *min,
        (a, k) => *a == k,
    });
    if !allowed {
        let family_allowed = matches!(kind, KeyKind::Rsa(_))
            && policy
                .allowed_keys
                .iter()
                .any(|a| matches!(a, KeyKind::Rsa(_)));
        return Err(if family_allowed {
            PkiError::CsrKeySize(key_type)
        } else {
            PkiError::CsrKeyType(key_type)
        });
    }
    super::csr_signature::verify(&csr)?;

    let mut names = info.subject.iter_common_name();
    let common_name = names
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_owned();
    // A second CN would let a certificate mean different things to different parsers.
    if common_name != expected_device_id || names.next().is_some() {
        return Err(PkiError::CsrCnMismatch {
            expected: expected_device_id.to_owned(),
            found: common_name,
        });
    }

    for attr in info.iter_attributes() {
        if let ParsedCriAttribute::ExtensionRequest(req) = attr.parsed_attribute() {
            for ext in &req.extensions {
                if let ParsedExtension::BasicConstraints(bc) = ext.parsed_extension() {
                    if bc.ca {
                        return Err(PkiError::CsrRequestsCa);
                    }
                }
                if !ALLOWED_EXTENSIONS.contains(&&ext.oid) {
                    return Err(PkiError::CsrExtension(ext.oid.to_id_string()));
                }
            }
        }
    }

    Ok(ValidatedCsr {
        spki_der: info.subject_pki.raw.to_vec(),
        common_name,
        key_type,
    })
}

fn key_kind(
    spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
) -> Result<(KeyKind, String), PkiError> {
    let alg = &spki.algorithm.algorithm;
    if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        return match curve {
            Some(c) if c == OID_EC_P256 => Ok((KeyKind::EcdsaP256, "ecdsa-p256".into())),
            Some(c) if c == OID_NIST_EC_P384 => Ok((KeyKind::EcdsaP384, "ecdsa-p384".into())),
            other => Err(PkiError::CsrKeyType(format!(
                "ecdsa on curve {}",
                other.map(|c| c.to_id_string()).unwrap_or_default()
            ))),
        };
    }
    if *alg == OID_SIG_ED25519 {
        return Ok((KeyKind::Ed25519, "ed25519".into()));
    }
    if *alg == OID_PKCS1_RSAENCRYPTION {
        let bits = match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => modulus_bits(rsa.modulus),
            _ => return Err(PkiError::CsrMalformed("unreadable RSA key".into())),
        };
        return Ok((KeyKind::Rsa(bits), format!("rsa-{bits}")));
    }
    Err(PkiError::CsrKeyType(alg.to_id_string()))
}

fn modulus_bits(modulus: &[u8]) -> usize {
    let trimmed: &[u8] = match modulus.iter().position(|b| *b != 0) {
        Some(i) => &modulus[i..],
        None => &[],
    };
    match trimmed.first() {
        Some(first) => trimmed.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}
