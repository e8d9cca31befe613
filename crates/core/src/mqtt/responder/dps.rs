//! The backend of the Azure IoT Hub Device Provisioning Service's MQTT flow, on the station's
//! own CA and registry.
//!
//! A registration is decided when it arrives and answered `202 assigning` with an operation id;
//! the unit's polls then get the decision (`assigned`, or `failed`). The registration id is the
//! unit's bootstrap common name (DPS's rule for X.509 attestation: registration id = CN), so the
//! unit is the one the profile's `bootstrap_cn` names.
//!
//! - With a `csr` (DPS's certificate issuance): the bootstrap must admit the unit, the CSR must
//!   name the same unit, and the operational certificate is issued and made active at once (DPS
//!   has no confirmation step): the bootstrap is superseded, so a replayed registration is
//!   refused as already used.
//! - Without one (X.509 attestation only, what azure-iot-device 2.14.0 sends): the bootstrap
//!   must admit the unit, which is assigned its hub and device id; nothing is issued and the
//!   bootstrap stays the unit's until an operational certificate supersedes it.
//!
//! Refusals are answered at once with DPS's error statuses: 401 for a bootstrap that does not
//! admit the unit, 400 for an unusable request or CSR, 429 with `retry-after` for the quota.

use std::collections::HashMap;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::bootstrap::InbandIssuer;
use super::{DialectBackend, Incoming, Outgoing};
use crate::error::ErrorInfo;
use crate::mqtt::dialect::azure_dps::{self, RegistrationState, Reply, Request};
use crate::mqtt::dialect::Dialect;
use crate::pki::UnlockedCa;
use crate::station::Station;

/// How long a decided operation can be polled: DPS keeps them for a while too.
const OPERATION_LIFETIME: Duration = Duration::hours(1);
/// What a refused-for-quota unit is told to wait, in seconds.
const QUOTA_RETRY_SECS: u32 = 60;

/// Where units are assigned, and what the allocation hands them.
#[derive(Debug, Clone)]
pub struct DpsAllocation {
    pub assigned_hub: String,
    /// Returned as the registration's `payload` (the SDK's `response_payload`).
    pub payload: Option<Value>,
    /// `retry-after` of the `202`: when the unit polls first.
    pub retry_after_secs: u32,
}

/// A decided registration, waiting to be polled.
struct Operation {
    state: RegistrationState,
    expires_at: OffsetDateTime,
}

/// The DPS backend: one per responder (operations live in memory).
pub struct DpsBackend {
    issuer: InbandIssuer,
    allocation: DpsAllocation,
    operations: HashMap<String, Operation>,
}

impl std::fmt::Debug for DpsBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpsBackend")
            .field("allocation", &self.allocation)
            .field("operations", &self.operations.len())
            .finish_non_exhaustive()
    }
}

/// DPS's status and error code for a refusal of ours; the message keeps our code first.
fn refusal_reply(rid: &str, e: &ErrorInfo) -> Reply {
    let (status, dps_code, retry) = match e.code.as_str() {
        c if c.starts_with("inband.bootstrap") || c == "inband.not_bootstrap" => {
            (401, 401_002, None)
        }
        c if c.starts_with("csr.") || c == "inband.parameter_mismatch" => (400, 400_004, None),
        "policy.quota_exceeded" => (429, 429_001, Some(QUOTA_RETRY_SECS)),
        _ => (500, 500_000, None),
    };
    let mut reply = Reply::error(rid, status, dps_code, &format!("{}: {}", e.code, e.message));
    reply.retry_after_secs = retry;
    reply
}

impl DpsBackend {
    pub fn new(
        station: Station,
        ca: UnlockedCa,
        allocation: DpsAllocation,
    ) -> Result<Self, crate::journal::JournalError> {
        Ok(Self {
            issuer: InbandIssuer::new(station, ca, Dialect::AzureDps)?,
            allocation,
            operations: HashMap::new(),
        })
    }

    fn register(
        &mut self,
        rid: &str,
        registration_id: &str,
        csr_der: Option<&[u8]>,
        now: OffsetDateTime,
    ) -> Reply {
        self.operations.retain(|_, op| op.expires_at > now);
        let session_id = match self.issuer.begin(now) {
            Ok(id) => id,
            Err(e) => return refusal_reply(rid, &e),
        };
        let decided = self.decide(session_id, registration_id, csr_der, now);
        self.issuer.finish(session_id, decided.as_ref().err(), now);
        match decided {
            Ok(state) => {
                let operation_id = format!("4.{}", hex::encode(rand::random::<[u8; 16]>()));
                self.operations.insert(
                    operation_id.clone(),
                    Operation {
                        state,
                        expires_at: now + OPERATION_LIFETIME,
                    },
                );
                Reply::assigning(rid, &operation_id, self.allocation.retry_after_secs)
            }
            Err(e) => refusal_reply(rid, &e),
        }
    }

    /// The registration's assignment, with its certificate when it asked for one.
    fn decide(
        &self,
        session_id: i64,
        registration_id: &str,
        csr_der: Option<&[u8]>,
        now: OffsetDateTime,
    ) -> Result<RegistrationState, ErrorInfo> {
        let device_id = self.issuer.unit_of(registration_id)?;
        let chain = match csr_der {
            Some(der) => {
                Some(
                    self.issuer
                        .issue_for_requester(session_id, registration_id, der, now)?,
                )
            }
            None => {
                self.issuer.admit(session_id, registration_id, now)?;
                None
            }
        };
        let stamp = now.format(&Rfc3339).unwrap_or_default();
        Ok(RegistrationState {
            registration_id: registration_id.to_owned(),
            assigned_hub: self.allocation.assigned_hub.clone(),
            device_id,
            status: "assigned".into(),
            substatus: "initialAssignment".into(),
            created_date_time_utc: stamp.clone(),
            last_updated_date_time_utc: stamp,
            etag: format!("\"{session_id}\""),
            payload: self.allocation.payload.clone(),
            issued_certificate_chain: chain,
        })
    }
}

impl DialectBackend for DpsBackend {
    fn dialect(&self) -> Dialect {
        Dialect::AzureDps
    }

    fn reply(&mut self, msg: Incoming<'_>, now: OffsetDateTime) -> Option<Outgoing> {
        Outgoing::plain(self.answer(msg.topic, msg.payload, now))
    }
}

impl DpsBackend {
    /// The reply (topic and payload) to a message, or `None` when it is no DPS request.
    pub fn answer(
        &mut self,
        topic: &str,
        payload: &[u8],
        now: OffsetDateTime,
    ) -> Option<(String, Vec<u8>)> {
        let reply = match azure_dps::parse_request(topic, payload)? {
            Err(reply) => reply,
            Ok(Request::Register {
                rid,
                registration_id,
                csr_der,
                payload: _,
            }) => self.register(&rid, &registration_id, csr_der.as_deref(), now),
            Ok(Request::OperationStatus { rid, operation_id }) => {
                match self.operations.get(&operation_id) {
                    Some(op) if op.expires_at > now => {
                        Reply::assigned(&rid, &operation_id, &op.state)
                    }
                    _ => Reply::error(
                        &rid,
                        404,
                        404_201,
                        &format!("no registration operation {operation_id}"),
                    ),
                }
            }
        };
        Some((reply.topic(), reply.payload()))
    }
}
