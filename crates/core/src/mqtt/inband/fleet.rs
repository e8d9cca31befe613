//! AWS fleet provisioning by claim, as the unit: CreateCertificateFromCsr then RegisterThing on
//! one connection made with the bootstrap identity.

use std::collections::BTreeMap;
use std::sync::Arc;

use rumqttc::v5::mqttbytes::v5::{Filter, Packet, SubscribeReasonCode};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, EventLoop};
use rustls::ClientConfig;

use super::{connect, next, read_puback, ExchangeFailure, InbandConnection};
use crate::mqtt::dialect::aws_fleet::{self, CertificateCreated, Rejection, ThingRegistered};
use crate::mqtt::{suback_text, MqttError};

/// What a unit sends in the AWS fleet exchange.
#[derive(Debug, Clone)]
pub struct FleetRequest {
    pub template: String,
    pub csr_pem: String,
    pub parameters: BTreeMap<String, String>,
}

/// The answers of an accepted exchange, and the messages both ways (secrets left out).
#[derive(Debug, Clone)]
pub struct FleetOutcome {
    pub created: CertificateCreated,
    pub registered: ThingRegistered,
    pub messages: Vec<String>,
}

/// Runs CreateCertificateFromCsr then RegisterThing on one connection made with `tls` (the
/// bootstrap identity). On its own runtime: the signer may be a slow, blocking device.
pub fn aws_fleet_exchange(
    conn: &InbandConnection,
    request: &FleetRequest,
    tls: Arc<ClientConfig>,
) -> Result<FleetOutcome, ExchangeFailure> {
    let mut messages = Vec::new();
    let outcome = crate::mqtt::on_own_runtime(|| fleet_async(conn, request, tls, &mut messages));
    match outcome {
        Ok((created, registered)) => Ok(FleetOutcome {
            created,
            registered,
            messages,
        }),
        Err(error) => Err(ExchangeFailure { error, messages }),
    }
}

/// Subscribes to a request's accepted and rejected topics, publishes it, and waits for one of
/// them. AWS's replies carry no correlation: whatever arrives there is the answer.
async fn ask(
    client: &AsyncClient,
    events: &mut EventLoop,
    conn: &InbandConnection,
    topic: &str,
    body: Vec<u8>,
    messages: &mut Vec<String>,
) -> Result<(bool, Vec<u8>), MqttError> {
    let accepted = aws_fleet::reply_topic(topic, true);
    let rejected = aws_fleet::reply_topic(topic, false);
    client
        .subscribe_many([
            Filter::new(accepted.clone(), QoS::AtLeastOnce),
            Filter::new(rejected.clone(), QoS::AtLeastOnce),
        ])
        .await
        .map_err(|e| MqttError::Connection(e.to_string()))?;
    loop {
        if let Packet::SubAck(ack) = next(events, conn, "subscribing to the replies").await? {
            if let Some(refused) = ack
                .return_codes
                .iter()
                .find(|c| !matches!(c, SubscribeReasonCode::Success(_)))
            {
                messages.push(format!("SUBACK {topic}/+: {}", suback_text(refused)));
                return Err(MqttError::SubscribeRefused {
                    topic: format!("{topic}/+"),
                    reason: suback_text(refused),
                });
            }
            messages.push(format!("SUBACK {topic}/accepted, /rejected: granted"));
            break;
        }
    }
    client
        .publish(topic.to_owned(), QoS::AtLeastOnce, false, body)
        .await
        .map_err(|e| MqttError::Connection(e.to_string()))?;
    loop {
        match next(events, conn, "waiting for the provisioning reply").await? {
            Packet::PubAck(ack) => read_puback(&ack.reason, topic, messages)?,
            Packet::Publish(p) if !p.retain && (p.topic == accepted || p.topic == rejected) => {
                return Ok((p.topic == accepted, p.payload.to_vec()));
            }
            _ => {}
        }
    }
}

/// A rejection document as the error of the exchange, with its codes for the journal.
fn rejected(step: &str, body: &[u8], messages: &mut Vec<String>) -> MqttError {
    let text = match serde_json::from_slice::<Rejection>(body) {
        Ok(r) => format!(
            "{step}: {} {}: {}",
            r.status_code, r.error_code, r.error_message
        ),
        Err(_) => format!("{step}: an unreadable rejection"),
    };
    messages.push(format!("<- rejected {text}"));
    MqttError::Rejected(text)
}

async fn fleet_async(
    conn: &InbandConnection,
    request: &FleetRequest,
    tls: Arc<ClientConfig>,
    messages: &mut Vec<String>,
) -> Result<(CertificateCreated, ThingRegistered), MqttError> {
    let (client, mut events) = connect(conn, tls);
    let result = fleet_steps(&client, &mut events, conn, request, messages).await;
    let _ = client.disconnect().await;
    result
}

async fn fleet_steps(
    client: &AsyncClient,
    events: &mut EventLoop,
    conn: &InbandConnection,
    request: &FleetRequest,
    messages: &mut Vec<String>,
) -> Result<(CertificateCreated, ThingRegistered), MqttError> {
    await_connack(events, conn, messages).await?;
    let body = serde_json::json!({ "certificateSigningRequest": request.csr_pem }).to_string();
    messages.push(format!(
        "-> {} (CSR, {} bytes of PEM)",
        aws_fleet::CREATE_FROM_CSR_TOPIC,
        request.csr_pem.len()
    ));
    let (ok, reply) = ask(
        client,
        events,
        conn,
        aws_fleet::CREATE_FROM_CSR_TOPIC,
        body.into_bytes(),
        messages,
    )
    .await?;
    if !ok {
        return Err(rejected("CreateCertificateFromCsr", &reply, messages));
    }
    let created: CertificateCreated = serde_json::from_slice(&reply).map_err(|e| {
        MqttError::BadStatus(format!(
            "CreateCertificateFromCsr accepted, unreadable: {e}"
        ))
    })?;
    messages.push(format!(
        "<- accepted: certificateId {}, certificate {} bytes, ownership token (withheld)",
        created.certificate_id,
        created.certificate_pem.len()
    ));

    let registered = register_step(
        client,
        events,
        conn,
        &request.template,
        &created.certificate_ownership_token,
        &request.parameters,
        messages,
    )
    .await?;
    Ok((created, registered))
}

/// RegisterThing alone, on a connection of its own: the audit replays an exchange's second
/// message with its (used) ownership token, which the backend must refuse.
pub fn replay_register_thing(
    conn: &InbandConnection,
    template: &str,
    token: &str,
    parameters: &BTreeMap<String, String>,
    tls: Arc<ClientConfig>,
) -> Result<ThingRegistered, ExchangeFailure> {
    let mut messages = Vec::new();
    let outcome = crate::mqtt::on_own_runtime(|| async {
        let (client, mut events) = connect(conn, tls);
        let result = async {
            await_connack(&mut events, conn, &mut messages).await?;
            register_step(
                &client,
                &mut events,
                conn,
                template,
                token,
                parameters,
                &mut messages,
            )
            .await
        }
        .await;
        let _ = client.disconnect().await;
        result
    });
    outcome.map_err(|error| ExchangeFailure { error, messages })
}

async fn await_connack(
    events: &mut EventLoop,
    conn: &InbandConnection,
    messages: &mut Vec<String>,
) -> Result<(), MqttError> {
    loop {
        if let Packet::ConnAck(ack) = next(events, conn, "connecting").await? {
            messages.push(format!(
                "CONNACK as {} (bootstrap identity): {:?}",
                conn.client_id, ack.code
            ));
            return Ok(());
        }
    }
}

async fn register_step(
    client: &AsyncClient,
    events: &mut EventLoop,
    conn: &InbandConnection,
    template: &str,
    token: &str,
    parameters: &BTreeMap<String, String>,
    messages: &mut Vec<String>,
) -> Result<ThingRegistered, MqttError> {
    let topic = aws_fleet::register_thing_topic(template);
    let body = serde_json::json!({
        "certificateOwnershipToken": token,
        "parameters": parameters,
    })
    .to_string();
    messages.push(format!(
        "-> {topic} (ownership token withheld, parameters {parameters:?})"
    ));
    let (ok, reply) = ask(client, events, conn, &topic, body.into_bytes(), messages).await?;
    if !ok {
        return Err(rejected("RegisterThing", &reply, messages));
    }
    let registered: ThingRegistered = serde_json::from_slice(&reply)
        .map_err(|e| MqttError::BadStatus(format!("RegisterThing accepted, unreadable: {e}")))?;
    messages.push(format!(
        "<- accepted: thingName {}, deviceConfiguration {:?}",
        registered.thing_name, registered.device_configuration
    ));
    Ok(registered)
}
