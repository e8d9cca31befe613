//! The backend of AWS IoT fleet provisioning by claim, on the station's own CA and registry.
//!
//! CreateCertificateFromCsr: the CSR is checked under the station's policy (key type, CN,
//! extensions), the unit must hold a usable bootstrap certificate in the registry, and the
//! hourly quota applies; the operational certificate is issued and recorded as `issued` (AWS's
//! PENDING_ACTIVATION) with a one-time ownership token. RegisterThing with that token activates
//! it, which supersedes the bootstrap certificate in the same transaction: a second exchange
//! with the same bootstrap is refused as already used. Every exchange is a journal session.
//!
//! A generic broker does not tell a subscriber who published a message, so the responder binds
//! the exchange to the unit named in the CSR; the broker's CRL and ACL decide who may connect
//! with a bootstrap certificate at all.

use std::collections::{BTreeMap, HashMap};

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::error::{Coded, ErrorInfo};
use crate::journal::{CertFilter, CertStatus, Journal, KeyOrigin, NewSession, SessionResult};
use crate::mqtt::dialect::aws_fleet::{
    self, CertificateCreated, Rejection, Request, ThingRegistered,
};
use crate::pki::UnlockedCa;
use crate::station::issuing::{issue_for_device, validate_csr, Issuing};
use crate::station::Station;

/// The journal "port" of in-band exchanges: a certificate issued in one is operational, never
/// a bootstrap.
const IN_BAND_PORT: &str = "in-band:aws-fleet";

/// AWS's ownership tokens expire after an hour.
const TOKEN_LIFETIME: Duration = Duration::hours(1);

/// Which templates exist and what each hands the unit.
#[derive(Debug, Clone, Default)]
pub struct FleetTemplates {
    /// Template name to its `deviceConfiguration`.
    pub templates: BTreeMap<String, BTreeMap<String, String>>,
}

/// An operational certificate issued and waiting for its RegisterThing.
struct Pending {
    device_id: String,
    serial: String,
    session_id: i64,
    expires_at: OffsetDateTime,
}

/// The fleet-provisioning backend: one per responder (tokens live in memory).
pub struct FleetBackend {
    station: Station,
    ca: UnlockedCa,
    journal: Journal,
    templates: FleetTemplates,
    pending: HashMap<String, Pending>,
}

impl std::fmt::Debug for FleetBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetBackend")
            .field("templates", &self.templates)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
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
            Ok(Some(session)) if session.port == IN_BAND_PORT => {
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

/// Why the fleet backend refuses a unit, each with its own stable code.
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
        }
    }
}

fn refuse(make: fn(String) -> InbandRefusal, message: String) -> ErrorInfo {
    make(message).info()
}

/// AWS's error document for a refusal of ours.
fn rejection(e: &ErrorInfo) -> Rejection {
    let (status, aws_code) = match e.code.as_str() {
        c if c.starts_with("inband.bootstrap") || c == "inband.not_bootstrap" => {
            (403, "AccessDenied")
        }
        c if c.starts_with("csr.") => (400, "InvalidCSR"),
        "policy.quota_exceeded" => (429, "Throttled"),
        _ => (500, "InternalFailure"),
    };
    Rejection::new(status, aws_code, format!("{}: {}", e.code, e.message))
}

impl FleetBackend {
    pub fn new(
        station: Station,
        ca: UnlockedCa,
        templates: FleetTemplates,
    ) -> Result<Self, crate::journal::JournalError> {
        let journal = station.journal()?;
        Ok(Self {
            station,
            ca,
            journal,
            templates,
            pending: HashMap::new(),
        })
    }

    /// The reply (topic and payload) to a message, or `None` when it is no fleet request.
    pub fn reply(
        &mut self,
        topic: &str,
        payload: &[u8],
        now: OffsetDateTime,
    ) -> Option<(String, Vec<u8>)> {
        let outcome = match aws_fleet::parse_request(topic, payload)? {
            Err(rejected) => Err(rejected),
            Ok(Request::CreateFromCsr { csr_pem }) => self
                .create_from_csr(&csr_pem, now)
                .map(|c| aws_fleet::encode(&c)),
            Ok(Request::RegisterThing {
                template,
                ownership_token,
                parameters,
            }) => self
                .register_thing(&template, &ownership_token, &parameters, now)
                .map(|r| aws_fleet::encode(&r)),
        };
        Some(match outcome {
            Ok(body) => (aws_fleet::reply_topic(topic, true), body),
            Err(rejected) => (
                aws_fleet::reply_topic(topic, false),
                aws_fleet::encode(&rejected),
            ),
        })
    }

    fn create_from_csr(
        &mut self,
        csr_pem: &str,
        now: OffsetDateTime,
    ) -> Result<CertificateCreated, Rejection> {
        self.pending.retain(|_, p| p.expires_at > now);
        let session_id = self
            .journal
            .begin_session(&NewSession {
                station_id: &self.station.config.station_id,
                operator: "responder",
                port: IN_BAND_PORT,
                work_order: None,
                started_at: now,
            })
            .map_err(|e| rejection(&e.info()))?;
        let result = self.issue(session_id, csr_pem, now);
        match result {
            Ok((created, pending)) => {
                self.pending
                    .insert(created.certificate_ownership_token.clone(), pending);
                Ok(created)
            }
            Err(e) => {
                let _ = self
                    .journal
                    .finish_session(session_id, SessionResult::Fail, Some(&e), now);
                Err(rejection(&e))
            }
        }
    }

    fn issue(
        &self,
        session_id: i64,
        csr_pem: &str,
        now: OffsetDateTime,
    ) -> Result<(CertificateCreated, Pending), ErrorInfo> {
        let der = pem_body(csr_pem).ok_or_else(|| {
            crate::pki::PkiError::CsrMalformed(
                "certificateSigningRequest is not a PEM certificate request".into(),
            )
            .info()
        })?;
        let device_id = crate::pki::csr::common_name(&der).map_err(|e| e.info())?;
        self.journal
            .set_identity(session_id, &device_id, "", "")
            .map_err(|e| e.info())?;
        if let Some(refused) = refuse_bootstrap(&self.journal, &device_id, now) {
            return Err(refused);
        }
        // The operational certificate replaces the bootstrap one: a recommission, as far as the
        // one-active-certificate rule goes.
        let csr = validate_csr(&self.station, &self.journal, &der, &device_id, true)
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
        let token = hex::encode(rand::random::<[u8; 32]>());
        Ok((
            CertificateCreated {
                certificate_id: cert.fingerprint.clone(),
                certificate_pem: cert.pem.clone(),
                certificate_ownership_token: token,
            },
            Pending {
                device_id,
                serial: cert.serial,
                session_id,
                expires_at: now + TOKEN_LIFETIME,
            },
        ))
    }

    fn register_thing(
        &mut self,
        template: &str,
        token: &str,
        parameters: &BTreeMap<String, String>,
        now: OffsetDateTime,
    ) -> Result<ThingRegistered, Rejection> {
        let Some(config) = self.templates.templates.get(template) else {
            return Err(Rejection::new(
                404,
                "NotFound",
                format!("no provisioning template {template}"),
            ));
        };
        // One use per token: taken out whatever the outcome.
        let Some(pending) = self.pending.remove(token).filter(|p| p.expires_at > now) else {
            return Err(Rejection::new(
                400,
                "InvalidToken",
                "unknown, used or expired certificateOwnershipToken",
            ));
        };
        let finish = |journal: &Journal, error: Option<&ErrorInfo>| {
            let result = if error.is_some() {
                SessionResult::Fail
            } else {
                SessionResult::Pass
            };
            journal.finish_session(pending.session_id, result, error, now)
        };
        if let Some(serial) = parameters
            .get("SerialNumber")
            .filter(|s| **s != pending.device_id)
        {
            let e = refuse(
                InbandRefusal::ParameterMismatch,
                format!(
                    "SerialNumber {serial} is not the certificate's unit {}",
                    pending.device_id
                ),
            );
            let _ = finish(&self.journal, Some(&e));
            return Err(Rejection::new(400, "InvalidParameters", e.message));
        }
        if let Err(e) =
            crate::journal::CertificateRecords::activate_certificate(&self.journal, &pending.serial)
        {
            let e = e.info();
            let _ = finish(&self.journal, Some(&e));
            return Err(rejection(&e));
        }
        let _ = finish(&self.journal, None);
        Ok(ThingRegistered {
            device_configuration: config.clone(),
            thing_name: pending.device_id,
        })
    }
}

/// The DER inside a PEM `CERTIFICATE REQUEST` (or `NEW CERTIFICATE REQUEST`) block.
fn pem_body(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let begin = pem.find("-----BEGIN ")?;
    let rest = &pem[begin..];
    let header_end = rest.find('\n')?;
    let header = &rest[..header_end];
    if !header.contains("CERTIFICATE REQUEST-----") {
        return None;
    }
    let body_end = rest.find("-----END ")?;
    let body: String = rest[header_end..body_end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}
