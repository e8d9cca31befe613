//! The reference provisioning responder: the backend side of the handshake. It answers
//! `provisioning/{id}/request` on the request's response topic with the same correlation data
//! and a `Provisioning-Status` user property (Completed, Pending, or Rejected with a `Reason`),
//! after checking the unit against the certificate registry. It subscribes through a shared
//! subscription, so several responders split the requests between them. Production backends
//! replace it; the lab and the tests run it against the real broker.
//!
//! Each dialect is a [`DialectBackend`]: [`commissioner`] (that request/response, and its
//! in-band issuance when given the CA), [`fleet`] (AWS fleet provisioning) and [`dps`] (Azure
//! DPS); the in-band ones admit units and issue through [`bootstrap`].

pub mod backend;
pub mod bootstrap;
pub mod commissioner;
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

use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use rustls::ClientConfig;
use tokio::sync::oneshot;

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
        let backend = commissioner::CommissionerBackend::new(&cfg)?;
        Self::spawn(cfg, tls, Box::new(backend))
    }

    /// Starts a responder that speaks `backend`'s dialect.
    pub fn start_dialect(
        cfg: ResponderConfig,
        tls: Arc<ClientConfig>,
        backend: Box<dyn DialectBackend>,
    ) -> Result<Self, MqttError> {
        Self::spawn(cfg, tls, backend)
    }

    fn spawn(
        cfg: ResponderConfig,
        tls: Arc<ClientConfig>,
        backend: Box<dyn DialectBackend>,
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
                rt.block_on(serve(cfg, tls, backend, Some(ready_tx), stop_rx));
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
        let backend = commissioner::CommissionerBackend::new(&cfg)?;
        let (_keep, stop_rx) = oneshot::channel();
        rt.block_on(serve(cfg, tls, Box::new(backend), None, stop_rx));
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
    mut backend: Box<dyn DialectBackend>,
    mut ready: Option<mpsc::Sender<Result<(), MqttError>>>,
    mut stop: oneshot::Receiver<()>,
) {
    let addr = format!("{}:{}", cfg.host, cfg.port);
    let filters = backend.filters();
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
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let Ok(topic) = std::str::from_utf8(&publish.topic) else {
                    continue;
                };
                let incoming = Incoming {
                    topic,
                    payload: &publish.payload,
                    properties: publish.properties.clone(),
                };
                if let Some(out) = backend.reply(incoming, time::OffsetDateTime::now_utc()) {
                    let sent = client
                        .publish_with_properties(
                            out.topic,
                            QoS::AtLeastOnce,
                            false,
                            out.payload,
                            out.properties.unwrap_or_default(),
                        )
                        .await;
                    if let Err(e) = sent {
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

/// A message the responder received.
#[derive(Debug)]
pub struct Incoming<'a> {
    pub topic: &'a str,
    pub payload: &'a [u8],
    pub properties: Option<PublishProperties>,
}

/// A reply to publish.
#[derive(Debug)]
pub struct Outgoing {
    pub topic: String,
    pub payload: Vec<u8>,
    /// MQTT v5 properties (correlation data, user properties); none for the vendor dialects,
    /// which are MQTT 3.1.1 protocols.
    pub properties: Option<PublishProperties>,
}

impl Outgoing {
    /// A reply of a 3.1.1 dialect: topic and payload, no properties.
    pub fn plain(reply: Option<(String, Vec<u8>)>) -> Option<Self> {
        reply.map(|(topic, payload)| Self {
            topic,
            payload,
            properties: None,
        })
    }
}

/// The backend of one dialect: it answers each request of its dialect, on its topics, and
/// keeps whatever state the dialect carries between requests.
pub trait DialectBackend: Send + std::fmt::Debug {
    fn dialect(&self) -> super::dialect::Dialect;

    /// The topic filters to subscribe to.
    fn filters(&self) -> Vec<String> {
        self.dialect().request_filters()
    }

    /// The reply to a message, or `None` when it is no request of the dialect.
    fn reply(&mut self, msg: Incoming<'_>, now: time::OffsetDateTime) -> Option<Outgoing>;
}
