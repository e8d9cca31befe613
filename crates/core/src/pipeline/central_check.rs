//! The central registry's check before issuing (issue 17).

use super::Run;
use crate::central::{self, registry::Clearance};
use crate::error::ErrorInfo;

impl Run<'_> {
    /// With a central store: no certificate for a unit that another station holds a live one
    /// for. An unreachable server refuses, or (profile permitting) is recorded as an audit
    /// check that the server lists for review once the session syncs.
    pub(super) fn clear_centrally(&mut self, device_id: &str) -> Result<(), ErrorInfo> {
        let Some(profile) = self.station.config.central.as_ref() else {
            return Ok(());
        };
        let journal_id = self.journal.genesis_hash()?.unwrap_or_default();
        match central::registry::clear_for_issue(
            profile,
            &self.station.dir,
            &journal_id,
            device_id,
        )? {
            Clearance::Clear => Ok(()),
            Clearance::Unchecked(why) => Ok(self.journal.record_audit_check(
                self.report.session_id,
                central::registry::UNCHECKED_CHECK,
                "warn",
                &format!("issued without the central registry check: {why}"),
                self.clock.now(),
            )?),
        }
    }
}
