//! Device families: the seam every kind of unit plugs into.
//!
//! A family says what its units can do; the pipeline runs the steps a family can do and
//! records every other step as skipped with the family's reason, so adding a family is a new
//! module here (and its driver), never a change to the order or meaning of the pipeline's steps.

pub mod link;
mod nrf91;
mod reference;
mod zephyr;

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use ts_rs::TS;

use crate::error::Coded;

pub use link::{Credentials, LinkRequest, LinkSigner, SharedLink, UnitIdentity, UnitLink};
pub use nrf91::{Nrf91At, Nrf91Profile, SecTag, DEFAULT_SEC_TAG};
pub use reference::Reference;
pub use zephyr::{ZephyrSmp, ZephyrSmpGroup, ZephyrSmpProfile, ZEPHYR_SMP};

/// How a family's units show that the unit holds the key its certificate names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PossessionProof {
    /// A fresh nonce signed by the unit's key, checked against the new certificate.
    Challenge,
    /// Nothing beyond the CSR's own signature, bound to the unit by an attestation the
    /// unit's secure element signed.
    AttestedCsr,
    /// No proof at all: the station must say so in the session's assurance.
    None,
}

/// What a family's units can do, declared once per family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// How a unit says who it is (for the docs and the `ports` listing).
    pub identity: &'static str,
    /// The unit makes its own key and CSR; otherwise only a host-made key, if the profile
    /// allows it.
    pub key_on_unit: bool,
    /// How a written credential is read back and compared.
    pub write_verify: &'static str,
    pub possession: PossessionProof,
    /// The unit can sign the station's TLS 1.3 CertificateVerify, so the handshake runs as
    /// the unit itself.
    pub remote_tls_signing: bool,
    /// The unit can sign a statement about its key (e.g. COSE over the CSR).
    pub attestation: bool,
    /// The unit leaves factory mode on command (lock).
    pub leave_factory_mode: bool,
}

/// A kind of unit and the protocol the station speaks to it.
pub trait DeviceFamily: Sync + fmt::Debug {
    /// The name a profile or `--family` uses.
    fn name(&self) -> &'static str;
    fn capabilities(&self) -> Capabilities;
    /// Why the pipeline leaves out a step this family cannot do, for the report and the
    /// progress line; `None` for a step the family runs.
    fn skip_reason(&self, step: &str) -> Option<String> {
        let caps = self.capabilities();
        let name = self.name();
        let cannot = match step {
            "prove_possession" if caps.possession != PossessionProof::Challenge => {
                "cannot sign a challenge; possession rests on the CSR's signature"
            }
            "handshake" | "audit" if !caps.remote_tls_signing => {
                "cannot sign for the station's TLS handshake; the unit's first connection is its own"
            }
            "lock" if !caps.leave_factory_mode => {
                "has no factory mode to leave; the profile's own procedure applies"
            }
            _ => return None,
        };
        Some(format!("the {name} family {cannot}"))
    }

    /// Opens the unit's port with the family's own driver; the pipeline then runs its steps
    /// through that link. `None` for the family the pipeline drives itself (reference).
    fn open(
        &self,
        _req: &LinkRequest<'_>,
    ) -> Option<Result<Box<dyn UnitLink>, crate::error::ErrorInfo>> {
        None
    }
}

/// Every family this station knows, the default first.
pub static FAMILIES: &[&dyn DeviceFamily] = &[&Reference, &Nrf91At, &ZephyrSmp];

/// The family the station uses when neither the profile nor the operator names one.
pub const DEFAULT_FAMILY: &str = "reference";

/// The family called `name`.
pub fn by_name(name: &str) -> Result<&'static dyn DeviceFamily, FamilyError> {
    FAMILIES
        .iter()
        .copied()
        .find(|f| f.name() == name)
        .ok_or_else(|| FamilyError::Unknown {
            name: name.to_owned(),
            known: FAMILIES
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Where a session's key came from, what bound its CSR to the unit, and whether the unit itself
/// completed the handshake: what QA may conclude about a certificate beyond its issuance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Assurance {
    /// `unit` (made on the unit, never left it) or `station` (made here and injected).
    pub key_made: String,
    /// What tied the CSR (or key) to this unit.
    pub bound_by: String,
    /// The unit signed its own side of the live TLS handshake.
    pub handshake_as_unit: bool,
    /// Why the handshake did not run although the family can run it (e.g. a broker that
    /// speaks TLS 1.2 only, which the profile allows): the session is weaker for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub handshake_note: Option<String>,
}

impl Assurance {
    /// The assurance a finished session of `family` earned, given where its key came from
    /// and which steps passed.
    pub fn of(
        family: &dyn DeviceFamily,
        key_on_unit: bool,
        possession_proven: bool,
        handshake_ran: bool,
    ) -> Self {
        let caps = family.capabilities();
        let bound_by = match (caps.possession, possession_proven) {
            (PossessionProof::Challenge, true) => {
                "CSR subject equals the unit's id; possession proven by a signed challenge"
            }
            (PossessionProof::None, _) if !key_on_unit => {
                "the unit proved nothing: no CSR, no challenge (the station wrote the key to it)"
            }
            (PossessionProof::AttestedCsr, _) if caps.attestation => {
                "CSR bound to the device UUID by the modem's COSE attestation (digest checked; \
                 its signature is Nordic's to verify)"
            }
            _ => "CSR subject equals the unit's id; possession not proven",
        };
        Assurance {
            key_made: if key_on_unit { "unit" } else { "station" }.into(),
            bound_by: bound_by.into(),
            handshake_as_unit: handshake_ran && caps.remote_tls_signing,
            handshake_note: None,
        }
    }

    /// One line for reports and the journal.
    pub fn summary(&self) -> String {
        let key = match self.key_made.as_str() {
            "unit" => "key made on the unit",
            _ => "key made on the station and injected",
        };
        let handshake = if self.handshake_as_unit {
            "handshake run as the unit"
        } else {
            "handshake not run as the unit"
        };
        match &self.handshake_note {
            Some(note) => format!("{key}, {}, {handshake} ({note})", self.bound_by),
            None => format!("{key}, {}, {handshake}", self.bound_by),
        }
    }
}

/// Errors choosing a family.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum FamilyError {
    #[error("no device family is called '{name}'; this station knows: {known}")]
    Unknown { name: String, known: String },
}

impl Coded for FamilyError {
    fn code(&self) -> &'static str {
        match self {
            FamilyError::Unknown { .. } => "device.unknown_family",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_family_skips_nothing() {
        let f = by_name("reference").expect("reference family");
        for step in crate::pipeline::STEPS {
            assert_eq!(f.skip_reason(step), None, "{step}");
        }
    }

    #[test]
    fn unknown_family_is_refused_with_the_known_ones() {
        let e = by_name("nrf53").expect_err("no such family");
        assert_eq!(e.code(), "device.unknown_family");
        assert!(e.to_string().contains("reference"));
    }

    #[test]
    fn nrf91_skips_what_a_modem_cannot_do() {
        let f = by_name("nrf91-at").expect("nrf91 family");
        for step in ["prove_possession", "handshake", "audit", "lock"] {
            assert!(f.skip_reason(step).is_some(), "{step}");
        }
        for step in ["identify", "keygen", "validate_csr", "issue", "write_cert"] {
            assert_eq!(f.skip_reason(step), None, "{step}");
        }
        let a = Assurance::of(f, true, false, false);
        assert!(a
            .summary()
            .starts_with("key made on the unit, CSR bound to the device UUID"));
        assert!(a.summary().ends_with("handshake not run as the unit"));
    }

    #[test]
    fn reference_assurance_names_challenge_and_handshake() {
        let a = Assurance::of(&Reference, true, true, true);
        assert_eq!(
            a.summary(),
            "key made on the unit, CSR subject equals the unit's id; possession proven by a \
             signed challenge, handshake run as the unit"
        );
        let host = Assurance::of(&Reference, false, false, false);
        assert_eq!(host.key_made, "station");
        assert!(!host.handshake_as_unit);
    }
}
