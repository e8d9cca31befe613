//! `commissioner lab`: a lab station, and a lab broker that outlives the command.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Subcommand;
use commissioner_core::error::ErrorInfo;
use commissioner_core::lab::{self, LabError, LabFiles, LabKind};
use commissioner_core::mqtt::dialect::Dialect;
use commissioner_core::mqtt::responder::Responder;
use commissioner_core::operator::Action;
use commissioner_core::pki::ca::read_cert_der;
use commissioner_core::station::{init_lab_station, Station};

use zeroize::Zeroizing;

use crate::run::passphrase;
use crate::{usage_error, CmdResult};

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Create a lab station: a lab CA (keys encrypted with the passphrase), station.toml, journal.
    Init,
    /// Start mosquitto (TLS, client certificates, ACLs) and the provisioning responder in the
    /// background, and point the station's broker profile at them.
    Up {
        /// A deliberately misconfigured broker (anonymous allowed, plaintext listener, no
        /// client certificate, ACL too broad) to see what `commissioner audit` catches.
        #[arg(long)]
        weak: bool,
        /// Also start a lab central store (PostgreSQL from Debian's package) and point the
        /// station's `[central]` at it; it keeps its data across `lab down` and `lab up`.
        #[arg(long)]
        central: bool,
        /// A station in band (`[provisioning] mode = "in-band"`): a unit whose bootstrap
        /// identity may reach the dialect's in-band topics on this broker (repeatable). The
        /// commissioner dialect needs none: its in-band topics are the unit's own.
        #[arg(long = "unit")]
        units: Vec<String>,
    },
    /// Stop the lab broker and responder.
    Down,
    /// Publish a fresh CRL of the registry to the running lab broker and make it reload
    /// (SIGHUP); run it after `ca revoke`.
    Reload,
    /// Benchmark: handshake wall time against mosquitto_rr / mosquitto_pub with the same
    /// certificates on the same lab broker, p50 over `--runs` (build with --release).
    Bench {
        #[arg(long, default_value_t = 50)]
        runs: usize,
    },
    /// Run the provisioning responder in the foreground (used by `lab up`).
    #[command(hide = true)]
    Responder,
}

pub fn run(dir: &Path, cmd: LabCommand) -> CmdResult {
    match cmd {
        LabCommand::Init => {
            let station = init_lab_station(dir, &passphrase()?)?;
            println!(
                "lab station {} created in {}",
                station.config.station_id,
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Up {
            weak,
            central,
            units,
        } => {
            // `lab up` rewrites the station's broker profile.
            crate::operator::require_if_station(dir, Action::EditProfile)?;
            up(dir, weak, &units)?;
            if central {
                let mut station = Station::open(dir)?;
                let files = LabFiles::new(&station);
                crate::lab_central::up(&mut station, &files)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Down => {
            crate::operator::require_if_station(dir, Action::RunLab)?;
            down(dir)
        }
        LabCommand::Reload => {
            crate::operator::require_if_station(dir, Action::AdministerCa)?;
            reload(dir)
        }
        LabCommand::Bench { runs } => crate::handshake_bench::run(runs),
        LabCommand::Responder => responder(dir),
    }
}

pub(crate) fn alive(pid_file: &Path) -> Option<u32> {
    let pid: u32 = fs::read_to_string(pid_file).ok()?.trim().parse().ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

fn io_err(path: &Path, e: std::io::Error) -> ErrorInfo {
    usage_error("lab.io", format!("{}: {e}", path.display()))
}

fn up(dir: &Path, weak: bool, units: &[String]) -> CmdResult {
    let mut station = Station::open(dir)?;
    let files = LabFiles::new(&station);
    if alive(&files.broker_pid).is_some() {
        let port = station.broker().map(|b| b.port).unwrap_or_default();
        println!("the lab broker is already running on 127.0.0.1:{port}");
        return Ok(ExitCode::SUCCESS);
    }
    let secret = Zeroizing::new(passphrase()?);
    let ca = station.unlock_ca(&secret)?;
    let port = lab::free_port()?;
    let kind = if weak {
        LabKind::Weak
    } else {
        LabKind::Default
    };
    let files = lab::prepare_kind(&mut station, &ca, port, kind)?;
    drop(ca);
    let profile = station.config.provisioning.clone();
    let in_band = profile.in_band() && !weak;
    if in_band {
        let cns: Vec<String> = units
            .iter()
            .map(|u| profile.bootstrap_common_name(u))
            .collect();
        let extra = lab::inband::in_band_acl(profile.dialect()?, &profile.template, &cns);
        let acl = fs::read_to_string(&files.acl).map_err(|e| io_err(&files.acl, e))?;
        commissioner_core::secure_fs::write(&files.acl, format!("{acl}{extra}").as_bytes())
            .map_err(|e| io_err(&files.acl, e))?;
    }
    let broker = lab::start_broker(&files, port)?;
    commissioner_core::secure_fs::write(&files.broker_pid, broker.id().to_string().as_bytes())
        .map_err(|e| io_err(&files.broker_pid, e))?;

    let log_path = files.dir.join("responder.log");
    let log = fs::File::create(&log_path).map_err(|e| io_err(&log_path, e))?;
    let exe = std::env::current_exe().map_err(|e| usage_error("lab.io", e.to_string()))?;
    let mut responder = Command::new(exe)
        // A clean environment: the passphrase never sits in the responder's environment. An
        // in-band station's responder issues, so it gets the passphrase once on its stdin.
        .env_clear()
        .envs(std::env::var_os("COMMISSIONER_LOG").map(|v| ("COMMISSIONER_LOG", v)))
        .arg("--station")
        .arg(dir)
        .args(["lab", "responder"])
        .stdin(if in_band {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(log.try_clone().map_err(|e| io_err(&log_path, e))?)
        .stderr(log)
        .spawn()
        .map_err(|e| usage_error("lab.io", format!("cannot start the responder: {e}")))?;
    if let Some(mut stdin) = responder.stdin.take() {
        use std::io::Write;
        // Dropped at the end of this block: the responder reads to end of input.
        stdin
            .write_all(secret.as_bytes())
            .map_err(|e| usage_error("lab.io", format!("cannot hand the responder the CA: {e}")))?;
    }
    drop(secret);
    commissioner_core::secure_fs::write(
        &files.responder_pid,
        responder.id().to_string().as_bytes(),
    )
    .map_err(|e| io_err(&files.responder_pid, e))?;

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut text = String::new();
        if let Ok(mut f) = fs::File::open(&log_path) {
            let _ = f.read_to_string(&mut text);
        }
        if text.contains("responder ready") {
            break;
        }
        if responder.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
            let _ = down(dir);
            return Err(usage_error(
                "lab.responder_failed",
                format!("the provisioning responder did not start: {}", text.trim()),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if weak {
        let plain = station.broker()?.audit.plaintext_ports.clone();
        println!(
            "WEAK lab broker: mosquitto on 127.0.0.1:{port} (TLS, no client certificate, anonymous \
             allowed, ACL provisioning/#) and plaintext on {plain:?}; for audit demos only"
        );
    } else {
        println!("lab broker: mosquitto on 127.0.0.1:{port} (mutual TLS, ACL provisioning/%u/request and /response)");
    }
    if in_band {
        let dialect = profile.dialect()?;
        println!(
            "in-band:    {dialect} served on the station's CA; bootstrap identities: {}",
            match (dialect, units.is_empty()) {
                (Dialect::Commissioner, _) => "every unit's, on its own topics".to_owned(),
                (_, true) => "none (name the line's units with --unit)".to_owned(),
                (_, false) => units.join(", "),
            }
        );
    }
    println!("config:     {}", files.config.display());
    println!(
        "stop with:  commissioner --station {} lab down",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn reload(dir: &Path) -> CmdResult {
    let station = Station::open(dir)?;
    let files = LabFiles::new(&station);
    let pid = alive(&files.broker_pid).ok_or(LabError::NotRunning)?;
    let ca = station.unlock_ca(&passphrase()?)?;
    let crl = lab::write_lab_crl(&station, &ca, &files)?;
    lab::signal_reload(pid)?;
    println!(
        "lab broker reloaded with CRL #{} ({} revoked certificate(s))",
        crl.number, crl.revoked
    );
    Ok(ExitCode::SUCCESS)
}

fn down(dir: &Path) -> CmdResult {
    let station = Station::open(dir)?;
    let files = LabFiles::new(&station);
    let mut stopped = 0;
    for pid_file in [&files.responder_pid, &files.broker_pid] {
        if let Some(pid) = alive(pid_file) {
            let status = Command::new("kill").arg(pid.to_string()).status();
            if matches!(status, Ok(s) if s.success()) {
                stopped += 1;
            }
        }
        let _ = fs::remove_file(pid_file);
    }
    if crate::lab_central::down(&files) {
        stopped += 1;
        println!("lab central store stopped (its data stays)");
    }
    if stopped == 0 {
        println!("no lab broker was running for {}", dir.display());
    } else {
        println!("lab broker stopped");
    }
    Ok(ExitCode::SUCCESS)
}

fn responder(dir: &Path) -> CmdResult {
    commissioner_core::mqtt::tls::install_crypto_provider();
    let station = Station::open(dir)?;
    let files = LabFiles::new(&station);
    let port = station.broker()?.port;
    let root = read_cert_der(&station.ca_dir().join("root.pem"))?;
    let config = lab::station_responder_config(&station, port);
    let mut responders = Vec::new();
    if station.config.provisioning.in_band() {
        // `lab up` handed over the passphrase on stdin, then closed it.
        let mut secret = Zeroizing::new(String::new());
        std::io::stdin()
            .read_to_string(&mut secret)
            .map_err(|e| usage_error("lab.io", format!("cannot read the CA passphrase: {e}")))?;
        let ca = station.unlock_ca(&secret)?;
        let backend = lab::inband::in_band_backend(&station, ca, port)?;
        let tls = lab::backend_tls(&files, &root)?;
        if station.config.provisioning.dialect()? == Dialect::Commissioner {
            responders.push(
                Responder::start_dialect(config.clone(), tls, backend).map_err(LabError::from)?,
            );
        } else {
            let mut vendor = lab::responder_config(port);
            vendor.client_id = lab::inband::FLEET_CLIENT_ID.into();
            responders
                .push(Responder::start_dialect(vendor, tls, backend).map_err(LabError::from)?);
        }
    }
    if responders.is_empty() || station.config.provisioning.dialect()? != Dialect::Commissioner {
        let tls = lab::backend_tls(&files, &root)?;
        responders.push(Responder::start(config, tls).map_err(LabError::from)?);
    }
    println!("responder ready on 127.0.0.1:{port}");
    loop {
        std::thread::park();
    }
}
