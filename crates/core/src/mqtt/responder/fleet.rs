//! The backend of AWS IoT fleet provisioning by claim, on the station's own CA and registry.
//!
//! CreateCertificateFromCsr: the CSR is checked under the station's policy (key type, CN,
//! extensions), the unit must hold a usable bootstrap certificate in the registry, and the
//! hourly quota applies; the operational certificate is issued and recorded as `issued` (AWS's
//! PENDING_ACTIVATION) with a one-time ownership token. RegisterThing with that token activates
//! it, which supersedes the bootstrap certificate in the same transaction: a second exchange
//! with the same bootstrap is refused as already used. Every exchange is a journal session.
//!
use std::collections::{BTreeMap, HashMap};

use time::{Duration, OffsetDateTime};

use super::bootstrap::{refuse, InbandIssuer, InbandRefusal};
use super::{DialectBackend, Incoming, Outgoing};
use crate::error::{Coded, ErrorInfo};
use crate::mqtt::dialect::aws_fleet::{
    self, CertificateCreated, Rejection, Request, ThingRegistered,
};
use crate::mqtt::dialect::Dialect;
use crate::pki::UnlockedCa;
use crate::station::Station;

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
    issuer: InbandIssuer,
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
        Ok(Self {
            issuer: InbandIssuer::new(station, ca, Dialect::AwsFleet)?,
            templates,
            pending: HashMap::new(),
        })
    }

    /// Closes the sessions of tokens that expired unregistered, as failed: a certificate the
    /// unit never claimed with RegisterThing is revoked with its session, not left `issued`.
    fn expire_tokens(&mut self, now: OffsetDateTime) {
        let expired: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.expires_at <= now)
            .map(|(token, _)| token.clone())
            .collect();
        for token in expired {
            if let Some(p) = self.pending.remove(&token) {
                let e = refuse(
                    InbandRefusal::TokenExpired,
                    format!(
                        "{} did not register its certificate {} within the ownership token's hour",
                        p.device_id, p.serial
                    ),
                );
                self.issuer.finish(p.session_id, Some(&e), now);
            }
        }
    }

    fn create_from_csr(
        &mut self,
        csr_pem: &str,
        now: OffsetDateTime,
    ) -> Result<CertificateCreated, Rejection> {
        self.expire_tokens(now);
        let session_id = self.issuer.begin(now).map_err(|e| rejection(&e))?;
        let issued = pem_body(csr_pem)
            .ok_or_else(|| {
                crate::pki::PkiError::CsrMalformed(
                    "certificateSigningRequest is not a PEM certificate request".into(),
                )
                .info()
            })
            .and_then(|der| self.issuer.issue(session_id, &der, now));
        match issued {
            Ok((cert, device_id)) => {
                let token = hex::encode(rand::random::<[u8; 32]>());
                self.pending.insert(
                    token.clone(),
                    Pending {
                        device_id,
                        serial: cert.serial,
                        session_id,
                        expires_at: now + TOKEN_LIFETIME,
                    },
                );
                Ok(CertificateCreated {
                    certificate_id: cert.fingerprint,
                    certificate_pem: cert.pem,
                    certificate_ownership_token: token,
                })
            }
            Err(e) => {
                self.issuer.finish(session_id, Some(&e), now);
                Err(rejection(&e))
            }
        }
    }

    fn register_thing(
        &mut self,
        template: &str,
        token: &str,
        parameters: &BTreeMap<String, String>,
        now: OffsetDateTime,
    ) -> Result<ThingRegistered, Rejection> {
        self.expire_tokens(now);
        let Some(config) = self.templates.templates.get(template).cloned() else {
            return Err(Rejection::new(
                404,
                "NotFound",
                format!("no provisioning template {template}"),
            ));
        };
        // One use per token: taken out whatever the outcome.
        let Some(pending) = self.pending.remove(token) else {
            return Err(Rejection::new(
                400,
                "InvalidToken",
                "unknown, used or expired certificateOwnershipToken",
            ));
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
            self.issuer.finish(pending.session_id, Some(&e), now);
            return Err(Rejection::new(400, "InvalidParameters", e.message));
        }
        if let Err(e) = self.issuer.activate(&pending.serial) {
            self.issuer.finish(pending.session_id, Some(&e), now);
            return Err(rejection(&e));
        }
        self.issuer.finish(pending.session_id, None, now);
        Ok(ThingRegistered {
            device_configuration: config,
            thing_name: pending.device_id,
        })
    }
}

impl DialectBackend for FleetBackend {
    fn dialect(&self) -> Dialect {
        Dialect::AwsFleet
    }

    fn reply(&mut self, msg: Incoming<'_>, now: OffsetDateTime) -> Option<Outgoing> {
        Outgoing::plain(self.answer(msg.topic, msg.payload, now))
    }
}

impl FleetBackend {
    /// The reply (topic and payload) to a message, or `None` when it is no fleet request.
    pub fn answer(
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
