//! `commissioner responder`: the reference provisioning responder in the foreground, against
//! the station's broker profile, validating units against the station's registry. Start more
//! than one: the shared subscription splits the requests between them.

use rustls_pki_types::pem::PemObject;
use std::path::{Path, PathBuf};

use clap::Args;
use commissioner_core::lab::{LabError, LabFiles};
use commissioner_core::mqtt::audit::session::trust_anchors;
use commissioner_core::mqtt::responder::{Responder, ResponderConfig};
use commissioner_core::mqtt::tls::{client_config, install_crypto_provider, ClientIdentity};
use commissioner_core::mqtt::MqttError;
use commissioner_core::station::Station;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::{usage_error, CmdResult};

#[derive(Debug, Args)]
pub struct ResponderArgs {
    /// Backend certificate chain (PEM); the lab backend's by default.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// Backend private key (PEM); the lab backend's by default.
    #[arg(long)]
    key: Option<PathBuf>,
    /// MQTT client id; must be unique per responder.
    #[arg(long, default_value = "commissioner-backend")]
    client_id: String,
    /// Answer Pending this many times per unit before Completed (to exercise stations).
    #[arg(long, default_value_t = 0)]
    pending_first: u32,
}

fn read(path: &Path) -> Result<Vec<u8>, LabError> {
    std::fs::read(path).map_err(|source| LabError::Io {
        path: path.display().to_string(),
        source,
    })
}

pub fn run(dir: &Path, args: ResponderArgs) -> CmdResult {
    install_crypto_provider();
    let station = Station::open(dir)?;
    let broker = station.broker()?.clone();
    let files = LabFiles::new(&station);
    let cert = args.cert.unwrap_or(files.backend_cert);
    let key = args.key.unwrap_or(files.backend_key);
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(read(&cert)?.as_slice())
            .filter_map(Result::ok)
            .collect();
    if chain.is_empty() {
        return Err(usage_error(
            "responder.no_certificate",
            format!("no certificate in {}", cert.display()),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(read(&key)?.as_slice())
        .ok()
        .ok_or_else(|| MqttError::Config(format!("no private key in {}", key.display())))?;
    let tls = client_config(
        &trust_anchors(&station)?,
        ClientIdentity::Local { chain, key },
    )?;
    let cfg = ResponderConfig {
        host: broker.host.clone(),
        port: broker.port,
        client_id: args.client_id,
        registry: Some(station.journal_path()),
        pending_first: args.pending_first,
    };
    let _responder = Responder::start(cfg, tls)?;
    println!(
        "responder ready on {}:{} (shared subscription, registry {})",
        broker.host,
        broker.port,
        station.journal_path().display()
    );
    // Serves until the process is stopped; the responder thread does the work.
    loop {
        std::thread::park();
    }
}
