//! `commissioner audit`: the broker audit as a journal session of its own.

use std::path::Path;
use std::process::ExitCode;

use commissioner_core::lab::LabFiles;
use commissioner_core::mqtt::audit::session::audit_station_with_lab;
use commissioner_core::mqtt::audit::{any_failed, Outcome};
use commissioner_core::operator::Action;
use commissioner_core::station::Station;

use crate::run::passphrase;
use crate::{CmdResult, EXIT_FAIL};

pub fn run(dir: &Path, operator: Option<&str>, json: bool) -> CmdResult {
    commissioner_core::mqtt::tls::install_crypto_provider();
    let station = Station::open(dir)?;
    // The audit signs test identities with the CA: QA's and the admin's job, not anyone's.
    let operator = &crate::operator::resolve(&station, operator, Action::Audit)?;
    let ca = station.unlock_ca(&passphrase()?)?;
    let _claim = crate::run::claim_sessions(&station)?;
    let files = LabFiles::new(&station);
    // Only a lab broker started by this station can be made to load a fresh CRL.
    let lab_pid = station
        .config
        .lab
        .then(|| crate::lab::alive(&files.broker_pid))
        .flatten();
    let audit = audit_station_with_lab(&station, &ca, operator, lab_pid)?;
    if json {
        let out = serde_json::json!({
            "sessionId": audit.session_id,
            "checks": audit.results,
        });
        println!("{out:#}");
    } else {
        let broker = station.broker()?;
        println!(
            "broker audit of {}:{} (journal session {})",
            broker.host, broker.port, audit.session_id
        );
        for r in &audit.results {
            let mark = match r.outcome {
                Outcome::Pass => "PASS",
                Outcome::Fail => "FAIL",
                Outcome::Warn => "WARN",
                Outcome::Skipped => "SKIP",
                Outcome::Inconclusive => "INCONCLUSIVE",
            };
            println!("{mark:<13}{:<24}{}", r.name, r.evidence);
        }
    }
    Ok(if any_failed(&audit.results) {
        ExitCode::from(EXIT_FAIL)
    } else {
        ExitCode::SUCCESS
    })
}
