//! The provisioning handshake over MQTT 3.1.1, for brokers that cannot do 5. Weaker, and the
//! audit says so: no user properties on CONNECT, no response topic or correlation data (the
//! reply is the next message on the unit's response topic), no reason codes on refusals, and
//! the status travels in the JSON payload (`{"status": …, "reason": …}`).
//!
//! With no correlation data, the request carries a fresh random `nonce` in its JSON body and
//! only a reply echoing it counts; retained messages are ignored (3.1.1 cannot ask the broker
//! to withhold them, but marks them). What either cannot stop: a client that may read the
//! request topic and write the response topic answers live with the nonce; the broker's ACL
//! must allow the response topic to the backend alone (the audit's `publish_response_topic`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{
    AsyncClient, Event, MqttOptions, Packet, QoS, SubscribeReasonCode, TlsConfiguration, Transport,
};
use rustls::ClientConfig;

use super::codes::classify_v311;
use super::handshake::{poll_backoff, read_status, HandshakeOutcome, HandshakeSpec, Status};
use super::MqttError;

/// Runs the 3.1.1 handshake on a thread of its own (see [`super::handshake::run`]).
pub fn run(spec: &HandshakeSpec, tls: Arc<ClientConfig>) -> Result<HandshakeOutcome, MqttError> {
    super::on_own_runtime(|| run_async(spec, tls))
}

async fn run_async(
    spec: &HandshakeSpec,
    tls: Arc<ClientConfig>,
) -> Result<HandshakeOutcome, MqttError> {
    let addr = format!("{}:{}", spec.host, spec.port);
    let mut opts = MqttOptions::new(spec.client_id.clone(), spec.host.clone(), spec.port);
    opts.set_keep_alive(Duration::from_secs(30));
    // 3.1.1 has no session expiry: clean session is the closest to "leave nothing behind".
    opts.set_clean_session(spec.session_expiry_secs == 0);
    opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
    let nonce = format!("{:032x}", rand::random::<u128>());
    let payload = with_nonce(&spec.payload, &nonce)?;
    let (client, mut events) = AsyncClient::new(opts, 16);
    let mut net = rumqttc::NetworkOptions::new();
    // A second after the handshake's own connect deadline, which speaks first (see v5).
    net.set_connection_timeout(spec.connect_limit().as_secs() + 1);
    events.set_network_options(net);
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + spec.timeout;
    let connect_deadline = tokio::time::Instant::now() + spec.connect_limit();
    let mut connected = false;
    let mut stage = "connecting";
    let mut connect_millis = 0;
    let mut pending_polls = 0;

    let outcome = loop {
        let until = if connected {
            deadline
        } else {
            connect_deadline
        };
        let event = match tokio::time::timeout_at(until, events.poll()).await {
            Err(_) => {
                break Err(MqttError::Timeout {
                    stage,
                    after: if connected {
                        spec.timeout
                    } else {
                        spec.connect_limit()
                    },
                })
            }
            Ok(Err(e)) => break Err(classify_v311(&e, &addr)),
            Ok(Ok(Event::Incoming(packet))) => packet,
            Ok(Ok(_)) => continue,
        };
        match event {
            Packet::ConnAck(_) => {
                connected = true;
                connect_millis = started.elapsed().as_millis() as u64;
                stage = "subscribing to the response topic";
                if let Err(e) = client
                    .subscribe(spec.response_topic.clone(), QoS::AtLeastOnce)
                    .await
                {
                    break Err(MqttError::Connection(e.to_string()));
                }
            }
            Packet::SubAck(ack) => {
                if !matches!(
                    ack.return_codes.first(),
                    Some(SubscribeReasonCode::Success(_))
                ) {
                    break Err(MqttError::SubscribeRefused {
                        topic: spec.response_topic.clone(),
                        reason: "failure (0x80; 3.1.1 gives no reason)".into(),
                    });
                }
                stage = "waiting for the provisioning reply";
                if let Err(e) = publish(&client, spec, &payload).await {
                    break Err(e);
                }
            }
            // A retained message is an old one, whoever left it: never the reply to this request.
            Packet::Publish(p) if p.retain => {}
            Packet::Publish(p) if p.topic == spec.response_topic => {
                let reply: serde_json::Value =
                    serde_json::from_slice(&p.payload).unwrap_or_default();
                if reply["nonce"].as_str() != Some(nonce.as_str()) {
                    // Not the reply to this request: a replay, or a reply to an earlier one.
                    continue;
                }
                let status = reply["status"].as_str().unwrap_or_default().to_owned();
                let reason = reply["reason"].as_str().map(str::to_owned);
                match read_status(&status, &reason) {
                    Err(e) => break Err(e),
                    Ok(Status::Completed) => {
                        break Ok(HandshakeOutcome {
                            status,
                            reason,
                            connect_millis,
                            total_millis: started.elapsed().as_millis() as u64,
                            pending_polls,
                            reply_body: p.payload.to_vec(),
                        })
                    }
                    Ok(Status::Pending) => {
                        pending_polls += 1;
                        let wait = poll_backoff(pending_polls);
                        tokio::time::sleep(wait.min(deadline - tokio::time::Instant::now())).await;
                        if let Err(e) = publish(&client, spec, &payload).await {
                            break Err(e);
                        }
                    }
                }
            }
            _ => {}
        }
    };
    if client.disconnect().await.is_ok() {
        let _ = tokio::time::timeout(Duration::from_millis(200), events.poll()).await;
    }
    outcome
}

/// The request body with `"nonce"` added; the body must be a JSON object.
fn with_nonce(payload: &[u8], nonce: &str) -> Result<Vec<u8>, MqttError> {
    let mut body: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|e| MqttError::Config(format!("the request payload is not JSON: {e}")))?;
    let Some(fields) = body.as_object_mut() else {
        return Err(MqttError::Config(
            "the request payload must be a JSON object to carry the 3.1.1 nonce".into(),
        ));
    };
    fields.insert("nonce".into(), nonce.into());
    Ok(body.to_string().into_bytes())
}

async fn publish(
    client: &AsyncClient,
    spec: &HandshakeSpec,
    payload: &[u8],
) -> Result<(), MqttError> {
    client
        .publish(
            spec.request_topic.clone(),
            QoS::AtLeastOnce,
            false,
            payload.to_vec(),
        )
        .await
        .map_err(|e| MqttError::Connection(e.to_string()))
}
