//! Connecting to the central store, and bringing its schema up to date.

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use super::{schema, CentralError, CentralProfile, CentralTls, PASSWORD_ENV};

/// A connection to the central store with its schema migrated.
pub struct Central {
    pub(super) client: postgres::Client,
}

impl std::fmt::Debug for Central {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Central").finish_non_exhaustive()
    }
}

impl Central {
    /// The underlying client, for tools and tests.
    pub fn client(&mut self) -> &mut postgres::Client {
        &mut self.client
    }
}

fn tls_config(
    profile: &CentralProfile,
    station_dir: &Path,
) -> Result<rustls::ClientConfig, CentralError> {
    let bad = |m: String| CentralError::BadProfile(m);
    let ca = profile
        .ca_file
        .as_ref()
        .ok_or_else(|| bad("tls = \"verify-full\" needs ca_file".into()))?;
    let ca = if ca.is_absolute() {
        ca.clone()
    } else {
        station_dir.join(ca)
    };
    let pem = std::fs::read(&ca).map_err(|e| bad(format!("{}: {e}", ca.display())))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| bad(format!("{}: {e}", ca.display())))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("{}: {e}", ca.display())))?;
    }
    crate::mqtt::tls::install_crypto_provider();
    Ok(rustls::ClientConfig::builder()
        .with_root_certificates(Arc::new(roots))
        .with_no_client_auth())
}

/// Connects with the profile's URL, TLS and password (the environment's first), and migrates
/// the central schema. `station_dir` resolves a relative `ca_file`.
pub fn connect(profile: &CentralProfile, station_dir: &Path) -> Result<Central, CentralError> {
    let mut config = postgres::Config::from_str(&profile.url)
        .map_err(|e| CentralError::BadProfile(format!("url: {e}")))?;
    if config.get_password().is_some() {
        return Err(CentralError::BadProfile(format!(
            "url must not carry a password; use {PASSWORD_ENV} or password in [central]"
        )));
    }
    if let Some(pw) = std::env::var(PASSWORD_ENV)
        .ok()
        .or_else(|| profile.password.clone())
    {
        config.password(pw);
    }
    config.connect_timeout(Duration::from_secs(5));
    config.application_name("commissioner");
    let unreachable = |source| CentralError::Unreachable {
        url: profile.url.clone(),
        source,
    };
    let client = match profile.tls {
        CentralTls::Disable => config
            .ssl_mode(postgres::config::SslMode::Disable)
            .connect(postgres::NoTls)
            .map_err(unreachable)?,
        CentralTls::VerifyFull => {
            let tls =
                rustls_tokio_postgres::MakeRustlsConnect::new(tls_config(profile, station_dir)?);
            config
                .ssl_mode(postgres::config::SslMode::Require)
                .connect(tls)
                .map_err(unreachable)?
        }
    };
    let mut central = Central { client };
    schema::migrate(&mut central.client)?;
    Ok(central)
}
