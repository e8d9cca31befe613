//! `commissioner responder`: the reference provisioning responder in the foreground, against
//! the station's broker profile (its broker, server name, TLS policy, topic templates and
//! `[broker.backend]` identity), validating units against the station's registry. Start more
//! than one: the shared subscription splits the requests between them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use commissioner_core::error::ErrorInfo;
use commissioner_core::mqtt::audit::session::trust_anchors;
use commissioner_core::mqtt::dialect::Dialect;
use commissioner_core::mqtt::responder::backend::{self, BackendOverrides};
use commissioner_core::mqtt::responder::bootstrap::InbandIssuer;
use commissioner_core::mqtt::responder::commissioner::CommissionerBackend;
use commissioner_core::mqtt::responder::dps::{DpsAllocation, DpsBackend};
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
    /// Wire dialect to serve: commissioner, aws-fleet or azure-dps. The vendor dialects sign
    /// with the station's CA (they ask for the CA passphrase); so does commissioner when the
    /// station's `[provisioning]` is in band in that dialect.
    #[arg(long, default_value = "commissioner")]
    dialect: Dialect,
    /// aws-fleet: a provisioning template the backend accepts (repeatable).
    #[arg(long = "template", default_value = "commissioner")]
    templates: Vec<String>,
    /// KEY=VALUE handed to units (repeatable): aws-fleet's deviceConfiguration, azure-dps's
    /// registration payload.
    #[arg(long = "device-config")]
    device_config: Vec<String>,
    /// azure-dps: the hub units are assigned to; `[provisioning] assigned_hub` by default.
    #[arg(long)]
    assigned_hub: Option<String>,
    /// azure-dps: seconds a registering unit waits before its first poll.
    #[arg(long, default_value_t = 2)]
    retry_after: u32,
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
    let _responder = match dialect {
        Dialect::Commissioner => {
            let mut backend = CommissionerBackend::new(&cfg)?;
            // A station in band in this dialect has its units ask for their certificates
            // here: the responder issues, on the station's CA.
            let profile = &station.config.provisioning;
            if profile.in_band() && profile.dialect().ok() == Some(Dialect::Commissioner) {
                let ca = station.unlock_ca(&crate::run::passphrase()?)?;
                let issuer = InbandIssuer::new(station.clone(), ca, Dialect::Commissioner)?;
                backend = backend.issuing(issuer);
            }
            Responder::start_dialect(cfg, tls, Box::new(backend))?
        }
        Dialect::AwsFleet => {
            let fleet = fleet_backend(&station, &args.templates, &args.device_config)?;
            Responder::start_dialect(cfg, tls, Box::new(fleet))?
        }
        Dialect::AzureDps => {
            let config = config_pairs(&args.device_config)?;
            let allocation = DpsAllocation {
                assigned_hub: args
                    .assigned_hub
                    .unwrap_or_else(|| station.config.provisioning.assigned_hub.clone()),
                payload: (!config.is_empty()).then(|| serde_json::json!(config)),
                retry_after_secs: args.retry_after,
            };
            let ca = station.unlock_ca(&crate::run::passphrase()?)?;
            let dps = DpsBackend::new(station.clone(), ca, allocation)?;
            Responder::start_dialect(cfg, tls, Box::new(dps))?
        }
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

/// `--device-config KEY=VALUE` pairs: aws-fleet's deviceConfiguration, azure-dps's payload.
fn config_pairs(pairs: &[String]) -> Result<BTreeMap<String, String>, ErrorInfo> {
    let mut config = BTreeMap::new();
    for pair in pairs {
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            usage_error(
                "cli.bad_arguments",
                format!("--device-config {pair}: expected KEY=VALUE"),
            )
        })?;
        config.insert(k.to_owned(), v.to_owned());
    }
    Ok(config)
}

/// The aws-fleet backend: the station's CA unlocked, each template with the same
/// deviceConfiguration.
fn fleet_backend(
    station: &Station,
    templates: &[String],
    device_config: &[String],
) -> Result<FleetBackend, ErrorInfo> {
    let config = config_pairs(device_config)?;
    let templates = FleetTemplates {
        templates: templates
            .iter()
            .map(|t| (t.clone(), config.clone()))
            .collect(),
    };
    let ca = station.unlock_ca(&crate::run::passphrase()?)?;
    Ok(FleetBackend::new(station.clone(), ca, templates)?)
}
