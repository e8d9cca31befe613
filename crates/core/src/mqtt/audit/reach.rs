//! "Test connection" of the setup wizard and Settings: can this station reach the broker of a
//! profile, and does the broker's certificate verify against the profile's server CA and name?
//! No client identity is offered, so this works before the station has issued anything.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use ts_rs::TS;

use super::probe::{self, Connect};
use crate::error::Coded;
use crate::mqtt::tls::{client_config_with, NegotiatedVersion, TlsOptions, TlsVersion};
use crate::mqtt::{on_own_runtime, tls::ClientIdentity, MqttError};
use crate::station::BrokerProfile;

/// What "Test connection" found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTest {
    /// The broker answered and its certificate verified.
    pub ok: bool,
    /// Stable code of the failure (`mqtt.unreachable`, `mqtt.server_name_mismatch`, …).
    pub code: Option<String>,
    /// What was checked, or what went wrong, for the technician.
    pub message: String,
    pub millis: u64,
}

/// Connects to the profile's broker without a client certificate. A refusal *after* the
/// server's certificate verified (no client certificate, CONNACK refused) still means the
/// profile is right; anything else (unreachable, server certificate, a connection closed
/// before the server's certificate was checked) is not ok.
pub fn test_connection(profile: &BrokerProfile, trust_anchors: &[Vec<u8>]) -> ConnectionTest {
    let started = Instant::now();
    let seen = Arc::new(NegotiatedVersion::default());
    let outcome = reach(profile, trust_anchors, seen.clone());
    let millis = started.elapsed().as_millis() as u64;
    let name = profile.server_name.as_deref().unwrap_or(&profile.host);
    let version = match seen.get() {
        Some(TlsVersion::Tls12) => " over TLS 1.2 (weaker; allowed by the profile)",
        Some(TlsVersion::Tls13) => " over TLS 1.3",
        None => "",
    };
    let verified = format!(
        "reached {}:{}{version}; its certificate chains to the server CA and is valid for {name}",
        profile.host, profile.port
    );
    match outcome {
        Ok(None) => ConnectionTest {
            ok: true,
            code: None,
            message: format!("{verified}; it accepted a connection without a client certificate"),
            millis,
        },
        Ok(Some(refusal)) => ConnectionTest {
            ok: true,
            code: None,
            message: format!("{verified}; without a client certificate it refused: {refusal}"),
            millis,
        },
        Err(e) => ConnectionTest {
            ok: false,
            code: Some(e.code().to_owned()),
            message: e.to_string(),
            millis,
        },
    }
}

/// `Ok(None)`: accepted; `Ok(Some(why))`: refused once the server had proven itself.
fn reach(
    profile: &BrokerProfile,
    anchors: &[Vec<u8>],
    seen: Arc<NegotiatedVersion>,
) -> Result<Option<String>, MqttError> {
    let tls = if profile.tls {
        Some(client_config_with(
            anchors,
            ClientIdentity::None,
            &TlsOptions {
                record: Some(seen.clone()),
                ..TlsOptions::of_profile(profile)
            },
        )?)
    } else {
        None
    };
    let timeout = Duration::from_secs(profile.connect_timeout_secs.max(1));
    let id = format!("commissioner-test-{}", rand::random::<u32>());
    on_own_runtime(|| async {
        match probe::connect(
            &profile.host,
            profile.port,
            tls,
            &id,
            timeout,
            profile.mqtt_version,
            None,
        )
        .await
        {
            Connect::Accepted(s) => {
                s.close().await;
                Ok(None)
            }
            // Only a refusal that comes after the client verified the server's certificate
            // proves the profile: the broker judging the client's certificate (TLS 1.3 sends
            // it after checking the server's) or a CONNACK. A closed connection, a TLS version
            // or a bare alert may come before any certificate arrived.
            Connect::Refused(e) if judged_the_client(&e) => Ok(Some(probe::evidence(&e))),
            // A TLS 1.2 broker that requires a certificate ends the handshake with a bare
            // alert (HandshakeFailure) once the client sends none: after the server's
            // signature verified, that too is the broker judging the client.
            Connect::Refused(e) if seen.get().is_some() && e.is_tls_refusal() => {
                Ok(Some(probe::evidence(&e)))
            }
            Connect::Refused(e) => Err(e),
        }
    })
}

fn judged_the_client(e: &MqttError) -> bool {
    e.is_connack_refusal()
        || matches!(
            e,
            MqttError::UntrustedClientCa
                | MqttError::CertificateRevoked
                | MqttError::CertificateRequired
                | MqttError::CertificateExpired
                | MqttError::CertificateRejected(_)
                | MqttError::BadSignature
        )
}
