//! The responder as the station's broker profile describes it: the profile's broker, server
//! name, TLS policy and topic templates, and the backend identity of `[broker.backend]`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{MqttError, ResponderConfig};
use crate::mqtt::tls::{client_config_with, ClientIdentity, TlsOptions};
use crate::station::Station;

/// Default client id of a responder.
pub const BACKEND_CLIENT_ID: &str = "commissioner-backend";

/// What the command line may set over the profile.
#[derive(Debug, Default, Clone)]
pub struct BackendOverrides {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub client_id: Option<String>,
    pub pending_first: u32,
}

/// The responder's config and TLS client for the station's profile; `trust_anchors` are the
/// profile's server CA.
pub fn for_station(
    station: &Station,
    trust_anchors: &[Vec<u8>],
    overrides: BackendOverrides,
) -> Result<(ResponderConfig, Arc<ClientConfig>), MqttError> {
    let broker = station
        .broker()
        .map_err(|e| MqttError::Config(e.to_string()))?;
    let lab = crate::lab::LabFiles::new(station);
    let backend = &broker.backend;
    let cert = overrides
        .cert
        .or_else(|| backend.cert.as_ref().map(|p| station.resolve(p)))
        .unwrap_or(lab.backend_cert);
    let key = overrides
        .key
        .or_else(|| backend.key.as_ref().map(|p| station.resolve(p)))
        .unwrap_or(lab.backend_key);
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(&cert)?)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(MqttError::Config(format!(
            "no certificate in {}",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(&key)?)
        .map_err(|_| MqttError::Config(format!("no private key in {}", key.display())))?;
    let tls = client_config_with(
        trust_anchors,
        ClientIdentity::Local { chain, key },
        &TlsOptions::of_profile(broker),
    )?;
    let cfg = ResponderConfig {
        host: broker.host.clone(),
        port: broker.port,
        client_id: overrides
            .client_id
            .or_else(|| backend.client_id.clone())
            .unwrap_or_else(|| BACKEND_CLIENT_ID.into()),
        registry: Some(station.journal_path()),
        pending_first: overrides.pending_first,
        request_topic: broker.request_topic.clone(),
        response_topic: broker.response_topic.clone(),
    };
    Ok((cfg, tls))
}

fn read(path: &Path) -> Result<Vec<u8>, MqttError> {
    std::fs::read(path).map_err(|e| MqttError::Config(format!("{}: {e}", path.display())))
}
