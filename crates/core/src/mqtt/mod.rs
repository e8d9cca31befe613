//! MQTT v5 over mutual TLS: client configs, the device-backed signer, the provisioning
//! handshake and the reference provisioning responder.

pub mod audit;
pub mod handshake;
pub mod responder;
pub mod signer;
pub mod tls;

use std::error::Error as StdError;
use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::{
    ConnectReturnCode, DisconnectReasonCode, PubAckReason, SubscribeReasonCode,
};
use rumqttc::v5::ConnectionError;
use rustls::AlertDescription;
use thiserror::Error;

use crate::device::DeviceError;
use crate::error::Coded;

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
    #[error("the broker refused the TLS handshake ({0})")]
    TlsAlert(String),
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

/// Finds a rustls error anywhere in an error chain. tokio-rustls wraps it in an `io::Error`,
/// whose `source()` skips the wrapped error, so look inside with `get_ref` too.
fn find_rustls<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&'a (dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(r) = find_rustls(inner) {
                return Some(r);
            }
        }
        cur = e.source();
    }
    None
}

/// Maps a rumqttc connection error onto what the technician should hear.
pub(crate) fn classify(err: &ConnectionError, addr: &str) -> MqttError {
    if let ConnectionError::ConnectionRefused(code) = err {
        return MqttError::ConnectRefused(connect_code_text(*code));
    }
    if let Some(tls) = find_rustls(err) {
        return match tls {
            rustls::Error::AlertReceived(AlertDescription::UnknownCA) => {
                MqttError::UntrustedClientCa
            }
            rustls::Error::AlertReceived(AlertDescription::CertificateRevoked) => {
                MqttError::CertificateRevoked
            }
            rustls::Error::AlertReceived(AlertDescription::CertificateRequired) => {
                MqttError::CertificateRequired
            }
            rustls::Error::AlertReceived(alert) => MqttError::TlsAlert(format!("{alert:?}")),
            rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)
            | rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            ) => MqttError::ServerNameMismatch(addr.to_owned()),
            rustls::Error::InvalidCertificate(e) => MqttError::ServerCertificate(format!("{e:?}")),
            other => MqttError::Connection(other.to_string()),
        };
    }
    // rumqttc's packet reader keeps only the text of an I/O error, so an alert that arrives
    // while reading CONNACK (mosquitto refusing a revoked certificate) is known by its text.
    let text = err.to_string();
    if let Some(alert) = text.split("received fatal alert: ").nth(1) {
        let name: String = alert
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        return match name.as_str() {
            "CertificateRevoked" => MqttError::CertificateRevoked,
            "UnknownCA" => MqttError::UntrustedClientCa,
            "CertificateRequired" => MqttError::CertificateRequired,
            _ => MqttError::TlsAlert(name),
        };
    }
    match err {
        ConnectionError::Io(io) | ConnectionError::Tls(rumqttc::TlsError::Io(io))
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable
            ) =>
        {
            MqttError::Unreachable {
                addr: addr.to_owned(),
                detail: io.to_string(),
            }
        }
        other => MqttError::Connection(other.to_string()),
    }
}

pub(crate) fn connect_code_text(code: ConnectReturnCode) -> String {
    match code {
        ConnectReturnCode::NotAuthorized => "not authorised (0x87)".into(),
        ConnectReturnCode::BadUserNamePassword => "bad user name or password (0x86)".into(),
        ConnectReturnCode::ClientIdentifierNotValid => "client id not allowed (0x85)".into(),
        ConnectReturnCode::Banned => "banned (0x8A)".into(),
        other => format!("{other:?}"),
    }
}

pub(crate) fn suback_text(code: &SubscribeReasonCode) -> String {
    match code {
        SubscribeReasonCode::NotAuthorized => "not authorised (0x87)".into(),
        other => format!("{other:?}"),
    }
}

pub(crate) fn puback_text(code: &PubAckReason) -> String {
    match code {
        PubAckReason::NotAuthorized => "not authorised (0x87)".into(),
        other => format!("{other:?}"),
    }
}

pub(crate) fn disconnect_text(code: &DisconnectReasonCode) -> String {
    format!("{code:?}")
}
