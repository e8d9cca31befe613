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
    /// In band: the unit's certificate request, base64 DER.
    pub csr: Option<String>,
}

/// Reads the body of `device_id`'s request (the profile's topic template named it). A body
/// that is not JSON is still a request (no serial, no nonce): the unit gets an answer anyway.
pub fn read_body<'a>(device_id: &'a str, payload: &[u8]) -> Request<'a> {
    let body: Value = serde_json::from_slice(payload).unwrap_or_default();
    Request {
        device_id,
        certificate_serial: body["certificateSerial"].as_str().map(str::to_owned),
        nonce: body.get("nonce").cloned(),
        csr: body["csr"].as_str().map(str::to_owned),
    }
}

/// What the reply says beyond its status: the reason of a refusal, our error code, and the
/// certificates an in-band request was issued (base64 DER, the unit's first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplyDetails {
    pub reason: Option<String>,
    pub error_code: Option<String>,
    pub certificate_chain: Option<Vec<String>>,
}

/// The reply's JSON body: a 3.1.1 requester has no properties and reads everything here.
pub fn reply_body(request: &Request<'_>, status: &str, details: &ReplyDetails) -> Vec<u8> {
    let mut body = json!({
        "deviceId": request.device_id,
        "status": status,
        "reason": details.reason,
        "nonce": request.nonce,
    });
    if let Some(code) = &details.error_code {
        body["errorCode"] = json!(code);
    }
    if let Some(chain) = &details.certificate_chain {
        body["certificateChain"] = json!(chain);
    }
    body.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_gives_the_serial_the_nonce_and_an_in_band_csr() {
        let req = read_body(
            "unit-7",
            br#"{"certificateSerial":"0AB1","nonce":"n-1","csr":"MAo="}"#,
        );
        assert_eq!(req.device_id, "unit-7");
        assert_eq!(req.certificate_serial.as_deref(), Some("0AB1"));
        assert_eq!(req.nonce, Some(json!("n-1")));
        assert_eq!(req.csr.as_deref(), Some("MAo="));
    }

    #[test]
    fn a_broken_body_is_still_a_request() {
        let req = read_body("unit-7", b"not json");
        assert_eq!(req.certificate_serial, None);
        assert_eq!(req.nonce, None);
        assert_eq!(req.csr, None);
    }

    #[test]
    fn reply_body_carries_status_reason_and_the_nonce_back() {
        let req = read_body("u1", br#"{"nonce":42}"#);
        let details = ReplyDetails {
            reason: Some("revoked".into()),
            ..ReplyDetails::default()
        };
        let body: Value =
            serde_json::from_slice(&reply_body(&req, "Rejected", &details)).expect("test input");
        assert_eq!(
            body,
            json!({"deviceId": "u1", "status": "Rejected", "reason": "revoked", "nonce": 42})
        );
        let issued = ReplyDetails {
            error_code: None,
            certificate_chain: Some(vec!["MAo=".into()]),
            reason: None,
        };
        let body: Value =
            serde_json::from_slice(&reply_body(&req, "Completed", &issued)).expect("test input");
        assert_eq!(body["certificateChain"], json!(["MAo="]));
    }
}
