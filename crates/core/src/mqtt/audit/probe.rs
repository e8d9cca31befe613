//! Connections the audit makes: connect as some identity (or none, or in plaintext) and say
//! exactly what the broker answered, so each check can quote it as evidence.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason, SubscribeReasonCode};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use rustls::ClientConfig;

use super::super::codes::classify_v311;
use super::super::{classify, puback_text, suback_text, MqttError};
use crate::error::Coded;
use crate::station::MqttVersion;

/// An open MQTT session of the audit, in the profile's MQTT version. A 3.1.1 session's answers
/// are given in MQTT 5's terms (a PUBACK is success, a SUBACK failure is unspecified), so
/// that the checks read both alike; what 3.1.1 cannot say stays unsaid.
// Sessions are few and already boxed where they are kept (`Connect::Accepted`).
#[allow(clippy::large_enum_variant)]
pub(super) enum Session {
    V5 {
        client: AsyncClient,
        events: EventLoop,
    },
    V311 {
        client: rumqttc::AsyncClient,
        events: rumqttc::EventLoop,
    },
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

/// One event of either version, as far as the audit reads it.
enum Seen {
    ConnAck,
    PubAck(PubAckReason),
    SubAck(SubscribeReasonCode),
    Publish(String),
    Other,
}

impl Session {
    async fn next(&mut self, addr: &str) -> Result<Seen, MqttError> {
        match self {
            Session::V5 { events, .. } => match events.poll().await {
                Err(e) => Err(classify(&e, addr)),
                Ok(Event::Incoming(Packet::ConnAck(_))) => Ok(Seen::ConnAck),
                Ok(Event::Incoming(Packet::PubAck(ack))) => Ok(Seen::PubAck(ack.reason)),
                Ok(Event::Incoming(Packet::SubAck(ack))) => Ok(Seen::SubAck(
                    ack.return_codes
                        .first()
                        .copied()
                        .unwrap_or(SubscribeReasonCode::Unspecified),
                )),
                Ok(Event::Incoming(Packet::Publish(p))) => Ok(Seen::Publish(
                    String::from_utf8_lossy(&p.topic).into_owned(),
                )),
                Ok(_) => Ok(Seen::Other),
            },
            Session::V311 { events, .. } => {
                use rumqttc::{Event as E, Packet as P, SubscribeReasonCode as S};
                match events.poll().await {
                    Err(e) => Err(classify_v311(&e, addr)),
                    Ok(E::Incoming(P::ConnAck(_))) => Ok(Seen::ConnAck),
                    Ok(E::Incoming(P::PubAck(_))) => Ok(Seen::PubAck(PubAckReason::Success)),
                    Ok(E::Incoming(P::SubAck(ack))) => {
                        Ok(Seen::SubAck(match ack.return_codes.first() {
                            Some(S::Success(q)) => SubscribeReasonCode::Success(match q {
                                rumqttc::QoS::AtMostOnce => QoS::AtMostOnce,
                                rumqttc::QoS::AtLeastOnce => QoS::AtLeastOnce,
                                rumqttc::QoS::ExactlyOnce => QoS::ExactlyOnce,
                            }),
                            _ => SubscribeReasonCode::Unspecified,
                        }))
                    }
                    Ok(E::Incoming(P::Publish(p))) => Ok(Seen::Publish(p.topic)),
                    Ok(_) => Ok(Seen::Other),
                }
            }
        }
    }

    async fn send_publish(&self, topic: &str, payload: &[u8]) -> Result<(), String> {
        match self {
            Session::V5 { client, .. } => client
                .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
                .await
                .map_err(|e| e.to_string()),
            Session::V311 { client, .. } => client
                .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload.to_vec())
                .await
                .map_err(|e| e.to_string()),
        }
    }

    async fn send_subscribe(&self, filter: &str) -> Result<(), String> {
        match self {
            Session::V5 { client, .. } => client
                .subscribe(filter, QoS::AtLeastOnce)
                .await
                .map_err(|e| e.to_string()),
            Session::V311 { client, .. } => client
                .subscribe(filter, rumqttc::QoS::AtLeastOnce)
                .await
                .map_err(|e| e.to_string()),
        }
    }
}

/// Connects to `host:port` as `client_id` in `version`; `tls` `None` means plaintext; `login`
/// (user name, password) where the profile names a password for the identity.
pub(super) async fn connect(
    host: &str,
    port: u16,
    tls: Option<Arc<ClientConfig>>,
    client_id: &str,
    timeout: Duration,
    version: MqttVersion,
    login: Option<(&str, &str)>,
) -> Connect {
    let addr = format!("{host}:{port}");
    let transport = tls.map(|tls| Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
    let mut session = match version {
        MqttVersion::V5 => {
            let mut opts = MqttOptions::new(client_id, host, port);
            opts.set_keep_alive(Duration::from_secs(30));
            // A second after this probe's own deadline, which speaks first and names a timeout.
            opts.set_connection_timeout(timeout.as_secs() + 1);
            if let Some(t) = transport {
                opts.set_transport(t);
            }
            if let Some((user, password)) = login {
                opts.set_credentials(user, password);
            }
            let (client, events) = AsyncClient::new(opts, 16);
            Session::V5 { client, events }
        }
        MqttVersion::V311 => {
            let mut opts = rumqttc::MqttOptions::new(client_id, host, port);
            opts.set_keep_alive(Duration::from_secs(30));
            if let Some(t) = transport {
                opts.set_transport(t);
            }
            if let Some((user, password)) = login {
                opts.set_credentials(user, password);
            }
            let (client, mut events) = rumqttc::AsyncClient::new(opts, 16);
            let mut net = rumqttc::NetworkOptions::new();
            net.set_connection_timeout(timeout.as_secs() + 1);
            events.set_network_options(net);
            Session::V311 { client, events }
        }
    };
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, session.next(&addr)).await {
            Err(_) => {
                return Connect::Refused(MqttError::Timeout {
                    stage: "connecting",
                    after: timeout,
                })
            }
            Ok(Err(e)) => return Connect::Refused(e),
            Ok(Ok(Seen::ConnAck)) => return Connect::Accepted(Box::new(session)),
            Ok(Ok(_)) => {}
        }
    }
}

/// What the broker answered to a QoS 1 publish.
pub(super) enum PubAnswer {
    Ack(PubAckReason),
    /// A 3.1.1 PUBACK: it carries no reason code, and brokers acknowledge a publish they
    /// dropped for the ACL alike (mosquitto does), so it proves neither way.
    NoVerdict,
    /// No PUBACK: timeout or connection lost (the text says which).
    None(String),
}

/// Evidence for a 3.1.1 PUBACK.
pub(super) const NO_VERDICT: &str =
    "PUBACK without a reason code (MQTT 3.1.1: a publish the ACL dropped is acknowledged alike)";

impl Session {
    /// Publishes at QoS 1 and waits for the PUBACK, ignoring other traffic.
    pub async fn publish(&mut self, topic: &str, payload: &[u8], timeout: Duration) -> PubAnswer {
        if let Err(e) = self.send_publish(topic, payload).await {
            return PubAnswer::None(e);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.next("")).await {
                Err(_) => return PubAnswer::None(format!("no PUBACK within {timeout:?}")),
                Ok(Err(e)) => return PubAnswer::None(format!("connection lost: {e}")),
                Ok(Ok(Seen::PubAck(_))) if matches!(self, Session::V311 { .. }) => {
                    return PubAnswer::NoVerdict
                }
                Ok(Ok(Seen::PubAck(reason))) => return PubAnswer::Ack(reason),
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
            self.send_subscribe(filter).await?;
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                match tokio::time::timeout_at(deadline, self.next("")).await {
                    Err(_) => return Err(format!("no SUBACK for {filter} within {timeout:?}")),
                    Ok(Err(e)) => return Err(format!("connection lost: {e}")),
                    Ok(Ok(Seen::SubAck(code))) => {
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
        while let Ok(Ok(seen)) = tokio::time::timeout_at(deadline, self.next("")).await {
            if let Seen::Publish(topic) = seen {
                topics.push(topic);
            }
        }
        topics
    }

    /// Leaves cleanly so the broker log shows a normal disconnect; best effort.
    pub async fn close(mut self) {
        let sent = match &self {
            Session::V5 { client, .. } => client.disconnect().await.is_ok(),
            Session::V311 { client, .. } => client.disconnect().await.is_ok(),
        };
        if sent {
            let _ = tokio::time::timeout(Duration::from_millis(200), self.next("")).await;
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
