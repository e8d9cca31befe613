//! `commissioner ca init` and `ca import`: put an issuing CA on a station.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use commissioner_core::error::ErrorInfo;
use commissioner_core::pki::setup::{self, ImportKey, ImportOptions, InitOptions, IssuingKey};
use commissioner_core::station::{create_station, Station};

use crate::run::passphrase;
use crate::{usage_error, CmdResult};

/// Options of `ca init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Subject O of the new CAs (and of the station, when it is created).
    #[arg(long, default_value = "Commissioner Lab")]
    organization: String,
    /// Keep the issuing key in a PKCS#11 token instead of a file; the passphrase is the PIN.
    #[arg(long)]
    issuing_key_uri: Option<String>,
    /// Write the root key here, once (removable media kept in a safe), encrypted with a
    /// passphrase of its own: COMMISSIONER_ROOT_PASSPHRASE, or asked for on the terminal.
    /// Required unless the station is a lab station; only the issuing key stays on it.
    #[arg(long, required_unless_present = "lab")]
    root_key_out: Option<PathBuf>,
    /// Make (or keep) a lab station, whose root key may stay in ca/ under the station
    /// passphrase for convenience. Never for production units.
    #[arg(long)]
    lab: bool,
}

/// The environment variable with the offline root key's passphrase.
pub const ROOT_PASSPHRASE_ENV: &str = "COMMISSIONER_ROOT_PASSPHRASE";

/// The offline root key's passphrase: from the environment (taken out of it), else asked twice.
fn root_passphrase() -> Result<String, ErrorInfo> {
    if let Ok(p) = std::env::var(ROOT_PASSPHRASE_ENV) {
        std::env::remove_var(ROOT_PASSPHRASE_ENV);
        return Ok(p);
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt).map_err(|e| {
            usage_error(
                "ca.no_root_passphrase",
                format!(
                    "no root key passphrase: set {ROOT_PASSPHRASE_ENV} or run on a terminal ({e})"
                ),
            )
        })
    };
    let first = ask("passphrase for the offline root key: ")?;
    if ask("again: ")? != first {
        return Err(usage_error(
            "ca.no_root_passphrase",
            "the two root key passphrases differ",
        ));
    }
    Ok(first)
}

/// Options of `ca import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The issuing CA certificate (PEM).
    #[arg(long)]
    cert: PathBuf,
    /// The root certificate that signed it (PEM).
    #[arg(long)]
    root: PathBuf,
    /// The issuing key: PKCS#8 PEM, plain or encrypted.
    #[arg(long, required_unless_present = "key_uri", conflicts_with = "key_uri")]
    key: Option<PathBuf>,
    /// The issuing key in a PKCS#11 token (`pkcs11:token=..;object=..?module-path=..`);
    /// the station passphrase is the user PIN.
    #[arg(long)]
    key_uri: Option<String>,
    /// Environment variable holding the passphrase of an encrypted --key (asked otherwise).
    #[arg(long)]
    key_passphrase_env: Option<String>,
    /// Station organisation, when the station is created by this import.
    #[arg(long, default_value = "Factory")]
    organization: String,
    /// Move the station's current CA aside into ca/replaced-<time>/ instead of refusing.
    #[arg(long)]
    replace: bool,
}

fn open_or_create(dir: &Path, organization: &str, lab: bool) -> Result<Station, ErrorInfo> {
    match Station::open(dir) {
        Ok(s) => Ok(s),
        Err(_) if !Station::config_path(dir).exists() => {
            Ok(create_station(dir, organization, lab)?)
        }
        Err(e) => Err(e.into()),
    }
}

pub fn init(dir: &Path, args: InitArgs) -> CmdResult {
    let pass = passphrase()?;
    let root_pass = match &args.root_key_out {
        Some(_) => Some(zeroize::Zeroizing::new(root_passphrase()?)),
        None => None,
    };
    let mut station = open_or_create(dir, &args.organization, args.lab)?;
    let report = setup::init_ca(
        &station.ca_dir(),
        &InitOptions {
            organization: &args.organization,
            passphrase: &pass,
            issuing_key: match &args.issuing_key_uri {
                Some(uri) => IssuingKey::Pkcs11Uri(uri),
                None => IssuingKey::Generate,
            },
            root_key_out: args.root_key_out.as_deref(),
            root_passphrase: root_pass.as_deref().map(String::as_str),
            lab: station.config.lab,
            now: time::OffsetDateTime::now_utc(),
        },
    )?;
    if let Some(uri) = &args.issuing_key_uri {
        station.allow_pkcs11_module_of(uri)?;
    }
    export_key(&station, &pass);
    println!("root CA     sha-256 {}", report.root_fingerprint);
    println!(
        "issuing CA  sha-256 {}  (key: {})",
        report.issuing_fingerprint, report.key_location
    );
    println!("station     {}", station.dir.display());
    println!();
    println!("!! The root CA key was written once, encrypted, to:");
    println!("!!   {}", report.root_key.display());
    println!("!! Move it offline now (removable media kept in a safe) and remove it from this");
    println!("!! machine. The station never needs it to commission units; only a new issuing");
    println!("!! CA does. It will not be written again.");
    Ok(ExitCode::SUCCESS)
}

/// Makes and pins the export-signing key under the station passphrase now (after the last save
/// of `station.toml` here), or says why it does not open; the CA is set up either way.
fn export_key(station: &Station, pass: &str) {
    match station.unlock_export_key(pass) {
        Ok(key) => println!(
            "export key  {}  (pinned; give it to QA: journal key)",
            key.public_key_base64()
        ),
        Err(e) => println!(
            "warning[{}]: {e}",
            commissioner_core::error::Coded::code(&e)
        ),
    }
}

pub fn import(dir: &Path, args: ImportArgs) -> CmdResult {
    let pass = passphrase()?;
    let key_pass = match (&args.key, &args.key_passphrase_env) {
        (Some(_), Some(var)) => Some(std::env::var(var).map_err(|_| {
            usage_error(
                "ca.no_key_passphrase",
                format!("the environment variable {var} is not set"),
            )
        })?),
        (Some(path), None) if is_encrypted(path) => Some(ask_key_passphrase()?),
        _ => None,
    };
    let mut station = open_or_create(dir, &args.organization, false)?;
    let key = match (&args.key, &args.key_uri) {
        (Some(path), _) => ImportKey::Pem {
            path,
            passphrase: key_pass.as_deref(),
        },
        (None, Some(uri)) => ImportKey::Pkcs11Uri(uri),
        (None, None) => return Err(usage_error("cli.bad_arguments", "give --key or --key-uri")),
    };
    let report = setup::import_ca(
        &station.ca_dir(),
        &ImportOptions {
            issuing_cert: &args.cert,
            root_cert: &args.root,
            key,
            passphrase: &pass,
            replace: args.replace,
        },
    )?;
    if let Some(uri) = &args.key_uri {
        station.allow_pkcs11_module_of(uri)?;
    }
    export_key(&station, &pass);
    println!(
        "issuing CA  sha-256 {}  (key: {})",
        report.issuing_fingerprint, report.key_location
    );
    if let Some(backup) = &report.backup {
        println!("the previous CA was moved to {}", backup.display());
    }
    for w in &report.warnings {
        println!("warning: {w}");
    }
    if let Some(path) = &args.key {
        println!(
            "the key is stored encrypted in the station; remove the source file: shred -u {}",
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn is_encrypted(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .map(|t| t.contains("BEGIN ENCRYPTED PRIVATE KEY"))
        .unwrap_or(false)
}

fn ask_key_passphrase() -> Result<String, ErrorInfo> {
    if !std::io::stdin().is_terminal() {
        return Err(usage_error(
            "ca.no_key_passphrase",
            "the key file is encrypted: give --key-passphrase-env VAR",
        ));
    }
    rpassword::prompt_password("passphrase of the key file: ")
        .map_err(|e| usage_error("ca.no_key_passphrase", e.to_string()))
}
