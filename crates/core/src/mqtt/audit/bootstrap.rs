//! Audit checks of a bootstrap identity, run in band as the unit once its operational
//! certificate is proven: the bootstrap reaches nothing beyond its in-band topics
//! (`bootstrap_reach`), cannot obtain a certificate again (`bootstrap_reuse`), and the
//! exchange's last message cannot be replayed (`bootstrap_replay`). The exchanges themselves
//! belong to the dialect (the pipeline runs them); this module runs the publish probe and
//! judges what came back.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::PubAckReason;
use rustls::ClientConfig;

use super::probe::{self, Connect, PubAnswer, NO_VERDICT};
use super::{CheckResult, Outcome};
use crate::mqtt::{puback_text, MqttError};
use crate::station::MqttVersion;

/// The checks, in the order they run and are recorded.
pub const BOOTSTRAP_CHECKS: [&str; 3] = ["bootstrap_reach", "bootstrap_reuse", "bootstrap_replay"];

/// Where and as whom the probe connects.
#[derive(Debug, Clone)]
pub struct BootstrapProbe {
    pub host: String,
    pub port: u16,
    /// The bootstrap common name.
    pub client_id: String,
    pub version: MqttVersion,
    pub timeout: Duration,
}

/// The unit's operational identity, which publishes on its own request topic while the
/// bootstrap listens.
#[derive(Debug, Clone)]
pub struct Witness {
    pub tls: Arc<ClientConfig>,
    pub client_id: String,
}

/// `bootstrap_reach`: the bootstrap identity must neither write nor read beyond its in-band
/// topics. It subscribes to `forbidden` (the unit's request and response topics first, and a
/// topic of nobody's) and to `#`; mosquitto grants a forbidden SUBSCRIBE and filters silently,
/// so what counts is what arrives while `witness` (the unit) publishes on its request topic,
/// within `delivery_wait`. Its own QoS 1 publish on each must be refused. A broker that
/// refuses the CONNECT (the bootstrap already on its CRL) lets it reach nothing either.
pub fn reach(
    probe: &BootstrapProbe,
    tls: Arc<ClientConfig>,
    forbidden: &[String],
    witness: Option<Witness>,
    delivery_wait: Duration,
) -> CheckResult {
    crate::mqtt::on_own_runtime(|| async {
        Ok(reach_async(probe, tls, forbidden, witness, delivery_wait).await)
    })
    .unwrap_or_else(|e| {
        CheckResult::new(
            BOOTSTRAP_CHECKS[0],
            Outcome::Inconclusive,
            probe::evidence(&e),
        )
    })
}

async fn reach_async(
    p: &BootstrapProbe,
    tls: Arc<ClientConfig>,
    forbidden: &[String],
    witness: Option<Witness>,
    delivery_wait: Duration,
) -> CheckResult {
    let name = BOOTSTRAP_CHECKS[0];
    let mut session = match probe::connect(
        &p.host,
        p.port,
        Some(tls),
        &p.client_id,
        p.timeout,
        p.version,
        None,
    )
    .await
    {
        Connect::Refused(e) if is_refusal(&e) => {
            return CheckResult::new(
                name,
                Outcome::Pass,
                format!(
                    "CONNECT as {} refused: {}",
                    p.client_id,
                    probe::evidence(&e)
                ),
            )
        }
        Connect::Refused(e) => {
            return CheckResult::new(name, Outcome::Inconclusive, probe::evidence(&e))
        }
        Connect::Accepted(session) => session,
    };
    let (mut reached, mut unsure, mut said) = (Vec::new(), Vec::new(), Vec::new());
    let mut filters = forbidden.to_vec();
    filters.push("#".into());
    match session.subscribe(&filters, p.timeout).await {
        Ok(codes) => said.push(format!(
            "SUBSCRIBE {}",
            codes
                .iter()
                .map(|(f, c)| format!("{f}: {}", probe::suback(c)))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Err(why) => {
            unsure.push("SUBSCRIBE".to_owned());
            said.push(format!("SUBSCRIBE: {why}"));
        }
    }
    for topic in forbidden {
        match session.publish(topic, b"bootstrap audit", p.timeout).await {
            PubAnswer::Ack(PubAckReason::Success | PubAckReason::NoMatchingSubscribers) => {
                reached.push(topic.clone());
                said.push(format!("{topic}: accepted"));
            }
            PubAnswer::Ack(other) => said.push(format!("{topic}: {}", puback_text(&other))),
            PubAnswer::NoVerdict => {
                unsure.push(topic.clone());
                said.push(format!("{topic}: {NO_VERDICT}"));
            }
            PubAnswer::None(why) => {
                unsure.push(topic.clone());
                said.push(format!("{topic}: {why}"));
            }
        }
    }
    if let (Some(w), Some(request)) = (witness, forbidden.first()) {
        match probe::connect(
            &p.host,
            p.port,
            Some(w.tls),
            &w.client_id,
            p.timeout,
            p.version,
            None,
        )
        .await
        {
            Connect::Accepted(mut unit) => {
                let answer = unit
                    .publish(request, b"bootstrap audit witness", p.timeout)
                    .await;
                unit.close().await;
                said.push(format!(
                    "the unit {} published on {request}: {}",
                    w.client_id,
                    match answer {
                        PubAnswer::Ack(r) => puback_text(&r),
                        PubAnswer::NoVerdict => NO_VERDICT.to_owned(),
                        PubAnswer::None(why) => why,
                    }
                ));
            }
            Connect::Refused(e) => {
                unsure.push(w.client_id.clone());
                said.push(format!(
                    "the unit {} could not connect to publish: {}",
                    w.client_id,
                    probe::evidence(&e)
                ));
            }
        }
    }
    let arrived = session.delivered(delivery_wait).await;
    let leaked: Vec<&String> = arrived.iter().filter(|t| forbidden.contains(t)).collect();
    if leaked.is_empty() {
        said.push(format!(
            "nothing of those topics delivered to the bootstrap in {delivery_wait:?}"
        ));
    } else {
        said.push(format!("delivered to the bootstrap: {leaked:?}"));
        reached.extend(leaked.into_iter().cloned());
    }
    session.close().await;
    let evidence = format!("as {}: {}", p.client_id, said.join("; "));
    let outcome = if !reached.is_empty() {
        Outcome::Fail
    } else if !unsure.is_empty() {
        // A 3.1.1 broker acknowledges a dropped publish alike: not provable either way.
        match p.version {
            MqttVersion::V311 => Outcome::Warn,
            MqttVersion::V5 => Outcome::Inconclusive,
        }
    } else {
        Outcome::Pass
    };
    CheckResult::new(name, outcome, evidence)
}

/// An answer that refuses the identity or its request (a TLS alert, a CONNACK, SUBACK or
/// PUBACK refusal, the backend's rejection), not a network fault or a signature the unit
/// could not make.
fn is_refusal(e: &MqttError) -> bool {
    matches!(
        e,
        MqttError::UntrustedClientCa
            | MqttError::CertificateRevoked
            | MqttError::CertificateRequired
            | MqttError::TlsAlert(_)
            | MqttError::CertificateExpired
            | MqttError::CertificateRejected(_)
            | MqttError::NotAuthorized(_)
            | MqttError::ClientIdRefused(_)
            | MqttError::Banned(_)
            | MqttError::BadCredentials(_)
            | MqttError::ConnectRefused(_)
            | MqttError::SubscribeRefused { .. }
            | MqttError::PublishRefused { .. }
            | MqttError::Rejected(_)
    )
}

/// Judges a repeated exchange (`bootstrap_reuse`) or a replayed message (`bootstrap_replay`):
/// it passes when the broker or the backend refused it, fails when it was answered as a new
/// exchange, and proves nothing when the network failed.
pub fn judge_repeat<T>(
    name: &'static str,
    what: &str,
    result: Result<T, MqttError>,
) -> CheckResult {
    match result {
        Ok(_) => CheckResult::new(
            name,
            Outcome::Fail,
            format!("{what}: answered as a new exchange; the bootstrap still obtains credentials"),
        ),
        Err(e) if is_refusal(&e) => CheckResult::new(
            name,
            Outcome::Pass,
            format!("{what}: refused: {}", probe::evidence(&e)),
        ),
        Err(e) => CheckResult::new(
            name,
            Outcome::Inconclusive,
            format!("{what}: {}", probe::evidence(&e)),
        ),
    }
}

/// A check that does not apply to the dialect, recorded so the record says why.
pub fn not_applicable(name: &'static str, why: &str) -> CheckResult {
    CheckResult::new(name, Outcome::Skipped, why)
}
