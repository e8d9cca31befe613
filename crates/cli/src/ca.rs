//! `commissioner ca`: the factory CA and its certificate registry.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use commissioner_core::error::Coded;
use commissioner_core::error::ErrorInfo;
use commissioner_core::journal::{
    CertFilter, CertStatus, CertificateRecords, NewSession, RegistryEntry, SessionResult,
};
use commissioner_core::operator::Action;
use commissioner_core::pki::issue::Usage;
use commissioner_core::pki::revoke::Reason;
use commissioner_core::pki::{cert_pem, IssuedCert};
use commissioner_core::station::admin::{self, AdminError, RevokeTarget};
use commissioner_core::station::issuing::{self, Issuing};
use commissioner_core::station::Station;

use crate::run::passphrase;
use crate::{usage_error, CmdResult};

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create a lab root CA and an issuing CA in the station (creating the station if needed).
    /// The root key is written once, encrypted: move it offline.
    Init(crate::ca_setup::InitArgs),
    /// Import an issuing CA: certificate, root, and its key from PEM, encrypted PKCS#8 or a
    /// PKCS#11 token. A file key is stored encrypted with the station passphrase.
    Import(crate::ca_setup::ImportArgs),
    /// Revoke a certificate by serial, or every certificate of a unit. Takes effect at the
    /// broker with the next CRL (`ca crl`, or `lab reload` for the lab broker).
    Revoke {
        /// Serial as `ca list` or `openssl x509 -serial` prints it.
        #[arg(
            long,
            required_unless_present = "device_id",
            conflicts_with = "device_id"
        )]
        serial: Option<String>,
        /// Revoke every certificate of this unit that is not revoked yet.
        #[arg(long)]
        device_id: Option<String>,
        /// unspecified, key-compromise, affiliation-changed, superseded,
        /// cessation-of-operation, privilege-withdrawn.
        #[arg(long)]
        reason: String,
    },
    /// Write a CRL of every revoked certificate, signed by the issuing CA, for the broker.
    Crl {
        #[arg(long)]
        out: PathBuf,
        /// Also list every station's revocations of certificates this issuing CA signed, from
        /// the central store ([central] in station.toml); fails if it cannot be reached.
        #[arg(long)]
        central: bool,
    },
    /// Write the root's CRL (no issuing CA revoked), signed with the root key: with the
    /// issuing CA's CRL, what `openssl verify -crl_check_all` needs. Asks for the passphrase of
    /// the root key (COMMISSIONER_CA_PASSPHRASE).
    RootCrl {
        #[arg(long)]
        out: PathBuf,
        /// The encrypted root key, if it was moved off the station (default ca/root.key.pem).
        #[arg(long)]
        root_key: Option<PathBuf>,
        /// How long the root CRL is valid, in days.
        #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u16).range(1..=3650))]
        days: u16,
    },
    /// Fallback for a unit that cannot generate its own key: the station generates it and
    /// writes key, certificate and chain to --out. Only if the profile allows it
    /// (policy.allow_host_generated_key); the journal marks the certificate `host`.
    IssueHostKey {
        #[arg(long)]
        device_id: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, env = "COMMISSIONER_OPERATOR", default_value = "cli")]
        operator: String,
        /// Replace the unit's active certificate.
        #[arg(long)]
        recommission: bool,
    },
    /// Certificates per second: this station's issuance with a file key next to an
    /// `openssl x509 -req` loop issuing the same certificates (build with --release).
    Bench {
        #[arg(long, default_value_t = 300)]
        count: usize,
        /// Also issue with the key in a SoftHSM2 token set up for the run.
        #[arg(long)]
        softhsm: bool,
    },
    /// Issue the provisioning backend's client identity (admin): key, certificate and CA
    /// files in --out, registered and revocable; prints the mosquitto ACL lines to paste.
    IssueBackend(crate::ca_service::ServiceArgs),
    /// Issue the broker's server identity (admin) for the profile's host and any --san; prints
    /// the mosquitto listener lines.
    IssueServer {
        #[command(flatten)]
        args: crate::ca_service::ServiceArgs,
        /// More DNS names or IP addresses the broker is reached by (repeatable).
        #[arg(long)]
        san: Vec<String>,
    },
    /// List and search issued certificates.
    List {
        #[arg(long)]
        device_id: Option<String>,
        /// issued, active, revoked or superseded.
        #[arg(long)]
        status: Option<String>,
        /// Serial or SHA-256 fingerprint prefix.
        #[arg(long)]
        search: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(dir: &Path, cmd: CaCommand) -> CmdResult {
    // Whoever holds the CA passphrase could otherwise mint, replace or revoke identities
    // under a technician's sign-in; at a station with operators that is the admin's call.
    match &cmd {
        CaCommand::Init(_) | CaCommand::Import(_) => {
            crate::operator::require_if_station(dir, Action::AdministerCa)?
        }
        CaCommand::Revoke { .. }
        | CaCommand::Crl { .. }
        | CaCommand::RootCrl { .. }
        | CaCommand::IssueBackend(_)
        | CaCommand::IssueServer { .. } => {
            crate::operator::resolve(&Station::open(dir)?, None, Action::AdministerCa)?;
        }
        // The registry names every unit and certificate: QA's to read.
        CaCommand::List { .. } => {
            crate::operator::resolve(&Station::open(dir)?, None, Action::ReadJournal)?;
        }
        CaCommand::IssueHostKey { .. } | CaCommand::Bench { .. } => {}
    }
    match cmd {
        CaCommand::Init(args) => crate::ca_setup::init(dir, args),
        CaCommand::Import(args) => crate::ca_setup::import(dir, args),
        CaCommand::Revoke {
            serial,
            device_id,
            reason,
        } => revoke(dir, serial.as_deref(), device_id.as_deref(), &reason),
        CaCommand::Crl { out, central } => crl(dir, &out, central),
        CaCommand::IssueBackend(args) => crate::ca_service::issue(
            dir,
            crate::ca_service::ServiceRequest {
                usage: Usage::Client,
                args,
                sans: vec![],
            },
        ),
        CaCommand::IssueServer { args, san } => crate::ca_service::issue(
            dir,
            crate::ca_service::ServiceRequest {
                usage: Usage::Server,
                args,
                sans: san,
            },
        ),
        CaCommand::RootCrl {
            out,
            root_key,
            days,
        } => root_crl(dir, &out, root_key.as_deref(), days),
        CaCommand::Bench { count, softhsm } => crate::bench::run(count, softhsm),
        CaCommand::IssueHostKey {
            device_id,
            out,
            operator,
            recommission,
        } => issue_host_key(dir, &device_id, &out, &operator, recommission),
        CaCommand::List {
            device_id,
            status,
            search,
            json,
        } => list(
            dir,
            device_id.as_deref(),
            status.as_deref(),
            search.as_deref(),
            json,
        ),
    }
}

fn revoke(dir: &Path, serial: Option<&str>, device: Option<&str>, reason: &str) -> CmdResult {
    let station = Station::open(dir)?;
    let reason: Reason = reason.parse()?;
    let target = match (serial, device) {
        (Some(s), _) => RevokeTarget::Serial(s),
        (None, Some(d)) => RevokeTarget::Device(d),
        (None, None) => {
            return Err(usage_error(
                "cli.bad_arguments",
                "give --serial or --device-id",
            ))
        }
    };
    let journal = station.journal()?;
    let done = admin::revoke(&journal, target, reason, time_now())?;
    for e in &done.revoked {
        println!("revoked  {}  {}  ({})", e.serial, e.device_id, reason);
    }
    for e in &done.strengthened {
        println!(
            "note[revoke.reason_strengthened]: {} ({}) was already revoked since {}; its reason is now {reason}",
            e.serial,
            e.device_id,
            e.revoked_at.as_deref().unwrap_or("?")
        );
    }
    if done.revoked.is_empty() && done.strengthened.is_empty() {
        println!("nothing to revoke: already revoked");
    }
    println!(
        "publish it: commissioner ca crl --out FILE, then reload the broker \
         (the lab broker: commissioner lab reload)"
    );
    Ok(ExitCode::SUCCESS)
}

fn crl(dir: &Path, out: &Path, central: bool) -> CmdResult {
    let station = Station::open(dir)?;
    // Before the passphrase: a station without [central] is told so at once.
    let scope = if central {
        admin::CrlScope::Central {
            profile: station.central_profile()?,
            station_dir: &station.dir,
        }
    } else {
        admin::CrlScope::Local
    };
    let ca = station.unlock_ca(&passphrase()?)?;
    let journal = station.journal()?;
    let signed = station.publish_crl_from(&ca, &journal, out, time_now(), scope)?;
    let crl = signed.crl;
    crate::journal::print_off_station(&station);
    if central {
        println!(
            "central store: {} revoked certificate(s) of this CA from other stations added",
            signed.from_central
        );
    }
    if crl.journal_number < crl.number {
        println!(
            "warning[crl.number_behind]: the journal's CRL counter was at {}, below the last CRL \
             signed (its rows were deleted or the journal replaced); numbered {} so that it never goes back",
            crl.journal_number, crl.number
        );
    }
    println!(
        "CRL #{} with {} revoked certificate(s) written to {} (next update {})",
        crl.number,
        crl.revoked,
        out.display(),
        crl.next_update.date()
    );
    Ok(ExitCode::SUCCESS)
}

fn root_crl(dir: &Path, out: &Path, root_key: Option<&Path>, days: u16) -> CmdResult {
    let station = Station::open(dir)?;
    let crl = commissioner_core::pki::revoke::sign_root_crl(
        &station.ca_dir(),
        root_key,
        &passphrase()?,
        time_now(),
        time::Duration::days(i64::from(days)),
    )?;
    std::fs::write(out, &crl.pem)
        .map_err(|e| usage_error("ca.write_failed", format!("{}: {e}", out.display())))?;
    println!(
        "root CRL #{} written to {} (next update {})",
        crl.number,
        out.display(),
        crl.next_update.date()
    );
    Ok(ExitCode::SUCCESS)
}

fn list(
    dir: &Path,
    device_id: Option<&str>,
    status: Option<&str>,
    search: Option<&str>,
    json: bool,
) -> CmdResult {
    let station = Station::open(dir)?;
    let status: Option<CertStatus> = status
        .map(|s| {
            s.parse()
                .map_err(|e: String| usage_error("cli.bad_status", e))
        })
        .transpose()?;
    let rows = station.journal()?.list_certificates(&CertFilter {
        device_id,
        status,
        search,
    })?;
    if json {
        println!("{}", to_json(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<32}  {:<16}  {:<7}  {:<10}  {:<6}  {:<20}  {:<20}  sha-256",
        "serial", "device id", "kind", "status", "key", "not before", "not after"
    );
    for r in &rows {
        println!(
            "{:<32}  {:<16}  {:<7}  {:<10}  {:<6}  {:<20}  {:<20}  {}",
            r.serial,
            r.device_id,
            r.kind,
            r.status,
            r.key_origin,
            short(&r.not_before),
            short(&r.not_after),
            r.sha256
        );
    }
    eprintln!("{} certificate(s)", rows.len());
    Ok(ExitCode::SUCCESS)
}

fn issue_host_key(
    dir: &Path,
    device_id: &str,
    out: &Path,
    operator: &str,
    recommission: bool,
) -> CmdResult {
    let station = Station::open(dir)?;
    let action = if recommission {
        Action::Recommission
    } else {
        Action::Commission
    };
    let operator = &crate::operator::resolve(&station, Some(operator), action)?;
    let ca = station.unlock_ca(&passphrase()?)?;
    let _claim = crate::run::claim_sessions(&station)?;
    let journal = station.journal()?;
    let now = time_now();
    let session_id = journal.begin_session(&NewSession {
        station_id: &station.config.station_id,
        operator,
        port: "host-key",
        work_order: None,
        started_at: now,
    })?;
    journal.set_identity(session_id, device_id, "", "")?;
    let ctx = Issuing {
        station: &station,
        ca: &ca,
        journal: &journal,
        records: &journal,
        session_id,
    };
    let result =
        issuing::issue_host_key(ctx, device_id, recommission, now).and_then(|(cert, key)| {
            write_bundle(out, &cert, &key, ca.issuing_der())?;
            journal.activate_certificate(&cert.serial)?;
            Ok(cert)
        });
    close_session(&journal, session_id, &result)?;
    let cert = result?;
    println!(
        "host-generated key for {device_id}: certificate {} in {}",
        cert.serial,
        out.display()
    );
    println!("the journal records this certificate as key_origin=host");
    Ok(ExitCode::SUCCESS)
}

fn write_bundle(
    out: &Path,
    cert: &IssuedCert,
    key_pem: &str,
    issuing_der: &[u8],
) -> Result<(), AdminError> {
    write_key_bundle(
        out,
        "device.key.pem",
        key_pem,
        &[
            ("device.pem", &cert.pem),
            ("chain.pem", &cert_pem(issuing_der)),
        ],
    )
}

/// Writes a private key into `out` (owner only, never over an existing key) and the public
/// files that go with it.
pub(crate) fn write_key_bundle(
    out: &Path,
    key_name: &str,
    key_pem: &str,
    public: &[(&str, &str)],
) -> Result<(), AdminError> {
    use std::io::Write;
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| AdminError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let key_path = out.join(key_name);
    commissioner_core::secure_fs::create_new(&key_path)
        .and_then(|mut f| f.write_all(key_pem.as_bytes()))
        .map_err(io(&key_path))?;
    for (name, text) in public {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(io(&path))?;
    }
    Ok(())
}

/// Closes a session the CLI began around one issuing operation: passed if it succeeded,
/// failed with its code otherwise (which revokes what it issued).
pub(crate) fn close_session<T, E: Coded>(
    journal: &commissioner_core::journal::Journal,
    session_id: i64,
    result: &Result<T, E>,
) -> Result<(), ErrorInfo> {
    let error = result.as_ref().err().map(|e| e.info());
    let outcome = if error.is_some() {
        SessionResult::Fail
    } else {
        SessionResult::Pass
    };
    journal.finish_session(session_id, outcome, error.as_ref(), time_now())?;
    Ok(())
}

fn short(rfc3339: &str) -> &str {
    rfc3339.get(..19).unwrap_or(rfc3339)
}

fn to_json(rows: &[RegistryEntry]) -> Result<String, ErrorInfo> {
    serde_json::to_string_pretty(rows).map_err(|e| usage_error("cli.output", e.to_string()))
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
