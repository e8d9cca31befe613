//! Every TLS alert and MQTT reason code, mapped to a stable error code and a message a
//! technician can act on. The broker's own code stays in the text (`0x87`, `UnknownCA`) so QA
//! sees the evidence.

use std::error::Error as StdError;

use rumqttc::v5::mqttbytes::v5::{
    ConnectReturnCode, DisconnectReasonCode, PubAckReason, SubscribeReasonCode,
};
use rumqttc::v5::ConnectionError;
use rustls::{AlertDescription, CertificateError};

use super::MqttError;

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

/// The alert named `name` (its Debug form, as rustls prints it), if it is one.
fn alert_named(name: &str) -> Option<AlertDescription> {
    (0..=u8::MAX)
        .map(AlertDescription::from)
        .find(|a| !matches!(a, AlertDescription::Unknown(_)) && format!("{a:?}") == name)
}

/// A TLS alert the broker sent, as the technician should hear it.
pub fn alert_error(alert: AlertDescription) -> MqttError {
    use AlertDescription as A;
    match alert {
        A::UnknownCA => MqttError::UntrustedClientCa,
        A::CertificateRevoked => MqttError::CertificateRevoked,
        A::CertificateRequired | A::NoCertificate => MqttError::CertificateRequired,
        A::CertificateExpired => MqttError::CertificateExpired,
        A::BadCertificate
        | A::UnsupportedCertificate
        | A::CertificateUnknown
        | A::BadCertificateHashValue
        | A::BadCertificateStatusResponse
        | A::CertificateUnobtainable
        | A::AccessDenied => MqttError::CertificateRejected(format!("{alert:?}")),
        A::DecryptError => MqttError::BadSignature,
        A::ProtocolVersion
        | A::InsufficientSecurity
        | A::HandshakeFailure
        | A::InappropriateFallback
        | A::MissingExtension
        | A::UnsupportedExtension
        | A::NoApplicationProtocol => MqttError::TlsVersion(format!("{alert:?}")),
        A::UnrecognisedName => MqttError::ServerNameUnknown,
        other => MqttError::TlsAlert(format!("{other:?}")),
    }
}

/// What is wrong with the broker's certificate, in words.
fn server_certificate(e: &CertificateError, addr: &str) -> MqttError {
    use CertificateError as C;
    let why = match e {
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            return MqttError::ServerNameMismatch(addr.to_owned())
        }
        C::Expired | C::ExpiredContext { .. } => "it has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => {
            "it is not valid yet (check this station's clock)".into()
        }
        C::UnknownIssuer => "it is not signed by the profile's server CA".into(),
        C::Revoked => "it is revoked".into(),
        C::BadSignature => "its signature does not verify".into(),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "it is not a server certificate (extended key usage)".into()
        }
        other => format!("{other:?}"),
    };
    MqttError::ServerCertificate(why)
}

/// Maps a rumqttc connection error onto what the technician should hear.
pub(crate) fn classify(err: &ConnectionError, addr: &str) -> MqttError {
    if let ConnectionError::ConnectionRefused(code) = err {
        return connack_error(*code);
    }
    let io = match err {
        ConnectionError::Io(io) | ConnectionError::Tls(rumqttc::TlsError::Io(io)) => Some(io),
        _ => None,
    };
    // rumqttc's own connection timeout (TCP + TLS + CONNACK).
    let timed_out = matches!(err, ConnectionError::Timeout(_));
    classify_transport(err, io, timed_out, addr)
}

/// Maps a MQTT 3.1.1 connection error (rumqttc's v4 client).
pub(crate) fn classify_v311(err: &rumqttc::ConnectionError, addr: &str) -> MqttError {
    use rumqttc::ConnectReturnCode as R;
    if let rumqttc::ConnectionError::ConnectionRefused(code) = err {
        return connack_error(match code {
            R::Success => ConnectReturnCode::Success,
            R::RefusedProtocolVersion => ConnectReturnCode::RefusedProtocolVersion,
            R::BadClientId => ConnectReturnCode::BadClientId,
            R::ServiceUnavailable => ConnectReturnCode::ServiceUnavailable,
            R::BadUserNamePassword => ConnectReturnCode::BadUserNamePassword,
            R::NotAuthorized => ConnectReturnCode::NotAuthorized,
        });
    }
    let io = match err {
        rumqttc::ConnectionError::Io(io)
        | rumqttc::ConnectionError::Tls(rumqttc::TlsError::Io(io)) => Some(io),
        _ => None,
    };
    let timed_out = matches!(err, rumqttc::ConnectionError::NetworkTimeout);
    classify_transport(err, io, timed_out, addr)
}

/// The TLS and network part of a connection error, common to both protocol versions.
fn classify_transport(
    err: &(dyn StdError + 'static),
    io: Option<&std::io::Error>,
    timed_out: bool,
    addr: &str,
) -> MqttError {
    if let Some(tls) = find_rustls(err) {
        return match tls {
            rustls::Error::AlertReceived(alert) => alert_error(*alert),
            rustls::Error::InvalidCertificate(e) => server_certificate(e, addr),
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
        return alert_named(&name)
            .map(alert_error)
            .unwrap_or(MqttError::TlsAlert(name));
    }
    if timed_out {
        return MqttError::Unreachable {
            addr: addr.to_owned(),
            detail: "no CONNACK within the connect timeout".into(),
        };
    }
    match io {
        Some(io)
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
        _ => MqttError::Connection(text),
    }
}

/// CONNACK reason code as an error.
pub fn connack_error(code: ConnectReturnCode) -> MqttError {
    use ConnectReturnCode as R;
    let text = connect_code_text(code);
    match code {
        R::NotAuthorized => MqttError::NotAuthorized(text),
        R::ClientIdentifierNotValid | R::BadClientId => MqttError::ClientIdRefused(text),
        R::Banned => MqttError::Banned(text),
        R::BadUserNamePassword | R::BadAuthenticationMethod => MqttError::BadCredentials(text),
        R::ServerUnavailable
        | R::ServiceUnavailable
        | R::ServerBusy
        | R::QuotaExceeded
        | R::ConnectionRateExceeded => MqttError::BrokerBusy(text),
        R::UseAnotherServer | R::ServerMoved => MqttError::Redirected(text),
        R::UnsupportedProtocolVersion | R::RefusedProtocolVersion => {
            MqttError::ProtocolVersion(text)
        }
        _ => MqttError::ConnectRefused(text),
    }
}

/// CONNACK reason code with its number (MQTT 5; 3.1.1 codes 1–5 where rumqttc keeps them).
fn connect_code_text(code: ConnectReturnCode) -> String {
    use ConnectReturnCode as R;
    let (text, n) = match code {
        R::Success => ("success", 0x00),
        R::RefusedProtocolVersion => ("unacceptable protocol version (3.1.1)", 0x01),
        R::BadClientId => ("client id rejected (3.1.1)", 0x02),
        R::ServiceUnavailable => ("server unavailable (3.1.1)", 0x03),
        R::UnspecifiedError => ("unspecified error", 0x80),
        R::MalformedPacket => ("malformed packet", 0x81),
        R::ProtocolError => ("protocol error", 0x82),
        R::ImplementationSpecificError => ("implementation-specific error", 0x83),
        R::UnsupportedProtocolVersion => ("unsupported protocol version", 0x84),
        R::ClientIdentifierNotValid => ("client id not allowed", 0x85),
        R::BadUserNamePassword => ("bad user name or password", 0x86),
        R::NotAuthorized => ("not authorised", 0x87),
        R::ServerUnavailable => ("server unavailable", 0x88),
        R::ServerBusy => ("server busy", 0x89),
        R::Banned => ("banned", 0x8A),
        R::BadAuthenticationMethod => ("bad authentication method", 0x8C),
        R::TopicNameInvalid => ("topic name invalid", 0x90),
        R::PacketTooLarge => ("packet too large", 0x95),
        R::QuotaExceeded => ("quota exceeded", 0x97),
        R::PayloadFormatInvalid => ("payload format invalid", 0x99),
        R::RetainNotSupported => ("retain not supported", 0x9A),
        R::QoSNotSupported => ("QoS not supported", 0x9B),
        R::UseAnotherServer => ("use another server", 0x9C),
        R::ServerMoved => ("server moved", 0x9D),
        R::ConnectionRateExceeded => ("connection rate exceeded", 0x9F),
    };
    format!("{text} (0x{n:02X})")
}

pub(crate) fn suback_text(code: &SubscribeReasonCode) -> String {
    use SubscribeReasonCode as S;
    let (text, n) = match code {
        S::Success(qos) => return format!("granted QoS {} (0x{:02X})", *qos as u8, *qos as u8),
        S::Failure => ("failure (3.1.1)", 0x80),
        S::Unspecified => ("unspecified error", 0x80),
        S::ImplementationSpecific => ("implementation-specific error", 0x83),
        S::NotAuthorized => ("not authorised", 0x87),
        S::TopicFilterInvalid => ("topic filter invalid", 0x8F),
        S::PkidInUse => ("packet id in use", 0x91),
        S::QuotaExceeded => ("quota exceeded", 0x97),
        S::SharedSubscriptionsNotSupported => ("shared subscriptions not supported", 0x9E),
        S::SubscriptionIdNotSupported => ("subscription ids not supported", 0xA1),
        S::WildcardSubscriptionsNotSupported => ("wildcard subscriptions not supported", 0xA2),
    };
    format!("{text} (0x{n:02X})")
}

pub(crate) fn puback_text(code: &PubAckReason) -> String {
    use PubAckReason as P;
    let (text, n) = match code {
        P::Success => ("success", 0x00),
        P::NoMatchingSubscribers => ("no matching subscribers", 0x10),
        P::UnspecifiedError => ("unspecified error", 0x80),
        P::ImplementationSpecificError => ("implementation-specific error", 0x83),
        P::NotAuthorized => ("not authorised", 0x87),
        P::TopicNameInvalid => ("topic name invalid", 0x90),
        P::PacketIdentifierInUse => ("packet id in use", 0x91),
        P::QuotaExceeded => ("quota exceeded", 0x97),
        P::PayloadFormatInvalid => ("payload format invalid", 0x99),
    };
    format!("{text} (0x{n:02X})")
}

pub(crate) fn disconnect_text(code: &DisconnectReasonCode) -> String {
    use DisconnectReasonCode as D;
    let hint = match code {
        D::NotAuthorized => ": this identity may not do that",
        D::SessionTakenOver => ": another client connected with the same client id",
        D::ServerShuttingDown | D::ServerBusy => ": retry later",
        D::KeepAliveTimeout => ": the link was silent too long",
        D::AdministrativeAction => ": an administrator disconnected this client",
        _ => "",
    };
    format!("{code:?} (0x{:02X}){hint}", *code as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Coded;

    #[test]
    fn every_alert_has_a_code_and_the_text_path_agrees() {
        for n in 0..=u8::MAX {
            let alert = AlertDescription::from(n);
            if matches!(alert, AlertDescription::Unknown(_)) {
                continue;
            }
            let direct = alert_error(alert);
            assert!(direct.code().starts_with("mqtt."), "{alert:?}");
            let text = format!("received fatal alert: {alert:?}");
            let via_text = alert_named(text.split(": ").nth(1).unwrap_or_default())
                .map(alert_error)
                .map(|e| e.code());
            assert_eq!(via_text, Some(direct.code()), "{alert:?}");
        }
        assert_eq!(
            alert_error(AlertDescription::UnknownCA).to_string(),
            "the broker does not trust this factory CA"
        );
    }

    #[test]
    fn connack_codes_carry_their_number_and_authorisation_is_not_retryable() {
        let e = connack_error(ConnectReturnCode::NotAuthorized);
        assert_eq!(e.code(), "mqtt.not_authorized");
        assert!(e.to_string().contains("0x87"), "{e}");
        assert!(!e.retryable());
        let e = connack_error(ConnectReturnCode::ClientIdentifierNotValid);
        assert!(e.to_string().contains("client id not allowed"), "{e}");
        assert!(connack_error(ConnectReturnCode::ServerBusy).retryable());
        assert_eq!(
            puback_text(&PubAckReason::NotAuthorized),
            "not authorised (0x87)"
        );
    }
}
