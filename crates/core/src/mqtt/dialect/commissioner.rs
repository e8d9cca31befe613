//! Commissioner's own dialect: MQTT v5 request/response on per-unit topics. The unit publishes
//! on `provisioning/{id}/request` with a Response Topic and Correlation Data; the backend
//! answers there with the same correlation data, a `Provisioning-Status` user property and a
//! JSON body. `docs/provisioning-handshake.md` is the normative description.

use serde_json::{json, Value};

/// Topic filter the responder serves: a shared subscription, so that each request goes to one
/// of the running responders.
pub const REQUEST_FILTER: &str = "$share/commissioner-responders/provisioning/+/request";

/// A unit's request, as the backend reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request<'a> {
    /// From the topic, which the broker's ACL ties to the certificate identity.
    pub device_id: &'a str,
    /// The serial the station says the unit holds, if it sent one.
    pub certificate_serial: Option<String>,
    /// Echoed in the reply: a 3.1.1 requester has no correlation data and matches by it.
    pub nonce: Option<Value>,
}

/// Reads a request, or `None` when `topic` is not a request topic. A body that is not JSON is
/// still a request (it carries no serial and no nonce): the unit gets an answer either way.
pub fn parse_request<'a>(topic: &'a str, payload: &[u8]) -> Option<Request<'a>> {
    let mut parts = topic.split('/');
    let (Some("provisioning"), Some(device_id), Some("request"), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let body: Value = serde_json::from_slice(payload).unwrap_or_default();
    Some(Request {
        device_id,
        certificate_serial: body["certificateSerial"].as_str().map(str::to_owned),
        nonce: body.get("nonce").cloned(),
    })
}

/// Where to answer when the request named no Response Topic.
pub fn default_response_topic(device_id: &str) -> String {
    format!("provisioning/{device_id}/response")
}

/// The reply's JSON body.
pub fn reply_body(request: &Request<'_>, status: &str, reason: Option<&str>) -> Vec<u8> {
    json!({
        "deviceId": request.device_id,
        "status": status,
        "reason": reason,
        "nonce": request.nonce,
    })
    .to_string()
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_topic_gives_the_device_id_and_body_the_serial_and_nonce() {
        let req = parse_request(
            "provisioning/unit-7/request",
            br#"{"certificateSerial":"0AB1","nonce":"n-1"}"#,
        )
        .expect("test input");
        assert_eq!(req.device_id, "unit-7");
        assert_eq!(req.certificate_serial.as_deref(), Some("0AB1"));
        assert_eq!(req.nonce, Some(json!("n-1")));
    }

    #[test]
    fn other_topics_are_not_requests_and_a_broken_body_still_is() {
        assert_eq!(parse_request("provisioning/unit-7/response", b"{}"), None);
        assert_eq!(parse_request("provisioning/a/b/request", b"{}"), None);
        assert_eq!(parse_request("other/unit-7/request", b"{}"), None);
        let req = parse_request("provisioning/unit-7/request", b"not json").expect("test input");
        assert_eq!(req.certificate_serial, None);
        assert_eq!(req.nonce, None);
    }

    #[test]
    fn reply_body_carries_status_reason_and_the_nonce_back() {
        let req = parse_request("provisioning/u1/request", br#"{"nonce":42}"#).expect("test input");
        let body: Value = serde_json::from_slice(&reply_body(&req, "Rejected", Some("revoked")))
            .expect("test input");
        assert_eq!(
            body,
            json!({"deviceId": "u1", "status": "Rejected", "reason": "revoked", "nonce": 42})
        );
        assert_eq!(default_response_topic("u1"), "provisioning/u1/response");
    }
}
