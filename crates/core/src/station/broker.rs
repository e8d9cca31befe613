//! The broker profile (`[broker]` in station.toml): where the handshake goes, how long it
//! waits, how it retries, and which audit checks run. Every field added after the first
//! release has a default, so older station.toml files keep parsing.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where and how to run the provisioning handshake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrokerProfile {
    /// Host name or IP; also the name the broker's certificate must carry.
    pub host: String,
    pub port: u16,
    /// PEM file of the CA(s) the broker's certificate must chain to; relative to the station.
    pub server_ca: PathBuf,
    /// The name the broker's certificate must carry, when it is not `host` (a broker reached
    /// by IP whose certificate names its DNS name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    #[serde(default = "default_request_topic")]
    pub request_topic: String,
    #[serde(default = "default_response_topic")]
    pub response_topic: String,
    /// JSON request payload with `{device_id}`, `{model}`, `{firmware_version}`,
    /// `{certificate_serial}` and `{station_id}` placeholders (values inserted JSON-escaped, so
    /// put them inside quotes). The built-in payload when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_template: Option<String>,
    /// Overall limit of one handshake attempt, from TCP connect to the final status.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// CONNECT session expiry of the handshake: 0 leaves nothing on the broker afterwards.
    #[serde(default)]
    pub session_expiry_secs: u32,
    /// Limit of the TCP + TLS + CONNACK part of an attempt.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// MQTT protocol version: "5" (required for properties and reason codes) or "3.1.1",
    /// which the audit reports as weaker.
    #[serde(default)]
    pub mqtt_version: MqttVersion,
    /// Let the handshake fall back to TLS 1.2 with a broker that has no TLS 1.3. Off by
    /// default: the session records TLS 1.2 as weaker, and the audit's `tls_versions` check
    /// fails a broker that accepts TLS 1.2 unless this is set.
    #[serde(default)]
    pub tls12_allowed: bool,
    /// TLS to the broker. `false` (plaintext) is refused unless `lab = true`.
    #[serde(default = "default_true")]
    pub tls: bool,
    /// A lab broker: the only kind of profile allowed to be plaintext.
    #[serde(default)]
    pub lab: bool,
    #[serde(default)]
    pub retry: RetryPolicy,
    #[serde(default)]
    pub audit: AuditProfile,
    /// Who `commissioner responder` is on this broker.
    #[serde(default, skip_serializing_if = "BackendProfile::is_default")]
    pub backend: BackendProfile,
}

/// The provisioning backend's identity on the broker (`[broker.backend]`), for
/// `commissioner responder`: the certificate and key `ca issue-backend` wrote, and its client
/// id. Paths are relative to the station; the lab backend's files when absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackendProfile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Unique per running responder; `commissioner-backend` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl BackendProfile {
    fn is_default(&self) -> bool {
        self == &Self::default()
    }
}

/// MQTT protocol version of a broker profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MqttVersion {
    #[default]
    #[serde(rename = "5")]
    V5,
    /// No reason codes on PUBACK, no user properties: weaker evidence and no status property.
    #[serde(rename = "3.1.1")]
    V311,
}

/// Retries on timeouts and refused connections: exponential backoff with jitter, capped.
/// Authorisation failures are never retried (retrying cannot fix them and looks like an attack).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 means no retry.
    pub max_attempts: u32,
    pub initial_backoff_ms: u64,
    /// Cap of a single wait.
    pub max_backoff_ms: u64,
    /// Cap of the summed waits of one handshake.
    pub max_total_backoff_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff_ms: 500,
            max_backoff_ms: 5_000,
            max_total_backoff_ms: 15_000,
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 = first retry): full jitter over an exponential
    /// ceiling, so stations that failed together do not retry together. `unit` in [0, 1).
    pub fn backoff(&self, retry: u32, unit: f64) -> Duration {
        let ceiling = self
            .initial_backoff_ms
            .saturating_mul(1u64 << retry.saturating_sub(1).min(20))
            .min(self.max_backoff_ms);
        // Half fixed, half random: never a zero wait, still spread out.
        let ms = ceiling / 2 + ((ceiling / 2) as f64 * unit.clamp(0.0, 1.0)) as u64;
        Duration::from_millis(ms)
    }
}

/// Placeholders of `payload_template`.
pub const PAYLOAD_FIELDS: &[&str] = &[
    "device_id",
    "model",
    "firmware_version",
    "certificate_serial",
    "station_id",
];

/// Names of the broker audit checks, as written in `[broker.audit] checks` and the journal.
pub const AUDIT_CHECKS: &[&str] = &[
    "protocol_version",
    "plaintext_listener",
    "server_certificate",
    "tls_versions",
    "no_client_certificate",
    "foreign_ca",
    "client_id_binding",
    "publish_foreign_topic",
    "publish_response_topic",
    "subscribe_isolation",
    "sys_topics",
    "revoked_certificate",
    "enhanced_auth",
];

/// The checks the pipeline's `audit` step runs by default: those whose answer depends on the
/// unit's own identity (its ACL, its client id, its certificate's CN). The broker-wide ones
/// (plaintext listener, server certificate, anonymous TLS) do not change from unit to unit and
/// are left to `commissioner audit`; the revocation check needs a CRL reload per unit.
pub const PIPELINE_AUDIT_CHECKS: &[&str] = &[
    "protocol_version",
    "foreign_ca",
    "client_id_binding",
    "publish_foreign_topic",
    "publish_response_topic",
    "subscribe_isolation",
];

/// Where MQTT listeners usually are: plaintext 1883, TLS 8883, WebSockets 8080, 8081, 9001.
pub const USUAL_MQTT_PORTS: &[u16] = &[1883, 8883, 8080, 8081, 9001];

/// Which audit checks run and where they probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditProfile {
    /// Checks `commissioner audit` runs (names in [`AUDIT_CHECKS`]); the others are recorded
    /// as skipped.
    pub checks: Vec<String>,
    /// Run an audit with each unit's new identity as the pipeline's `audit` step. Off by
    /// default: it adds several connections and a delivery wait (about 1.5 s) to every unit,
    /// and a broker's configuration rarely changes between two units of a line.
    pub in_pipeline: bool,
    /// Checks of the pipeline's `audit` step; [`PIPELINE_AUDIT_CHECKS`] by default.
    pub pipeline_checks: Vec<String>,
    /// Ports on the broker's host probed for MQTT in plaintext and over plain WebSockets;
    /// the usual MQTT ports by default ([`USUAL_MQTT_PORTS`]). The whole list: a port left out
    /// is not probed.
    pub plaintext_ports: Vec<u16>,
    /// How long to listen for foreign messages after the other identity published.
    pub delivery_wait_ms: u64,
    /// The broker is meant to admit clients by user name and password (no client
    /// certificate): a listener that does is then a warning instead of a failure.
    pub passwords_intended: bool,
    /// Names of the audit's units (`<prefix>-a`, `<prefix>-b`, `<prefix>-revoked`) for brokers
    /// that admit a certificate only when an account carries its CN (RabbitMQ's EXTERNAL
    /// login): create those accounts with a unit's permissions. Unset, every audit makes
    /// fresh random names, which such a broker refuses (every attacker check inconclusive).
    pub unit_prefix: Option<String>,
    /// How the audit gets a fresh CRL to the broker for the `revoked_certificate` check on a
    /// broker this station did not start. Without it that check is skipped (a lab broker this
    /// station started is reloaded without one).
    pub crl_hook: Option<CrlHook>,
    /// With `passwords_intended`: the passwords of the audit's units, by user name
    /// (`<unit_prefix>-a`, `<unit_prefix>-b`, `<unit_prefix>-revoked`), so that the ACL checks
    /// log in as the broker's units do. Test accounts with a unit's rights only; station.toml is
    /// readable by this OS user alone.
    #[serde(skip_serializing_if = "AuditPasswords::is_empty")]
    pub passwords: AuditPasswords,
}

/// User name → password of the audit's units; never printed by `Debug`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AuditPasswords(pub std::collections::BTreeMap<String, String>);

impl AuditPasswords {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get_key_value(&self, user: &str) -> Option<(&String, &String)> {
        self.0.get_key_value(user)
    }
}

impl std::fmt::Debug for AuditPasswords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// Publishing the station's CRL to a broker: write it where the broker reads it (`path`; for
/// mosquitto its `crlfile`), then run `command` so the broker loads it (mosquitto re-reads
/// `crlfile` on SIGHUP: `kill -HUP $(cat /run/mosquitto/mosquitto.pid)` or `systemctl reload
/// mosquitto`). `command` runs under `sh -c` with `COMMISSIONER_CRL` set to the CRL's path and
/// nothing else of the station's environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrlHook {
    /// Where the CRL (PEM) is written; relative to the station. The station's own
    /// `audit-crl.pem` when absent (for a command that uploads it elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Limit of the command.
    #[serde(default = "default_hook_timeout")]
    pub timeout_secs: u64,
}

fn default_hook_timeout() -> u64 {
    30
}

impl Default for AuditProfile {
    fn default() -> Self {
        Self {
            checks: AUDIT_CHECKS.iter().map(|c| (*c).to_owned()).collect(),
            in_pipeline: false,
            pipeline_checks: PIPELINE_AUDIT_CHECKS
                .iter()
                .map(|c| (*c).to_owned())
                .collect(),
            plaintext_ports: USUAL_MQTT_PORTS.to_vec(),
            delivery_wait_ms: 1_500,
            passwords_intended: false,
            unit_prefix: None,
            crl_hook: None,
            passwords: Default::default(),
        }
    }
}

impl AuditProfile {
    pub fn enabled(&self, check: &str) -> bool {
        self.checks.iter().any(|c| c == check)
    }
}

fn default_request_topic() -> String {
    "provisioning/{device_id}/request".into()
}
fn default_response_topic() -> String {
    "provisioning/{device_id}/response".into()
}
fn default_timeout() -> u64 {
    20
}
fn default_connect_timeout() -> u64 {
    10
}
fn default_true() -> bool {
    true
}

impl BrokerProfile {
    /// A TLS profile with every default, for `host:port` trusting `server_ca`.
    pub fn new(host: &str, port: u16, server_ca: PathBuf) -> Self {
        Self {
            host: host.to_owned(),
            port,
            server_ca,
            server_name: None,
            request_topic: default_request_topic(),
            response_topic: default_response_topic(),
            payload_template: None,
            timeout_secs: default_timeout(),
            session_expiry_secs: 0,
            connect_timeout_secs: default_connect_timeout(),
            mqtt_version: MqttVersion::V5,
            tls12_allowed: false,
            tls: true,
            lab: false,
            retry: RetryPolicy::default(),
            audit: AuditProfile::default(),
            backend: BackendProfile::default(),
        }
    }

    /// Expands a topic template for a device.
    pub fn topic(template: &str, device_id: &str) -> String {
        template.replace("{device_id}", device_id)
    }

    /// Renders the payload template; `values` are (placeholder, value) pairs.
    pub fn render_payload(template: &str, values: &[(&str, &str)]) -> String {
        values
            .iter()
            .fold(template.to_owned(), |text, (key, value)| {
                let quoted = serde_json::Value::from(*value).to_string();
                // The JSON string without its quotes: the template supplies them.
                let escaped = &quoted[1..quoted.len() - 1];
                text.replace(&format!("{{{key}}}"), escaped)
            })
    }

    /// Why this profile must not be used, if it must not.
    pub fn problem(&self) -> Option<String> {
        if let Some(template) = &self.payload_template {
            let sample = Self::render_payload(
                template,
                &PAYLOAD_FIELDS.iter().map(|k| (*k, "x")).collect::<Vec<_>>(),
            );
            match serde_json::from_str::<serde_json::Value>(&sample) {
                Err(e) => return Some(format!("payload_template is not JSON once filled in: {e}")),
                // 3.1.1 matches its reply by a nonce the station adds to the request object.
                Ok(v) if self.mqtt_version == MqttVersion::V311 && !v.is_object() => {
                    return Some(
                        "payload_template must be a JSON object with mqtt_version = \"3.1.1\" \
                         (the station adds the reply nonce to it)"
                            .into(),
                    )
                }
                Ok(_) => {}
            }
        }
        if !self.tls && !self.lab {
            return Some(
                "a plaintext broker profile (tls = false) is refused unless it is marked \
                 `lab = true`"
                    .into(),
            );
        }
        if self.retry.max_attempts == 0 {
            return Some("retry.max_attempts must be at least 1".into());
        }
        // Units' names become topic levels and certificate CNs.
        if let Some(prefix) = &self.audit.unit_prefix {
            let ok = !prefix.is_empty()
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !ok {
                return Some(format!(
                    "audit.unit_prefix '{prefix}' may use only letters, digits, '.', '_' and '-'"
                ));
            }
        }
        if !self.audit.passwords.is_empty() && !self.audit.passwords_intended {
            return Some(
                "audit.passwords are used only with audit.passwords_intended = true".into(),
            );
        }
        if let Some(hook) = &self.audit.crl_hook {
            if hook.path.is_none() && hook.command.as_deref().is_none_or(str::is_empty) {
                return Some("audit.crl_hook needs a path, a command, or both".into());
            }
        }
        if let Some(bad) = self
            .audit
            .checks
            .iter()
            .chain(&self.audit.pipeline_checks)
            .find(|c| !AUDIT_CHECKS.contains(&c.as_str()))
        {
            return Some(format!(
                "unknown audit check '{bad}' (known: {})",
                AUDIT_CHECKS.join(", ")
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BrokerProfile, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn old_profile_gets_defaults() {
        let p = parse("host = \"h\"\nport = 8883\nserver_ca = \"ca.pem\"\n").expect("parses");
        assert_eq!(p, BrokerProfile::new("h", 8883, "ca.pem".into()));
        assert!(p.problem().is_none());
    }

    #[test]
    fn plaintext_refused_unless_lab() {
        let text = "host = \"h\"\nport = 1883\nserver_ca = \"ca.pem\"\ntls = false\n";
        let p = parse(text).expect("parses");
        assert!(p.problem().expect("refused").contains("plaintext"));
        let p = parse(&format!("{text}lab = true\n")).expect("parses");
        assert!(p.problem().is_none());
    }

    #[test]
    fn version_and_checks_parse() {
        let p = parse(
            "host = \"h\"\nport = 1\nserver_ca = \"c\"\nmqtt_version = \"3.1.1\"\n\
             [audit]\nchecks = [\"foreign_ca\"]\n[retry]\nmax_attempts = 2\n",
        )
        .expect("parses");
        assert_eq!(p.mqtt_version, MqttVersion::V311);
        assert!(p.audit.enabled("foreign_ca") && !p.audit.enabled("revoked_certificate"));
        assert!(!p.audit.in_pipeline);
        assert_eq!(p.audit.pipeline_checks, PIPELINE_AUDIT_CHECKS);
        assert_eq!(p.retry.max_attempts, 2);
        assert_eq!(p.retry.max_backoff_ms, 5_000);
        let bad = parse("host = \"h\"\nport = 1\nserver_ca = \"c\"\n[audit]\nchecks = [\"x\"]\n")
            .expect("parses");
        assert!(bad.problem().is_some());
        let bad = parse(
            "host = \"h\"\nport = 1\nserver_ca = \"c\"\n[audit]\nin_pipeline = true\n\
             pipeline_checks = [\"y\"]\n",
        )
        .expect("parses");
        assert!(bad.problem().expect("refused").contains("'y'"));
    }

    #[test]
    fn payload_template_is_filled_with_escaped_values() {
        let text = BrokerProfile::render_payload(
            r#"{"id": "{device_id}", "fw": "{firmware_version}"}"#,
            &[("device_id", "U-1"), ("firmware_version", "1.0 \"beta\"")],
        );
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["fw"], "1.0 \"beta\"");
        let mut p = BrokerProfile::new("h", 1, "c".into());
        p.payload_template = Some("{\"id\": {device_id}}".into());
        assert!(p.problem().expect("not JSON").contains("payload_template"));
        p.payload_template = Some("[\"{device_id}\"]".into());
        assert!(p.problem().is_none());
        p.mqtt_version = MqttVersion::V311;
        assert!(p.problem().expect("not an object").contains("JSON object"));
    }

    #[test]
    fn audit_unit_prefix_must_be_a_topic_level() {
        let text = "host = \"h\"\nport = 1\nserver_ca = \"c\"\n[audit]\n";
        let p = parse(&format!("{text}unit_prefix = \"audit-rmq\"\n")).expect("parses");
        assert_eq!(p.audit.unit_prefix.as_deref(), Some("audit-rmq"));
        assert!(p.problem().is_none());
        for bad in ["a/b", "+", "#", ""] {
            let p = parse(&format!("{text}unit_prefix = \"{bad}\"\n")).expect("parses");
            assert!(
                p.problem().expect("refused").contains("unit_prefix"),
                "{bad}"
            );
        }
    }

    #[test]
    fn audit_passwords_parse_need_the_intent_and_stay_out_of_debug() {
        let text = "host = \"h\"\nport = 1\nserver_ca = \"c\"\n[audit]\n\
                    unit_prefix = \"audit-pw\"\n[audit.passwords]\n\"audit-pw-a\" = \"s3cret\"\n";
        let p = parse(text).expect("parses");
        assert!(p.problem().expect("refused").contains("passwords_intended"));
        let p = parse(&text.replace("[audit]\n", "[audit]\npasswords_intended = true\n"))
            .expect("parses");
        assert_eq!(p.problem(), None);
        assert_eq!(
            p.audit
                .passwords
                .get_key_value("audit-pw-a")
                .map(|(_, v)| v.as_str()),
            Some("s3cret")
        );
        let shown = format!("{p:?}");
        assert!(
            shown.contains("audit-pw-a") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn the_documented_broker_profiles_parse_and_are_usable() {
        #[derive(Deserialize)]
        struct Section {
            broker: BrokerProfile,
        }
        for text in [
            include_str!("../../../../assets/mosquitto/station-broker.toml"),
            include_str!("../../../../assets/rabbitmq/station-broker.toml"),
        ] {
            let section: Section = toml::from_str(text).expect("parses");
            assert_eq!(section.broker.problem(), None);
        }
        let mosquitto: Section = toml::from_str(include_str!(
            "../../../../assets/mosquitto/station-broker.toml"
        ))
        .expect("parses");
        let hook = mosquitto.broker.audit.crl_hook.expect("hook");
        assert!(hook.command.expect("command").contains("COMMISSIONER_CRL"));
        assert_eq!(
            mosquitto.broker.backend.client_id.as_deref(),
            Some("commissioner-backend-1")
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let r = RetryPolicy::default();
        assert_eq!(r.backoff(1, 0.0), Duration::from_millis(250));
        assert_eq!(r.backoff(2, 1.0), Duration::from_millis(1_000));
        assert_eq!(r.backoff(30, 1.0), Duration::from_millis(5_000));
    }
}
