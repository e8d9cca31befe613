//! The unlock authority: the key that signs recommissioning unlocks (docs/device-protocol.md
//! §6.11), apart from the issuing key. The issuing CA certifies it for a day at a time; it
//! lives only in the memory of the station process that unlocked the CA. So the issuing key
//! never signs a unit's unlock message, a leaked unlock key can unlock units for a day but never
//! mint a certificate, and its certificate's extended key usage is neither clientAuth nor
//! serverAuth, so no broker admits it as an MQTT identity.

use std::sync::{Arc, Mutex};

use rcgen::{
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair, PublicKeyData, SigningKey,
};
use time::{Duration, OffsetDateTime};

use super::{PkiError, UnlockedCa};

/// Subject OU and CN of the unlock authority's certificate (units check the OU).
pub const UNLOCK_OU: &str = "Commissioner unlock authority";
pub const UNLOCK_CN: &str = "commissioner-unlock";
/// Extended key usage of that certificate: an OID of Commissioner's under `2.25` (UUID arc,
/// ITU-T X.667), which no TLS stack takes for client or server authentication.
pub const UNLOCK_EKU: &[u64] = &[2, 25, 244_213_706_598_733_139];
/// A minted authority is used while it has at least this long to live.
const MIN_LEFT: Duration = Duration::hours(1);

/// A short-lived unlock key and its certificate.
pub struct UnlockAuthority {
    cert_der: Vec<u8>,
    key: KeyPair,
    not_after: OffsetDateTime,
}

impl UnlockAuthority {
    /// The certificate the unit checks against its `chain` slot, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Signs one unit's unlock message; DER ECDSA signature.
    pub fn sign(&self, device_id: &str, nonce: &[u8]) -> Result<Vec<u8>, PkiError> {
        let msg = crate::device::protocol::unlock_message(device_id, nonce);
        self.key
            .sign(&msg)
            .map_err(|e| PkiError::UnlockSign(e.to_string()))
    }
}

/// Where an unlocked CA keeps its current authority.
#[derive(Default)]
pub(crate) struct AuthoritySlot(Mutex<Option<Arc<UnlockAuthority>>>);

impl UnlockedCa {
    /// The unlock authority, minted on first use and again when it has less than an hour
    /// left.
    pub fn unlock_authority(&self, now: OffsetDateTime) -> Result<Arc<UnlockAuthority>, PkiError> {
        let mut slot = self
            .unlock_authority
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(a) = slot.as_ref().filter(|a| a.not_after - now > MIN_LEFT) {
            return Ok(a.clone());
        }
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(PkiError::Issue)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationalUnitName, UNLOCK_OU);
        dn.push(DnType::CommonName, UNLOCK_CN);
        let cert = self.sign_leaf_for(
            &key.subject_public_key_info(),
            dn,
            1,
            ExtendedKeyUsagePurpose::Other(UNLOCK_EKU.to_vec()),
            &[],
            now,
        )?;
        let authority = Arc::new(UnlockAuthority {
            cert_der: cert.der,
            key,
            not_after: cert.not_after,
        });
        *slot = Some(authority.clone());
        Ok(authority)
    }
}
