//! rustls client configurations: TLS 1.3 only, the broker's CA as the only trust anchor.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::aws_lc_rs;
use rustls::sign::{CertifiedKey, SigningKey};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

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

/// Checks the server's certificate against a fixed expected name instead of the address the
/// client dials: a broker reached by IP whose certificate names its DNS name.
#[derive(Debug)]
struct NamedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for NamedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _dialled: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Builds a TLS 1.3 client config trusting only `trust_anchors` (DER).
pub fn client_config(
    trust_anchors: &[Vec<u8>],
    identity: ClientIdentity,
) -> Result<Arc<ClientConfig>, MqttError> {
    client_config_named(trust_anchors, identity, None)
}

/// [`client_config`] that checks the broker's certificate for `server_name` when given (the
/// profile's `server_name`), else for the address dialled.
pub fn client_config_named(
    trust_anchors: &[Vec<u8>],
    identity: ClientIdentity,
    server_name: Option<&str>,
) -> Result<Arc<ClientConfig>, MqttError> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    for der in trust_anchors {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(|e| MqttError::Config(format!("broker CA: {e}")))?;
    }
    let versions = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| MqttError::Config(e.to_string()))?;
    let builder = match server_name {
        None => versions.with_root_certificates(roots),
        Some(name) => {
            let name = ServerName::try_from(name.to_owned())
                .map_err(|e| MqttError::Config(format!("server_name {name:?}: {e}")))?;
            let inner =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| MqttError::Config(format!("broker CA: {e}")))?;
            versions
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NamedVerifier { inner, name }))
        }
    };
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
