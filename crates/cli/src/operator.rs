//! `commissioner operator add|list`, `login`, `logout`, and the check every guarded command
//! runs: who is this, and may they do it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use commissioner_core::clock::{Clock, SystemClock};
use commissioner_core::error::{Coded, ErrorInfo};
use commissioner_core::operator::{self, Action, OperatorError, Role};
use commissioner_core::station::Station;

use crate::{usage_error, CmdResult};

/// Environment variable with the PIN of the operator named by --operator.
const PIN_ENV: &str = "COMMISSIONER_PIN";
/// Environment variable with the PIN of an operator being added (scripts; else a prompt).
const NEW_PIN_ENV: &str = "COMMISSIONER_NEW_PIN";

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Add an operator with a role and a PIN (from COMMISSIONER_NEW_PIN, else asked for).
    /// The first operator must be an admin; after that only an admin may add operators.
    Add {
        id: String,
        /// technician, field_engineer, qa or admin.
        #[arg(long)]
        role: Role,
        /// The admin adding this operator (with COMMISSIONER_PIN), unless signed in.
        #[arg(long, env = "COMMISSIONER_OPERATOR")]
        operator: Option<String>,
    },
    /// List operators and their roles.
    List,
    /// Disable an operator (admin): their PIN and sign-ins stop working; sessions keep their
    /// name. The last admin cannot be disabled.
    Disable {
        id: String,
        /// The admin doing it (with COMMISSIONER_PIN), unless signed in.
        #[arg(long, env = "COMMISSIONER_OPERATOR")]
        operator: Option<String>,
    },
    /// Change your own PIN: the current one from COMMISSIONER_PIN, the new one from
    /// COMMISSIONER_NEW_PIN (each asked for on a terminal when not set).
    Pin {
        /// Whose PIN (your operator id).
        #[arg(long, env = "COMMISSIONER_OPERATOR")]
        operator: String,
    },
}

/// Where `commissioner login` keeps its token: with the OS user who signed in, not with the
/// station, so that a sign-in belongs to that user's account ($XDG_RUNTIME_DIR, a per-user
/// tmpfs gone at log-out or reboot; else the user's state directory), one file per station.
pub fn token_path(dir: &Path) -> PathBuf {
    use sha2::Digest;
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(dirs::state_dir)
        .unwrap_or_else(std::env::temp_dir)
        .join("commissioner");
    let station = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    let id = hex::encode(&sha2::Sha256::digest(station.as_os_str().as_encoded_bytes())[..8]);
    base.join(format!("station-{id}.token"))
}

fn pin(env: &str, prompt: &str) -> Result<String, ErrorInfo> {
    if let Ok(p) = std::env::var(env) {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(prompt)
            .map_err(|e| usage_error("operator.no_pin", format!("cannot read the PIN: {e}")));
    }
    Err(usage_error(
        "operator.no_pin",
        format!("no PIN: set {env} or run on a terminal"),
    ))
}

/// The operator to record for `action`. A station without operators records `given` (or
/// `cli`) as before; one with operators needs a PIN (`given` + COMMISSIONER_PIN) or a valid
/// `commissioner login`, and a role that allows `action`.
pub fn resolve(
    station: &Station,
    given: Option<&str>,
    action: Action,
) -> Result<String, ErrorInfo> {
    let journal = station.journal()?;
    if !station.operators_enforced(&journal)? {
        return Ok(given.unwrap_or("cli").to_owned());
    }
    let now = SystemClock.now();
    // Commands without an --operator flag (export) take it from the environment.
    let env_operator = std::env::var("COMMISSIONER_OPERATOR").ok();
    let given = given.or(env_operator.as_deref());
    let op = match (given, std::env::var(PIN_ENV)) {
        (Some(id), Ok(pin)) => operator::authenticate(&journal, id, &pin, now)?,
        _ => match std::fs::read_to_string(token_path(&station.dir)) {
            Ok(token) => operator::from_token(&journal, &token, now)?,
            Err(_) => return Err(OperatorError::NotSignedIn.info()),
        },
    };
    op.authorize(action)?;
    Ok(op.id)
}

/// For commands that may create the station (`ca init`, `ca import`): a station that does not
/// exist yet has nobody to check, one that does goes through [`resolve`].
pub fn require_if_station(dir: &Path, action: Action) -> Result<(), ErrorInfo> {
    if !Station::config_path(dir).exists() {
        return Ok(());
    }
    resolve(&Station::open(dir)?, None, action).map(drop)
}

pub fn run(dir: &Path, cmd: OperatorCommand) -> CmdResult {
    let mut station = Station::open(dir)?;
    match cmd {
        OperatorCommand::Add { id, role, operator } => {
            let journal = station.journal()?;
            // The first operator bootstraps the station; later ones need an admin.
            if station.operators_enforced(&journal)? {
                resolve(&station, operator.as_deref(), Action::ManageOperators)?;
            }
            let new_pin = pin(NEW_PIN_ENV, &format!("PIN for {id}: "))?;
            let added = operator::add(&journal, &id, role, &new_pin, SystemClock.now())?;
            station.require_operators()?;
            println!("added operator {} ({})", added.id, added.role.as_str());
        }
        OperatorCommand::List => {
            for op in operator::list(&station.journal()?)? {
                println!("{:<24} {}", op.id, op.role.as_str());
            }
        }
        OperatorCommand::Disable { id, operator } => {
            resolve(&station, operator.as_deref(), Action::ManageOperators)?;
            operator::disable(&station.journal()?, &id, SystemClock.now())?;
            println!("operator {id} disabled");
        }
        OperatorCommand::Pin { operator } => {
            let old = pin(PIN_ENV, "current PIN: ")?;
            let new = pin(NEW_PIN_ENV, "new PIN: ")?;
            operator::change_pin(
                &station.journal()?,
                &operator,
                &old,
                &new,
                SystemClock.now(),
            )?;
            println!("PIN of {operator} changed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `commissioner login`: checks the PIN once and leaves a token that lasts an hour.
pub fn login(dir: &Path, id: &str) -> CmdResult {
    let station = Station::open(dir)?;
    let journal = station.journal()?;
    let now = SystemClock.now();
    let op = operator::authenticate(&journal, id, &pin(PIN_ENV, "PIN: ")?, now)?;
    let token = operator::issue_token(&journal, &op, now)?;
    write_private(&token_path(dir), &token)
        .map_err(|e| usage_error("operator.token_write", e.to_string()))?;
    println!(
        "signed in as {} ({}) for {} minutes",
        op.id,
        op.role.as_str(),
        operator::TOKEN_LIFETIME.whole_minutes()
    );
    Ok(ExitCode::SUCCESS)
}

/// Signs out: the token is revoked in the journal first, so a copy of the file signs nobody in.
pub fn logout(dir: &Path) -> CmdResult {
    let path = token_path(dir);
    if let Ok(token) = std::fs::read_to_string(&path) {
        let journal = Station::open(dir)?.journal()?;
        operator::revoke_token(&journal, &token, SystemClock.now())?;
    }
    match std::fs::remove_file(&path) {
        Ok(()) => println!("signed out"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => println!("nobody was signed in"),
        Err(e) => return Err(usage_error("operator.token_write", e.to_string())),
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes a file only its owner can read: the token is as good as the PIN for an hour.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        commissioner_core::secure_fs::create_dir(parent)?;
    }
    commissioner_core::secure_fs::write(path, text.as_bytes())
}
