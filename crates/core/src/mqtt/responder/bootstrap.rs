//! What the in-band backends (aws-fleet, azure-dps) share: a unit is admitted by the
//! bootstrap certificate the station issued it, and its operational certificate is issued on
//! the station's CA under the station's policy, each exchange a journal session of its own.
//!
//! A generic broker does not tell a subscriber who published a message, so a backend binds the
//! exchange to the unit named in the request (the CSR's CN, the registration id); the broker's
//! CRL and ACL decide who may connect with a bootstrap certificate at all.

use base64::Engine;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::{Coded, ErrorInfo};
use crate::journal::{CertFilter, CertStatus, Journal, KeyOrigin, NewSession, SessionResult};
use crate::mqtt::dialect::Dialect;
use crate::pki::{IssuedCert, UnlockedCa};
use crate::station::issuing::{issue_for_device, validate_csr, Issuing};
use crate::station::Station;

/// The journal "port" of in-band exchanges starts with this, then the dialect: a certificate
/// issued in one is operational, never a bootstrap.
const IN_BAND_PORT_PREFIX: &str = "in-band:";

/// The station, its unlocked CA and its journal, as a backend issues on them.
pub struct InbandIssuer {
    station: Station,
    ca: UnlockedCa,
    journal: Journal,
    port: String,
}

impl std::fmt::Debug for InbandIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InbandIssuer")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl InbandIssuer {
    pub fn new(
        station: Station,
        ca: UnlockedCa,
        dialect: Dialect,
    ) -> Result<Self, crate::journal::JournalError> {
        let journal = station.journal()?;
        Ok(Self {
            station,
            ca,
            journal,
            port: format!("{IN_BAND_PORT_PREFIX}{dialect}"),
        })
    }

    /// Opens the journal session of one exchange.
    pub(super) fn begin(&self, now: OffsetDateTime) -> Result<i64, ErrorInfo> {
        self.journal
            .begin_session(&NewSession {
                station_id: &self.station.config.station_id,
                operator: "responder",
                port: &self.port,
                work_order: None,
                started_at: now,
            })
            .map_err(|e| e.info())
    }

    /// Closes an exchange's session: passed without an error, failed with it.
    pub(super) fn finish(&self, session_id: i64, error: Option<&ErrorInfo>, now: OffsetDateTime) {
        let result = match error {
            None => SessionResult::Pass,
            Some(_) => SessionResult::Fail,
        };
        if let Err(e) = self.journal.finish_session(session_id, result, error, now) {
            tracing::warn!("in-band session {session_id} not closed: {e}");
        }
    }

    /// Issues the operational certificate for the unit named in `csr_der` (its CN), after its
    /// bootstrap certificate admitted it. The certificate is recorded as `issued`: it counts as
    /// the unit's once [`InbandIssuer::activate`] confirms it. Returns it and the unit's id.
    pub(super) fn issue(
        &self,
        session_id: i64,
        csr_der: &[u8],
        now: OffsetDateTime,
    ) -> Result<(IssuedCert, String), ErrorInfo> {
        let device_id = crate::pki::csr::common_name(csr_der).map_err(|e| e.info())?;
        self.journal
            .set_identity(session_id, &device_id, "", "")
            .map_err(|e| e.info())?;
        if let Some(refused) = refuse_bootstrap(&self.journal, &device_id, now) {
            return Err(refused);
        }
        // The operational certificate replaces the bootstrap one: a recommission, as far as the
        // one-active-certificate rule goes.
        let csr = validate_csr(&self.station, &self.journal, csr_der, &device_id, true)
            .map_err(|e| e.info())?;
        let cert = issue_for_device(
            Issuing {
                station: &self.station,
                ca: &self.ca,
                journal: &self.journal,
                records: &self.journal,
                session_id,
            },
            &csr.spki_der,
            &device_id,
            KeyOrigin::Device,
            now,
        )
        .map_err(|e| e.info())?;
        Ok((cert, device_id))
    }

    /// The unit whose bootstrap identity `requester` is (the profile's `bootstrap_cn`).
    pub(super) fn unit_of(&self, requester: &str) -> Result<String, ErrorInfo> {
        let profile = &self.station.config.provisioning;
        profile
            .device_id_of_bootstrap(requester)
            .map(str::to_owned)
            .ok_or_else(|| {
                refuse(
                    InbandRefusal::NotBootstrap,
                    format!(
                        "{requester} is no bootstrap identity (the profile's bootstrap_cn is {})",
                        profile.bootstrap_cn
                    ),
                )
            })
    }

    /// Admits the bootstrap identity `requester` without issuing anything: its unit must hold
    /// a usable bootstrap. Returns the unit.
    pub(super) fn admit(
        &self,
        session_id: i64,
        requester: &str,
        now: OffsetDateTime,
    ) -> Result<String, ErrorInfo> {
        let unit = self.unit_of(requester)?;
        self.journal
            .set_identity(session_id, &unit, "", "")
            .map_err(|e| e.info())?;
        match refuse_bootstrap(&self.journal, &unit, now) {
            Some(refused) => Err(refused),
            None => Ok(unit),
        }
    }

    /// Issues and activates the operational certificate the bootstrap identity `requester`
    /// asks for with `csr_der`, which must name the requester's unit. For the one-message
    /// dialects, which have no confirmation step. Returns the chain as base64 DER, the unit's
    /// certificate first.
    pub(super) fn issue_for_requester(
        &self,
        session_id: i64,
        requester: &str,
        csr_der: &[u8],
        now: OffsetDateTime,
    ) -> Result<Vec<String>, ErrorInfo> {
        let unit = self.unit_of(requester)?;
        let named = crate::pki::csr::common_name(csr_der).map_err(|e| e.info())?;
        if named != unit {
            return Err(refuse(
                InbandRefusal::ParameterMismatch,
                format!(
                    "the CSR names {named}, the requester {requester} is the bootstrap of {unit}"
                ),
            ));
        }
        let (cert, _) = self.issue(session_id, csr_der, now)?;
        self.activate(&cert.serial)?;
        let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
        Ok(vec![b64(&cert.der), b64(self.ca.issuing_der())])
    }

    /// Makes an issued certificate the unit's: the bootstrap one is superseded in the same
    /// transaction, so a second exchange with it is refused as already used.
    pub(super) fn activate(&self, serial: &str) -> Result<(), ErrorInfo> {
        crate::journal::CertificateRecords::activate_certificate(&self.journal, serial)
            .map_err(|e| e.info())
    }
}

/// Why a unit's bootstrap certificate does not admit it, with its own code each.
fn refuse_bootstrap(journal: &Journal, device_id: &str, now: OffsetDateTime) -> Option<ErrorInfo> {
    let certs = match journal.list_certificates(&CertFilter {
        device_id: Some(device_id),
        ..CertFilter::default()
    }) {
        Ok(c) => c,
        Err(e) => return Some(refuse(InbandRefusal::RegistryUnavailable, e.to_string())),
    };
    if let Some(active) = certs.iter().find(|c| c.status == CertStatus::Active) {
        // An active certificate that an in-band exchange issued means the unit already has
        // its operational one. A certificate carried over by an archive has no session: not
        // an in-band one.
        let session = match active.session_id {
            Some(id) => journal.session(id),
            None => Ok(None),
        };
        match session {
            Ok(Some(session)) if session.port.starts_with(IN_BAND_PORT_PREFIX) => {
                return Some(refuse(
                    InbandRefusal::BootstrapUsed,
                    format!(
                        "{device_id} already obtained its operational certificate {} in band",
                        active.serial
                    ),
                ))
            }
            Ok(_) => {}
            Err(e) => return Some(refuse(InbandRefusal::RegistryUnavailable, e.to_string())),
        }
        // Only a certificate the station issued as a bootstrap admits a unit: an operational
        // certificate (commissioned out of band) must not get itself replaced this way.
        match journal.bootstrap_common_name(&active.serial) {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Some(refuse(
                    InbandRefusal::NotBootstrap,
                    format!(
                        "the active certificate {} of {device_id} is not a bootstrap certificate",
                        active.serial
                    ),
                ))
            }
            Err(e) => return Some(refuse(InbandRefusal::RegistryUnavailable, e.to_string())),
        }
        let expired = OffsetDateTime::parse(&active.not_after, &Rfc3339)
            .map(|t| t <= now)
            .unwrap_or(true);
        return expired.then(|| {
            refuse(
                InbandRefusal::BootstrapExpired,
                format!(
                    "the bootstrap certificate {} of {device_id} has expired",
                    active.serial
                ),
            )
        });
    }
    // Oldest first: the last one is the unit's latest certificate.
    Some(match certs.last() {
        None => refuse(
            InbandRefusal::BootstrapUnknown,
            format!("{device_id} has no bootstrap certificate in the registry"),
        ),
        Some(c) if c.revocation_reason.as_deref() == Some("superseded") => refuse(
            InbandRefusal::BootstrapUsed,
            format!(
                "the bootstrap certificate {} of {device_id} was already used",
                c.serial
            ),
        ),
        Some(c) => refuse(
            InbandRefusal::BootstrapRevoked,
            format!(
                "the bootstrap certificate {} of {device_id} is {}",
                c.serial, c.status
            ),
        ),
    })
}

/// Why an in-band backend refuses a unit, each with its own stable code.
#[derive(Debug, thiserror::Error)]
pub enum InbandRefusal {
    #[error("{0}")]
    BootstrapUnknown(String),
    #[error("{0}")]
    BootstrapUsed(String),
    #[error("{0}")]
    BootstrapRevoked(String),
    #[error("{0}")]
    BootstrapExpired(String),
    #[error("{0}")]
    ParameterMismatch(String),
    #[error("{0}")]
    NotBootstrap(String),
    #[error("the certificate registry cannot be read: {0}")]
    RegistryUnavailable(String),
    #[error("{0}")]
    NotServed(String),
    #[error("{0}")]
    TokenExpired(String),
}

impl Coded for InbandRefusal {
    fn code(&self) -> &'static str {
        match self {
            InbandRefusal::BootstrapUnknown(_) => "inband.bootstrap_unknown",
            InbandRefusal::BootstrapUsed(_) => "inband.bootstrap_used",
            InbandRefusal::BootstrapRevoked(_) => "inband.bootstrap_revoked",
            InbandRefusal::BootstrapExpired(_) => "inband.bootstrap_expired",
            InbandRefusal::ParameterMismatch(_) => "inband.parameter_mismatch",
            InbandRefusal::NotBootstrap(_) => "inband.not_bootstrap",
            InbandRefusal::RegistryUnavailable(_) => "inband.registry_unavailable",
            InbandRefusal::NotServed(_) => "inband.not_served",
            InbandRefusal::TokenExpired(_) => "inband.token_expired",
        }
    }
}

pub(super) fn refuse(make: fn(String) -> InbandRefusal, message: String) -> ErrorInfo {
    make(message).info()
}
