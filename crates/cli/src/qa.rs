//! `commissioner report`, `commissioner label` and `commissioner mes-send`: QA's batch report,
//! a unit's label, and a delivery round of the MES outbox.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use commissioner_core::clock::{Clock, SystemClock};
use commissioner_core::mes::MesClient;
use commissioner_core::operator::Action;
use commissioner_core::station::Station;

use crate::{usage_error, CmdResult, EXIT_FAIL};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The work order (batch) to report on.
    #[arg(long)]
    work_order: String,
    /// The PDF to write; the CSV goes beside it with the extension `.csv`.
    #[arg(long)]
    out: PathBuf,
}

/// Writes the batch report and anchors its chain head.
pub fn report(dir: &Path, args: ReportArgs) -> CmdResult {
    let station = Station::open(dir)?;
    crate::operator::resolve(&station, None, Action::Export)?;
    // The report's head is anchored, signed with the export key, which the passphrase opens.
    station.unlock_export_key(&crate::run::passphrase()?)?;
    let journal = station.journal()?;
    let working = crate::progress::Working::start("writing the batch report");
    let done = station.publish_report(&journal, &args.work_order, &args.out, SystemClock.now())?;
    drop(working);
    let t = &done.summary.stats.tally;
    println!(
        "report of work order {}: {} unit(s), {} session(s), yield {:.1} %",
        args.work_order,
        done.summary.units.len(),
        t.total,
        t.yield_ratio() * 100.0
    );
    println!("  {}", done.pdf.display());
    println!("  {}", done.csv.display());
    println!(
        "  chain head {} at entry {} (anchored: `journal verify` names this report if the journal is cut back below it)",
        done.summary.chain_head.hash, done.summary.chain_head.seq
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints the label of a passed session, to the profile's printer and/or as PDF.
pub fn label(dir: &Path, session: i64) -> CmdResult {
    let station = Station::open(dir)?;
    crate::operator::resolve(&station, None, Action::Commission)?;
    let journal = station.journal()?;
    let printed = station.print_label(&journal, session)?;
    println!(
        "label of {} (certificate {})",
        printed.data.device_id,
        printed.data.short_fingerprint()
    );
    if let Some(p) = printed.printer {
        println!("  sent to printer {p}");
    }
    if let Some(p) = printed.pdf {
        println!("  {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends what the MES outbox holds that is due; exit 1 while events remain queued.
pub fn mes_send(dir: &Path) -> CmdResult {
    let station = Station::open(dir)?;
    let Some(profile) = &station.config.mes else {
        return Err(usage_error(
            "cli.no_mes",
            "the station profile has no [mes] section (url, secret_file)",
        ));
    };
    let client = MesClient::new(profile, |p| station.resolve(p))?;
    let journal = station.journal()?;
    let done = client.deliver(&journal, SystemClock.now())?;
    println!("sent {} event(s); {} queued", done.sent, done.backlog);
    if let Some(e) = &done.error {
        eprintln!("{e}");
    }
    Ok(if done.backlog == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAIL)
    })
}
