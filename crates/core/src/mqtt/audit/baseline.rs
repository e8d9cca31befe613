//! The station's own, legitimate connection, made before any attacker's. A refusal of an
//! attacker proves something only when the station itself gets in: a broker the station cannot
//! reach, cannot agree a TLS version with, or whose certificate does not verify refuses every
//! attacker too, and that refusal says nothing about the broker's configuration.

use super::probe::{self, evidence, Connect, Session};
use super::{connect_timeout, login, AuditIdentities, CheckResult, Configs, Outcome};
use crate::mqtt::MqttError;
use crate::station::BrokerProfile;

/// What the station's own connection as the audit unit found.
pub(super) struct Baseline {
    /// Why the station could not connect; `None` when it did.
    failure: Option<MqttError>,
    /// The open session of the unit, reused by the checks made as the unit with its own id,
    /// so a unit being commissioned signs one TLS handshake fewer.
    pub session: Option<Box<Session>>,
    unit: String,
    addr: String,
}

impl Baseline {
    /// Connects as the audit unit, with its own certificate and client id.
    pub async fn establish(p: &BrokerProfile, ids: &AuditIdentities, c: &Configs) -> Self {
        let tls = p.tls.then(|| c.unit.clone());
        let answer = probe::connect(
            &p.host,
            p.port,
            tls,
            &ids.unit.id,
            connect_timeout(p),
            p.mqtt_version,
            login(p, &ids.unit.id),
        )
        .await;
        let (failure, session) = match answer {
            Connect::Accepted(s) => (None, Some(s)),
            Connect::Refused(e) => (Some(e), None),
        };
        Self {
            failure,
            session,
            unit: ids.unit.id.clone(),
            addr: format!("{}:{}", p.host, p.port),
        }
    }

    /// Why the attacker checks cannot judge the broker, when the station could not connect.
    pub fn failure(&self) -> Option<String> {
        self.failure.as_ref().map(|e| {
            format!(
                "not judged: the station's own connection to {} as {} failed ({}), so a \
                 refusal of the attacker would prove nothing; fix the station's connection \
                 (profile, broker address, TLS version, server CA) and audit again",
                self.addr,
                self.unit,
                evidence(e)
            )
        })
    }

    /// Why nothing on the broker's host could be judged: the station's connection failed
    /// before anything answered (unreachable, silent, broken transport). A TLS or CONNACK
    /// refusal, or a certificate that did not verify, means the host was reached.
    pub fn unreached(&self) -> Option<String> {
        match &self.failure {
            Some(e)
                if !broker_answered(e)
                    && !matches!(
                        e,
                        MqttError::ServerNameMismatch(_) | MqttError::ServerCertificate(_)
                    ) =>
            {
                self.failure()
            }
            _ => None,
        }
    }

    /// The inconclusive result of `name` when the station could not connect. A CONNACK
    /// refusal of the station (a broker on passwords, say) still proves that TLS works, so the
    /// checks TLS answers run; those that need the unit's session do not.
    pub fn inconclusive(&self, name: &'static str) -> Option<CheckResult> {
        let e = self.failure.as_ref()?;
        if e.is_connack_refusal() && TLS_CHECKS.contains(&name) {
            return None;
        }
        self.failure()
            .map(|why| CheckResult::new(name, Outcome::Inconclusive, why))
    }

    /// The broker's certificate, judged by the station's own connection: it verified when
    /// the TLS handshake went past the server's certificate.
    pub fn server_certificate(&self, p: &BrokerProfile) -> CheckResult {
        const NAME: &str = "server_certificate";
        let verified = || {
            format!(
                "chain verified against the profile's server CA; certificate valid for {}",
                p.server_name.as_deref().unwrap_or(&p.host)
            )
        };
        match &self.failure {
            None => CheckResult::new(NAME, Outcome::Pass, verified()),
            Some(e @ (MqttError::ServerNameMismatch(_) | MqttError::ServerCertificate(_))) => {
                CheckResult::new(NAME, Outcome::Fail, evidence(e))
            }
            // The broker answered after TLS, or judged the unit's certificate, which a TLS 1.3
            // client sends only after it verified the server's.
            Some(e) if e.is_connack_refusal() || client_certificate_refusal(e) => CheckResult::new(
                NAME,
                Outcome::Pass,
                format!(
                    "{}; the station's own connection then failed: {}",
                    verified(),
                    evidence(e)
                ),
            ),
            Some(e) => CheckResult::new(
                NAME,
                Outcome::Inconclusive,
                format!(
                    "no certificate was verified: the station's own connection failed before \
                     it ({})",
                    evidence(e)
                ),
            ),
        }
    }

    /// Leaves the unit's session cleanly.
    pub async fn close(&mut self) {
        if let Some(s) = self.session.take() {
            s.close().await;
        }
    }
}

/// Checks judged by the broker's TLS answer to a certificate (or to none).
const TLS_CHECKS: &[&str] = &["no_client_certificate", "foreign_ca", "revoked_certificate"];

/// A TLS alert about the client's certificate: sent after the server's certificate was
/// verified, unlike a version or cipher disagreement.
fn client_certificate_refusal(e: &MqttError) -> bool {
    matches!(
        e,
        MqttError::UntrustedClientCa
            | MqttError::CertificateRevoked
            | MqttError::CertificateRequired
            | MqttError::CertificateExpired
            | MqttError::CertificateRejected(_)
            | MqttError::BadSignature
    )
}

/// Whether the broker itself answered (a TLS refusal or a CONNACK reason code), as opposed to
/// a failure of the connection (unreachable, timeout, broken transport) that a refusal of an
/// attacker must never be mistaken for.
pub(super) fn broker_answered(e: &MqttError) -> bool {
    e.is_tls_refusal() || e.is_connack_refusal()
}
