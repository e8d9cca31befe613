//! rustls client configurations: TLS 1.3 only, the broker's CA as the only trust anchor.

use std::sync::Arc;

use rustls::client::ResolvesClientCert;
use rustls::crypto::aws_lc_rs;
use rustls::sign::{CertifiedKey, SigningKey};
use rustls::{ClientConfig, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::MqttError;

/// Installs aws-lc-rs as the process-wide provider. rumqttc builds some configs with the
/// process default; if another crate turned on rustls' `ring` feature too, the default would be
/// ambiguous and rumqttc would panic. Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = aws_lc_rs::default_provider().install_default();
}

/// The client's identity in a handshake.
pub enum ClientIdentity {
    /// Certificate chain with a key that signs elsewhere (on the unit).
    Remote {
        chain: Vec<CertificateDer<'static>>,
        key: Arc<dyn SigningKey>,
    },
    /// Certificate chain with a host-held PKCS#8 key.
    Local {
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    },
    /// No client certificate (used by audits of what a broker refuses).
    None,
}

#[derive(Debug)]
struct FixedIdentity(Arc<CertifiedKey>);

impl ResolvesClientCert for FixedIdentity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.0
            .key
            .choose_scheme(sigschemes)
            .is_some()
            .then(|| self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Builds a TLS 1.3 client config trusting only `trust_anchors` (DER).
pub fn client_config(
    trust_anchors: &[Vec<u8>],
    identity: ClientIdentity,
) -> Result<Arc<ClientConfig>, MqttError> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    for der in trust_anchors {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(|e| MqttError::Config(format!("broker CA: {e}")))?;
    }
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| MqttError::Config(e.to_string()))?
        .with_root_certificates(roots);
    let config = match identity {
        ClientIdentity::Remote { chain, key } => builder.with_client_cert_resolver(Arc::new(
            FixedIdentity(Arc::new(CertifiedKey::new(chain, key))),
        )),
        ClientIdentity::Local { chain, key } => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| MqttError::Config(e.to_string()))?,
        ClientIdentity::None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}
