//! The Azure IoT Hub Device Provisioning Service over MQTT, as azure-iot-device's
//! ProvisioningDeviceClient speaks it (read at 2.14.0, MQTT 3.1.1, api-version 2019-03-31).
//!
//! - CONNECT: client id = registration id; username
//!   `{idScope}/registrations/{registrationId}/api-version=2019-03-31&ClientVersion=...`.
//! - The unit subscribes to `$dps/registrations/res/#`, then publishes
//!   `{"payload": .., "registrationId": ".."}` on `$dps/registrations/PUT/iotdps-register/?$rid={rid}`.
//! - Every answer comes on `$dps/registrations/res/{status}/?$rid={rid}[&retry-after={s}]`.
//!   `202` + `{"operationId", "status": "assigning"}` sends the unit polling
//!   `$dps/registrations/GET/iotdps-get-operationstatus/?$rid={rid}&operationId={op}` (the SDK
//!   waits 2 s before the first poll, then `retry-after`), until `status` is `assigned` (with a
//!   `registrationState` naming the hub and device id) or `failed`. A status of 429 or more
//!   is retried after `retry-after`; 300 to 428 is a service error.
//!
//! With X.509 attestation and this api-version DPS issues no certificate: it assigns a hub and
//! a device id. Certificate issuance is DPS's 2025-07-01-preview API: the registration body
//! carries `csr` (the PKCS#10 request, base64 DER) and the assigned `registrationState` carries
//! `issuedCertificateChain` (base64 DER, the unit's certificate first). azure-iot-device
//! 2.14.0 sends no CSR; the station's own in-band handshake does. The preview's field names are
//! read from Microsoft's documentation of certificate issuance, not tested against Azure.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::query;

/// The api-version the pinned SDK sends.
pub const API_VERSION: &str = "2019-03-31";
/// The api-version of a registration that carries a CSR (certificate issuance).
pub const CSR_API_VERSION: &str = "2025-07-01-preview";
/// Where every DPS answer is published; units subscribe to it.
pub const RESPONSE_FILTER: &str = "$dps/registrations/res/#";
/// Topic filter of registration requests.
pub const REGISTER_FILTER: &str = "$dps/registrations/PUT/iotdps-register/+";
/// Topic filter of operation-status polls.
pub const OPERATION_STATUS_FILTER: &str = "$dps/registrations/GET/iotdps-get-operationstatus/+";

const REGISTER_PREFIX: &str = "$dps/registrations/PUT/iotdps-register/";
const STATUS_PREFIX: &str = "$dps/registrations/GET/iotdps-get-operationstatus/";

/// The MQTT username of a unit registering `registration_id` in `id_scope`.
pub fn username(id_scope: &str, registration_id: &str, api_version: &str) -> String {
    format!("{id_scope}/registrations/{registration_id}/api-version={api_version}")
}

/// The topic of a registration request with request id `rid`.
pub fn register_topic(rid: &str) -> String {
    format!("{REGISTER_PREFIX}?$rid={}", query::encode(rid))
}

/// The topic of an operation-status poll.
pub fn operation_status_topic(rid: &str, operation_id: &str) -> String {
    format!(
        "{STATUS_PREFIX}?$rid={}&operationId={}",
        query::encode(rid),
        query::encode(operation_id)
    )
}

/// The body of a registration request; `csr_der` asks for a certificate (preview API).
pub fn register_body(
    registration_id: &str,
    payload: Option<&Value>,
    csr_der: Option<&[u8]>,
) -> Vec<u8> {
    use base64::Engine;
    let mut body = json!({"registrationId": registration_id, "payload": payload});
    if let Some(der) = csr_der {
        body["csr"] = Value::String(base64::engine::general_purpose::STANDARD.encode(der));
    }
    body.to_string().into_bytes()
}

/// A unit's request, as the backend reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Register {
        rid: String,
        registration_id: String,
        /// The device's custom payload (`provisioning_payload`), passed to the allocation.
        payload: Option<Value>,
        /// The unit's certificate request (DER), when it asks for a certificate.
        csr_der: Option<Vec<u8>>,
    },
    OperationStatus {
        rid: String,
        operation_id: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterBody {
    registration_id: Option<String>,
    #[serde(default)]
    payload: Option<Value>,
    #[serde(default)]
    csr: Option<String>,
}

/// Reads a request. `None` when `topic` is no DPS request, or carries no `$rid` (without it no
/// answer can reach the unit); `Some(Err)` with the `400` reply when the body is unusable.
pub fn parse_request(topic: &str, payload: &[u8]) -> Option<Result<Request, Reply>> {
    if let Some(tail) = topic.strip_prefix(REGISTER_PREFIX) {
        let pairs = query::parse(tail)?;
        let rid = query::get(&pairs, "$rid")?.to_owned();
        let Some(body) = serde_json::from_slice::<RegisterBody>(payload).ok() else {
            return Some(Err(Reply::error(
                &rid,
                400,
                400_004,
                "the request body is not JSON",
            )));
        };
        let Some(registration_id) = body.registration_id.filter(|r| !r.is_empty()) else {
            return Some(Err(Reply::error(
                &rid,
                400,
                400_004,
                "registrationId is required in the request body",
            )));
        };
        let csr_der = match body.csr.as_deref().map(decode_base64) {
            None => None,
            Some(Some(der)) => Some(der),
            Some(None) => {
                return Some(Err(Reply::error(&rid, 400, 400_004, "csr is not base64")));
            }
        };
        return Some(Ok(Request::Register {
            rid,
            registration_id,
            payload: body.payload,
            csr_der,
        }));
    }
    let tail = topic.strip_prefix(STATUS_PREFIX)?;
    let pairs = query::parse(tail)?;
    let rid = query::get(&pairs, "$rid")?.to_owned();
    Some(match query::get(&pairs, "operationId") {
        Some(op) if !op.is_empty() => Ok(Request::OperationStatus {
            rid,
            operation_id: op.to_owned(),
        }),
        _ => Err(Reply::error(&rid, 400, 400_004, "operationId is required")),
    })
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// What an answer's topic says: its status, the request it answers, and when to poll again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTopic {
    pub status: u16,
    pub rid: String,
    pub retry_after_secs: Option<u32>,
}

/// Reads `$dps/registrations/res/{status}/?$rid=..[&retry-after=..]`; `None` for any other topic.
pub fn parse_reply_topic(topic: &str) -> Option<ReplyTopic> {
    let tail = topic.strip_prefix("$dps/registrations/res/")?;
    let (status, query_level) = tail.split_once('/')?;
    let pairs = query::parse(query_level)?;
    Some(ReplyTopic {
        status: status.parse().ok()?,
        rid: query::get(&pairs, "$rid")?.to_owned(),
        retry_after_secs: query::get(&pairs, "retry-after").and_then(|s| s.parse().ok()),
    })
}

/// The certificates of `issuedCertificateChain`, DER, the unit's first.
pub fn issued_chain(state: &RegistrationState) -> Option<Vec<Vec<u8>>> {
    state
        .issued_certificate_chain
        .as_ref()?
        .iter()
        .map(|c| decode_base64(c))
        .collect()
}

/// What DPS records for an assigned registration (`registrationState`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationState {
    pub registration_id: String,
    pub assigned_hub: String,
    pub device_id: String,
    pub status: String,
    pub substatus: String,
    pub created_date_time_utc: String,
    pub last_updated_date_time_utc: String,
    pub etag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// The certificate issued for the registration's CSR (preview API), base64 DER.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_certificate_chain: Option<Vec<String>>,
}

/// One answer: its HTTP-style status, the request id it answers, an optional `retry-after`,
/// and the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub rid: String,
    pub retry_after_secs: Option<u32>,
    pub body: Value,
}

impl Reply {
    /// `202`: registration accepted, poll `operation_id` after `retry_after_secs`.
    pub fn assigning(rid: &str, operation_id: &str, retry_after_secs: u32) -> Self {
        Self {
            status: 202,
            rid: rid.to_owned(),
            retry_after_secs: Some(retry_after_secs),
            body: json!({"operationId": operation_id, "status": "assigning"}),
        }
    }

    /// `200`: the registration is assigned.
    pub fn assigned(rid: &str, operation_id: &str, state: &RegistrationState) -> Self {
        Self {
            status: 200,
            rid: rid.to_owned(),
            retry_after_secs: None,
            body: json!({"operationId": operation_id, "status": "assigned", "registrationState": state}),
        }
    }

    /// `200` with `status: failed`: the registration was decided and refused.
    pub fn failed(
        rid: &str,
        operation_id: &str,
        registration_id: &str,
        error_code: u32,
        message: &str,
    ) -> Self {
        Self {
            status: 200,
            rid: rid.to_owned(),
            retry_after_secs: None,
            body: json!({
                "operationId": operation_id,
                "status": "failed",
                "registrationState": {
                    "registrationId": registration_id,
                    "status": "failed",
                    "errorCode": error_code,
                    "errorMessage": message,
                },
            }),
        }
    }

    /// An error status (`400`, `401`, `404`, `429`...), with DPS's error document.
    pub fn error(rid: &str, status: u16, error_code: u32, message: &str) -> Self {
        Self {
            status,
            rid: rid.to_owned(),
            retry_after_secs: None,
            body: json!({"errorCode": error_code, "message": message}),
        }
    }

    /// `$dps/registrations/res/{status}/?$rid={rid}[&retry-after={s}]`.
    pub fn topic(&self) -> String {
        let mut topic = format!(
            "$dps/registrations/res/{}/?$rid={}",
            self.status,
            query::encode(&self.rid)
        );
        if let Some(secs) = self.retry_after_secs {
            topic.push_str(&format!("&retry-after={secs}"));
        }
        topic
    }

    pub fn payload(&self) -> Vec<u8> {
        self.body.to_string().into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> RegistrationState {
        RegistrationState {
            registration_id: "unit-1".into(),
            assigned_hub: "hub.lab".into(),
            device_id: "unit-1".into(),
            status: "assigned".into(),
            substatus: "initialAssignment".into(),
            created_date_time_utc: "2026-12-04T09:00:00Z".into(),
            last_updated_date_time_utc: "2026-12-04T09:00:00Z".into(),
            etag: "\"1\"".into(),
            payload: None,
            issued_certificate_chain: None,
        }
    }

    #[test]
    fn register_request_as_the_sdk_sends_it() {
        // The SDK's body: json.dumps(sort_keys=True) of registrationId and payload.
        let req = parse_request(
            "$dps/registrations/PUT/iotdps-register/?$rid=6b8e2c1a-1",
            br#"{"payload": null, "registrationId": "unit-1"}"#,
        );
        assert_eq!(
            req,
            Some(Ok(Request::Register {
                rid: "6b8e2c1a-1".into(),
                registration_id: "unit-1".into(),
                payload: None,
                csr_der: None,
            }))
        );
    }

    #[test]
    fn a_registration_with_a_csr_round_trips_and_its_reply_topic_reads_back() {
        let body = register_body("boot-u1", None, Some(b"\x30\x03csr"));
        let req = parse_request(&register_topic("r/1"), &body);
        assert_eq!(
            req,
            Some(Ok(Request::Register {
                rid: "r/1".into(),
                registration_id: "boot-u1".into(),
                payload: None,
                csr_der: Some(b"\x30\x03csr".to_vec()),
            }))
        );
        let Some(Err(bad)) = parse_request(
            &register_topic("2"),
            br#"{"registrationId": "u", "csr": "not base64!"}"#,
        ) else {
            panic!("a broken csr was accepted");
        };
        assert_eq!(bad.status, 400);
        let reply = Reply::assigning("r/1", "4.op", 2);
        assert_eq!(
            parse_reply_topic(&reply.topic()),
            Some(ReplyTopic {
                status: 202,
                rid: "r/1".into(),
                retry_after_secs: Some(2),
            })
        );
        assert_eq!(
            parse_request(&operation_status_topic("3", "4.a/b"), b" "),
            Some(Ok(Request::OperationStatus {
                rid: "3".into(),
                operation_id: "4.a/b".into(),
            }))
        );
    }

    #[test]
    fn operation_status_request_reads_rid_and_operation_id() {
        // The SDK polls with a body of one space.
        let req = parse_request(
            "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=4.abc%2Fd",
            b" ",
        );
        assert_eq!(
            req,
            Some(Ok(Request::OperationStatus {
                rid: "2".into(),
                operation_id: "4.abc/d".into(),
            }))
        );
    }

    #[test]
    fn unusable_requests_get_a_400_and_rid_less_ones_no_answer() {
        let Some(Err(reply)) = parse_request(
            "$dps/registrations/PUT/iotdps-register/?$rid=9",
            br#"{"payload": null}"#,
        ) else {
            panic!("accepted without registrationId");
        };
        assert_eq!(reply.status, 400);
        assert_eq!(reply.topic(), "$dps/registrations/res/400/?$rid=9");
        assert_eq!(
            parse_request("$dps/registrations/PUT/iotdps-register/?x=1", b"{}"),
            None
        );
        assert_eq!(
            parse_request("$dps/registrations/res/202/?$rid=1", b"{}"),
            None
        );
    }

    #[test]
    fn assigning_reply_carries_retry_after_in_the_topic() {
        let reply = Reply::assigning("r 1", "4.op", 3);
        // The SDK splits the topic at '$' and reads rid and retry-after from the tail.
        assert_eq!(
            reply.topic(),
            "$dps/registrations/res/202/?$rid=r%201&retry-after=3"
        );
        assert_eq!(
            reply.body,
            json!({"operationId": "4.op", "status": "assigning"})
        );
    }

    #[test]
    fn assigned_and_failed_bodies_use_the_sdk_field_names() {
        let body: Value = serde_json::from_slice(&Reply::assigned("1", "op", &state()).payload())
            .expect("test input");
        assert_eq!(body["status"], "assigned");
        assert_eq!(body["registrationState"]["assignedHub"], "hub.lab");
        assert_eq!(body["registrationState"]["deviceId"], "unit-1");
        assert_eq!(body["registrationState"]["substatus"], "initialAssignment");
        assert_eq!(
            body["registrationState"]["createdDateTimeUtc"],
            "2026-12-04T09:00:00Z"
        );
        let failed = Reply::failed(
            "1",
            "op",
            "unit-1",
            401_002,
            "bootstrap certificate revoked",
        );
        assert_eq!(failed.status, 200);
        assert_eq!(failed.body["status"], "failed");
        assert_eq!(failed.body["registrationState"]["errorCode"], 401_002);
    }

    #[test]
    fn username_names_scope_registration_and_api_version() {
        assert_eq!(
            username("0ne00000001", "unit-1", API_VERSION),
            "0ne00000001/registrations/unit-1/api-version=2019-03-31"
        );
    }
}
