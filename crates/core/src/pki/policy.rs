//! The station's issuance policy applied against the registry: which CSRs are acceptable for
//! which unit, how many certificates an hour, and when the station may generate a unit's key.

use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::admin::AdminError;
use super::csr::{self, CsrPolicy, ValidatedCsr};
use super::{IssuedCert, PkiError, UnlockedCa};
use crate::journal::{CertificateRecords, Journal, KeyOrigin};
use crate::station::Station;

/// Validates a unit's CSR under the profile, and refuses a unit that already holds an active
/// certificate unless this is a recommission (which supersedes it once the new one is proven).
pub fn validate_csr(
    station: &Station,
    journal: &Journal,
    csr_der: &[u8],
    device_id: &str,
    recommission: bool,
) -> Result<ValidatedCsr, AdminError> {
    let policy = CsrPolicy::from_names(&station.config.policy.allowed_keys)?;
    let validated = csr::validate_with(csr_der, device_id, &policy)?;
    if !recommission {
        check_no_active(journal, device_id)?;
    }
    Ok(validated)
}

fn check_no_active(journal: &Journal, device_id: &str) -> Result<(), AdminError> {
    match journal.active_certificate(device_id)? {
        Some(active) => Err(PkiError::CsrDeviceHasCert {
            device_id: device_id.to_owned(),
            serial: active.serial,
        }
        .into()),
        None => Ok(()),
    }
}

/// Refuses to sign once the station has signed `max_per_hour` certificates in the last hour.
/// The count comes from the journal, so restarting the station does not reset it.
pub fn check_quota(
    station: &Station,
    journal: &Journal,
    now: OffsetDateTime,
) -> Result<(), AdminError> {
    let limit = station.config.policy.max_per_hour;
    let issued = journal.issued_since(now - Duration::hours(1))?;
    if issued >= u64::from(limit) {
        return Err(PkiError::QuotaExceeded { issued, limit }.into());
    }
    Ok(())
}

/// Who signs and where it is recorded.
#[derive(Debug, Clone, Copy)]
pub struct Issuing<'a> {
    pub station: &'a Station,
    pub ca: &'a UnlockedCa,
    /// Reads: the hourly quota, the unit's active certificate.
    pub journal: &'a Journal,
    /// Where the issued certificate is recorded: `journal` itself, or the station's group
    /// commit when sessions run side by side.
    pub records: &'a dyn CertificateRecords,
    /// The session the certificate belongs to.
    pub session_id: i64,
}

/// Signs a unit's certificate under the profile and records it before returning it, so that
/// no issued certificate is ever unaccounted for.
pub fn issue_for_device(
    ctx: Issuing<'_>,
    spki_der: &[u8],
    device_id: &str,
    origin: KeyOrigin,
    now: OffsetDateTime,
) -> Result<IssuedCert, AdminError> {
    check_quota(ctx.station, ctx.journal, now)?;
    let cert = ctx.ca.issue_device(
        spki_der,
        device_id,
        &ctx.station.config.policy,
        &ctx.station.config.organization,
        now,
    )?;
    ctx.records
        .record_issued(ctx.session_id, device_id, &cert, now, origin)?;
    Ok(cert)
}

/// The fallback for a unit that cannot generate its own key: the station generates a P-256
/// key, certifies it and records the certificate as `host`. Only where the profile allows it.
/// The key comes back as PKCS#8 PEM in memory that is wiped when dropped.
pub fn issue_host_key(
    ctx: Issuing<'_>,
    device_id: &str,
    recommission: bool,
    now: OffsetDateTime,
) -> Result<(IssuedCert, Zeroizing<String>), AdminError> {
    if !ctx.station.config.policy.allow_host_generated_key {
        return Err(PkiError::HostKeyNotAllowed.into());
    }
    if !recommission {
        check_no_active(ctx.journal, device_id)?;
    }
    let key =
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(PkiError::Issue)?;
    let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
    let cert = issue_for_device(ctx, &spki, device_id, KeyOrigin::Host, now)?;
    Ok((cert, Zeroizing::new(key.serialize_pem())))
}
