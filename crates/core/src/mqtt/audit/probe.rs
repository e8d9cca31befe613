//! Connections the audit makes: connect as some identity (or none, or in plaintext) and say
//! exactly what the broker answered, so each check can quote it as evidence.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason, SubscribeReasonCode};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use rustls::ClientConfig;

use super::super::{classify, puback_text, suback_text, MqttError};
use crate::error::Coded;

/// An open MQTT session of the audit.
pub(super) struct Session {
    pub client: AsyncClient,
    pub events: EventLoop,
}

/// What the broker said to a CONNECT.
pub(super) enum Connect {
    /// CONNACK success; boxed because an event loop is large and refusals are common.
    Accepted(Box<Session>),
    /// Refused: by TLS alert, CONNACK reason code, or a failed server check.
    Refused(MqttError),
}

/// Evidence text of an MQTT error: its stable code and the message.
pub(super) fn evidence(err: &MqttError) -> String {
    format!("{} ({err})", err.code())
}

/// Connects to `host:port` as `client_id`; `tls` `None` means plaintext.
pub(super) async fn connect(
    host: &str,
    port: u16,
    tls: Option<Arc<ClientConfig>>,
    client_id: &str,
    timeout: Duration,
) -> Connect {
    let addr = format!("{host}:{port}");
    let mut opts = MqttOptions::new(client_id, host, port);
    opts.set_keep_alive(Duration::from_secs(30));
    // A second after this probe's own deadline, which speaks first and names a timeout.
    opts.set_connection_timeout(timeout.as_secs() + 1);
    if let Some(tls) = tls {
        opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
    }
    let (client, mut events) = AsyncClient::new(opts, 16);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, events.poll()).await {
            Err(_) => {
                return Connect::Refused(MqttError::Timeout {
                    stage: "connecting",
                    after: timeout,
                })
            }
            Ok(Err(e)) => return Connect::Refused(classify(&e, &addr)),
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                return Connect::Accepted(Box::new(Session { client, events }))
            }
            Ok(Ok(_)) => {}
        }
    }
}

/// What the broker answered to a QoS 1 publish.
pub(super) enum PubAnswer {
    Ack(PubAckReason),
    /// No PUBACK: timeout or connection lost (the text says which).
    None(String),
}

impl Session {
    /// Publishes at QoS 1 and waits for the PUBACK, ignoring other traffic.
    pub async fn publish(&mut self, topic: &str, payload: &[u8], timeout: Duration) -> PubAnswer {
        if let Err(e) = self
            .client
            .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
            .await
        {
            return PubAnswer::None(e.to_string());
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.events.poll()).await {
                Err(_) => return PubAnswer::None(format!("no PUBACK within {timeout:?}")),
                Ok(Err(e)) => return PubAnswer::None(format!("connection lost: {e}")),
                Ok(Ok(Event::Incoming(Packet::PubAck(ack)))) => return PubAnswer::Ack(ack.reason),
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Subscribes to each filter and returns the SUBACK code per filter, as text.
    pub async fn subscribe(
        &mut self,
        filters: &[String],
        timeout: Duration,
    ) -> Result<Vec<(String, SubscribeReasonCode)>, String> {
        let mut out = Vec::new();
        for filter in filters {
            self.client
                .subscribe(filter.clone(), QoS::AtLeastOnce)
                .await
                .map_err(|e| e.to_string())?;
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                match tokio::time::timeout_at(deadline, self.events.poll()).await {
                    Err(_) => return Err(format!("no SUBACK for {filter} within {timeout:?}")),
                    Ok(Err(e)) => return Err(format!("connection lost: {e}")),
                    Ok(Ok(Event::Incoming(Packet::SubAck(ack)))) => {
                        let code = ack
                            .return_codes
                            .first()
                            .copied()
                            .unwrap_or(SubscribeReasonCode::Unspecified);
                        out.push((filter.clone(), code));
                        break;
                    }
                    Ok(Ok(_)) => {}
                }
            }
        }
        Ok(out)
    }

    /// Topics of the messages delivered to this session within `wait`.
    pub async fn delivered(&mut self, wait: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut topics = Vec::new();
        while let Ok(Ok(event)) = tokio::time::timeout_at(deadline, self.events.poll()).await {
            if let Event::Incoming(Packet::Publish(p)) = event {
                topics.push(String::from_utf8_lossy(&p.topic).into_owned());
            }
        }
        topics
    }

    /// Leaves cleanly so the broker log shows a normal disconnect; best effort.
    pub async fn close(mut self) {
        if self.client.disconnect().await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_millis(200), self.events.poll()).await;
        }
    }
}

/// PUBACK text including its reason code.
pub(super) fn puback(reason: &PubAckReason) -> String {
    puback_text(reason)
}

/// SUBACK text including its reason code.
pub(super) fn suback(code: &SubscribeReasonCode) -> String {
    suback_text(code)
}

/// Whether a TCP listener answers on `host:port`.
pub(super) async fn port_open(host: &str, port: u16, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await,
        Ok(Ok(_))
    )
}
