//! The checks, one function each; every one quotes the broker's answer as its evidence.

use rumqttc::v5::mqttbytes::v5::PubAckReason;

use super::probe::{self, evidence, puback, Connect, PubAnswer};
use super::{connect_timeout, AuditIdentities, AuditTarget, CheckResult, Configs, Outcome};
use crate::mqtt::MqttError;
use crate::station::{BrokerProfile, MqttVersion, AUDIT_CHECKS};

pub(super) async fn run_all(
    target: &AuditTarget,
    ids: &AuditIdentities,
    configs: &Configs,
) -> Vec<CheckResult> {
    let p = &target.profile;
    let mut out = Vec::new();
    for &name in AUDIT_CHECKS {
        if !p.audit.enabled(name) {
            out.push(CheckResult::new(
                name,
                Outcome::Skipped,
                "not enabled for this audit in the broker profile ([broker.audit])",
            ));
            continue;
        }
        if !p.tls && name != "plaintext_listener" && name != "protocol_version" {
            out.push(CheckResult::new(
                name,
                Outcome::Skipped,
                "the profile is plaintext (lab): TLS checks do not apply",
            ));
            continue;
        }
        let result = match name {
            "protocol_version" => protocol_version(p),
            "plaintext_listener" => plaintext_listener(p).await,
            "server_certificate" | "no_client_certificate" => {
                // One connection without a client certificate answers both; run it once.
                if out
                    .iter()
                    .any(|r: &CheckResult| r.name == "server_certificate")
                {
                    continue;
                }
                let (server, anonymous) = no_certificate(p, configs).await;
                out.push(server);
                if p.audit.enabled("no_client_certificate") {
                    anonymous
                } else {
                    continue;
                }
            }
            "foreign_ca" => foreign_ca(p, ids, configs).await,
            "client_id_binding" => client_id_binding(p, ids, configs).await,
            "publish_foreign_topic" => publish_foreign(p, ids, configs).await,
            "subscribe_isolation" => super::isolation::subscribe_isolation(p, ids, configs).await,
            "revoked_certificate" => super::isolation::revoked(p, ids, configs).await,
            _ => continue,
        };
        out.push(result);
    }
    out
}

/// The protocol version check: answered by the profile alone, so the pipeline records it with
/// every 3.1.1 handshake, audit or not.
pub fn protocol_version(p: &BrokerProfile) -> CheckResult {
    match p.mqtt_version {
        MqttVersion::V5 => CheckResult::new("protocol_version", Outcome::Pass, "MQTT 5"),
        MqttVersion::V311 => CheckResult::new(
            "protocol_version",
            Outcome::Warn,
            "MQTT 3.1.1: no reason codes on PUBACK/SUBACK, no user properties, no session \
             expiry; refusals cannot be told apart and the provisioning status has no property",
        ),
    }
}

async fn plaintext_listener(p: &BrokerProfile) -> CheckResult {
    const NAME: &str = "plaintext_listener";
    let t = connect_timeout(p);
    let mut ports: Vec<u16> = p.audit.plaintext_ports.clone();
    if !p.tls {
        ports.insert(0, p.port);
    }
    if ports.is_empty() {
        return CheckResult::new(NAME, Outcome::Skipped, "no plaintext port configured");
    }
    let mut findings = Vec::new();
    let mut worst = Outcome::Pass;
    for port in &ports {
        if !probe::port_open(&p.host, *port, t).await {
            continue;
        }
        let id = format!("commissioner-audit-{}", rand::random::<u32>());
        match probe::connect(&p.host, *port, None, &id, t).await {
            Connect::Accepted(s) => {
                s.close().await;
                worst = Outcome::Fail;
                findings.push(format!(
                    "{}:{port} accepts plaintext MQTT without credentials (CONNACK success)",
                    p.host
                ));
            }
            Connect::Refused(e) => {
                if worst == Outcome::Pass {
                    worst = Outcome::Warn;
                }
                findings.push(format!(
                    "{}:{port} is open in plaintext; anonymous CONNECT refused: {}",
                    p.host,
                    evidence(&e)
                ));
            }
        }
    }
    let evidence = if findings.is_empty() {
        format!(
            "no listener on {} port(s) {}",
            p.host,
            ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        findings.join("; ")
    };
    CheckResult::new(NAME, worst, evidence)
}

async fn no_certificate(p: &BrokerProfile, c: &Configs) -> (CheckResult, CheckResult) {
    let id = format!("commissioner-audit-{}", rand::random::<u32>());
    let server_ok = format!(
        "chain verified against the profile's server CA; certificate valid for {}",
        p.server_name.as_deref().unwrap_or(&p.host)
    );
    let answer = probe::connect(
        &p.host,
        p.port,
        Some(c.anonymous.clone()),
        &id,
        connect_timeout(p),
    )
    .await;
    match answer {
        Connect::Accepted(s) => {
            s.close().await;
            (
                CheckResult::new("server_certificate", Outcome::Pass, server_ok),
                CheckResult::new(
                    "no_client_certificate",
                    Outcome::Fail,
                    "connected without a client certificate (CONNACK success)",
                ),
            )
        }
        Connect::Refused(e) => match e {
            MqttError::ServerNameMismatch(_) | MqttError::ServerCertificate(_) => (
                CheckResult::new("server_certificate", Outcome::Fail, evidence(&e)),
                CheckResult::new(
                    "no_client_certificate",
                    Outcome::Skipped,
                    "the broker's certificate did not verify",
                ),
            ),
            MqttError::Unreachable { .. } | MqttError::Timeout { .. } => (
                CheckResult::new("server_certificate", Outcome::Fail, evidence(&e)),
                CheckResult::new("no_client_certificate", Outcome::Skipped, evidence(&e)),
            ),
            ref e if e.is_connack_refusal() => (
                CheckResult::new("server_certificate", Outcome::Pass, server_ok),
                CheckResult::new(
                    "no_client_certificate",
                    Outcome::Warn,
                    format!(
                        "TLS accepted without a client certificate; CONNECT refused: {}",
                        evidence(e)
                    ),
                ),
            ),
            _ => (
                CheckResult::new("server_certificate", Outcome::Pass, server_ok),
                CheckResult::new(
                    "no_client_certificate",
                    Outcome::Pass,
                    format!("refused: {}", evidence(&e)),
                ),
            ),
        },
    }
}

pub(super) fn tls_refusal(e: &MqttError) -> bool {
    e.is_tls_refusal()
}

async fn foreign_ca(p: &BrokerProfile, ids: &AuditIdentities, c: &Configs) -> CheckResult {
    const NAME: &str = "foreign_ca";
    let t = connect_timeout(p);
    match probe::connect(
        &p.host,
        p.port,
        Some(c.foreign_ca.clone()),
        &ids.foreign_ca.id,
        t,
    )
    .await
    {
        Connect::Accepted(s) => {
            s.close().await;
            CheckResult::new(
                NAME,
                Outcome::Fail,
                format!(
                    "a certificate for {} from an unknown CA was accepted (CONNACK success)",
                    ids.foreign_ca.id
                ),
            )
        }
        Connect::Refused(e) if tls_refusal(&e) => {
            CheckResult::new(NAME, Outcome::Pass, format!("refused: {}", evidence(&e)))
        }
        Connect::Refused(e) => CheckResult::new(
            NAME,
            Outcome::Warn,
            format!("refused, but not by TLS: {}", evidence(&e)),
        ),
    }
}

/// A topic of another unit the audit tries to reach.
pub(super) fn foreign_topic(p: &BrokerProfile, other: &str) -> String {
    BrokerProfile::topic(&p.request_topic, other)
}

async fn client_id_binding(p: &BrokerProfile, ids: &AuditIdentities, c: &Configs) -> CheckResult {
    const NAME: &str = "client_id_binding";
    let t = connect_timeout(p);
    let (unit, other) = (&ids.unit.id, &ids.other.id);
    let mut session = match probe::connect(&p.host, p.port, Some(c.unit.clone()), other, t).await {
        Connect::Refused(e) => {
            return CheckResult::new(
                NAME,
                Outcome::Pass,
                format!(
                    "client id {other} with the certificate of {unit} refused: {}",
                    evidence(&e)
                ),
            )
        }
        Connect::Accepted(s) => s,
    };
    // Accepted: the client id is not bound to the certificate. Does the ACL follow the client
    // id (then the spoofer gets the other unit's topics) or the certificate identity?
    let topic = foreign_topic(p, other);
    let answer = session
        .publish(&topic, b"commissioner audit probe", t)
        .await;
    session.close().await;
    let head = format!("client id {other} accepted with the certificate of {unit}");
    match answer {
        PubAnswer::Ack(PubAckReason::Success | PubAckReason::NoMatchingSubscribers) => {
            CheckResult::new(
                NAME,
                Outcome::Fail,
                format!("{head}, and may then publish to {topic} (PUBACK success): a spoofed id reaches that unit's topics"),
            )
        }
        PubAnswer::Ack(reason) => CheckResult::new(
            NAME,
            Outcome::Warn,
            format!(
                "{head} (it can take over that unit's session); the ACL follows the certificate: \
                 publish to {topic} answered {}",
                puback(&reason)
            ),
        ),
        PubAnswer::None(why) => CheckResult::new(NAME, Outcome::Warn, format!("{head}; {why}")),
    }
}

async fn publish_foreign(p: &BrokerProfile, ids: &AuditIdentities, c: &Configs) -> CheckResult {
    const NAME: &str = "publish_foreign_topic";
    let t = connect_timeout(p);
    let mut session =
        match probe::connect(&p.host, p.port, Some(c.unit.clone()), &ids.unit.id, t).await {
            Connect::Accepted(s) => s,
            Connect::Refused(e) => {
                return CheckResult::new(
                    NAME,
                    Outcome::Skipped,
                    format!("the audit unit could not connect: {}", evidence(&e)),
                )
            }
        };
    let topic = foreign_topic(p, &ids.other.id);
    let answer = session
        .publish(&topic, b"commissioner audit probe", t)
        .await;
    session.close().await;
    match answer {
        PubAnswer::Ack(PubAckReason::NotAuthorized) => CheckResult::new(
            NAME,
            Outcome::Pass,
            format!(
                "QoS 1 publish to {topic} answered {}",
                puback(&PubAckReason::NotAuthorized)
            ),
        ),
        PubAnswer::Ack(reason @ (PubAckReason::Success | PubAckReason::NoMatchingSubscribers)) => {
            CheckResult::new(
                NAME,
                Outcome::Fail,
                format!(
                    "{} may publish to {topic}: PUBACK {}",
                    ids.unit.id,
                    puback(&reason)
                ),
            )
        }
        PubAnswer::Ack(reason) => CheckResult::new(
            NAME,
            Outcome::Warn,
            format!(
                "publish to {topic} refused with {} instead of 0x87",
                puback(&reason)
            ),
        ),
        PubAnswer::None(why) => CheckResult::new(NAME, Outcome::Warn, why),
    }
}
