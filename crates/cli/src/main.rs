//! `commissioner`: the headless station. The same pipeline as the desktop app, for scripts, CI
//! and MES integration.

mod audit;
mod bench;
mod broker;
mod ca;
mod ca_service;
mod ca_setup;
mod handshake_bench;
mod journal;
mod lab;
mod lab_central;
mod line;
mod operator;
mod progress;
mod qa;
mod responder;
mod run;
mod sim;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use commissioner_core::error::ErrorInfo;
use run::CommissionFlags;

/// Exit code for a unit that did not pass.
const EXIT_FAIL: u8 = 1;
/// Exit code for a station that could not run (bad set-up, missing CA, bad arguments).
const EXIT_ERROR: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "commissioner",
    version,
    about = "Commission MQTT devices over USB serial"
)]
struct Cli {
    /// Station directory (station.toml, ca/, journal.sqlite).
    #[arg(long, global = true, env = "COMMISSIONER_STATION")]
    station: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Commission a simulated unit end to end against a lab mosquitto, and print the report.
    Demo {
        /// Inject a fault into the simulated unit (see `commissioner sim --help`).
        #[arg(long)]
        fault: Option<commissioner_devsim::Fault>,
        /// How the unit gets its operational certificate: out-of-band (the station writes it)
        /// or in-band (a bootstrap identity, then the exchange over MQTT). Kept in the lab
        /// station's [provisioning]; out-of-band when not given.
        #[arg(long, value_parser = ["out-of-band", "in-band"])]
        mode: Option<String>,
        /// The in-band wire dialect (aws-fleet or azure-dps).
        #[arg(long, value_parser = ["commissioner", "aws-fleet", "azure-dps"])]
        dialect: Option<String>,
    },
    /// Commission the unit on a serial port.
    Commission {
        /// Serial port, e.g. /dev/ttyUSB0.
        #[arg(long)]
        port: String,
        #[arg(long, default_value_t = 115_200)]
        baud: u32,
        /// Who is commissioning (recorded with the session). At a station with operators,
        /// give the PIN in COMMISSIONER_PIN, or sign in first with `commissioner login`.
        #[arg(long, env = "COMMISSIONER_OPERATOR")]
        operator: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// The unit already holds an active certificate: replace it (the old one becomes
        /// superseded once the new one is proven).
        #[arg(long)]
        recommission: bool,
        /// The unit's device family (e.g. reference), overriding the station profile's
        /// `[[models]]` family for the port.
        #[arg(long)]
        family: Option<String>,
    },
    /// Line mode: commission every matching unit as it is plugged in, many at once.
    Line(line::LineArgs),
    /// List serial ports with their USB identity and, from the station profile, their model.
    Ports {
        #[arg(long)]
        json: bool,
        /// Keep watching and print a line (or a JSON object) per plug and unplug.
        #[arg(long)]
        watch: bool,
    },
    /// Run simulated units on pseudo-terminals until interrupted.
    Sim(sim::SimArgs),
    /// A work order's batch report: PDF (summary, charts, one line per unit) and CSV beside
    /// it; its chain head is anchored.
    Report(qa::ReportArgs),
    /// Print the label of a passed session (ZPL to the profile's printer and/or PDF).
    Label {
        #[arg(long)]
        session: i64,
    },
    /// Send the MES outbox's due events now (the line sends them as sessions end).
    MesSend,
    /// The journal: list, verify, export, verify an export, recover, archive.
    Journal {
        #[command(subcommand)]
        command: journal::JournalCommand,
    },
    /// The factory CA: init, import, revoke, CRL, certificate registry, benchmark.
    Ca {
        #[command(subcommand)]
        command: ca::CaCommand,
    },
    /// Operators and their roles: add, list.
    Operator {
        #[command(subcommand)]
        command: operator::OperatorCommand,
    },
    /// Sign in (PIN from COMMISSIONER_PIN, else asked for); the sign-in lasts an hour.
    Login {
        #[arg(long, env = "COMMISSIONER_OPERATOR")]
        operator: String,
    },
    /// Sign out.
    Logout,
    /// Audit the station's broker: try what an attacker would with test identities, record
    /// every check in the journal; exits 1 when a check fails.
    Audit {
        /// Who runs the audit (recorded with the session). At a station with operators, a QA
        /// or admin operator: signed in with `login`, or with COMMISSIONER_PIN.
        #[arg(long, env = "COMMISSIONER_OPERATOR")]
        operator: Option<String>,
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The station's broker profile: `check` does what the app's Test connection does.
    Broker {
        #[command(subcommand)]
        command: broker::BrokerCommand,
    },
    /// Run the reference provisioning responder against the station's broker (shared
    /// subscription; units checked against the station's certificate registry).
    Responder(responder::ResponderArgs),
    /// Deliver the journal's outbox to the central store (`[central]` in station.toml) and
    /// print the backlog and the last successful sync; `sync conflicts` lists findings to review.
    Sync(sync::SyncArgs),
    /// The lab: a lab station, and a real mosquitto with TLS and ACLs plus a responder.
    Lab {
        #[command(subcommand)]
        command: lab::LabCommand,
    },
}

fn main() -> ExitCode {
    // Journal, keys, tokens, logs: nothing this process creates is for other local accounts.
    commissioner_core::secure_fs::restrict_umask();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("COMMISSIONER_LOG")
                // rumqttc warns on every refused PUBACK, which the audit provokes on purpose.
                .unwrap_or_else(|_| "warn,rumqttc=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let station = cli
        .station
        .unwrap_or_else(commissioner_core::station::Station::default_dir);
    let result = match cli.command {
        Command::Demo {
            fault,
            mode,
            dialect,
        } => run::demo(&station, fault, &run::DemoMode { mode, dialect }),
        Command::Commission {
            port,
            baud,
            operator,
            json,
            recommission,
            family,
        } => run::commission(
            &station,
            &port,
            baud,
            operator.as_deref(),
            json,
            CommissionFlags {
                recommission,
                family: family.as_deref(),
            },
        ),
        Command::Ports { json, watch } => run::ports(&station, json, watch),
        Command::Sim(args) => sim::run(args),
        Command::Line(args) => line::run(&station, args),
        Command::Operator { command } => operator::run(&station, command),
        Command::Login { operator } => operator::login(&station, &operator),
        Command::Logout => operator::logout(&station),
        Command::Audit { operator, json } => audit::run(&station, operator.as_deref(), json),
        Command::Broker { command } => broker::run(&station, command),
        Command::Responder(args) => responder::run(&station, args),
        Command::Lab { command } => lab::run(&station, command),
        Command::Sync(args) => sync::run(&station, args),
        Command::Journal { command } => journal::run(&station, command),
        Command::Report(args) => qa::report(&station, args),
        Command::Label { session } => qa::label(&station, session),
        Command::MesSend => qa::mes_send(&station),
        Command::Ca { command } => ca::run(&station, command),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error[{}]: {}", e.code, e.message);
            if let Some(detail) = e.detail {
                eprintln!("  caused by: {detail}");
            }
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Result of a command: an exit code, or an error for the operator.
type CmdResult = Result<ExitCode, ErrorInfo>;

/// A CLI-level error with a stable code.
fn usage_error(code: &str, message: impl Into<String>) -> ErrorInfo {
    ErrorInfo {
        code: code.into(),
        message: message.into(),
        detail: None,
    }
}
