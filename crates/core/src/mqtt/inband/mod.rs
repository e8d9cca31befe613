//! The unit's side of in-band provisioning, as the station runs it on the unit's behalf (the
//! unit's key signs the TLS handshake through whatever signer the TLS config holds): each
//! dialect's exchange over the bootstrap identity ([`fleet`]: AWS fleet provisioning by claim;
//! [`dps`]: Azure DPS registration), and the plain CONNECT that proves the operational
//! identity afterwards.
//!
//! Every message is noted for the journal without its secrets: the ownership token and the
//! certificate body never appear, only their sizes and the certificate id.

mod dps;
mod fleet;
pub use dps::{azure_dps_exchange, DpsOutcome, DpsRequest};
pub use fleet::{aws_fleet_exchange, replay_register_thing, FleetOutcome, FleetRequest};

use std::sync::Arc;
use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use rustls::ClientConfig;

use super::{classify, MqttError};

/// Where and as whom the in-band exchange connects.
#[derive(Debug, Clone)]
pub struct InbandConnection {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    /// Limit of each stage: connect, and each request's answer.
    pub timeout: Duration,
}

/// A refused exchange: the broker's or the backend's answer, and the messages up to it.
#[derive(Debug)]
pub struct ExchangeFailure {
    pub error: MqttError,
    pub messages: Vec<String>,
}

/// Notes a PUBACK of a request on `topic`; a refusal is the exchange's error.
fn read_puback(
    reason: &rumqttc::v5::mqttbytes::v5::PubAckReason,
    topic: &str,
    messages: &mut Vec<String>,
) -> Result<(), MqttError> {
    use rumqttc::v5::mqttbytes::v5::PubAckReason;
    match reason {
        PubAckReason::Success | PubAckReason::NoMatchingSubscribers => {
            messages.push(format!("PUBACK {topic}: {reason:?}"));
            Ok(())
        }
        other => {
            let reason = super::puback_text(other);
            messages.push(format!("PUBACK {topic}: {reason}"));
            Err(MqttError::PublishRefused {
                topic: topic.to_owned(),
                reason,
            })
        }
    }
}

/// Connects with `tls` and disconnects at the CONNACK: proof that the broker admits the
/// identity. Returns the CONNACK's reason as the broker gave it.
pub fn connect_only(conn: &InbandConnection, tls: Arc<ClientConfig>) -> Result<String, MqttError> {
    super::on_own_runtime(|| async move {
        let (client, mut events) = connect(conn, tls);
        let result = loop {
            match next(&mut events, conn, "connecting").await? {
                Packet::ConnAck(ack) => break Ok(format!("{:?}", ack.code)),
                _ => continue,
            }
        };
        let _ = client.disconnect().await;
        result
    })
}

fn connect(conn: &InbandConnection, tls: Arc<ClientConfig>) -> (AsyncClient, EventLoop) {
    connect_as(conn, tls, None)
}

/// As [`connect`], with a user name (DPS names the scope and registration in it).
fn connect_as(
    conn: &InbandConnection,
    tls: Arc<ClientConfig>,
    username: Option<String>,
) -> (AsyncClient, EventLoop) {
    let mut opts = MqttOptions::new(conn.client_id.clone(), conn.host.clone(), conn.port);
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_connection_timeout(conn.timeout.as_secs() + 1);
    opts.set_outgoing_inflight_upper_limit(8);
    opts.set_clean_start(true);
    if let Some(user) = username {
        opts.set_credentials(user, "");
    }
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    opts.set_network_options(net);
    opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
    AsyncClient::new(opts, 16)
}

/// The next incoming packet within the stage's limit; a refusal or a lost connection is the
/// broker's own error.
async fn next(
    events: &mut EventLoop,
    conn: &InbandConnection,
    stage: &'static str,
) -> Result<Packet, MqttError> {
    let addr = format!("{}:{}", conn.host, conn.port);
    loop {
        match tokio::time::timeout(conn.timeout, events.poll()).await {
            Err(_) => {
                return Err(MqttError::Timeout {
                    stage,
                    after: conn.timeout,
                })
            }
            Ok(Err(e)) => return Err(classify(&e, &addr)),
            Ok(Ok(Event::Incoming(packet))) => return Ok(packet),
            Ok(Ok(Event::Outgoing(_))) => {}
        }
    }
}

/// Commissioner's dialect in band: the request a bootstrap identity `cn` sends, with the
/// unit's CSR (DER).
pub fn commissioner_request(cn: &str, csr_der: &[u8], station_id: &str) -> Vec<u8> {
    use base64::Engine;
    serde_json::json!({
        "deviceId": cn,
        "csr": base64::engine::general_purpose::STANDARD.encode(csr_der),
        "stationId": station_id,
    })
    .to_string()
    .into_bytes()
}

/// The certificates of a Completed in-band reply (DER, the unit's first); empty when it
/// carries none.
pub fn commissioner_chain(reply_body: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine;
    let body: serde_json::Value = serde_json::from_slice(reply_body).unwrap_or_default();
    body["certificateChain"]
        .as_array()
        .map(|chain| {
            chain
                .iter()
                .filter_map(|c| c.as_str())
                .filter_map(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
                .collect()
        })
        .unwrap_or_default()
}
