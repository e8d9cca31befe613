//! `commissioner sync`: deliver the station's outbox to the central store (once, or
//! `--follow`), print the backlog and the last successful sync; `sync conflicts` lists what the
//! central store found for review.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::{Args, Subcommand};
use commissioner_core::central::outbox::{backlog, Backlog};
use commissioner_core::central::sync::{follow, sync_once, SyncEvent, SyncOptions};
use commissioner_core::central::{connect, registry, CentralError};
use commissioner_core::error::Coded;
use commissioner_core::operator::Action;
use commissioner_core::station::Station;

use crate::CmdResult;

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(subcommand)]
    command: Option<SyncCommand>,
    /// Keep running: deliver new entries as they are written, back off while the server is
    /// away. Stop with Ctrl-C.
    #[arg(long)]
    follow: bool,
    /// Print the backlog as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// What waits for delivery, and when the last delivery succeeded (no server needed).
    Status,
    /// Findings of the central store to review: a device id live at two stations, a unit
    /// issued while the registry was unreachable, a journal rewritten after it synced.
    Conflicts,
}

fn print_backlog(b: &Backlog, json: bool) {
    if json {
        println!("{}", serde_json::to_string(b).unwrap_or_default());
    } else {
        println!(
            "backlog: {} entr{} ({} session(s)); last successful sync: {}",
            b.pending,
            if b.pending == 1 { "y" } else { "ies" },
            b.pending_sessions,
            b.last_sync.as_deref().unwrap_or("never")
        );
    }
}

pub fn run(dir: &Path, args: SyncArgs) -> CmdResult {
    let station = Station::open(dir)?;
    let journal = station.journal()?;
    match args.command {
        Some(SyncCommand::Status) => {
            print_backlog(&backlog(&journal)?, args.json);
            return Ok(ExitCode::SUCCESS);
        }
        Some(SyncCommand::Conflicts) => {
            crate::operator::resolve(&station, None, Action::ReadJournal)?;
            let profile = station.central_profile()?;
            let mut central = connect(profile, &station.dir)?;
            let items = registry::review(&mut central)?;
            if args.json {
                println!("{}", serde_json::to_string(&items).unwrap_or_default());
            } else {
                for i in &items {
                    println!(
                        "{:>5}  {}  {:<17} {:<20} {}  {}",
                        i.id,
                        i.found_at,
                        i.kind,
                        i.device_id.as_deref().unwrap_or("-"),
                        i.station_id,
                        i.detail
                    );
                }
                println!("{} item(s) to review", items.len());
            }
            return Ok(ExitCode::SUCCESS);
        }
        None => {}
    }
    let profile = station.central_profile()?;
    let opts = SyncOptions {
        station_id: &station.config.station_id,
        batch: profile.batch,
        max_batches: None,
    };
    if args.follow {
        let stop = AtomicBool::new(false);
        follow(
            &journal,
            profile,
            &station.dir,
            &opts,
            Duration::from_millis(250),
            &stop,
            &mut |e| match e {
                SyncEvent::Synced(r, b) if r.entries > 0 => {
                    println!(
                        "delivered {} entr(ies), {} new session(s)",
                        r.entries, r.new_sessions
                    );
                    print_backlog(b, args.json);
                }
                SyncEvent::Synced(..) => {}
                SyncEvent::Failed(err, wait, b) => {
                    eprintln!(
                        "sync failed [{}]: {err}; retrying in {:.1} s",
                        err.code(),
                        wait.as_secs_f64()
                    );
                    print_backlog(b, args.json);
                }
            },
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let working = crate::progress::Working::start("delivering the backlog to the central store");
    let outcome =
        connect(profile, &station.dir).and_then(|mut c| sync_once(&journal, &mut c, &opts));
    drop(working);
    let b = backlog(&journal)?;
    match outcome {
        Ok(r) => {
            if !args.json {
                println!(
                    "delivered {} entr(ies) in {} batch(es): {} new session(s), {} new item(s) to review",
                    r.entries, r.batches, r.new_sessions, r.new_reviews
                );
            }
            print_backlog(&b, args.json);
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ CentralError::Unreachable { .. }) => {
            // The station keeps working; the backlog says what waits.
            print_backlog(&b, args.json);
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}
