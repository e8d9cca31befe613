//! The checks that need two identities or a revoked one: subscription isolation, proven by a
//! publish from the other unit, and revocation.

use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::{PubAckReason, SubscribeReasonCode};

use super::baseline::broker_answered;
use super::checks::{foreign_topic, not_answered, tls_refusal};
use super::probe::{self, evidence, puback, suback, Connect, PubAnswer, Session};
use super::{
    connect_timeout, login, reply_timeout, AuditIdentities, CheckResult, Configs, Outcome,
};
use crate::mqtt::MqttError;
use crate::station::BrokerProfile;

/// Why the revocation check is skipped where the station cannot reload the broker's CRL: a
/// revoked certificate the broker has not heard of yet would be accepted, and that acceptance
/// would say nothing about the broker.
pub const NO_CRL_RELOAD: &str = "not run: this station cannot make the broker load a fresh CRL, \
     so a certificate revoked now would not be known to the broker yet. Give the profile a CRL \
     hook ([broker.audit.crl_hook] path = the broker's crlfile, command = what makes it reload, \
     e.g. \"kill -HUP $(cat /run/mosquitto/mosquitto.pid)\"), or check the broker's CRL \
     configuration by hand";

/// Tries left for the revocation check while the broker may still be loading the CRL.
const REVOKED_TRIES: u32 = 4;

/// Subscribes the unit's own session (`spy`) to another unit's topics and to `#`, then has
/// the other unit publish: nothing of it may arrive.
pub(super) async fn subscribe_isolation(
    p: &BrokerProfile,
    ids: &AuditIdentities,
    c: &Configs,
    spy: &mut Session,
) -> CheckResult {
    const NAME: &str = "subscribe_isolation";
    let t = connect_timeout(p);
    let r = reply_timeout(p);
    let other_id = &ids.other.id;
    let filters = vec![
        BrokerProfile::topic(&p.response_topic, other_id),
        foreign_topic(p, other_id),
        "#".to_owned(),
    ];
    let granted = match spy.subscribe(&filters, r).await {
        Ok(codes) => codes,
        Err(why) => return CheckResult::new(NAME, Outcome::Warn, why),
    };
    let subacks = granted
        .iter()
        .map(|(f, code)| format!("{f}: {}", suback(code)))
        .collect::<Vec<_>>()
        .join(", ");
    // Prove it: the other unit publishes on its own topic; nothing of it may reach the spy.
    let Connect::Accepted(mut other) = probe::connect(
        &p.host,
        p.port,
        Some(c.other.clone()),
        other_id,
        t,
        p.mqtt_version,
        login(p, other_id),
    )
    .await
    else {
        return CheckResult::new(
            NAME,
            Outcome::Warn,
            format!("SUBACK {subacks}; the other unit could not connect to publish"),
        );
    };
    let topic = foreign_topic(p, other_id);
    let published = other.publish(&topic, b"commissioner audit canary", r).await;
    other.close().await;
    let wait = Duration::from_millis(p.audit.delivery_wait_ms);
    let mut foreign: Vec<String> = spy
        .delivered(wait)
        .await
        .into_iter()
        .filter(|topic| !topic.contains(&ids.unit.id))
        .collect();
    // One delivery per subscription that matched: name each topic once.
    foreign.sort();
    foreign.dedup();
    if !foreign.is_empty() {
        return CheckResult::new(
            NAME,
            Outcome::Fail,
            format!(
                "SUBACK {subacks}; delivered from another unit: {}",
                foreign.join(", ")
            ),
        );
    }
    match published {
        PubAnswer::Ack(PubAckReason::Success | PubAckReason::NoMatchingSubscribers) => {
            let all_refused = granted
                .iter()
                .all(|(_, c)| matches!(c, SubscribeReasonCode::NotAuthorized));
            CheckResult::new(
                NAME,
                Outcome::Pass,
                format!(
                    "SUBACK {subacks}; {other_id} published to {topic}, nothing delivered within {} ms{}",
                    wait.as_millis(),
                    if all_refused { "" } else { " (the broker grants and filters delivery)" }
                ),
            )
        }
        PubAnswer::Ack(reason) => CheckResult::new(
            NAME,
            Outcome::Warn,
            format!(
                "SUBACK {subacks}; not provable: {other_id}'s own publish was answered {}",
                puback(&reason)
            ),
        ),
        // Nothing delivered proves isolation only if the broker took the other unit's message.
        PubAnswer::NoVerdict => CheckResult::new(
            NAME,
            Outcome::Warn,
            format!(
                "SUBACK {subacks}; nothing delivered within {} ms, but not provable: {other_id}'s own publish got a {}",
                wait.as_millis(),
                probe::NO_VERDICT
            ),
        ),
        PubAnswer::None(why) => CheckResult::new(
            NAME,
            Outcome::Warn,
            format!("SUBACK {subacks}; not provable: {why}"),
        ),
    }
}

pub(super) async fn revoked(p: &BrokerProfile, ids: &AuditIdentities, c: &Configs) -> CheckResult {
    const NAME: &str = "revoked_certificate";
    let (Some(id), Some(tls)) = (&ids.revoked, &c.revoked) else {
        return match &ids.crl_failure {
            Some(why) => CheckResult::new(
                NAME,
                Outcome::Inconclusive,
                format!("the CRL with the audit's revoked unit did not reach the broker: {why}"),
            ),
            None => CheckResult::new(NAME, Outcome::Skipped, NO_CRL_RELOAD),
        };
    };
    let t = connect_timeout(p);
    let mut last = String::new();
    // The broker loads a new CRL asynchronously (SIGHUP): give it a few tries before calling
    // an acceptance a finding.
    for attempt in 1..=REVOKED_TRIES {
        match probe::connect(
            &p.host,
            p.port,
            Some(tls.clone()),
            &id.id,
            t,
            p.mqtt_version,
            login(p, &id.id),
        )
        .await
        {
            Connect::Refused(e @ MqttError::CertificateRevoked) => {
                return CheckResult::new(NAME, Outcome::Pass, format!("refused: {}", evidence(&e)))
            }
            Connect::Refused(e) if tls_refusal(&e) => {
                return CheckResult::new(
                    NAME,
                    Outcome::Warn,
                    format!("refused, but not as revoked: {}", evidence(&e)),
                )
            }
            Connect::Refused(e) if broker_answered(&e) => {
                last = format!("refused, but not by TLS: {}", evidence(&e))
            }
            Connect::Refused(e) => return not_answered(NAME, &e),
            Connect::Accepted(s) => {
                s.close().await;
                last = format!(
                    "the revoked certificate of {} was accepted (CONNACK success): the broker has no CRL or an old one",
                    id.id
                );
            }
        }
        if attempt < REVOKED_TRIES {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let outcome = if last.starts_with("refused") {
        Outcome::Warn
    } else {
        Outcome::Fail
    };
    CheckResult::new(NAME, outcome, last)
}
