//! rustls client configurations: TLS 1.3 (and 1.2 where the profile allows it), the broker's
//! CA as the only trust anchor.

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

/// The TLS version a connection negotiated, as seen by the server-certificate verifier: rustls
/// checks the server's handshake signature with `verify_tls12_signature` or
/// `verify_tls13_signature`, so the verifier knows the version without any secret being kept.
/// Set only once that signature verified, after the server's certificate did: whatever the
/// broker says after that, it says having proven itself.
#[derive(Debug, Default)]
pub struct NegotiatedVersion(std::sync::Mutex<Option<TlsVersion>>);

/// A TLS version the station speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

impl TlsVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "TLS 1.2",
            TlsVersion::Tls13 => "TLS 1.3",
        }
    }
}

impl NegotiatedVersion {
    /// The version of the most recent handshake that got as far as the server's signature.
    pub fn get(&self) -> Option<TlsVersion> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, v: TlsVersion) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
    }
}

/// Checks the server's certificate against a fixed expected name (the profile's `server_name`,
/// for a broker reached by IP whose certificate names its DNS name) or the address dialled,
/// and notes the TLS version by which signature check rustls asks for.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    name: Option<ServerName<'static>>,
    seen: Arc<NegotiatedVersion>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        dialled: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let name = self.name.as_ref().unwrap_or(dialled);
        self.inner
            .verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let verified = self.inner.verify_tls12_signature(message, cert, dss)?;
        self.seen.set(TlsVersion::Tls12);
        Ok(verified)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let verified = self.inner.verify_tls13_signature(message, cert, dss)?;
        self.seen.set(TlsVersion::Tls13);
        Ok(verified)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// How a client config talks to the broker, beyond whom it trusts and who it is.
#[derive(Debug, Default, Clone)]
pub struct TlsOptions<'a> {
    /// The name the broker's certificate must carry when it is not the address dialled.
    pub server_name: Option<&'a str>,
    /// Offer TLS 1.2 next to 1.3 (the profile's `tls12_allowed`); 1.3 only otherwise.
    pub tls12: bool,
    /// Offer only TLS 1.2 (the audit's version probe); overrides `tls12`.
    pub tls12_only: bool,
    /// Offer only this cipher suite (the audit's suite probe); every default suite otherwise.
    pub suite: Option<rustls::SupportedCipherSuite>,
    /// Where to note the version the handshake negotiated.
    pub record: Option<Arc<NegotiatedVersion>>,
}

impl<'a> TlsOptions<'a> {
    /// What a broker profile asks for: its `server_name` and its TLS 1.2 policy.
    pub fn of_profile(profile: &'a crate::station::BrokerProfile) -> Self {
        Self {
            server_name: profile.server_name.as_deref(),
            tls12: profile.tls12_allowed,
            ..Self::default()
        }
    }
}

/// Builds a TLS 1.3 client config trusting only `trust_anchors` (DER).
pub fn client_config(
    trust_anchors: &[Vec<u8>],
    identity: ClientIdentity,
) -> Result<Arc<ClientConfig>, MqttError> {
    client_config_with(trust_anchors, identity, &TlsOptions::default())
}

/// [`client_config`] with a server name, a TLS 1.2 policy, a single suite or a version
/// recorder (see [`TlsOptions`]).
pub fn client_config_with(
    trust_anchors: &[Vec<u8>],
    identity: ClientIdentity,
    options: &TlsOptions<'_>,
) -> Result<Arc<ClientConfig>, MqttError> {
    let mut provider = aws_lc_rs::default_provider();
    if let Some(suite) = options.suite {
        provider.cipher_suites = vec![suite];
    }
    let provider = Arc::new(provider);
    let mut roots = RootCertStore::empty();
    for der in trust_anchors {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(|e| MqttError::Config(format!("broker CA: {e}")))?;
    }
    let versions: &[&rustls::SupportedProtocolVersion] = match (options.tls12_only, options.tls12) {
        (true, _) => &[&rustls::version::TLS12],
        (false, true) => &[&rustls::version::TLS13, &rustls::version::TLS12],
        (false, false) => &[&rustls::version::TLS13],
    };
    let versions = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| MqttError::Config(e.to_string()))?;
    let name = options
        .server_name
        .map(|name| {
            ServerName::try_from(name.to_owned())
                .map_err(|e| MqttError::Config(format!("server_name {name:?}: {e}")))
        })
        .transpose()?;
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| MqttError::Config(format!("broker CA: {e}")))?;
    let builder = versions
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RecordingVerifier {
            inner,
            name,
            seen: options.record.clone().unwrap_or_default(),
        }));
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
