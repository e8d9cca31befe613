//! The profile's CRL hook: how the audit proves revocation on a broker it did not start. It
//! signs the registry's CRL (with the audit's freshly revoked unit on it) to the hook's path and
//! runs the hook's command so that the broker loads it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::session::AuditError;
use crate::pki::UnlockedCa;
use crate::station::{CrlHook, Station};

/// Where the CRL goes when the hook names no path.
const DEFAULT_CRL: &str = "audit-crl.pem";

/// Writes the CRL and runs the command; `Err` says which part failed, for the evidence.
pub fn publish(station: &Station, ca: &UnlockedCa, hook: &CrlHook) -> Result<(), AuditError> {
    let path: PathBuf = station.resolve(hook.path.as_deref().unwrap_or(DEFAULT_CRL.as_ref()));
    let journal = station.journal()?;
    station.publish_crl(ca, &journal, &path, OffsetDateTime::now_utc())?;
    let Some(command) = hook.command.as_deref().filter(|c| !c.trim().is_empty()) else {
        return Ok(());
    };
    let failed = |reason: String| AuditError::CrlHook {
        command: command.to_owned(),
        reason,
    };
    // Only what the command needs: no passphrase or token of the station's environment.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("COMMISSIONER_CRL", &path)
        .current_dir(&station.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot start sh: {e}")))?;
    let deadline = Instant::now() + Duration::from_secs(hook.timeout_secs.max(1));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(format!(
                    "did not finish within {} s",
                    hook.timeout_secs.max(1)
                )));
            }
            Err(e) => return Err(failed(e.to_string())),
        }
    };
    if status.success() {
        return Ok(());
    }
    let stderr = child
        .wait_with_output()
        .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
        .unwrap_or_default();
    let tail: String = stderr
        .chars()
        .rev()
        .take(300)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Err(failed(format!("{status}: {tail}")))
}
