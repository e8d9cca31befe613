//! `commissioner journal`: what QA runs — list, verify, export, verify an export, recover
//! interrupted sessions, archive.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use commissioner_core::clock::{Clock, SystemClock};
use commissioner_core::journal::export::{verify_export, ExportFormat};
use commissioner_core::journal::query::SessionFilter;
use commissioner_core::operator::Action;
use commissioner_core::station::{parse_trusted_key, Station};

use crate::{usage_error, CmdResult, EXIT_FAIL};

#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// List sessions, newest first.
    Sessions {
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Every station's sessions, from the central store (station id shown).
        #[arg(long)]
        central: bool,
    },
    /// Verify the hash chain; names the first edited, deleted or reordered record, and the
    /// first published chain head (export, CRL, archive) the journal no longer contains.
    Verify {
        /// Check against this anchor file (e.g. a copy of the station's anchors.jsonl kept
        /// off the station) instead of the station's own.
        #[arg(long)]
        anchors: Option<PathBuf>,
        /// Check only what came after the last verified head (recorded by every verify that
        /// found nothing): cost follows what is new. Edits to older sessions need a full verify.
        #[arg(long)]
        incremental: bool,
        /// Also check the journal against the chain the central store received from it: a
        /// journal cut short or rewritten after it synced is found.
        #[arg(long)]
        central: bool,
    },
    /// Export sessions with a signed manifest (FILE.manifest.json).
    Export {
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Check an export against its manifest and a trusted station key: the ones given with
    /// --trust / --trust-file, else this station's pinned key. Never creates a key.
    VerifyExport {
        file: PathBuf,
        /// A trusted station key (base64, as `journal key` prints it); repeat for several.
        #[arg(long = "trust", value_name = "KEY")]
        trust: Vec<String>,
        /// A file of trusted station keys, one per line (`#` starts a comment).
        #[arg(long, value_name = "FILE")]
        trust_file: Option<PathBuf>,
    },
    /// Print this station's export-signing public key (pinned in station.toml), for QA to
    /// record and give to `verify-export --trust` elsewhere.
    Key,
    /// Close sessions a crashed station left running, and list certificates to revoke.
    Recover,
    /// Export everything, move the journal aside, start a new one continuing the chain.
    Archive {
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Sessions started at or after (RFC 3339, e.g. 2026-11-01T00:00:00Z).
    #[arg(long)]
    from: Option<String>,
    /// Sessions started before (RFC 3339).
    #[arg(long)]
    to: Option<String>,
    /// pass, fail, interrupted or running.
    #[arg(long)]
    result: Option<String>,
    #[arg(long)]
    operator: Option<String>,
    #[arg(long)]
    model: Option<String>,
    #[arg(long)]
    firmware: Option<String>,
    #[arg(long)]
    failed_step: Option<String>,
    #[arg(long)]
    device_id: Option<String>,
    #[arg(long)]
    work_order: Option<String>,
}

impl From<FilterArgs> for SessionFilter {
    fn from(a: FilterArgs) -> Self {
        SessionFilter {
            from: a.from,
            to: a.to,
            result: a.result,
            operator: a.operator,
            model: a.model,
            firmware: a.firmware,
            failed_step: a.failed_step,
            device_id: a.device_id,
            work_order: a.work_order,
        }
    }
}

/// The keys an export may be signed with: those given, else the station's pin.
fn trusted_keys(
    station: &Station,
    given: &[String],
    file: Option<&Path>,
) -> Result<Vec<Vec<u8>>, commissioner_core::error::ErrorInfo> {
    let mut keys = given
        .iter()
        .map(|k| parse_trusted_key(k))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| usage_error("export.trust_file", format!("{}: {e}", file.display())))?;
        for line in text.lines().map(str::trim) {
            if !line.is_empty() && !line.starts_with('#') {
                keys.push(parse_trusted_key(line)?);
            }
        }
    }
    if keys.is_empty() {
        keys = station.trusted_export_keys()?;
    }
    Ok(keys)
}

/// What happened to the off-station copy of the head just published.
pub fn print_off_station(station: &Station) {
    if let Some(sent) = station.take_off_station() {
        println!("{}", sent.describe(station.config.anchor_target.as_ref()));
    }
}

pub fn run(dir: &Path, cmd: JournalCommand) -> CmdResult {
    let station = Station::open(dir)?;
    // Checked before anything is read: a walk-up user gets nothing out of the journal, and
    // only an admin may move it aside.
    let action = match &cmd {
        JournalCommand::Export { .. } => Action::Export,
        JournalCommand::Archive { .. } => Action::ArchiveJournal,
        _ => Action::ReadJournal,
    };
    crate::operator::resolve(&station, None, action)?;
    match cmd {
        JournalCommand::Sessions {
            filter,
            limit,
            central,
        } => {
            let filter = SessionFilter::from(filter);
            let (rows, total) = if central {
                let mut c =
                    commissioner_core::central::connect(station.central_profile()?, &station.dir)?;
                (
                    commissioner_core::central::query::sessions(&mut c, &filter, limit, 0)?,
                    commissioner_core::central::query::count_sessions(&mut c, &filter)?,
                )
            } else {
                let journal = station.journal()?;
                (
                    journal.sessions(&filter, limit, 0)?,
                    journal.count_sessions(&filter)?,
                )
            };
            for s in rows {
                let station_col = if central {
                    format!(
                        "{:<16} ",
                        commissioner_core::text::terminal_safe(&s.station_id, false)
                    )
                } else {
                    String::new()
                };
                println!(
                    "{station_col}{:>6}  {}  {:<11} {:<14} {:<10} {}",
                    s.id,
                    s.started_at,
                    s.result.as_str(),
                    // Ids recorded before the id rule, or refused by it, are as the unit sent them.
                    commissioner_core::text::terminal_safe(
                        s.device_id.as_deref().unwrap_or("-"),
                        false
                    ),
                    s.operator,
                    s.error_code.unwrap_or_default()
                );
            }
            println!("{total} session(s) match");
            Ok(ExitCode::SUCCESS)
        }
        JournalCommand::Verify {
            anchors,
            incremental,
            central,
        } => {
            let journal = station.journal()?;
            let working =
                crate::progress::Working::start("verifying the journal's chain and anchors");
            let (mut report, since) = station.verify_journal(&journal, incremental)?;
            let anchored = station.check_anchors(&journal, anchors.as_deref())?;
            drop(working);
            // The chain's own problems come first: an anchor is missing because of them.
            if report.problem.is_none() {
                report.problem = anchored.problem;
            }
            if central {
                let mut c =
                    commissioner_core::central::connect(station.central_profile()?, &station.dir)?;
                let against = commissioner_core::central::anchor::verify(&journal, &mut c)?;
                println!(
                    "central store holds this journal up to entry {}",
                    against.central_head_seq
                );
                if report.problem.is_none() {
                    report.problem = against.problem;
                }
            }
            match &since {
                Some(from) => println!(
                    "incremental: checked what came after the head verified at entry {}",
                    from.seq
                ),
                None if incremental => {
                    println!("incremental: no verified head on record that the anchors confirm; verified in full")
                }
                None => {}
            }
            if report.problem.is_none() {
                // Recording the head signs a `verified` anchor: only with the key unlocked.
                let unlocked = commissioner_core::station::take_passphrase_from_env()
                    .ok_or(commissioner_core::journal::export::ExportError::KeyLocked)
                    .and_then(|pass| station.unlock_export_key(&pass));
                match unlocked {
                    Ok(_) => {
                        station.record_verified(&journal, &report.head)?;
                        print_off_station(&station);
                    }
                    // The verify stands; only its record is missing.
                    Err(e) => println!(
                        "head not recorded as verified ([{}] {e}): the next --incremental verify is a full one",
                        commissioner_core::error::Coded::code(&e)
                    ),
                }
            }
            println!(
                "{} chain entries, {} sealed sessions, {} running; head {} at entry {}",
                report.entries,
                report.sealed_sessions,
                report.running_sessions,
                report.head.hash,
                report.head.seq
            );
            println!(
                "{} published chain head(s) checked from {}",
                anchored.anchors,
                anchors.unwrap_or_else(|| station.anchors().path).display()
            );
            match report.problem {
                None => {
                    println!("OK: the journal is intact");
                    Ok(ExitCode::SUCCESS)
                }
                Some(p) => {
                    let at = p
                        .seq
                        .map(|s| format!(" at chain entry {s}"))
                        .unwrap_or_default();
                    println!("BROKEN{at}: [{}] {}", p.code, p.message);
                    Ok(ExitCode::from(EXIT_FAIL))
                }
            }
        }
        JournalCommand::Export {
            format,
            out,
            filter,
        } => {
            let format = match format {
                Format::Csv => ExportFormat::Csv,
                Format::Jsonl => ExportFormat::Jsonl,
            };
            station.unlock_export_key(&crate::run::passphrase()?)?;
            let working = crate::progress::Working::start("exporting the sessions");
            let manifest = station.export_journal(
                &station.journal()?,
                &filter.into(),
                format,
                &out,
                SystemClock.now(),
            )?;
            drop(working);
            println!(
                "exported {} session(s) to {} (sha-256 {}), chain head {}",
                manifest.rows,
                out.display(),
                manifest.sha256,
                manifest.chain_head.hash
            );
            print_off_station(&station);
            Ok(ExitCode::SUCCESS)
        }
        JournalCommand::Key => {
            println!("{}", station.export_public_key()?);
            Ok(ExitCode::SUCCESS)
        }
        JournalCommand::VerifyExport {
            file,
            trust,
            trust_file,
        } => {
            let trusted = trusted_keys(&station, &trust, trust_file.as_deref())?;
            match verify_export(&file, Some(&trusted)) {
                Ok(m) => {
                    println!(
                        "OK: {} row(s) from station {}, signed, unmodified; chain head {} (entry {})",
                        m.rows, m.station_id, m.chain_head.hash, m.chain_head.seq
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!(
                        "BROKEN: [{}] {e}",
                        commissioner_core::error::Coded::code(&e)
                    );
                    Ok(ExitCode::from(EXIT_FAIL))
                }
            }
        }
        JournalCommand::Recover => {
            let journal = station.journal()?;
            let claimed = station.claim_sessions(&journal, SystemClock.now())?;
            if claimed.shared {
                println!("another Commissioner is running sessions at this station: its running sessions were left alone");
            }
            println!(
                "{} interrupted session(s) closed",
                claimed.interrupted.len()
            );
            for serial in claimed.interrupted.iter().flat_map(|s| &s.revoked_serials) {
                println!(
                    "revoked: certificate {serial} was issued but never confirmed on its unit"
                );
            }
            // Rows the station did not begin are not sealed: that would make a forgery part
            // of the chain that QA trusts.
            for f in &claimed.forged {
                println!(
                    "TAMPERED [{}]: session {} is marked running but was not begun by this station in this journal: {}; left unsealed",
                    commissioner_core::journal::Forged::CODE,
                    f.session_id,
                    f.reason
                );
            }
            // Only journals from before sessions revoked their own leftovers have any.
            let pending = journal.unconfirmed_serials(None)?;
            for serial in &pending {
                println!("revoke: certificate {serial} was issued but never confirmed on its unit");
            }
            if pending.is_empty() {
                println!("no certificate awaits revocation");
            }
            if claimed.forged.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                Ok(ExitCode::from(EXIT_FAIL))
            }
        }
        JournalCommand::Archive { out } => {
            station.unlock_export_key(&crate::run::passphrase()?)?;
            let working = crate::progress::Working::start("verifying and archiving the journal");
            let done = station.archive_journal(&out, SystemClock.now())?;
            drop(working);
            print_off_station(&station);
            // The new file is the station's journal from now on.
            let mut station = station;
            station.record_journal_genesis()?;
            println!(
                "archived {} session(s): {} and {}; the new journal continues from {}",
                done.manifest.rows,
                done.archived_journal.display(),
                done.export.display(),
                done.head.hash
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
