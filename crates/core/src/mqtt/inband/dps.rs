//! Azure DPS registration, as the unit: connect with the bootstrap identity (client id = the
//! registration id = the bootstrap CN), register with the unit's CSR, follow `202` with polls
//! after each `retry-after`, until the registration is assigned (with the issued certificate)
//! or refused. Request ids are random, so exchanges of several units can share the broker.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::{Packet, SubscribeReasonCode};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, EventLoop};
use rustls::ClientConfig;
use serde_json::Value;

use super::{connect_as, next, read_puback, ExchangeFailure, InbandConnection};
use crate::mqtt::dialect::azure_dps::{self, RegistrationState};
use crate::mqtt::{suback_text, MqttError};

/// Polls before the station gives up on an operation that stays `assigning`.
const MAX_POLLS: u32 = 10;
/// The longest `retry-after` the station honours: a line cannot wait a minute per unit.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// What a unit sends to DPS.
#[derive(Debug, Clone)]
pub struct DpsRequest {
    pub id_scope: String,
    /// The unit's certificate request (DER): asks DPS to issue its operational certificate.
    pub csr_der: Vec<u8>,
}

/// An assigned registration: its state, the issued certificates (DER, the unit's first), and
/// the messages both ways.
#[derive(Debug, Clone)]
pub struct DpsOutcome {
    pub state: RegistrationState,
    pub chain: Vec<Vec<u8>>,
    pub messages: Vec<String>,
}

/// Registers `conn.client_id` (the registration id) with `tls` (the bootstrap identity). On its
/// own runtime: the signer may be a slow, blocking device.
pub fn azure_dps_exchange(
    conn: &InbandConnection,
    request: &DpsRequest,
    tls: Arc<ClientConfig>,
) -> Result<DpsOutcome, ExchangeFailure> {
    let mut messages = Vec::new();
    let outcome = crate::mqtt::on_own_runtime(|| async {
        let username = azure_dps::username(
            &request.id_scope,
            &conn.client_id,
            azure_dps::CSR_API_VERSION,
        );
        let (client, mut events) = connect_as(conn, tls, Some(username));
        let result = register(&client, &mut events, conn, request, &mut messages).await;
        let _ = client.disconnect().await;
        result
    });
    match outcome {
        Ok((state, chain)) => Ok(DpsOutcome {
            state,
            chain,
            messages,
        }),
        Err(error) => Err(ExchangeFailure { error, messages }),
    }
}

/// One answer: its status, `retry-after`, and body.
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    body: Value,
}

/// Publishes one request and waits for the answer carrying its `rid`; other units' answers on
/// the shared reply topic are passed over.
async fn request(
    client: &AsyncClient,
    events: &mut EventLoop,
    conn: &InbandConnection,
    topic: String,
    body: Vec<u8>,
    rid: &str,
    messages: &mut Vec<String>,
) -> Result<Answer, MqttError> {
    client
        .publish(topic.clone(), QoS::AtLeastOnce, false, body)
        .await
        .map_err(|e| MqttError::Connection(e.to_string()))?;
    loop {
        match next(events, conn, "waiting for the DPS answer").await? {
            Packet::PubAck(ack) => read_puback(&ack.reason, &topic, messages)?,
            Packet::Publish(p) => {
                let Some(reply) = std::str::from_utf8(&p.topic)
                    .ok()
                    .and_then(azure_dps::parse_reply_topic)
                else {
                    continue;
                };
                if reply.rid != rid {
                    continue;
                }
                return Ok(Answer {
                    status: reply.status,
                    retry_after: reply
                        .retry_after_secs
                        .map(|s| Duration::from_secs(s.into()).min(MAX_RETRY_AFTER)),
                    body: serde_json::from_slice(&p.payload).unwrap_or(Value::Null),
                });
            }
            _ => {}
        }
    }
}

fn new_rid() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

/// DPS's error document as the exchange's error.
fn refused(status: u16, body: &Value, messages: &mut Vec<String>) -> MqttError {
    let text = format!(
        "DPS answered {status} {}: {}",
        body["errorCode"],
        body["message"].as_str().unwrap_or("(no message)")
    );
    messages.push(format!("<- {text}"));
    MqttError::Rejected(text)
}

async fn register(
    client: &AsyncClient,
    events: &mut EventLoop,
    conn: &InbandConnection,
    req: &DpsRequest,
    messages: &mut Vec<String>,
) -> Result<(RegistrationState, Vec<Vec<u8>>), MqttError> {
    loop {
        if let Packet::ConnAck(ack) = next(events, conn, "connecting").await? {
            messages.push(format!(
                "CONNACK as {} (bootstrap identity, scope {}): {:?}",
                conn.client_id, req.id_scope, ack.code
            ));
            break;
        }
    }
    client
        .subscribe(azure_dps::RESPONSE_FILTER, QoS::AtLeastOnce)
        .await
        .map_err(|e| MqttError::Connection(e.to_string()))?;
    loop {
        if let Packet::SubAck(ack) = next(events, conn, "subscribing to the DPS answers").await? {
            let filter = azure_dps::RESPONSE_FILTER;
            if let Some(refused) = ack
                .return_codes
                .iter()
                .find(|c| !matches!(c, SubscribeReasonCode::Success(_)))
            {
                messages.push(format!("SUBACK {filter}: {}", suback_text(refused)));
                return Err(MqttError::SubscribeRefused {
                    topic: filter.to_owned(),
                    reason: suback_text(refused),
                });
            }
            messages.push(format!("SUBACK {filter}: granted"));
            break;
        }
    }
    let mut rid = new_rid();
    messages.push(format!(
        "-> register $rid={rid} (registration id {}, CSR {} bytes)",
        conn.client_id,
        req.csr_der.len()
    ));
    let body = azure_dps::register_body(&conn.client_id, None, Some(&req.csr_der));
    let mut answer = request(
        client,
        events,
        conn,
        azure_dps::register_topic(&rid),
        body,
        &rid,
        messages,
    )
    .await?;
    let mut operation_id = String::new();
    for _ in 0..MAX_POLLS {
        let status_text = answer.body["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match (answer.status, status_text.as_str()) {
            (200, "assigned") => {
                let state: RegistrationState =
                    serde_json::from_value(answer.body["registrationState"].clone()).map_err(
                        |e| MqttError::BadStatus(format!("DPS assigned, unreadable state: {e}")),
                    )?;
                let chain = azure_dps::issued_chain(&state).unwrap_or_default();
                messages.push(format!(
                    "<- 200 assigned: hub {}, device id {}, {} issued certificate(s)",
                    state.assigned_hub,
                    state.device_id,
                    chain.len()
                ));
                return Ok((state, chain));
            }
            (200, "failed") => {
                let state = &answer.body["registrationState"];
                let text = format!(
                    "DPS registration failed {}: {}",
                    state["errorCode"],
                    state["errorMessage"].as_str().unwrap_or("(no message)")
                );
                messages.push(format!("<- {text}"));
                return Err(MqttError::Rejected(text));
            }
            (200..=299, _) => {
                if let Some(op) = answer.body["operationId"].as_str() {
                    operation_id = op.to_owned();
                }
                messages.push(format!(
                    "<- {} {status_text}: operation {operation_id}, retry-after {:?}",
                    answer.status, answer.retry_after
                ));
            }
            (429.., _) => {
                messages.push(format!(
                    "<- {} throttled, retry-after {:?}",
                    answer.status, answer.retry_after
                ));
            }
            (status, _) => return Err(refused(status, &answer.body, messages)),
        }
        tokio::time::sleep(answer.retry_after.unwrap_or(Duration::from_secs(2))).await;
        rid = new_rid();
        let (topic, body) = if operation_id.is_empty() {
            // Throttled before any operation began: register again.
            (
                azure_dps::register_topic(&rid),
                azure_dps::register_body(&conn.client_id, None, Some(&req.csr_der)),
            )
        } else {
            (
                azure_dps::operation_status_topic(&rid, &operation_id),
                b" ".to_vec(),
            )
        };
        messages.push(format!("-> poll $rid={rid} operation {operation_id}"));
        answer = request(client, events, conn, topic, body, &rid, messages).await?;
    }
    Err(MqttError::Timeout {
        stage: "waiting for DPS to assign the registration",
        after: conn.timeout * MAX_POLLS,
    })
}
