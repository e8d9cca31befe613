//! The issuing CA's signing key, behind rcgen's `SigningKey` seam: a file key decrypted into
//! memory, or a key that never leaves a PKCS#11 token.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair as _, ECDSA_P256_SHA256_ASN1_SIGNING,
    ECDSA_P384_SHA384_ASN1_SIGNING,
};
use rcgen::PKCS_ECDSA_P384_SHA384;
use rcgen::{PublicKeyData, SignatureAlgorithm, SigningKey, PKCS_ECDSA_P256_SHA256};

use super::pkcs11::Pkcs11Key;
use super::PkiError;

/// A CA signing key.
pub enum CaKey {
    File(FileKey),
    Pkcs11(Pkcs11Key),
}

impl fmt::Debug for CaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only where the key lives, never anything of the key.
        match self {
            CaKey::File(_) => f.write_str("CaKey::File(<redacted>)"),
            CaKey::Pkcs11(k) => write!(f, "CaKey::Pkcs11({})", k.uri_for_display()),
        }
    }
}

impl CaKey {
    /// Where the key lives, for messages: `file` or the PKCS#11 URI (without any PIN).
    pub fn location(&self) -> String {
        match self {
            CaKey::File(_) => "file (encrypted PKCS#8)".into(),
            CaKey::Pkcs11(k) => k.uri_for_display(),
        }
    }
}

impl PublicKeyData for CaKey {
    fn der_bytes(&self) -> &[u8] {
        match self {
            CaKey::File(k) => k.public.as_slice(),
            CaKey::Pkcs11(k) => k.public_point(),
        }
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self {
            CaKey::File(k) => k.alg,
            CaKey::Pkcs11(k) => k.algorithm(),
        }
    }
}

impl SigningKey for CaKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match self {
            CaKey::File(k) => k
                .pair
                .sign(&SystemRandom::new(), msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| rcgen::Error::RingUnspecified),
            CaKey::Pkcs11(k) => k.sign(msg),
        }
    }
}

/// An ECDSA key decrypted from the station's encrypted PKCS#8 file.
///
/// The plaintext PKCS#8 only ever lives in a `Zeroizing` buffer while it is parsed; the key
/// itself is held by aws-lc, whose `OPENSSL_free` wipes every allocation before releasing it, so
/// dropping a `FileKey` (with the `UnlockedCa` holding it) leaves no copy of the scalar behind.
pub struct FileKey {
    pair: EcdsaKeyPair,
    alg: &'static SignatureAlgorithm,
    public: Vec<u8>,
}

impl FileKey {
    /// Parses an unencrypted PKCS#8 P-256 or P-384 key.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, PkiError> {
        let candidates: [(&'static EcdsaSigningAlgorithm, &'static SignatureAlgorithm); 2] = [
            (&ECDSA_P256_SHA256_ASN1_SIGNING, &PKCS_ECDSA_P256_SHA256),
            (&ECDSA_P384_SHA384_ASN1_SIGNING, &PKCS_ECDSA_P384_SHA384),
        ];
        for (signing, alg) in candidates {
            if let Ok(pair) = EcdsaKeyPair::from_pkcs8(signing, der) {
                let public = pair.public_key().as_ref().to_vec();
                return Ok(Self { pair, alg, public });
            }
        }
        Err(PkiError::UnsupportedCaKey(
            "the CA key must be an ECDSA P-256 or P-384 key in PKCS#8".into(),
        ))
    }

    /// Generates a P-256 key; returns it with its PKCS#8 (wiped on drop) for encryption.
    pub fn generate_p256() -> Result<(Self, aws_lc_rs::pkcs8::Document), PkiError> {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
                .map_err(|_| PkiError::UnsupportedCaKey("key generation failed".into()))?;
        Ok((Self::from_pkcs8(doc.as_ref())?, doc))
    }
}

/// `r || s` (as PKCS#11 CKM_ECDSA returns it) to the DER `ECDSA-Sig-Value` X.509 expects.
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return None;
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut body = der_uint(r);
    body.extend(der_uint(s));
    let mut out = vec![0x30];
    push_len(&mut out, body.len());
    out.extend(body);
    Some(out)
}

fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let mut value = bytes[start..].to_vec();
    // A set high bit would make the INTEGER negative; zero needs one octet.
    if value.first().is_none_or(|b| b & 0x80 != 0) {
        value.insert(0, 0);
    }
    let mut out = vec![0x02];
    push_len(&mut out, value.len());
    out.extend(value);
    out
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        out.extend([0x81, len as u8]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unlocked_ca_can_be_shared_between_threads() {
        // The desktop app keeps one UnlockedCa in shared state, whatever the key type.
        fn shared<T: Send + Sync>() {}
        shared::<crate::pki::UnlockedCa>();
    }

    #[test]
    fn raw_signature_becomes_minimal_der() {
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80; // r needs a leading zero octet
        raw[63] = 0x01; // s is 1 after 31 leading zeros
        let der = ecdsa_raw_to_der(&raw).expect("der");
        assert_eq!(&der[..4], &[0x30, 0x26, 0x02, 0x21]);
        assert_eq!(&der[der.len() - 3..], &[0x02, 0x01, 0x01]);
        assert!(ecdsa_raw_to_der(&[1, 2, 3]).is_none());
    }
}
