//! Topic checks made on the unit's own session: whether it can forge a provisioning reply
//! (publish on a response topic, its own or another unit's) and whether it reads the broker's
//! `$SYS` tree.

use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::{PubAckReason, SubscribeReasonCode};

use super::probe::{puback, suback, PubAnswer, Session};
use super::{reply_timeout, AuditIdentities, CheckResult, Outcome};
use crate::station::BrokerProfile;

/// A unit that may publish on a response topic can hand itself, or another unit, a
/// "Completed" the provisioning service never sent: only the backend may write there.
pub(super) async fn publish_response(
    p: &BrokerProfile,
    ids: &AuditIdentities,
    session: &mut Session,
) -> CheckResult {
    const NAME: &str = "publish_response_topic";
    let mut allowed = Vec::new();
    let mut answers = Vec::new();
    let mut unproven = Vec::new();
    for (whose, id) in [("its own", &ids.unit.id), ("another unit's", &ids.other.id)] {
        let topic = BrokerProfile::topic(&p.response_topic, id);
        match session
            .publish(&topic, b"commissioner audit probe", reply_timeout(p))
            .await
        {
            PubAnswer::Ack(PubAckReason::NotAuthorized) => answers.push(format!(
                "{whose} {topic}: {}",
                puback(&PubAckReason::NotAuthorized)
            )),
            PubAnswer::Ack(r @ (PubAckReason::Success | PubAckReason::NoMatchingSubscribers)) => {
                allowed.push(format!("{whose} {topic} (PUBACK {})", puback(&r)))
            }
            PubAnswer::Ack(r) => unproven.push(format!("{whose} {topic}: {}", puback(&r))),
            PubAnswer::NoVerdict => {
                unproven.push(format!("{whose} {topic}: {}", super::probe::NO_VERDICT))
            }
            PubAnswer::None(why) => unproven.push(format!("{whose} {topic}: {why}")),
        }
    }
    if !allowed.is_empty() {
        return CheckResult::new(
            NAME,
            Outcome::Fail,
            format!(
                "{} may publish a provisioning reply on {}: it can forge the backend's answer",
                ids.unit.id,
                allowed.join(" and ")
            ),
        );
    }
    if !unproven.is_empty() {
        return CheckResult::new(
            NAME,
            Outcome::Warn,
            format!("not proven refused: {}", unproven.join("; ")),
        );
    }
    CheckResult::new(
        NAME,
        Outcome::Pass,
        format!("QoS 1 publish refused on {}", answers.join(", ")),
    )
}

/// `$SYS/#` tells a unit the broker's version, its clients and its load: nothing a unit needs,
/// and a map for an attacker. mosquitto grants a forbidden subscription and filters delivery,
/// so only what arrives counts; its `$SYS` topics are retained, so a reader gets them at once.
pub(super) async fn sys_topics(p: &BrokerProfile, session: &mut Session) -> CheckResult {
    const NAME: &str = "sys_topics";
    let filter = "$SYS/#".to_owned();
    let granted = match session
        .subscribe(std::slice::from_ref(&filter), reply_timeout(p))
        .await
    {
        Ok(codes) => codes,
        Err(why) => return CheckResult::new(NAME, Outcome::Warn, why),
    };
    let code = granted
        .first()
        .map(|(_, c)| suback(c))
        .unwrap_or_else(|| "no SUBACK code".into());
    let refused = granted
        .iter()
        .all(|(_, c)| matches!(c, SubscribeReasonCode::NotAuthorized));
    let wait = Duration::from_millis(p.audit.delivery_wait_ms);
    let mut got: Vec<String> = session
        .delivered(wait)
        .await
        .into_iter()
        .filter(|t| t.starts_with("$SYS"))
        .collect();
    got.sort();
    got.dedup();
    if !got.is_empty() {
        let shown = got.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
        return CheckResult::new(
            NAME,
            Outcome::Fail,
            format!(
                "SUBACK $SYS/#: {code}; a unit reads the broker's internals: {} topic(s), e.g. {shown}",
                got.len()
            ),
        );
    }
    CheckResult::new(
        NAME,
        Outcome::Pass,
        format!(
            "SUBACK $SYS/#: {code}; nothing delivered within {} ms{}",
            wait.as_millis(),
            if refused {
                ""
            } else {
                " (the broker grants and filters delivery)"
            }
        ),
    )
}
