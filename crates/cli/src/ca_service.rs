//! `commissioner ca issue-backend` and `ca issue-server`: the identities a real deployment needs
//! beside its units, the provisioning backend (a client) and the broker (a server), issued by
//! the station's CA, registered in its certificate registry and revocable like a unit's.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use commissioner_core::journal::CertKind;
use commissioner_core::pki::issue::Usage;
use commissioner_core::pki::service::ServiceSubject;
use commissioner_core::pki::{cert_pem, IssuedCert, PkiError};
use commissioner_core::station::admin::AdminError;
use commissioner_core::station::{self, BrokerProfile, Station};
use rcgen::SanType;

use crate::run::passphrase;
use crate::{usage_error, CmdResult};

/// Options shared by both identities.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// Certificate CN: the backend's MQTT user name, or the broker's name. Default: the lab's
    /// backend name (`commissioner-backend`), or the broker profile's host.
    #[arg(long)]
    pub name: Option<String>,
    /// Directory for `<name>.pem` (certificate and issuing CA), `<name>.key` and `ca.pem`.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 365)]
    pub validity_days: i64,
}

/// What to issue: one entry point for both kinds.
pub struct ServiceRequest {
    pub usage: Usage,
    pub args: ServiceArgs,
    /// DNS names and IP addresses of a broker (`--san`); the name is always one of them.
    pub sans: Vec<String>,
}

pub fn issue(dir: &Path, req: ServiceRequest) -> CmdResult {
    let station = Station::open(dir)?;
    let operator = crate::operator::resolve(
        &station,
        None,
        commissioner_core::operator::Action::AdministerCa,
    )?;
    let profile = station.config.broker.clone();
    let name = match (&req.args.name, req.usage) {
        (Some(n), _) => n.clone(),
        (None, Usage::Client) => commissioner_core::lab::BACKEND_IDENTITY.to_owned(),
        (None, Usage::Server) => profile.as_ref().map(|p| p.host.clone()).ok_or_else(|| {
            usage_error(
                "cli.bad_arguments",
                "no broker profile to take the host from: give --name",
            )
        })?,
    };
    let mut alt_names = Vec::new();
    if req.usage == Usage::Server {
        let mut names = vec![name.clone()];
        names.extend(req.sans.iter().cloned());
        names.dedup();
        for n in &names {
            alt_names.push(san(n)?);
        }
    }
    let ca = station.unlock_ca(&passphrase()?)?;
    let _claim = crate::run::claim_sessions(&station)?;
    let now = time::OffsetDateTime::now_utc();
    let issued = station.issue_service_identity(
        &ca,
        &station::ServiceRequest {
            subject: ServiceSubject {
                kind: match req.usage {
                    Usage::Client => CertKind::Backend,
                    Usage::Server => CertKind::Broker,
                },
                name: &name,
                organization: &station.config.organization,
                validity_days: req.args.validity_days,
                alt_names,
            },
            operator: &operator,
        },
        now,
    )?;
    let cert = issued.cert;
    let chain = format!("{}{}", cert.pem, cert_pem(ca.issuing_der()));
    let cafile = format!("{}{}", cert_pem(ca.issuing_der()), cert_pem(ca.root_der()));
    write_files(&req.args.out, &name, &chain, &issued.key_pem, &cafile)?;
    print_summary(&req, &name, &cert, profile.as_ref());
    Ok(ExitCode::SUCCESS)
}

fn san(name: &str) -> Result<SanType, PkiError> {
    Ok(match name.parse::<std::net::IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(name.try_into().map_err(PkiError::Issue)?),
    })
}

fn write_files(
    out: &Path,
    name: &str,
    chain: &str,
    key: &str,
    cafile: &str,
) -> Result<(), AdminError> {
    crate::ca::write_key_bundle(
        out,
        &format!("{name}.key"),
        key,
        &[(&format!("{name}.pem"), chain), ("ca.pem", cafile)],
    )
}

/// An ACL topic of a profile's template: `{device_id}` as `level` (`+` or `%u`).
fn acl_topic(template: &str, level: &str) -> String {
    template.replace("{device_id}", level)
}

fn print_summary(
    req: &ServiceRequest,
    name: &str,
    cert: &IssuedCert,
    profile: Option<&BrokerProfile>,
) {
    let out = req.args.out.display();
    println!(
        "{name}: certificate {} (registered; revoke with `commissioner ca revoke --serial {}`)",
        cert.serial, cert.serial
    );
    println!("  {out}/{name}.pem  certificate + issuing CA");
    println!("  {out}/{name}.key  private key (owner only)");
    println!("  {out}/ca.pem      issuing + root CA (the broker's cafile)");
    let default = BrokerProfile::new("", 0, PathBuf::new());
    let p = profile.unwrap_or(&default);
    match req.usage {
        Usage::Client => {
            println!(
                "\nmosquitto ACL (acl_file; the listener has require_certificate true and \
                 use_identity_as_username true):\n"
            );
            println!("user {name}");
            println!("topic read {}", acl_topic(&p.request_topic, "+"));
            println!("topic write {}", acl_topic(&p.response_topic, "+"));
            println!("\n# every unit, by its certificate's CN:");
            println!("pattern write {}", acl_topic(&p.request_topic, "%u"));
            println!("pattern read {}", acl_topic(&p.response_topic, "%u"));
        }
        Usage::Server => {
            println!("\nmosquitto listener:\n");
            println!("listener 8883");
            println!("certfile {out}/{name}.pem");
            println!("keyfile {out}/{name}.key");
            println!("cafile {out}/ca.pem");
            println!("require_certificate true");
            println!("use_identity_as_username true");
            println!("# commissioner ca crl --out /path/to/crl.pem, then:");
            println!("crlfile /path/to/crl.pem");
        }
    }
}
