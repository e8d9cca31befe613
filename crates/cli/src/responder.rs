//! `commissioner responder`: the reference provisioning responder in the foreground, against
//! the station's broker profile, validating units against the station's registry. Start more
//! than one: the shared subscription splits the requests between them.

use rustls_pki_types::pem::PemObject;
use std::path::{Path, PathBuf};

use clap::Args;
use commissioner_core::lab::{LabError, LabFiles};
use commissioner_core::mqtt::audit::session::trust_anchors;
use commissioner_core::mqtt::dialect::Dialect;
use commissioner_core::mqtt::responder::fleet::{FleetBackend, FleetTemplates};
use commissioner_core::mqtt::responder::{Responder, ResponderConfig};
use commissioner_core::mqtt::tls::{client_config, install_crypto_provider, ClientIdentity};
use commissioner_core::mqtt::MqttError;
use commissioner_core::station::Station;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use commissioner_core::error::ErrorInfo;

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
    /// Wire dialect to serve: commissioner, aws-fleet (signs with the station's CA: asks for
    /// the CA passphrase) or azure-dps (not served yet).
    #[arg(long, default_value = "commissioner")]
    dialect: Dialect,
    /// aws-fleet: a provisioning template the backend accepts (repeatable).
    #[arg(long = "template", default_value = "commissioner")]
    templates: Vec<String>,
    /// aws-fleet: KEY=VALUE handed to units as deviceConfiguration (repeatable).
    #[arg(long = "device-config")]
    device_config: Vec<String>,
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
    let dialect = args.dialect;
    let _responder =
        match dialect {
            Dialect::Commissioner => Responder::start(cfg, tls)?,
            Dialect::AwsFleet => {
                let fleet = fleet_backend(&station, &args.templates, &args.device_config)?;
                Responder::start_fleet(cfg, tls, fleet)?
            }
            Dialect::AzureDps => return Err(usage_error(
                "cli.bad_arguments",
                "the azure-dps dialect is described (mqtt::dialect::azure_dps) but not served yet",
            )),
        };
    println!(
        "responder ready on {}:{} ({dialect}, registry {})",
        broker.host,
        broker.port,
        station.journal_path().display()
    );
    // Serves until the process is stopped; the responder thread does the work.
    loop {
        std::thread::park();
    }
}

/// The aws-fleet backend: the station's CA unlocked, each template with the same
/// deviceConfiguration.
fn fleet_backend(
    station: &Station,
    templates: &[String],
    device_config: &[String],
) -> Result<FleetBackend, ErrorInfo> {
    let mut config = std::collections::BTreeMap::new();
    for pair in device_config {
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            usage_error(
                "cli.bad_arguments",
                format!("--device-config {pair}: expected KEY=VALUE"),
            )
        })?;
        config.insert(k.to_owned(), v.to_owned());
    }
    let templates = FleetTemplates {
        templates: templates
            .iter()
            .map(|t| (t.clone(), config.clone()))
            .collect(),
    };
    let ca = station.unlock_ca(&crate::run::passphrase()?)?;
    Ok(FleetBackend::new(station.clone(), ca, templates)?)
}
