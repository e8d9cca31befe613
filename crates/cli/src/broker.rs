//! `commissioner broker check`: the app's "Test connection" for the station's broker profile.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use commissioner_core::mqtt::audit::reach::test_connection;
use commissioner_core::mqtt::audit::session::trust_anchors;
use commissioner_core::station::Station;

use crate::{CmdResult, EXIT_FAIL};

#[derive(Debug, Subcommand)]
pub enum BrokerCommand {
    /// Reach the profile's broker and verify its certificate against the profile's server CA
    /// and name, without a client certificate; exits 1 when the station cannot use it.
    Check {
        /// Print the result as JSON (the app's shape: ok, code, message, millis).
        #[arg(long)]
        json: bool,
    },
}

pub fn run(dir: &Path, cmd: BrokerCommand) -> CmdResult {
    match cmd {
        BrokerCommand::Check { json } => check(dir, json),
    }
}

// No sign-in and no passphrase: the check offers no identity, signs nothing and writes
// nothing, so it may run before the station has an operator or an unlocked CA.
fn check(dir: &Path, json: bool) -> CmdResult {
    commissioner_core::mqtt::tls::install_crypto_provider();
    let station = Station::open(dir)?;
    let profile = station.broker()?;
    let result = test_connection(profile, &trust_anchors(&station)?);
    if json {
        println!(
            "{:#}",
            serde_json::to_value(&result)
                .map_err(|e| crate::usage_error("broker.check_output", e.to_string()))?
        );
    } else if result.ok {
        println!("OK    {} ({} ms)", result.message, result.millis);
    } else {
        println!(
            "FAIL  {}: {} ({} ms)",
            result.code.as_deref().unwrap_or("mqtt.unknown"),
            result.message,
            result.millis
        );
    }
    Ok(if result.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAIL)
    })
}
