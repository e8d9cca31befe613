//! CA administration over the registry: revoke certificates and publish the CRL. The CLI's
//! `ca revoke` / `ca crl` and the lab broker's CRL all go through here, so they agree.

use std::fs;
use std::path::Path;

use thiserror::Error;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::crl_number;
use crate::error::Coded;
use crate::journal::chain::ChainHead;
use crate::journal::{CertFilter, CertStatus, Journal, JournalError, RegistryEntry};
use crate::pki::revoke::{Crl, Reason, RevokedSerial};
use crate::pki::{PkiError, UnlockedCa};

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
    #[error("certificate {serial} is already revoked as {reason} (since {since}); that reason stands: only key-compromise replaces it")]
    AlreadyRevoked {
        serial: String,
        reason: String,
        since: String,
    },
    #[error("the journal does not verify ([{code}] {message}): no CRL is signed from a registry that may have been altered; find out what changed (commissioner journal verify)")]
    RegistryUnverified { code: &'static str, message: String },
    #[error("the CRL number kept beside the CA ({path}) is unreadable: {reason}")]
    CrlNumber { path: String, reason: String },
    #[error(transparent)]
    Anchor(#[from] crate::journal::export::ExportError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Central(#[from] crate::central::CentralError),
}

impl Coded for AdminError {
    fn code(&self) -> &'static str {
        match self {
            AdminError::UnknownDevice(_) => "registry.unknown_device",
            AdminError::Io { .. } => "ca.io",
            AdminError::AlreadyRevoked { .. } => "revoke.already_revoked",
            AdminError::RegistryUnverified { .. } => "crl.registry_unverified",
            AdminError::CrlNumber { .. } => "crl.number_unreadable",
            AdminError::Pki(e) => e.code(),
            AdminError::Anchor(e) => e.code(),
            AdminError::Journal(e) => e.code(),
            AdminError::Central(e) => e.code(),
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

/// What [`revoke`] changed.
#[derive(Debug, Clone, Default)]
pub struct Revocations {
    /// Certificates revoked now, as they stand after.
    pub revoked: Vec<RegistryEntry>,
    /// Certificates already revoked for a lesser reason, now revoked for key compromise (their
    /// revocation date stays): a relying party must learn the key itself is not to be trusted.
    pub strengthened: Vec<RegistryEntry>,
}

/// Key compromise outranks every other reason; the others are equals, and the first stands.
fn stronger(new: Reason, old: Option<&str>) -> bool {
    new == Reason::KeyCompromise && old != Some(Reason::KeyCompromise.as_str())
}

/// Marks certificates revoked in the registry. Takes effect at the broker with the next CRL.
/// A certificate already revoked keeps its reason unless the new one is key compromise; asked
/// by serial to revoke it again for another lesser reason, this refuses and names the reason
/// that stands.
pub fn revoke(
    journal: &Journal,
    target: RevokeTarget<'_>,
    reason: Reason,
    now: OffsetDateTime,
) -> Result<Revocations, AdminError> {
    let candidates: Vec<RegistryEntry> = match target {
        RevokeTarget::Serial(serial) => {
            let serial = normalize_serial(serial)?;
            let entry = journal
                .certificate(&serial)?
                .ok_or_else(|| JournalError::UnknownCertificate(serial.clone()))?;
            let kept = entry.revocation_reason.as_deref();
            if entry.status == CertStatus::Revoked
                && kept != Some(reason.as_str())
                && !stronger(reason, kept)
            {
                return Err(AdminError::AlreadyRevoked {
                    serial: entry.serial.clone(),
                    reason: kept.unwrap_or("unspecified").to_owned(),
                    since: entry.revoked_at.clone().unwrap_or_default(),
                });
            }
            vec![entry]
        }
        RevokeTarget::Device(id) => {
            let all = journal.list_certificates(&CertFilter {
                device_id: Some(id),
                ..CertFilter::default()
            })?;
            if all.is_empty() {
                return Err(AdminError::UnknownDevice(id.to_owned()));
            }
            all
        }
    };
    let (revoked, upgraded): (Vec<_>, Vec<_>) = candidates
        .into_iter()
        .filter(|e| {
            e.status != CertStatus::Revoked || stronger(reason, e.revocation_reason.as_deref())
        })
        .partition(|e| e.status != CertStatus::Revoked);
    let serials = |v: Vec<RegistryEntry>| v.into_iter().map(|e| e.serial).collect::<Vec<_>>();
    Ok(Revocations {
        revoked: journal.revoke(&serials(revoked), reason.as_str(), now)?,
        strengthened: journal.strengthen_revocation(&serials(upgraded), reason.as_str())?,
    })
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

/// A CRL, and the journal's chain head its registry was verified at before signing.
#[derive(Debug, Clone)]
pub struct VerifiedCrl {
    pub crl: Crl,
    pub chain_head: ChainHead,
    /// Serials on the CRL that only the central store listed (revoked at other stations).
    pub from_central: usize,
}

/// Where a CRL's revocations come from.
#[derive(Debug, Clone, Copy)]
pub enum CrlScope<'a> {
    /// This station's registry.
    Local,
    /// This station's registry and every station's revocations of certificates this
    /// station's issuing CA signed, read from the central store (`ca crl --central`).
    Central {
        profile: &'a crate::central::CentralProfile,
        station_dir: &'a Path,
    },
}

/// Signs a CRL of every revoked certificate in the registry, with the next CRL number, and
/// records it. `published` is where the last CRL went, if it is kept: its number counts too.
///
/// The registry is verified first: a revocation cut out of the journal (with its chain entry
/// and the entries after it) must not silently drop a compromised unit off the CRL. The
/// number comes from the journal, but never goes back below the one kept beside the CA
/// (`ca/crl_number`) or the one of the published CRL: deleting journal rows cannot make a
/// broker accept an older CRL again.
///
/// With [`CrlScope::Central`], the central store is read after the journal verified and
/// before anything is numbered or written: a server that cannot be reached fails the CRL
/// (`central.unreachable`) and leaves the counter, the journal and the CRL file as they were.
pub fn sign_crl(
    ca: &UnlockedCa,
    journal: &Journal,
    published: Option<&Path>,
    now: OffsetDateTime,
    validity: Duration,
    scope: CrlScope<'_>,
) -> Result<VerifiedCrl, AdminError> {
    if validity <= Duration::ZERO {
        return Err(PkiError::BadCrlValidity(validity.whole_days()).into());
    }
    let report = journal.verify()?;
    if let Some(p) = report.problem {
        return Err(AdminError::RegistryUnverified {
            code: p.code,
            message: p.message,
        });
    }
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
    let (entries, from_central) = match scope {
        CrlScope::Local => (entries, 0),
        CrlScope::Central {
            profile,
            station_dir,
        } => {
            let mut central = crate::central::connect(profile, station_dir)?;
            let others = crate::central::crl::revoked_by_ca(&mut central, ca.issuing_der(), now)?;
            crate::central::crl::merge(entries, others)
        }
    };
    let from_journal = journal.next_crl_number()?;
    let counter = crl_number::CrlCounter::beside(ca);
    let last = counter
        .last()?
        .max(published.map_or(0, crl_number::published));
    let number = from_journal.max(last.saturating_add(1));
    // Kept before signing: a crash after this burns a number, it never reuses one.
    counter.store(number)?;
    let mut crl = ca.sign_crl(&entries, number, now, validity)?;
    crl.journal_number = from_journal;
    journal.record_crl(
        crl.number,
        crl.this_update,
        crl.next_update,
        crl.revoked,
        &crl.sha256,
    )?;
    Ok(VerifiedCrl {
        crl,
        chain_head: report.head,
        from_central,
    })
}

/// [`sign_crl`], written to `path` atomically: a broker reloading mid-write must never read
/// half a CRL (mosquitto would then refuse every client).
pub fn write_crl(
    ca: &UnlockedCa,
    journal: &Journal,
    path: &Path,
    now: OffsetDateTime,
    validity: Duration,
    scope: CrlScope<'_>,
) -> Result<VerifiedCrl, AdminError> {
    let signed = sign_crl(ca, journal, Some(path), now, validity, scope)?;
    let io = |source| AdminError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io)?;
    }
    let tmp = path.with_extension("crl.tmp");
    fs::write(&tmp, &signed.crl.pem).map_err(io)?;
    fs::rename(&tmp, path).map_err(io)?;
    Ok(signed)
}
