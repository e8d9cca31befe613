//! The lab broker's CRL: signed from the registry into `crlfile`, loaded by mosquitto on
//! SIGHUP.

use std::process::Command;

use super::{LabError, LabFiles};
use crate::pki::UnlockedCa;
use crate::station::{Station, StationError};

/// Signs a CRL of the station's registry into the lab broker's `crlfile`.
pub fn write_lab_crl(
    station: &Station,
    ca: &UnlockedCa,
    files: &LabFiles,
) -> Result<crate::pki::revoke::Crl, LabError> {
    let journal = station.journal().map_err(StationError::from)?;
    Ok(station.publish_crl(ca, &journal, &files.crl, time::OffsetDateTime::now_utc())?)
}

/// Asks the mosquitto with this pid to reload its configuration. mosquitto 2 re-reads the
/// TLS files, the CRL among them, on SIGHUP; connections already open stay up.
pub fn signal_reload(pid: u32) -> Result<(), LabError> {
    let status = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .map_err(|source| LabError::Io {
            path: "kill".into(),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(LabError::NotRunning)
    }
}
