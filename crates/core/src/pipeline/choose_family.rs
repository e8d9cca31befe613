//! Which device family a session speaks, and what its finished session may claim.

use crate::device::family::{self, Assurance, DeviceFamily, Reference};
use crate::error::ErrorInfo;
use crate::journal::KeyOrigin;

use super::Run;

impl Run<'_> {
    /// The family named by the operator, else by the profile for this port's USB identity,
    /// else the reference family.
    pub(super) fn choose_family(&self) -> Result<&'static dyn DeviceFamily, ErrorInfo> {
        if let Some(name) = self.opts.family {
            return Ok(family::by_name(name)?);
        }
        let models = &self.station.config.models;
        if models.iter().all(|m| m.family.is_none()) {
            return Ok(&Reference);
        }
        // A port that cannot be listed (a pseudo-terminal, a vanished unit) has no USB identity,
        // so no profile entry names its family.
        let port = crate::device::discovery::list_ports()
            .unwrap_or_default()
            .into_iter()
            .find(|p| p.path == self.req.port);
        let named = port.and_then(|p| crate::device::watch::family_for(models, &p));
        Ok(named
            .map(family::by_name)
            .transpose()?
            .unwrap_or(&Reference))
    }

    /// What the finished session may claim; `None` before there was any key.
    pub(super) fn assurance(&self) -> Option<Assurance> {
        let origin = self.key_origin?;
        let passed = |name: &str| {
            self.report
                .steps
                .iter()
                .any(|s| s.name == name && s.outcome == "ok")
        };
        let mut assurance = Assurance::of(
            self.family,
            origin == KeyOrigin::Device,
            passed("prove_possession"),
            passed("handshake"),
        );
        assurance.handshake_note = self.handshake_note.map(str::to_owned);
        Some(assurance)
    }
}
