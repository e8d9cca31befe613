//! `enhanced_auth`: whether the broker supports MQTT 5 enhanced authentication, and what it
//! answers a CONNECT that names an Authentication Method (SCRAM-SHA-256, with a client-first
//! message as its data). Informational: a broker without it that says so (CONNACK 0x8C, Bad
//! authentication method) passes like one that continues with AUTH; one that accepts the
//! CONNECT without running the method it was asked for is a warning, as a client relying on
//! that method would be fooled.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, Packet};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use rustls::ClientConfig;

use super::{CheckResult, Outcome};
use crate::mqtt::classify;
use crate::station::{BrokerProfile, MqttVersion};

const NAME: &str = "enhanced_auth";
/// The method asked for: the one MQTT 5's specification uses as its example.
pub const METHOD: &str = "SCRAM-SHA-256";

/// Connects as `client_id` with `tls` (a unit of this CA, not the unit under audit) and reads
/// the broker's answer to the Authentication Method.
pub(super) async fn enhanced_auth(
    p: &BrokerProfile,
    tls: Arc<ClientConfig>,
    client_id: &str,
    timeout: Duration,
) -> CheckResult {
    if p.mqtt_version == MqttVersion::V311 {
        return CheckResult::new(
            NAME,
            Outcome::Skipped,
            "MQTT 3.1.1 has no enhanced authentication",
        );
    }
    let mut opts = MqttOptions::new(client_id, p.host.clone(), p.port);
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_connection_timeout(timeout.as_secs() + 1);
    opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
    opts.set_authentication_method(Some(METHOD.to_owned()));
    let nonce = hex::encode(rand::random::<[u8; 12]>());
    opts.set_authentication_data(Some(Bytes::from(format!(
        "n,,n=commissioner-audit,r={nonce}"
    ))));
    let (client, mut events) = AsyncClient::new(opts, 4);
    let addr = format!("{}:{}", p.host, p.port);
    let asked = format!("CONNECT with Authentication Method {METHOD}");
    let result = loop {
        match tokio::time::timeout(timeout, events.poll()).await {
            Err(_) => {
                break CheckResult::new(
                    NAME,
                    Outcome::Inconclusive,
                    format!("{asked}: no answer within {timeout:?}"),
                )
            }
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                break CheckResult::new(
                    NAME,
                    Outcome::Warn,
                    format!(
                        "{asked}: CONNACK success without any AUTH exchange; the broker ignores \
                         the method it was asked for"
                    ),
                )
            }
            Ok(Ok(_)) => continue,
            Ok(Err(ConnectionError::ConnectionRefused(
                ConnectReturnCode::BadAuthenticationMethod,
            ))) => {
                break CheckResult::new(
                    NAME,
                    Outcome::Pass,
                    format!(
                        "{asked}: not supported; CONNACK 0x8C (Bad authentication method), as \
                         MQTT 5 says"
                    ),
                )
            }
            Ok(Err(ConnectionError::NotConnAck(packet))) if matches!(*packet, Packet::Auth(_)) => {
                let reason = match *packet {
                    Packet::Auth(auth) => format!("{:?}", auth.code),
                    _ => String::new(),
                };
                break CheckResult::new(
                    NAME,
                    Outcome::Pass,
                    format!("{asked}: supported; the broker continues with AUTH ({reason})"),
                );
            }
            Ok(Err(e)) => {
                let err = classify(&e, &addr);
                let outcome = if err.is_connack_refusal() {
                    Outcome::Pass
                } else {
                    Outcome::Inconclusive
                };
                break CheckResult::new(
                    NAME,
                    outcome,
                    format!("{asked}: {}", super::probe::evidence(&err)),
                );
            }
        }
    };
    let _ = client.disconnect().await;
    result
}
