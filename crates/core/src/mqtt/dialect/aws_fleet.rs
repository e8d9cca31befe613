//! AWS IoT fleet provisioning by claim, JSON payload format, as AWS's device SDKs speak it
//! (awsiotsdk's `iotidentity`, read at 1.31.0).
//!
//! 1. The unit, connected with its claim (bootstrap) certificate, subscribes to
//!    `$aws/certificates/create-from-csr/json/{accepted,rejected}` and publishes
//!    `{"certificateSigningRequest": "<PEM>"}` on `$aws/certificates/create-from-csr/json`.
//!    Accepted: `{"certificateId", "certificatePem", "certificateOwnershipToken"}`.
//! 2. It subscribes to `$aws/provisioning-templates/{template}/provision/json/{accepted,rejected}`
//!    and publishes `{"certificateOwnershipToken", "parameters": {..}}` on
//!    `$aws/provisioning-templates/{template}/provision/json`.
//!    Accepted: `{"deviceConfiguration": {..}, "thingName"}`.
//!
//! Rejected, either step: `{"statusCode", "errorCode", "errorMessage"}`. Requests carry no
//! correlation: AWS answers on the publishing connection only, and the SDK takes whatever
//! arrives on the accepted or rejected topic as the answer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::is_topic_level;

/// Topic a unit publishes its CSR on.
pub const CREATE_FROM_CSR_TOPIC: &str = "$aws/certificates/create-from-csr/json";
/// Topic filter of every template's RegisterThing requests.
pub const REGISTER_THING_FILTER: &str = "$aws/provisioning-templates/+/provision/json";

const TEMPLATE_PREFIX: &str = "$aws/provisioning-templates/";
const TEMPLATE_SUFFIX: &str = "/provision/json";

/// A unit's request, as the backend reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    CreateFromCsr {
        csr_pem: String,
    },
    RegisterThing {
        template: String,
        ownership_token: String,
        parameters: BTreeMap<String, String>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateFromCsrBody {
    certificate_signing_request: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterThingBody {
    certificate_ownership_token: Option<String>,
    #[serde(default)]
    parameters: Option<BTreeMap<String, String>>,
}

/// Reads a request. `None` when `topic` is none of this dialect's request topics; `Some(Err)`
/// with the rejection to send when it is one but the payload is unusable.
pub fn parse_request(topic: &str, payload: &[u8]) -> Option<Result<Request, Rejection>> {
    if topic == CREATE_FROM_CSR_TOPIC {
        let parsed = serde_json::from_slice::<CreateFromCsrBody>(payload)
            .ok()
            .and_then(|b| b.certificate_signing_request)
            .filter(|csr| !csr.trim().is_empty());
        return Some(
            parsed
                .map(|csr_pem| Request::CreateFromCsr { csr_pem })
                .ok_or_else(|| {
                    Rejection::invalid_payload("certificateSigningRequest (a PEM CSR) is required")
                }),
        );
    }
    let template = template_of(topic)?;
    let parsed = serde_json::from_slice::<RegisterThingBody>(payload)
        .ok()
        .and_then(|b| {
            let token = b.certificate_ownership_token.filter(|t| !t.is_empty())?;
            Some((token, b.parameters.unwrap_or_default()))
        });
    Some(
        parsed
            .map(|(ownership_token, parameters)| Request::RegisterThing {
                template: template.to_owned(),
                ownership_token,
                parameters,
            })
            .ok_or_else(|| {
                Rejection::invalid_payload(
                    "certificateOwnershipToken is required and parameters must map strings to strings",
                )
            }),
    )
}

/// The template name in a RegisterThing request topic.
fn template_of(topic: &str) -> Option<&str> {
    let template = topic
        .strip_prefix(TEMPLATE_PREFIX)?
        .strip_suffix(TEMPLATE_SUFFIX)?;
    is_topic_level(template).then_some(template)
}

/// The RegisterThing request topic of `template`.
pub fn register_thing_topic(template: &str) -> String {
    format!("{TEMPLATE_PREFIX}{template}{TEMPLATE_SUFFIX}")
}

/// Where the answer to a request published on `request_topic` goes.
pub fn reply_topic(request_topic: &str, accepted: bool) -> String {
    let outcome = if accepted { "accepted" } else { "rejected" };
    format!("{request_topic}/{outcome}")
}

/// CreateCertificateFromCsr, accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateCreated {
    pub certificate_id: String,
    pub certificate_pem: String,
    pub certificate_ownership_token: String,
}

/// RegisterThing, accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingRegistered {
    pub device_configuration: BTreeMap<String, String>,
    pub thing_name: String,
}

/// Either step, rejected: AWS's error document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    pub status_code: u16,
    pub error_code: String,
    pub error_message: String,
}

impl Rejection {
    pub fn new(status_code: u16, error_code: &str, error_message: impl Into<String>) -> Self {
        Self {
            status_code,
            error_code: error_code.to_owned(),
            error_message: error_message.into(),
        }
    }

    pub fn invalid_payload(message: &str) -> Self {
        Self::new(400, "InvalidPayload", message)
    }
}

/// Serialises a reply body; these types hold only strings and maps, which always serialise.
pub fn encode<T: Serialize>(reply: &T) -> Vec<u8> {
    serde_json::to_vec(reply).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    #[test]
    fn create_from_csr_reads_the_pem_and_rejects_a_missing_one() {
        let req = parse_request(
            CREATE_FROM_CSR_TOPIC,
            br#"{"certificateSigningRequest":"-----BEGIN CERTIFICATE REQUEST-----\n..."}"#,
        );
        assert!(matches!(
            req,
            Some(Ok(Request::CreateFromCsr { csr_pem })) if csr_pem.starts_with("-----BEGIN")
        ));
        for bad in [
            &b"{}"[..],
            b"not json",
            br#"{"certificateSigningRequest":" "}"#,
        ] {
            let Some(Err(rejection)) = parse_request(CREATE_FROM_CSR_TOPIC, bad) else {
                panic!("{bad:?} accepted");
            };
            assert_eq!(rejection.status_code, 400);
            assert_eq!(rejection.error_code, "InvalidPayload");
        }
    }

    #[test]
    fn register_thing_reads_template_token_and_parameters() {
        let topic = register_thing_topic("factory-line-1");
        assert_eq!(
            topic,
            "$aws/provisioning-templates/factory-line-1/provision/json"
        );
        let req = parse_request(
            &topic,
            br#"{"certificateOwnershipToken":"tok","parameters":{"SerialNumber":"unit-1"}}"#,
        );
        let Some(Ok(Request::RegisterThing {
            template,
            ownership_token,
            parameters,
        })) = req
        else {
            panic!("not a RegisterThing: {req:?}");
        };
        assert_eq!(template, "factory-line-1");
        assert_eq!(ownership_token, "tok");
        assert_eq!(parameters["SerialNumber"], "unit-1");
    }

    #[test]
    fn register_thing_without_token_or_with_non_string_parameters_is_rejected() {
        let topic = register_thing_topic("t");
        for bad in [
            &br#"{"parameters":{}}"#[..],
            br#"{"certificateOwnershipToken":"tok","parameters":{"n":1}}"#,
        ] {
            assert!(
                matches!(parse_request(&topic, bad), Some(Err(r)) if r.error_code == "InvalidPayload"),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn reply_topics_and_foreign_topics() {
        assert_eq!(parse_request("$aws/things/x/shadow/update", b"{}"), None);
        assert_eq!(
            parse_request("$aws/provisioning-templates//provision/json", b"{}"),
            None
        );
        assert_eq!(
            parse_request(&format!("{CREATE_FROM_CSR_TOPIC}/accepted"), b"{}"),
            None
        );
        assert_eq!(
            reply_topic(CREATE_FROM_CSR_TOPIC, true),
            "$aws/certificates/create-from-csr/json/accepted"
        );
        assert_eq!(
            reply_topic(&register_thing_topic("t"), false),
            "$aws/provisioning-templates/t/provision/json/rejected"
        );
    }

    #[test]
    fn replies_use_the_sdk_field_names() {
        let created: Value = serde_json::from_slice(&encode(&CertificateCreated {
            certificate_id: "ab".into(),
            certificate_pem: "pem".into(),
            certificate_ownership_token: "tok".into(),
        }))
        .expect("test input");
        assert_eq!(
            created,
            json!({"certificateId": "ab", "certificatePem": "pem", "certificateOwnershipToken": "tok"})
        );
        let registered: Value = serde_json::from_slice(&encode(&ThingRegistered {
            device_configuration: BTreeMap::from([("Fleet".into(), "line-1".into())]),
            thing_name: "unit-1".into(),
        }))
        .expect("test input");
        assert_eq!(
            registered,
            json!({"deviceConfiguration": {"Fleet": "line-1"}, "thingName": "unit-1"})
        );
        let rejected: Value =
            serde_json::from_slice(&encode(&Rejection::new(403, "AccessDenied", "revoked")))
                .expect("test input");
        assert_eq!(
            rejected,
            json!({"statusCode": 403, "errorCode": "AccessDenied", "errorMessage": "revoked"})
        );
    }
}
