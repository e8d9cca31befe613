//! The provisioning handshake (docs/provisioning-handshake.md): connect as the unit, subscribe
//! to its response topic, publish a request with response topic and correlation data, and read
//! the `Provisioning-Status` of the matching reply.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5::{
    ConnectProperties, Filter, Packet, PubAckReason, PublishProperties, RetainForwardRule,
    SubscribeReasonCode,
};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use rustls::ClientConfig;
use serde::Serialize;

use super::{classify, disconnect_text, puback_text, suback_text, MqttError};

/// User property carrying the provisioning status in the reply.
pub const STATUS_PROPERTY: &str = "Provisioning-Status";

/// What to send and where.
#[derive(Debug, Clone)]
pub struct HandshakeSpec {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub request_topic: String,
    pub response_topic: String,
    /// CONNECT user properties (deviceType, firmwareVersion, stationId).
    pub user_properties: Vec<(String, String)>,
    pub payload: Vec<u8>,
    /// Limit of the whole attempt, from TCP connect to the final status (the reply timeout).
    pub timeout: Duration,
    /// Limit of TCP + TLS + CONNACK within it: a peer that accepts and never answers costs
    /// this, not the whole reply timeout.
    pub connect_timeout: Duration,
    /// CONNECT session expiry: 0 leaves no session state on the broker after the handshake;
    /// more lets a unit that drops mid-handshake reconnect to its subscription.
    pub session_expiry_secs: u32,
}

/// What the broker and the provisioning service said.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HandshakeOutcome {
    pub status: String,
    pub reason: Option<String>,
    pub connect_millis: u64,
    pub total_millis: u64,
    /// How many Pending answers came before the final status.
    pub pending_polls: u32,
    /// The Completed reply's body: an in-band exchange's certificate comes in it.
    #[serde(skip)]
    pub reply_body: Vec<u8>,
}

impl HandshakeSpec {
    /// The connect limit, never longer than the whole attempt.
    pub fn connect_limit(&self) -> Duration {
        self.connect_timeout
            .min(self.timeout)
            .max(Duration::from_secs(1))
    }
}

/// Runs the handshake on a thread of its own with its own runtime: rustls calls the (maybe
/// device-backed, slow) signer synchronously, and the caller may already be inside a runtime.
pub fn run(spec: &HandshakeSpec, tls: Arc<ClientConfig>) -> Result<HandshakeOutcome, MqttError> {
    super::on_own_runtime(|| run_async(spec, tls))
}

/// [`run`], retried under the profile's policy when the broker is unreachable, slow or busy;
/// an authorisation or certificate refusal ends it at once.
pub fn run_with_retry(
    spec: &HandshakeSpec,
    tls: Arc<ClientConfig>,
    policy: &crate::station::RetryPolicy,
) -> Result<HandshakeOutcome, MqttError> {
    super::retry::with_retry_now(policy, || run(spec, tls.clone()))
}

/// Outgoing publishes the handshake may have in flight: the request, and room to spare.
const HANDSHAKE_INFLIGHT: u16 = 8;

async fn run_async(
    spec: &HandshakeSpec,
    tls: Arc<ClientConfig>,
) -> Result<HandshakeOutcome, MqttError> {
    let addr = format!("{}:{}", spec.host, spec.port);
    let mut opts = MqttOptions::new(spec.client_id.clone(), spec.host.clone(), spec.port);
    opts.set_keep_alive(Duration::from_secs(30));
    // rumqttc's own limit a second later: the handshake's deadline speaks first, with its
    // stage, instead of rumqttc's bare timeout that reads like an unreachable broker.
    opts.set_connection_timeout(spec.connect_limit().as_secs() + 1);
    // rumqttc's v5 client sizes its outgoing-publish table by this limit up front, 65 536
    // entries (about 11 MiB) unless told otherwise; the handshake has one publish in flight.
    opts.set_outgoing_inflight_upper_limit(HANDSHAKE_INFLIGHT);
    // Small request/response packets: Nagle's algorithm would hold each one back until the
    // peer's delayed ACK (about 40 ms per exchange on Linux).
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    opts.set_network_options(net);
    let mut props = ConnectProperties::new();
    props.user_properties = spec.user_properties.clone();
    props.session_expiry_interval = Some(spec.session_expiry_secs);
    opts.set_connect_properties(props);
    opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));

    let (client, mut events) = AsyncClient::new(opts, 16);
    let correlation: [u8; 16] = rand::random();
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + spec.timeout;
    let connect_deadline = tokio::time::Instant::now() + spec.connect_limit();
    let mut connected = false;
    let mut stage = "connecting";
    let mut connect_millis = 0;
    let mut pending_polls = 0;
    let mut next_poll: Option<tokio::time::Instant> = None;

    let outcome = loop {
        let until = if connected {
            deadline
        } else {
            connect_deadline
        };
        let polled = tokio::select! {
            _ = sleep_until(next_poll) => None,
            r = tokio::time::timeout_at(until, events.poll()) => Some(r),
        };
        let Some(polled) = polled else {
            // Pending earlier: ask again with the same correlation data.
            next_poll = None;
            if let Err(e) = publish_request(&client, spec, &correlation).await {
                break Err(e);
            }
            continue;
        };
        let event = match polled {
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
            Ok(Err(e)) => break Err(classify(&e, &addr)),
            Ok(Ok(event)) => event,
        };
        let Event::Incoming(packet) = event else {
            continue;
        };
        match packet {
            Packet::ConnAck(_) => {
                connected = true;
                connect_millis = started.elapsed().as_millis() as u64;
                stage = "subscribing to the response topic";
                // Retain Handling 2: the broker must not hand over a retained message on the
                // response topic, which anyone who could ever write there may have left.
                let filter = Filter {
                    retain_forward_rule: RetainForwardRule::Never,
                    ..Filter::new(spec.response_topic.clone(), QoS::AtLeastOnce)
                };
                if let Err(e) = client.subscribe_many([filter]).await {
                    break Err(MqttError::Connection(e.to_string()));
                }
            }
            Packet::SubAck(ack) => {
                match ack.return_codes.first() {
                    Some(SubscribeReasonCode::Success(_)) => {}
                    other => {
                        break Err(MqttError::SubscribeRefused {
                            topic: spec.response_topic.clone(),
                            reason: other
                                .map(suback_text)
                                .unwrap_or_else(|| "no reason code".into()),
                        })
                    }
                }
                stage = "waiting for the provisioning reply";
                if let Err(e) = publish_request(&client, spec, &correlation).await {
                    break Err(e);
                }
            }
            Packet::PubAck(ack) => match ack.reason {
                PubAckReason::Success | PubAckReason::NoMatchingSubscribers => {}
                other => {
                    break Err(MqttError::PublishRefused {
                        topic: spec.request_topic.clone(),
                        reason: puback_text(&other),
                    })
                }
            },
            // A retained message is an old one, whoever left it: never the reply to this request.
            Packet::Publish(publish) if publish.retain => {}
            Packet::Publish(publish) => {
                let Some(props) = publish.properties.as_ref() else {
                    continue;
                };
                if publish.topic.as_ref() != spec.response_topic.as_bytes()
                    || props.correlation_data.as_deref() != Some(&correlation[..])
                {
                    // Not the reply to this request (a stale reply from an earlier attempt).
                    continue;
                }
                let status = props
                    .user_properties
                    .iter()
                    .find(|(k, _)| k == STATUS_PROPERTY)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let reason = props
                    .user_properties
                    .iter()
                    .find(|(k, _)| k == "Reason")
                    .map(|(_, v)| v.clone());
                match read_status(&status, &reason) {
                    Err(e) => break Err(e),
                    Ok(Status::Completed) => {
                        break Ok(HandshakeOutcome {
                            status,
                            reason,
                            connect_millis,
                            total_millis: started.elapsed().as_millis() as u64,
                            pending_polls,
                            reply_body: publish.payload.to_vec(),
                        })
                    }
                    // Pending: ask again after a growing, jittered wait, until the deadline.
                    Ok(Status::Pending) => {
                        pending_polls += 1;
                        stage = "waiting for the provisioning service (Pending)";
                        next_poll = Some(tokio::time::Instant::now() + poll_backoff(pending_polls));
                        continue;
                    }
                }
            }
            Packet::Disconnect(d) => {
                break Err(MqttError::Disconnected(disconnect_text(&d.reason_code)))
            }
            _ => {}
        }
    };

    // Leave cleanly so the broker does not log an unexpected disconnect; best effort.
    if client.disconnect().await.is_ok() {
        let _ = tokio::time::timeout(Duration::from_millis(200), events.poll()).await;
    }
    outcome
}

/// Wait before re-asking after the `n`th Pending: 250 ms doubling to 4 s, with jitter so that
/// stations do not poll in step.
/// What a reply's Provisioning-Status means, for either protocol version.
pub(super) enum Status {
    Completed,
    Pending,
}

/// Reads a provisioning status: Completed and Pending go on, Rejected (with its reason) and
/// anything unknown end the handshake.
pub(super) fn read_status(status: &str, reason: &Option<String>) -> Result<Status, MqttError> {
    match status {
        "Completed" => Ok(Status::Completed),
        "Pending" => Ok(Status::Pending),
        "Rejected" => Err(MqttError::Rejected(
            reason.clone().unwrap_or_else(|| "no reason given".into()),
        )),
        other => Err(MqttError::BadStatus(other.to_owned())),
    }
}

pub(super) fn poll_backoff(n: u32) -> Duration {
    let ceiling = (250u64 << n.saturating_sub(1).min(4)).min(4_000);
    Duration::from_millis(ceiling / 2 + rand::random::<u64>() % (ceiling / 2 + 1))
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn publish_request(
    client: &AsyncClient,
    spec: &HandshakeSpec,
    correlation: &[u8],
) -> Result<(), MqttError> {
    let props = PublishProperties {
        response_topic: Some(spec.response_topic.clone()),
        correlation_data: Some(Bytes::copy_from_slice(correlation)),
        content_type: Some("application/json".into()),
        ..Default::default()
    };
    client
        .publish_with_properties(
            spec.request_topic.clone(),
            QoS::AtLeastOnce,
            false,
            spec.payload.clone(),
            props,
        )
        .await
        .map_err(|e| MqttError::Connection(e.to_string()))
}
