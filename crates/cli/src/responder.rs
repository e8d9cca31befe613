//! `commissioner responder`: the reference provisioning responder in the foreground, against
//! the station's broker profile (its broker, server name, TLS policy, topic templates and
//! `[broker.backend]` identity), validating units against the station's registry. Start more
//! than one: the shared subscription splits the requests between them.

use std::path::{Path, PathBuf};

use clap::Args;
use commissioner_core::error::ErrorInfo;
use commissioner_core::mqtt::audit::session::trust_anchors;
use commissioner_core::mqtt::dialect::Dialect;
use commissioner_core::mqtt::responder::backend::{self, BackendOverrides};
use commissioner_core::mqtt::responder::fleet::{FleetBackend, FleetTemplates};
use commissioner_core::mqtt::responder::Responder;
use commissioner_core::mqtt::tls::install_crypto_provider;
use commissioner_core::station::Station;

use crate::{usage_error, CmdResult};

#[derive(Debug, Args)]
pub struct ResponderArgs {
    /// Backend certificate chain (PEM); `[broker.backend] cert`, else the lab backend's.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// Backend private key (PEM); `[broker.backend] key`, else the lab backend's.
    #[arg(long)]
    key: Option<PathBuf>,
    /// MQTT client id, unique per responder; `[broker.backend] client_id`, else
    /// commissioner-backend.
    #[arg(long)]
    client_id: Option<String>,
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

pub fn run(dir: &Path, args: ResponderArgs) -> CmdResult {
    install_crypto_provider();
    let station = Station::open(dir)?;
    let (cfg, tls) = backend::for_station(
        &station,
        &trust_anchors(&station)?,
        BackendOverrides {
            cert: args.cert,
            key: args.key,
            client_id: args.client_id,
            pending_first: args.pending_first,
        },
    )?;
    let (host, port, topic) = (cfg.host.clone(), cfg.port, cfg.request_topic.clone());
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
        "responder ready on {host}:{port} ({dialect}; {topic}, registry {})",
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
