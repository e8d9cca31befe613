//! CA administration over the registry: revoke certificates and publish the CRL. The CLI's
//! `ca revoke` / `ca crl` and the lab broker's CRL all go through here, so they agree.

use std::fs;
use std::path::Path;

use thiserror::Error;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::revoke::{Crl, Reason, RevokedSerial};
use super::{PkiError, UnlockedCa};
use crate::error::Coded;
use crate::journal::{CertFilter, CertStatus, Journal, JournalError, RegistryEntry};

/// Errors of CA administration.
#[derive(Debug, Error)]
pub enum AdminError {
    #[error("device {0} has no certificate in this station's registry")]
    UnknownDevice(String),
    #[error("cannot write {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl Coded for AdminError {
    fn code(&self) -> &'static str {
        match self {
            AdminError::UnknownDevice(_) => "registry.unknown_device",
            AdminError::Io { .. } => "ca.io",
            AdminError::Pki(e) => e.code(),
            AdminError::Journal(e) => e.code(),
        }
    }
}

/// What to revoke.
#[derive(Debug, Clone, Copy)]
pub enum RevokeTarget<'a> {
    Serial(&'a str),
    /// Every certificate of the unit that is not revoked yet (active, superseded, issued).
    Device(&'a str),
}

/// Marks certificates revoked in the registry. Takes effect at the broker with the next CRL.
pub fn revoke(
    journal: &Journal,
    target: RevokeTarget<'_>,
    reason: Reason,
    now: OffsetDateTime,
) -> Result<Vec<RegistryEntry>, AdminError> {
    let serials: Vec<String> = match target {
        RevokeTarget::Serial(serial) => {
            let serial = normalize_serial(serial)?;
            let entry = journal
                .certificate(&serial)?
                .ok_or_else(|| JournalError::UnknownCertificate(serial.clone()))?;
            vec![entry.serial]
        }
        RevokeTarget::Device(id) => {
            let all = journal.list_certificates(&CertFilter {
                device_id: Some(id),
                ..CertFilter::default()
            })?;
            if all.is_empty() {
                return Err(AdminError::UnknownDevice(id.to_owned()));
            }
            all.into_iter()
                .filter(|e| e.status != CertStatus::Revoked)
                .map(|e| e.serial)
                .collect()
        }
    };
    Ok(journal.revoke(&serials, reason.as_str(), now)?)
}

/// Accepts the serial as `openssl x509 -serial` or a browser prints it (colons, any case).
pub fn normalize_serial(serial: &str) -> Result<String, PkiError> {
    let s: String = serial
        .trim()
        .trim_start_matches("serial=")
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_uppercase();
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(PkiError::BadSerial(serial.to_owned()));
    }
    Ok(s)
}

/// Signs a CRL of every revoked certificate in the registry, with the next CRL number, and
/// records it.
pub fn sign_crl(
    ca: &UnlockedCa,
    journal: &Journal,
    now: OffsetDateTime,
    validity: Duration,
) -> Result<Crl, AdminError> {
    let revoked = journal.list_certificates(&CertFilter {
        status: Some(CertStatus::Revoked),
        ..CertFilter::default()
    })?;
    let entries: Vec<RevokedSerial> = revoked
        .iter()
        .map(|e| RevokedSerial {
            serial: e.serial.clone(),
            revoked_at: e
                .revoked_at
                .as_deref()
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                .unwrap_or(now),
            reason: e
                .revocation_reason
                .as_deref()
                .and_then(|r| r.parse().ok())
                .unwrap_or(Reason::Unspecified),
        })
        .collect();
    let number = journal.next_crl_number()?;
    let crl = ca.sign_crl(&entries, number, now, validity)?;
    journal.record_crl(
        crl.number,
        crl.this_update,
        crl.next_update,
        crl.revoked,
        &crl.sha256,
    )?;
    Ok(crl)
}

/// [`sign_crl`], written to `path` atomically: a broker reloading mid-write must never read
/// half a CRL (mosquitto would then refuse every client).
pub fn write_crl(
    ca: &UnlockedCa,
    journal: &Journal,
    path: &Path,
    now: OffsetDateTime,
    validity: Duration,
) -> Result<Crl, AdminError> {
    let crl = sign_crl(ca, journal, now, validity)?;
    let io = |source| AdminError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io)?;
    }
    let tmp = path.with_extension("crl.tmp");
    fs::write(&tmp, &crl.pem).map_err(io)?;
    fs::rename(&tmp, path).map_err(io)?;
    Ok(crl)
}
