//! The recommission-only steps: the authorised unlock before the new key, and the revocation
//! of the superseded certificate once the new one is proven.

use crate::device::protocol::{Hello, Lifecycle, Slot, CAP_UNLOCK_AUTHORITY};
use crate::error::{Coded, ErrorInfo};
use crate::pki::fingerprint;
use crate::pki::revoke::Reason;
use crate::station::admin::{self, RevokeTarget};

use super::{PipelineError, Run};

impl Run<'_> {
    /// Brings a unit in service back to factory mode with a challenge signed by the unlock
    /// authority (or, for older firmware, the factory CA); returns the serial of the certificate it held, which the new one will supersede.
    pub(super) fn unlock(&mut self, hello: &Hello) -> Result<Option<String>, ErrorInfo> {
        let old = self
            .journal
            .active_certificate(&hello.device_id)
            .map_err(|e| e.info())?
            .map(|e| e.serial);
        let mut device = self.device()?;
        let mut state = hello.state;
        // A certified unit refuses keygen; it is re-keyed only through lock and the
        // authorised unlock (docs/device-protocol.md §5), never by accident.
        if state == Lifecycle::Certified {
            // The unlock is verified against the chain slot. A unit interrupted before its
            // chain was written (older stations wrote it after the device certificate) would
            // lock for good: give it the chain while it still takes writes.
            let issuing = self.ca.issuing_der();
            let holds_chain = device
                .read_cert(Slot::Chain)
                .is_ok_and(|d| d.len == issuing.len() && d.sha256 == fingerprint(issuing));
            if !holds_chain {
                device.write_cert(Slot::Chain, issuing)?;
                let d = device.read_cert(Slot::Chain)?;
                if d.sha256 != fingerprint(issuing) {
                    return Err(PipelineError::ReadBackMismatch {
                        slot: "chain",
                        expected: fingerprint(issuing),
                        found: d.sha256,
                    }
                    .into());
                }
            }
            state = device.lock()?.state;
        }
        // A unit in service (locked) is unlocked only for the identity the registry holds as
        // active: a revoked (decommissioned) unit, or one this station never certified, gets
        // no unlock signature. A certified unit that was never locked was cut off mid-session
        // and is not in service yet.
        if hello.state == Lifecycle::Locked && old.is_none() {
            return Err(PipelineError::NoActiveCertificate(hello.device_id.clone()).into());
        }
        if state == Lifecycle::Locked {
            let nonce = device.unlock_begin()?;
            state = if hello.caps.iter().any(|c| c == CAP_UNLOCK_AUTHORITY) {
                // The unlock authority's key, never the issuing key (pki::unlock).
                let authority = self.ca.unlock_authority(self.clock.now())?;
                let sig = authority.sign(&hello.device_id, &nonce)?;
                device.unlock(&sig, Some(authority.cert_der()))?.state
            } else {
                // Firmware from before the unlock authority trusts the factory CA's own key.
                tracing::warn!(
                    device = %hello.device_id,
                    "the unit's firmware predates the unlock authority: its unlock is signed by the issuing CA"
                );
                let sig = self.ca.sign_unlock(&hello.device_id, &nonce)?;
                device.unlock(&sig, None)?.state
            };
        }
        match state {
            Lifecycle::Blank | Lifecycle::Keyed => Ok(old),
            other => Err(PipelineError::NotUnlocked(other).into()),
        }
    }

    /// Links the new certificate to the old one and revokes the old one as superseded: the
    /// broker refuses it from its next CRL on.
    pub(super) fn revoke_superseded(&mut self, old: &str, new: &str) -> Result<(), ErrorInfo> {
        self.journal
            .set_supersedes(new, old)
            .map_err(|e| e.info())?;
        admin::revoke(
            self.journal,
            RevokeTarget::Serial(old),
            Reason::Superseded,
            self.clock.now(),
        )
        .map_err(|e| e.info())?;
        self.publish_crl();
        Ok(())
    }
}
