//! `commissioner responder`: the reference provisioning responder in the foreground, against
//! the station's broker profile (its broker, server name, TLS policy, topic templates and
//! `[broker.backend]` identity), validating units against the station's registry. Start more
//! than one: the shared subscription splits the requests between them.

use std::path::{Path, PathBuf};

use clap::Args;
use commissioner_core::mqtt::audit::session::trust_anchors;
use commissioner_core::mqtt::responder::backend::{self, BackendOverrides};
use commissioner_core::mqtt::responder::Responder;
use commissioner_core::mqtt::tls::install_crypto_provider;
use commissioner_core::station::Station;

use crate::CmdResult;

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
    let _responder = Responder::start(cfg, tls)?;
    println!(
        "responder ready on {host}:{port} (shared subscription to {topic}, registry {})",
        station.journal_path().display()
    );
    // Serves until the process is stopped; the responder thread does the work.
    loop {
        std::thread::park();
    }
}
