//! The broker audit: tries, with test identities, what an attacker would, and records each
//! outcome with the broker's own answer (reason code or TLS alert) as evidence.
//!
//! mosquitto grants a forbidden SUBSCRIBE and filters delivery silently, so isolation is proven
//! by publishing from the other identity and seeing nothing arrive; a forbidden QoS 1 PUBLISH
//! is answered PUBACK 0x87; a refused client certificate surfaces as an alert while CONNACK is
//! read. See DESIGN.md for the measurements.

mod baseline;
pub mod bootstrap;
mod checks;
mod crl_hook;
mod enhanced_auth;
pub mod identities;
mod isolation;
mod listeners;
mod probe;
pub mod reach;
pub mod session;
mod tls_versions;
mod topics;

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use serde::Serialize;
use ts_rs::TS;

pub use checks::protocol_version;
pub use identities::{AuditIdentities, AuditUnit, TestIdentity, UnitKey};
pub use isolation::NO_CRL_RELOAD;
pub use tls_versions::accepts_tls13;

use super::tls::{client_config_with, ClientIdentity, TlsOptions};
use super::MqttError;
use crate::station::BrokerProfile;

/// Result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    /// A weakness an attacker can use.
    Fail,
    /// Not exploitable as tested, but weaker than it should be, or not provable.
    Warn,
    Skipped,
    /// The station's own connection failed, so the broker's answer to the attacker says
    /// nothing: not a PASS, and the audit fails until the station can connect.
    Inconclusive,
}

impl Outcome {
    /// As stored in `audit_checks.outcome`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Warn => "warn",
            Outcome::Skipped => "skipped",
            Outcome::Inconclusive => "inconclusive",
        }
    }

    /// Whether this outcome fails the audit: a weakness, or a check that could not judge.
    pub fn fails_audit(self) -> bool {
        matches!(self, Outcome::Fail | Outcome::Inconclusive)
    }
}

/// One check's outcome and what the broker said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct CheckResult {
    /// One of [`crate::station::AUDIT_CHECKS`].
    pub name: &'static str,
    pub outcome: Outcome,
    pub evidence: String,
}

impl CheckResult {
    fn new(name: &'static str, outcome: Outcome, evidence: impl Into<String>) -> Self {
        Self {
            name,
            outcome,
            evidence: evidence.into(),
        }
    }
}

/// The broker under audit.
#[derive(Debug, Clone)]
pub struct AuditTarget {
    pub profile: BrokerProfile,
    /// DER trust anchors for the broker's certificate (the profile's `server_ca`).
    pub trust_anchors: Vec<Vec<u8>>,
}

/// Whether any check found a weakness or could not judge the broker.
pub fn any_failed(results: &[CheckResult]) -> bool {
    results.iter().any(|r| r.outcome.fails_audit())
}

/// Runs the profile's checks on a thread of its own with its own runtime (the caller may be
/// inside a runtime already). Checks not enabled in the profile come back `skipped`.
pub fn run(target: &AuditTarget, ids: &AuditIdentities) -> Result<Vec<CheckResult>, MqttError> {
    let configs = Configs::new(target, ids)?;
    super::on_own_runtime(|| async { Ok(checks::run_all(target, ids, &configs).await) })
}

/// TLS client configs of every identity, built once.
pub(crate) struct Configs {
    /// The broker's trust anchors, for probes that build their own configs.
    pub anchors: Vec<Vec<u8>>,
    pub anonymous: Arc<ClientConfig>,
    pub unit: Arc<ClientConfig>,
    pub other: Arc<ClientConfig>,
    pub foreign_ca: Arc<ClientConfig>,
    pub revoked: Option<Arc<ClientConfig>>,
}

impl Configs {
    fn new(target: &AuditTarget, ids: &AuditIdentities) -> Result<Self, MqttError> {
        let anchors = &target.trust_anchors;
        let options = TlsOptions::of_profile(&target.profile);
        let local = |id: &TestIdentity| {
            client_config_with(
                anchors,
                ClientIdentity::Local {
                    chain: id.chain.clone(),
                    key: id.key.clone_key(),
                },
                &options,
            )
        };
        Ok(Self {
            anchors: anchors.clone(),
            anonymous: full_handshakes(client_config_with(
                anchors,
                ClientIdentity::None,
                &options,
            )?),
            unit: full_handshakes(client_config_with(
                anchors,
                ids.unit.client_identity(),
                &options,
            )?),
            other: full_handshakes(local(&ids.other)?),
            foreign_ca: full_handshakes(local(&ids.foreign_ca)?),
            revoked: ids
                .revoked
                .as_ref()
                .map(local)
                .transpose()?
                .map(full_handshakes),
        })
    }
}

/// Every probe is a fresh attacker: no TLS session resumed from an earlier connection, whose
/// client certificate the broker would not check again (a revoked certificate would ride on a
/// session from before the CRL reload, and the unit's key would sign only once).
fn full_handshakes(config: Arc<ClientConfig>) -> Arc<ClientConfig> {
    let mut config = (*config).clone();
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// The user name and password the audit's identity `account` logs in with: only where the
/// profile says passwords are intended and names one for it ([`crate::station::AuditProfile`]
/// `passwords`), so that the ACL checks run as a password broker's units would.
fn login<'a>(profile: &'a BrokerProfile, account: &str) -> Option<(&'a str, &'a str)> {
    if !profile.audit.passwords_intended {
        return None;
    }
    profile
        .audit
        .passwords
        .get_key_value(account)
        .map(|(user, password)| (user.as_str(), password.as_str()))
}

/// Connect limit of the audit's connections.
fn connect_timeout(profile: &BrokerProfile) -> Duration {
    Duration::from_secs(profile.connect_timeout_secs.max(1))
}

/// Limit of a broker's answer (PUBACK, SUBACK) once connected: the profile's reply timeout,
/// kept apart from the connect limit so a silent peer costs only the connect limit.
fn reply_timeout(profile: &BrokerProfile) -> Duration {
    Duration::from_secs(profile.timeout_secs.max(1))
}
