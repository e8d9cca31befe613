//! The station's issuance policy applied against the registry: which CSRs are acceptable for
//! which unit, how many certificates an hour, and when the station may generate a unit's key.

use std::sync::Mutex;

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use pkcs8::der::pem::LineEnding;
use pkcs8::der::SecretDocument;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::admin::AdminError;
use crate::journal::{CertificateRecords, Journal, KeyOrigin};
use crate::pki::csr::{self, CsrPolicy, KeyKind, ValidatedCsr};
use crate::pki::{IssuedCert, PkiError, UnlockedCa};
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
/// The count comes from the journal, so restarting the station does not reset it, plus the
/// certificates this process is signing right now.
pub fn check_quota(
    station: &Station,
    journal: &Journal,
    now: OffsetDateTime,
) -> Result<(), AdminError> {
    reserve(station, journal, now).map(drop)
}

/// One certificate being signed under the hourly quota: counted from the check until it is
/// recorded (or given up), so two sessions cannot both take the last one.
struct Reservation<'a> {
    signing: &'a Mutex<u64>,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut n = self.signing.lock().unwrap_or_else(|p| p.into_inner());
        *n = n.saturating_sub(1);
    }
}

fn reserve<'a>(
    station: &'a Station,
    journal: &Journal,
    now: OffsetDateTime,
) -> Result<Reservation<'a>, AdminError> {
    let limit = station.config.policy.max_per_hour;
    let signing = station.signing_now();
    let mut pending = signing.lock().unwrap_or_else(|p| p.into_inner());
    // A record that commits before its reservation is dropped is counted twice for that
    // instant: the quota errs on the side of refusing, never of signing one too many.
    let issued = journal.issued_since(now - Duration::hours(1))? + *pending;
    if issued >= u64::from(limit) {
        return Err(PkiError::QuotaExceeded { issued, limit }.into());
    }
    *pending += 1;
    Ok(Reservation { signing })
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

/// Refuses a unit id that the registry holds as a backend's or broker's: the unit would be
/// that service on the broker. Checked when the unit names itself and again before signing.
pub fn check_not_service(journal: &Journal, device_id: &str) -> Result<(), AdminError> {
    let kinds = journal.kinds_named(device_id)?;
    if kinds.iter().any(|k| *k != crate::journal::CertKind::Unit) {
        return Err(PkiError::ServiceName(device_id.to_owned()).into());
    }
    Ok(())
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
    check_not_service(ctx.journal, device_id)?;
    let _reserved = reserve(ctx.station, ctx.journal, now)?;
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

/// A P-256 key the station made for a unit that cannot make its own. Its PKCS#8 is wiped
/// from memory when this is dropped.
pub struct HostKey {
    pkcs8: aws_lc_rs::pkcs8::Document,
    spki: Vec<u8>,
}

impl std::fmt::Debug for HostKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostKey(ecdsa-p256, private half hidden)")
    }
}

impl HostKey {
    /// The private key, PKCS#8 DER: what `inject_key` sends to the unit.
    pub fn pkcs8_der(&self) -> &[u8] {
        self.pkcs8.as_ref()
    }

    /// The public key as a SubjectPublicKeyInfo, for the certificate.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The private key as PKCS#8 PEM, in memory that is wiped when dropped.
    pub fn to_pem(&self) -> Result<Zeroizing<String>, PkiError> {
        let doc = SecretDocument::try_from(self.pkcs8_der())
            .map_err(|_| PkiError::Issue(rcgen::Error::RingUnspecified))?;
        doc.to_pem("PRIVATE KEY", LineEnding::LF)
            .map_err(|_| PkiError::Issue(rcgen::Error::RingUnspecified))
    }
}

/// The fallback for a unit that cannot generate its own key: where the profile allows it (and,
/// unless this is a recommission, the unit holds no active certificate), the station generates
/// a P-256 key for it. Its certificate is then recorded as `host`.
pub fn host_key(
    station: &Station,
    journal: &Journal,
    device_id: &str,
    recommission: bool,
) -> Result<HostKey, AdminError> {
    if !station.config.policy.allow_host_generated_key {
        return Err(PkiError::HostKeyNotAllowed.into());
    }
    // The station makes P-256 keys only; a profile that does not allow them for units does
    // not get them this way either.
    let allowed = CsrPolicy::from_names(&station.config.policy.allowed_keys)?;
    if !allowed.allowed_keys.contains(&KeyKind::EcdsaP256) {
        return Err(PkiError::CsrKeyType("ecdsa-p256 (host-generated)".into()).into());
    }
    if !recommission {
        check_no_active(journal, device_id)?;
    }
    let unspecified = |_| PkiError::Issue(rcgen::Error::RingUnspecified);
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).map_err(unspecified)?;
    let spki: PublicKeyX509Der<'static> = pair.public_key().as_der().map_err(unspecified)?;
    Ok(HostKey {
        pkcs8: pair.to_pkcs8v1().map_err(unspecified)?,
        spki: spki.as_ref().to_vec(),
    })
}

/// [`host_key`], certified and recorded, for a unit that takes its key from a file: the key
/// comes back as PKCS#8 PEM in memory that is wiped when dropped.
pub fn issue_host_key(
    ctx: Issuing<'_>,
    device_id: &str,
    recommission: bool,
    now: OffsetDateTime,
) -> Result<(IssuedCert, Zeroizing<String>), AdminError> {
    let key = host_key(ctx.station, ctx.journal, device_id, recommission)?;
    let cert = issue_for_device(ctx, key.spki_der(), device_id, KeyOrigin::Host, now)?;
    Ok((cert, key.to_pem()?))
}

/// Signs a unit's in-band bootstrap certificate under the profile's `[provisioning]` (its own
/// CN pattern and hour-counted lifetime, the policy's O and OU), records it for the unit under
/// the quota like any certificate, and marks it bootstrap in the registry.
pub fn issue_bootstrap_for_device(
    ctx: Issuing<'_>,
    spki_der: &[u8],
    device_id: &str,
    origin: KeyOrigin,
    now: OffsetDateTime,
) -> Result<IssuedCert, AdminError> {
    check_not_service(ctx.journal, device_id)?;
    let profile = &ctx.station.config.provisioning;
    let common_name = profile.bootstrap_common_name(device_id);
    // The bootstrap name must not be a service's either: it is a user name on the broker.
    check_not_service(ctx.journal, &common_name)?;
    let _reserved = reserve(ctx.station, ctx.journal, now)?;
    let cert = ctx.ca.issue_bootstrap(
        spki_der,
        &common_name,
        &ctx.station.config.policy,
        &ctx.station.config.organization,
        Duration::hours(profile.bootstrap_validity_hours),
        now,
    )?;
    ctx.records
        .record_issued(ctx.session_id, device_id, &cert, now, origin)?;
    ctx.journal
        .mark_bootstrap(&cert.serial, device_id, &common_name)?;
    Ok(cert)
}
