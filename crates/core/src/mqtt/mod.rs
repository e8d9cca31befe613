//! MQTT v5 over mutual TLS: client configs, the device-backed signer, the provisioning
//! handshake and the reference provisioning responder.

pub mod audit;
pub mod codes;
pub mod dialect;
pub mod handshake;
pub mod handshake_v311;
pub mod inband;
pub mod responder;
pub mod retry;
pub mod signer;
pub mod tls;

use std::time::Duration;

use thiserror::Error;

use crate::device::DeviceError;
use crate::error::Coded;

/// Runs the future `make` builds on a thread and a current-thread runtime of its own. rustls
/// calls a (maybe device-backed, slow) signer synchronously, and callers may already be inside
/// a runtime, where blocking on another one would panic.
pub(crate) fn on_own_runtime<T, F>(make: impl FnOnce() -> F + Send) -> Result<T, MqttError>
where
    T: Send,
    F: std::future::Future<Output = Result<T, MqttError>>,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| MqttError::Config(format!("cannot start the MQTT runtime: {e}")))?;
            rt.block_on(make())
        })
        .join()
        .unwrap_or_else(|_| Err(MqttError::Connection("the MQTT thread panicked".into())))
    })
}

/// Errors of the MQTT side, each mapped to what a technician can do about it.
#[derive(Debug, Error)]
pub enum MqttError {
    #[error("the broker profile is not usable: {0}")]
    Config(String),
    #[error("cannot reach the broker at {addr}: is it running and is the port right?")]
    Unreachable { addr: String, detail: String },
    #[error("the broker does not trust this factory CA")]
    UntrustedClientCa,
    #[error("the broker says this certificate is revoked")]
    CertificateRevoked,
    #[error("the broker requires a client certificate")]
    CertificateRequired,
    #[error("the broker ended the TLS handshake with alert {0}")]
    TlsAlert(String),
    #[error("the broker says this certificate has expired or is not valid yet: check the clocks of this station and of the unit")]
    CertificateExpired,
    #[error("the broker rejected this certificate ({0}): check that it is a client certificate (clientAuth) with its chain")]
    CertificateRejected(String),
    #[error("the broker could not verify the handshake signature: the unit's key does not match its certificate")]
    BadSignature,
    #[error("no TLS version or cipher in common with the broker ({0}): it must offer TLS 1.3, or the profile must allow TLS 1.2 (tls12_allowed)")]
    TlsVersion(String),
    #[error("the broker negotiated TLS 1.2, and this unit signs only TLS 1.3 handshakes (it refuses any other input so that its key cannot sign arbitrary data): give the broker's listener TLS 1.3")]
    UnitTls12,
    #[error("the broker does not know the server name it was asked for: check host in the broker profile")]
    ServerNameUnknown,
    #[error("the broker does not allow this identity: {0}; check that the unit's certificate is registered and the ACL names it")]
    NotAuthorized(String),
    #[error("the broker refused the client id: {0}; the client id must be the unit's device id")]
    ClientIdRefused(String),
    #[error("the broker has banned this client: {0}")]
    Banned(String),
    #[error("the broker refused the credentials: {0}")]
    BadCredentials(String),
    #[error("the broker is busy or unavailable: {0}; it is retried with backoff")]
    BrokerBusy(String),
    #[error("the broker sends this client to another server: {0}; update the broker profile")]
    Redirected(String),
    #[error(
        "the broker does not accept this MQTT version: {0}; check mqtt_version in the profile"
    )]
    ProtocolVersion(String),
    #[error("the broker's certificate does not match its address {0}")]
    ServerNameMismatch(String),
    #[error("the broker's certificate is not trusted by this station's profile ({0})")]
    ServerCertificate(String),
    #[error("the unit could not sign the TLS handshake")]
    DeviceSignature(#[source] DeviceError),
    #[error("the broker refused the connection: {0}")]
    ConnectRefused(String),
    #[error("the broker refused the subscription to {topic}: {reason}")]
    SubscribeRefused { topic: String, reason: String },
    #[error("the broker refused the publish to {topic}: {reason}")]
    PublishRefused { topic: String, reason: String },
    #[error("the broker closed the connection: {0}")]
    Disconnected(String),
    #[error("no answer from the broker while {stage} within {} s", after.as_secs())]
    Timeout {
        stage: &'static str,
        after: Duration,
    },
    #[error("the provisioning service rejected the unit: {0}")]
    Rejected(String),
    #[error("the provisioning service answered with an unknown status '{0}'")]
    BadStatus(String),
    #[error("the connection to the broker failed: {0}")]
    Connection(String),
}

impl Coded for MqttError {
    fn code(&self) -> &'static str {
        match self {
            MqttError::Config(_) => "mqtt.config",
            MqttError::Unreachable { .. } => "mqtt.unreachable",
            MqttError::UntrustedClientCa => "mqtt.untrusted_client_ca",
            MqttError::CertificateRevoked => "mqtt.certificate_revoked",
            MqttError::CertificateRequired => "mqtt.certificate_required",
            MqttError::TlsAlert(_) => "mqtt.tls_alert",
            MqttError::CertificateExpired => "mqtt.certificate_expired",
            MqttError::CertificateRejected(_) => "mqtt.certificate_rejected",
            MqttError::BadSignature => "mqtt.bad_signature",
            MqttError::TlsVersion(_) => "mqtt.tls_version",
            MqttError::UnitTls12 => "mqtt.unit_tls12",
            MqttError::ServerNameUnknown => "mqtt.server_name_unknown",
            MqttError::NotAuthorized(_) => "mqtt.not_authorized",
            MqttError::ClientIdRefused(_) => "mqtt.client_id_refused",
            MqttError::Banned(_) => "mqtt.banned",
            MqttError::BadCredentials(_) => "mqtt.bad_credentials",
            MqttError::BrokerBusy(_) => "mqtt.broker_busy",
            MqttError::Redirected(_) => "mqtt.redirected",
            MqttError::ProtocolVersion(_) => "mqtt.protocol_version",
            MqttError::ServerNameMismatch(_) => "mqtt.server_name_mismatch",
            MqttError::ServerCertificate(_) => "mqtt.server_certificate",
            MqttError::DeviceSignature(_) => "mqtt.device_signature",
            MqttError::ConnectRefused(_) => "mqtt.connect_refused",
            MqttError::SubscribeRefused { .. } => "mqtt.subscribe_refused",
            MqttError::PublishRefused { .. } => "mqtt.publish_refused",
            MqttError::Disconnected(_) => "mqtt.disconnected",
            MqttError::Timeout { .. } => "mqtt.timeout",
            MqttError::Rejected(_) => "handshake.rejected",
            MqttError::BadStatus(_) => "handshake.bad_status",
            MqttError::Connection(_) => "mqtt.connection_failed",
        }
    }
}

pub(crate) use codes::{classify, disconnect_text, puback_text, suback_text};

/// Every error code the MQTT side (handshake, TLS, broker audit) can produce, for the UI's
/// wording. `crate::error_codes` checks it against the source and writes it for the UI.
pub const ALL_CODES: &[&str] = &[
    "mqtt.config",
    "mqtt.unreachable",
    "mqtt.untrusted_client_ca",
    "mqtt.certificate_revoked",
    "mqtt.certificate_required",
    "mqtt.tls_alert",
    "mqtt.certificate_expired",
    "mqtt.certificate_rejected",
    "mqtt.bad_signature",
    "mqtt.tls_version",
    "mqtt.unit_tls12",
    "mqtt.server_name_unknown",
    "mqtt.not_authorized",
    "mqtt.client_id_refused",
    "mqtt.banned",
    "mqtt.bad_credentials",
    "mqtt.broker_busy",
    "mqtt.redirected",
    "mqtt.protocol_version",
    "mqtt.server_name_mismatch",
    "mqtt.server_certificate",
    "mqtt.device_signature",
    "mqtt.connect_refused",
    "mqtt.subscribe_refused",
    "mqtt.publish_refused",
    "mqtt.disconnected",
    "mqtt.timeout",
    "handshake.rejected",
    "handshake.bad_status",
    "mqtt.connection_failed",
    "audit.findings",
    "audit.inconclusive",
    "audit.failed",
    "audit.broker_ca",
    "audit.crl_refresh",
    "audit.crl_hook",
];

impl MqttError {
    /// A refusal by TLS: the broker judged the certificate (or the handshake) and said no.
    pub fn is_tls_refusal(&self) -> bool {
        matches!(
            self,
            MqttError::UntrustedClientCa
                | MqttError::CertificateRevoked
                | MqttError::CertificateRequired
                | MqttError::CertificateExpired
                | MqttError::CertificateRejected(_)
                | MqttError::BadSignature
                | MqttError::TlsVersion(_)
                | MqttError::TlsAlert(_)
        )
    }

    /// A refusal by CONNACK reason code: TLS was fine, MQTT said no.
    pub fn is_connack_refusal(&self) -> bool {
        matches!(
            self,
            MqttError::ConnectRefused(_)
                | MqttError::NotAuthorized(_)
                | MqttError::ClientIdRefused(_)
                | MqttError::Banned(_)
                | MqttError::BadCredentials(_)
                | MqttError::BrokerBusy(_)
                | MqttError::Redirected(_)
                | MqttError::ProtocolVersion(_)
        )
    }

    /// Whether another attempt could succeed: the broker was not there, too slow or too busy.
    /// Never an authorisation or certificate failure: retrying cannot fix those, and a burst of
    /// refused attempts looks like an attack to the broker's operators.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            MqttError::Unreachable { .. } | MqttError::Timeout { .. } | MqttError::BrokerBusy(_)
        )
    }
}
