//! Bootstrap certificates of in-band provisioning: unit certificates issued to be exchanged
//! for an operational one, marked beside the registry (`bootstrap_certificates`).

use rusqlite::{params, OptionalExtension};

use super::{Journal, JournalError};

impl Journal {
    /// Marks `serial` (already recorded for `device_id`) as a bootstrap certificate issued
    /// with `common_name`. Marking it again changes nothing.
    pub fn mark_bootstrap(
        &self,
        serial: &str,
        device_id: &str,
        common_name: &str,
    ) -> Result<(), JournalError> {
        self.immediate(|conn| {
            conn.execute(
                "INSERT OR IGNORE INTO bootstrap_certificates (serial, device_id, common_name)
                 VALUES (?1, ?2, ?3)",
                params![serial, device_id, common_name],
            )?;
            Ok(())
        })
    }

    /// The bootstrap common name of `serial`, or `None` when it is no bootstrap certificate.
    pub fn bootstrap_common_name(&self, serial: &str) -> Result<Option<String>, JournalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT common_name FROM bootstrap_certificates WHERE serial = ?1",
                params![serial],
                |r| r.get(0),
            )
            .optional()?)
    }
}
