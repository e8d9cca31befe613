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

/// Whether process `pid` is this station's lab mosquitto *and* the broker `profile` points at:
/// its command line names the lab's configuration, and that configuration listens on the
/// profile's port on loopback. A stale pid file (a reused pid) or a profile that points at
/// another broker fails both ways, so the audit never signals a process it does not audit.
pub fn is_lab_broker_of(
    files: &LabFiles,
    profile: &crate::station::BrokerProfile,
    pid: u32,
) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let config = files.config.to_string_lossy();
    let runs_lab_config = cmdline
        .split(|b| *b == 0)
        .any(|arg| arg == config.as_bytes());
    let loopback = matches!(profile.host.as_str(), "127.0.0.1" | "localhost" | "::1");
    let listens = std::fs::read_to_string(&files.config).is_ok_and(|text| {
        text.lines().any(|l| {
            let mut words = l.split_whitespace();
            words.next() == Some("listener")
                && words.next() == Some(profile.port.to_string().as_str())
        })
    });
    runs_lab_config && loopback && listens
}
