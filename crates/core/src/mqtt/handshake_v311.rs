//! The provisioning handshake over MQTT 3.1.1, for brokers that cannot do 5. Weaker, and the
//! audit says so: no user properties on CONNECT, no response topic or correlation data (the
//! reply is the next message on the unit's response topic), no reason codes on refusals, and
//! the status travels in the JSON payload (`{"status": …, "reason": …}`).

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
    let (client, mut events) = AsyncClient::new(opts, 16);
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + spec.timeout;
    let mut stage = "connecting";
    let mut connect_millis = 0;
    let mut pending_polls = 0;

    let outcome = loop {
        let event = match tokio::time::timeout_at(deadline, events.poll()).await {
            Err(_) => {
                break Err(MqttError::Timeout {
                    stage,
                    after: spec.timeout,
                })
            }
            Ok(Err(e)) => break Err(classify_v311(&e, &addr)),
            Ok(Ok(Event::Incoming(packet))) => packet,
            Ok(Ok(_)) => continue,
        };
        match event {
            Packet::ConnAck(_) => {
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
                if let Err(e) = publish(&client, spec).await {
                    break Err(e);
                }
            }
            Packet::Publish(p) if p.topic == spec.response_topic => {
                let reply: serde_json::Value =
                    serde_json::from_slice(&p.payload).unwrap_or_default();
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
                        })
                    }
                    Ok(Status::Pending) => {
                        pending_polls += 1;
                        let wait = poll_backoff(pending_polls);
                        tokio::time::sleep(wait.min(deadline - tokio::time::Instant::now())).await;
                        if let Err(e) = publish(&client, spec).await {
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

async fn publish(client: &AsyncClient, spec: &HandshakeSpec) -> Result<(), MqttError> {
    client
        .publish(
            spec.request_topic.clone(),
            QoS::AtLeastOnce,
            false,
            spec.payload.clone(),
        )
        .await
        .map_err(|e| MqttError::Connection(e.to_string()))
}
