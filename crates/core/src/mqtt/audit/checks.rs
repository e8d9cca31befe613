//! The checks, one function each; every one quotes the broker's answer as its evidence.

use rumqttc::v5::mqttbytes::v5::PubAckReason;

use super::baseline::{broker_answered, Baseline};
use super::probe::{self, evidence, puback, Connect, PubAnswer, Session};
use super::{
    connect_timeout, login, reply_timeout, AuditIdentities, AuditTarget, CheckResult, Configs,
    Outcome,
};
use crate::mqtt::MqttError;
use crate::station::{BrokerProfile, MqttVersion, AUDIT_CHECKS};

pub(super) async fn run_all(
    target: &AuditTarget,
    ids: &AuditIdentities,
    configs: &Configs,
) -> Vec<CheckResult> {
    let p = &target.profile;
    // The station's own connection first: only then can a refusal of an attacker mean that the
    // broker refused, rather than that nobody could get in.
    let needs_baseline = AUDIT_CHECKS
        .iter()
        .any(|name| p.audit.enabled(name) && !BROKER_WIDE.contains(name));
    let mut base = match needs_baseline {
        true => Some(Baseline::establish(p, ids, configs).await),
        false => None,
    };
    // The checks on the unit's open session run before any other connection: a probe
    // accepted with the unit's client id (a foreign-CA certificate on a weak broker) would
    // take that session over.
    let (on_session, others): (Vec<&'static str>, Vec<&'static str>) = AUDIT_CHECKS
        .iter()
        .partition(|name| ON_UNIT_SESSION.contains(name));
    let mut out = Vec::new();
    for name in on_session {
        if let Some(r) = one(name, p, ids, configs, base.as_mut()).await {
            out.push(r);
        }
    }
    if let Some(b) = base.as_mut() {
        b.close().await;
    }
    for name in others {
        if let Some(r) = one(name, p, ids, configs, base.as_mut()).await {
            out.push(r);
        }
    }
    // Reported in the one order of AUDIT_CHECKS, whatever order they ran in.
    out.sort_by_key(|r| AUDIT_CHECKS.iter().position(|n| *n == r.name));
    out
}

/// Checks that do not need the station's own connection first: answered by the profile, or
/// by probing other ports.
const BROKER_WIDE: &[&str] = &["protocol_version", "plaintext_listener", "tls_versions"];

/// Checks made on the unit's own session, opened by the baseline.
const ON_UNIT_SESSION: &[&str] = &[
    "publish_foreign_topic",
    "publish_response_topic",
    "subscribe_isolation",
    "sys_topics",
];

/// One check, or `None` for a name this audit does not know.
async fn one(
    name: &'static str,
    p: &BrokerProfile,
    ids: &AuditIdentities,
    configs: &Configs,
    base: Option<&mut Baseline>,
) -> Option<CheckResult> {
    if !p.audit.enabled(name) {
        return Some(CheckResult::new(
            name,
            Outcome::Skipped,
            "not enabled for this audit in the broker profile ([broker.audit])",
        ));
    }
    if !p.tls && (name == "tls_versions" || !BROKER_WIDE.contains(&name)) {
        return Some(CheckResult::new(
            name,
            Outcome::Skipped,
            "the profile is plaintext (lab): TLS checks do not apply",
        ));
    }
    if name == "server_certificate" {
        return base.map(|b| b.server_certificate(p));
    }
    if !BROKER_WIDE.contains(&name) {
        if let Some(r) = base.as_ref().and_then(|b| b.inconclusive(name)) {
            return Some(r);
        }
    }
    let unreached = base.as_ref().and_then(|b| b.unreached());
    let session = base.and_then(|b| b.session.as_deref_mut());
    Some(match (name, session) {
        ("protocol_version", _) => protocol_version(p),
        ("plaintext_listener", _) => {
            let r = super::listeners::plaintext_listener(p).await;
            // Finding no listener proves nothing when the station reached nothing either.
            match unreached {
                Some(why) if r.outcome == Outcome::Pass => CheckResult::new(
                    name,
                    Outcome::Inconclusive,
                    format!("{}; {why}", r.evidence),
                ),
                _ => r,
            }
        }
        ("tls_versions", _) => super::tls_versions::tls_versions(p, configs, &ids.other),
        ("no_client_certificate", _) => no_client_certificate(p, configs).await,
        ("foreign_ca", _) => foreign_ca(p, ids, configs).await,
        ("client_id_binding", _) => client_id_binding(p, ids, configs).await,
        ("publish_foreign_topic", Some(s)) => publish_foreign(p, ids, s).await,
        ("publish_response_topic", Some(s)) => super::topics::publish_response(p, ids, s).await,
        ("subscribe_isolation", Some(s)) => {
            super::isolation::subscribe_isolation(p, ids, configs, s).await
        }
        ("sys_topics", Some(s)) => super::topics::sys_topics(p, s).await,
        ("revoked_certificate", _) => super::isolation::revoked(p, ids, configs).await,
        ("enhanced_auth", _) => {
            let tls = configs.other.clone();
            super::enhanced_auth::enhanced_auth(p, tls, &ids.other.id, connect_timeout(p)).await
        }
        _ => return None,
    })
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

/// Connects without a client certificate. Called only once the station's own connection
/// worked, so whatever stops this one is the broker's doing, or says so.
async fn no_client_certificate(p: &BrokerProfile, c: &Configs) -> CheckResult {
    const NAME: &str = "no_client_certificate";
    let id = format!("commissioner-audit-{}", rand::random::<u32>());
    let answer = probe::connect(
        &p.host,
        p.port,
        Some(c.anonymous.clone()),
        &id,
        connect_timeout(p),
        p.mqtt_version,
        None,
    )
    .await;
    match answer {
        Connect::Accepted(s) => {
            s.close().await;
            CheckResult::new(
                NAME,
                Outcome::Fail,
                "connected without a client certificate (CONNACK success)",
            )
        }
        Connect::Refused(e) if e.is_connack_refusal() => {
            // TLS let the client in without a certificate: the listener stands on user names
            // and passwords alone, unless the profile says that is intended.
            let outcome = if p.audit.passwords_intended {
                Outcome::Warn
            } else {
                Outcome::Fail
            };
            CheckResult::new(
                NAME,
                outcome,
                format!(
                    "TLS accepted without a client certificate, so this listener admits by \
                     password (or anonymously) alone; CONNECT without credentials refused: {}{}",
                    evidence(&e),
                    if p.audit.passwords_intended {
                        " (passwords_intended in the profile)"
                    } else {
                        ""
                    }
                ),
            )
        }
        Connect::Refused(e) if tls_refusal(&e) => {
            CheckResult::new(NAME, Outcome::Pass, format!("refused: {}", evidence(&e)))
        }
        Connect::Refused(e) => not_answered(NAME, &e),
    }
}

/// A probe that failed without an answer from the broker (timeout, connection lost) after the
/// station's own connection had worked: nothing is proven either way.
pub(super) fn not_answered(name: &'static str, e: &MqttError) -> CheckResult {
    CheckResult::new(
        name,
        Outcome::Inconclusive,
        format!(
            "no answer from the broker to this probe, though the station's own connection \
             worked: {}",
            evidence(e)
        ),
    )
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
        p.mqtt_version,
        // The attacker holds no account: a password alone would let it in without TLS
        // ever looking at its certificate.
        None,
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
        Connect::Refused(e) if e.is_connack_refusal() => CheckResult::new(
            NAME,
            Outcome::Warn,
            format!("refused, but not by TLS: {}", evidence(&e)),
        ),
        Connect::Refused(e) => not_answered(NAME, &e),
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
    let mut session = match probe::connect(
        &p.host,
        p.port,
        Some(c.unit.clone()),
        other,
        t,
        p.mqtt_version,
        // The spoofer logs in as itself and only claims the other unit's client id.
        login(p, unit),
    )
    .await
    {
        Connect::Refused(e) if !broker_answered(&e) => return not_answered(NAME, &e),
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
        .publish(&topic, b"commissioner audit probe", reply_timeout(p))
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
        PubAnswer::NoVerdict => CheckResult::new(
            NAME,
            Outcome::Warn,
            format!(
                "{head} (it can take over that unit's session); publish to {topic}: {}",
                probe::NO_VERDICT
            ),
        ),
        PubAnswer::None(why) => CheckResult::new(NAME, Outcome::Warn, format!("{head}; {why}")),
    }
}

async fn publish_foreign(
    p: &BrokerProfile,
    ids: &AuditIdentities,
    session: &mut Session,
) -> CheckResult {
    const NAME: &str = "publish_foreign_topic";
    let topic = foreign_topic(p, &ids.other.id);
    let answer = session
        .publish(&topic, b"commissioner audit probe", reply_timeout(p))
        .await;
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
        PubAnswer::NoVerdict => CheckResult::new(
            NAME,
            Outcome::Warn,
            format!("not provable: publish to {topic}: {}", probe::NO_VERDICT),
        ),
        PubAnswer::None(why) => CheckResult::new(NAME, Outcome::Warn, why),
    }
}
