//! The reference provisioning responder: the backend side of the handshake. It answers
//! `provisioning/{id}/request` on the request's response topic with the same correlation data
//! and a `Provisioning-Status` user property (Completed, Pending, or Rejected with a `Reason`),
//! after checking the unit against the certificate registry. It subscribes through a shared
//! subscription, so several responders split the requests between them. Production backends
//! replace it; the lab and the tests run it against the real broker.
//!
//! The vendor dialects (AWS fleet provisioning, Azure DPS) are served by a [`DialectBackend`]
//! in place of that request/response: [`fleet`] and [`dps`], both issuing through
//! [`bootstrap`].

pub mod backend;
pub mod bootstrap;
mod decide;
pub mod dps;
pub mod fleet;
mod topics;
pub use decide::Decision;
pub use topics::TopicTemplate;

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use rustls::ClientConfig;
use tokio::sync::oneshot;

use super::handshake::STATUS_PROPERTY;
use super::{classify, MqttError};

/// Share name of the responders' subscription: each request goes to one running responder.
pub const SHARE_GROUP: &str = "commissioner-responders";

/// Where the responder connects and as whom.
#[derive(Debug, Clone)]
pub struct ResponderConfig {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    /// Journal whose certificate registry validates requesters; `None` accepts every unit
    /// (only for brokers whose ACL already admits only registered units).
    pub registry: Option<PathBuf>,
    /// Pending answers per unit before Completed (0 in normal use).
    pub pending_first: u32,
    /// The profile's request topic template (`{device_id}` as one whole level).
    pub request_topic: String,
    /// The profile's response topic template: where a reply goes when the request names no
    /// response topic (MQTT 3.1.1).
    pub response_topic: String,
}

/// A running responder; stops when dropped.
#[derive(Debug)]
pub struct Responder {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Responder {
    /// Starts the responder and waits until its subscription is granted.
    pub fn start(cfg: ResponderConfig, tls: Arc<ClientConfig>) -> Result<Self, MqttError> {
        // A template the responder cannot serve is refused here, not found out by a unit.
        TopicTemplate::parse(&cfg.request_topic)?;
        TopicTemplate::parse(&cfg.response_topic)?;
        Self::spawn(cfg, tls, None)
    }

    /// Starts a responder that speaks a vendor dialect instead of Commissioner's, answered by
    /// `backend`.
    pub fn start_dialect(
        cfg: ResponderConfig,
        tls: Arc<ClientConfig>,
        backend: Box<dyn DialectBackend>,
    ) -> Result<Self, MqttError> {
        Self::spawn(cfg, tls, Some(backend))
    }

    fn spawn(
        cfg: ResponderConfig,
        tls: Arc<ClientConfig>,
        fleet: Option<Box<dyn DialectBackend>>,
    ) -> Result<Self, MqttError> {
        let (stop_tx, stop_rx) = oneshot::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("provisioning-responder".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(MqttError::Config(e.to_string())));
                        return;
                    }
                };
                rt.block_on(serve(cfg, tls, fleet, Some(ready_tx), stop_rx));
            })
            .map_err(|e| MqttError::Config(format!("cannot start responder thread: {e}")))?;
        let mut responder = Self {
            stop: Some(stop_tx),
            thread: Some(thread),
        };
        match ready_rx.recv_timeout(Duration::from_secs(15)) {
            Ok(Ok(())) => Ok(responder),
            Ok(Err(e)) => {
                responder.shutdown();
                Err(e)
            }
            Err(_) => {
                responder.shutdown();
                Err(MqttError::Timeout {
                    stage: "starting the provisioning responder",
                    after: Duration::from_secs(15),
                })
            }
        }
    }

    /// Serves until the process is killed; reconnects when the broker goes away.
    pub fn run_forever(cfg: ResponderConfig, tls: Arc<ClientConfig>) -> Result<(), MqttError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| MqttError::Config(e.to_string()))?;
        let (_keep, stop_rx) = oneshot::channel();
        rt.block_on(serve(cfg, tls, None, None, stop_rx));
        Ok(())
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn serve(
    cfg: ResponderConfig,
    tls: Arc<ClientConfig>,
    mut fleet: Option<Box<dyn DialectBackend>>,
    mut ready: Option<mpsc::Sender<Result<(), MqttError>>>,
    mut stop: oneshot::Receiver<()>,
) {
    let addr = format!("{}:{}", cfg.host, cfg.port);
    let topics = match (
        TopicTemplate::parse(&cfg.request_topic),
        TopicTemplate::parse(&cfg.response_topic),
    ) {
        (Ok(request), Ok(response)) => Topics { request, response },
        (Err(e), _) | (_, Err(e)) => {
            match ready.take() {
                Some(tx) => {
                    let _ = tx.send(Err(e));
                }
                None => tracing::error!("{e}"),
            }
            return;
        }
    };
    // A vendor's fixed topics for its dialect; the profile's templates, shared, for ours.
    let filters = match &fleet {
        Some(backend) => backend.dialect().request_filters(),
        None => vec![format!("$share/{SHARE_GROUP}/{}", topics.request.filter())],
    };
    let mut decider = match decide::Decider::new(cfg.registry.as_ref(), cfg.pending_first) {
        Ok(d) => d,
        Err(e) => {
            let err = MqttError::Config(format!("responder registry: {e}"));
            match ready.take() {
                Some(tx) => {
                    let _ = tx.send(Err(err));
                }
                None => tracing::error!("{err}"),
            }
            return;
        }
    };
    let mut opts = MqttOptions::new(cfg.client_id, cfg.host, cfg.port);
    opts.set_keep_alive(Duration::from_secs(30));
    // Small request/response packets: Nagle's algorithm would hold each one back until the
    // peer's delayed ACK (about 40 ms per exchange on Linux).
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    opts.set_network_options(net);
    opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
    let (client, mut events) = AsyncClient::new(opts, 64);

    loop {
        let event = tokio::select! {
            _ = &mut stop => break,
            event = events.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                // Clean start: the subscription is renewed on every (re)connect.
                for filter in &filters {
                    if let Err(e) = client.subscribe(filter.clone(), QoS::AtLeastOnce).await {
                        tracing::warn!("responder cannot subscribe: {e}");
                    }
                }
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                if let Some(tx) = ready.take() {
                    let _ = tx.send(Ok(()));
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) if fleet.is_some() => {
                let reply = std::str::from_utf8(&publish.topic).ok().and_then(|topic| {
                    fleet.as_mut().and_then(|f| {
                        f.reply(topic, &publish.payload, time::OffsetDateTime::now_utc())
                    })
                });
                if let Some((topic, payload)) = reply {
                    if let Err(e) = client
                        .publish(topic, QoS::AtLeastOnce, false, payload)
                        .await
                    {
                        tracing::warn!("responder cannot reply: {e}");
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                if let Some((topic, payload, props)) = reply_for(
                    &topics,
                    &publish.topic,
                    &publish.payload,
                    publish.properties,
                    &mut decider,
                ) {
                    if let Err(e) = client
                        .publish_with_properties(topic, QoS::AtLeastOnce, false, payload, props)
                        .await
                    {
                        tracing::warn!("responder cannot reply: {e}");
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                let err = classify(&e, &addr);
                if let Some(tx) = ready.take() {
                    let _ = tx.send(Err(err));
                    break;
                }
                tracing::warn!("responder connection lost: {err}; reconnecting");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    let _ = client.disconnect().await;
}

/// The backend of a vendor dialect: it answers each request of its dialect, on its own
/// topics, and keeps whatever state the dialect carries between requests.
pub trait DialectBackend: Send + std::fmt::Debug {
    fn dialect(&self) -> super::dialect::Dialect;

    /// The reply (topic and payload) to a message, or `None` when it is no request of the
    /// dialect.
    fn reply(
        &mut self,
        topic: &str,
        payload: &[u8],
        now: time::OffsetDateTime,
    ) -> Option<(String, Vec<u8>)>;
}

/// The profile's topics the responder serves.
struct Topics {
    request: TopicTemplate,
    response: TopicTemplate,
}

/// Builds the reply to a request, or `None` when the message is not a request. This is the
/// wire format of the station's own dialect (JSON request, `Provisioning-Status` property);
/// another dialect is another pair of request parser and reply builder here.
fn reply_for(
    topics: &Topics,
    topic: &Bytes,
    payload: &[u8],
    props: Option<PublishProperties>,
    decider: &mut decide::Decider,
) -> Option<(String, Vec<u8>, PublishProperties)> {
    let topic = std::str::from_utf8(topic).ok()?;
    let device_id = topics.request.device_id(topic)?;
    let request: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
    let decision = decider.decide(device_id, request["certificateSerial"].as_str());
    let props = props.unwrap_or_default();
    let response_topic = props
        .response_topic
        .clone()
        .unwrap_or_else(|| topics.response.expand(device_id));
    let mut user_properties = vec![(STATUS_PROPERTY.into(), decision.status().into())];
    if let Some(reason) = decision.reason() {
        user_properties.push(("Reason".into(), reason.into()));
    }
    let reply = PublishProperties {
        correlation_data: props.correlation_data,
        user_properties,
        content_type: Some("application/json".into()),
        ..Default::default()
    };
    // A 3.1.1 requester has no correlation data: it matches the reply by its nonce.
    let payload = serde_json::json!({
        "deviceId": device_id,
        "status": decision.status(),
        "reason": decision.reason(),
        "nonce": request.get("nonce"),
    })
    .to_string()
    .into_bytes();
    Some((response_topic, payload, reply))
}
