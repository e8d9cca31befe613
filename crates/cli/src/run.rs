//! Commissioning commands: demo, commission, ports, sim.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use std::time::Duration;

use commissioner_core::clock::{Clock, SystemClock};
use commissioner_core::device::discovery::PortInfo;
use commissioner_core::device::family::DEFAULT_FAMILY;
use commissioner_core::device::watch::{
    family_for, model_for, ModelFilter, PortEvent, PortWatcher,
};
use commissioner_core::error::{Coded, ErrorInfo};
use commissioner_core::journal::claim::SessionClaim;
use commissioner_core::lab::Lab;
use commissioner_core::mqtt::dialect::Dialect;
use commissioner_core::operator::Action;
use commissioner_core::pipeline::{
    self, CommissionOptions, CommissionRequest, ProgressEvent, Report, StepStatus,
};
use commissioner_core::pki::UnlockedCa;
use commissioner_core::station::provisioning::ProvisioningMode;
use commissioner_core::station::{init_lab_station, take_passphrase_from_env, Station};
use commissioner_devsim::{Fault, SimConfig, SimDevice};
use zeroize::Zeroizing;

use crate::{usage_error, CmdResult, EXIT_FAIL};

/// Passphrase of stations the demo creates when none is given: the demo station is a lab
/// station, never used for production units.
const DEMO_PASSPHRASE: &str = "commissioner-demo-lab-only";

/// The CA passphrase: from the environment, else asked for on the terminal.
pub fn passphrase() -> Result<String, ErrorInfo> {
    if let Some(p) = take_passphrase_from_env() {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password("CA passphrase: ").map_err(|e| {
            usage_error(
                "ca.no_passphrase",
                format!("cannot read the passphrase: {e}"),
            )
        });
    }
    Err(commissioner_core::pki::PkiError::NoPassphrase.info())
}

fn print_progress(e: ProgressEvent) {
    match e.status {
        StepStatus::Started => {}
        StepStatus::Passed => eprintln!("  [{}/{}] {:<18} ok", e.index + 1, e.total, e.step),
        StepStatus::Skipped => eprintln!(
            "  [{}/{}] {:<18} skipped: {}",
            e.index + 1,
            e.total,
            e.step,
            e.message
        ),
        StepStatus::Failed => eprintln!(
            "  [{}/{}] {:<18} FAILED: {}",
            e.index + 1,
            e.total,
            e.step,
            e.message
        ),
    }
}

fn finish(report: &Report, json: bool) -> CmdResult {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report)
                .map_err(|e| usage_error("cli.output", e.to_string()))?
        );
    } else {
        print!("{}", report.render());
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAIL)
    })
}

pub fn open_station(dir: &Path) -> Result<(Station, UnlockedCa, SessionClaim), ErrorInfo> {
    let station = Station::open(dir)?;
    let ca = station.unlock_ca(&passphrase()?)?;
    let claim = claim_sessions(&station)?;
    Ok((station, ca, claim))
}

/// Takes this process's claim on the sessions it runs (hold it until they end), telling the
/// operator about sessions a process that is gone left running (crash, power cut, kill).
pub fn claim_sessions(station: &Station) -> Result<SessionClaim, ErrorInfo> {
    let claimed = station.claim_sessions(&station.journal()?, SystemClock.now())?;
    for f in &claimed.forged {
        eprintln!(
            "warning[{}]: session {} is marked running but this station did not begin it ({}); left unsealed: run `commissioner journal recover` and report it",
            commissioner_core::journal::Forged::CODE,
            f.session_id,
            f.reason
        );
    }
    for s in claimed.interrupted {
        eprintln!(
            "note: session {} did not finish and is now marked interrupted",
            s.session_id
        );
        for serial in s.revoked_serials {
            eprintln!("note: certificate {serial} was never confirmed on its unit: revoked (publish a CRL with `commissioner ca crl`)");
        }
    }
    Ok(claimed.claim)
}

/// How `commission` treats the unit, beyond where it is.
#[derive(Debug, Clone, Copy)]
pub struct CommissionFlags<'a> {
    pub recommission: bool,
    pub family: Option<&'a str>,
}

pub fn commission(
    dir: &Path,
    port: &str,
    baud: u32,
    operator: Option<&str>,
    json: bool,
    flags: CommissionFlags<'_>,
) -> CmdResult {
    let CommissionFlags {
        recommission,
        family,
    } = flags;
    // Who asks, and whether they may, before the CA is unlocked or the unit touched.
    let action = if recommission {
        Action::Recommission
    } else {
        Action::Commission
    };
    let operator = &crate::operator::resolve(&Station::open(dir)?, operator, action)?;
    let (station, ca, _claim) = open_station(dir)?;
    eprintln!(
        "commissioning the unit on {port} (station {})",
        station.config.station_id
    );
    let report = pipeline::commission(
        &station,
        &ca,
        &CommissionRequest {
            port,
            baud,
            operator,
        },
        CommissionOptions {
            recommission,
            family,
            ..CommissionOptions::default()
        },
        &mut print_progress,
    );
    finish(&report, json)
}

/// Opens the lab station in `dir`, creating it when there is none; refuses a production one.
pub fn lab_station(dir: &Path) -> Result<(Station, UnlockedCa, SessionClaim), ErrorInfo> {
    lab_station_keyed(dir).map(|(station, ca, claim, _)| (station, ca, claim))
}

/// [`lab_station`], keeping the passphrase for a second unlock (the in-band lab's backend).
fn lab_station_keyed(
    dir: &Path,
) -> Result<(Station, UnlockedCa, SessionClaim, Zeroizing<String>), ErrorInfo> {
    let passphrase =
        Zeroizing::new(take_passphrase_from_env().unwrap_or_else(|| DEMO_PASSPHRASE.to_owned()));
    let station = match Station::open(dir) {
        Ok(s) => s,
        Err(_) => {
            eprintln!("creating a lab station in {}", dir.display());
            init_lab_station(dir, &passphrase)?
        }
    };
    if !station.config.lab {
        return Err(usage_error(
            "demo.not_lab",
            format!(
                "{} is a production station; simulated units only run on lab stations",
                dir.display()
            ),
        ));
    }
    let ca = station.unlock_ca(&passphrase)?;
    let claim = claim_sessions(&station)?;
    Ok((station, ca, claim, passphrase))
}

/// How `demo` provisions its unit: `--mode` and `--dialect`, kept in the lab station's
/// `[provisioning]` (its template and bootstrap profile stay as they are).
#[derive(Debug, Clone, Default)]
pub struct DemoMode {
    pub mode: Option<String>,
    pub dialect: Option<String>,
}

fn apply_mode(station: &mut Station, how: &DemoMode) -> Result<(), ErrorInfo> {
    let before = station.config.provisioning.clone();
    let profile = &mut station.config.provisioning;
    profile.mode = match how.mode.as_deref() {
        None | Some("out-of-band") => ProvisioningMode::OutOfBand,
        Some("in-band") => ProvisioningMode::InBand,
        Some(other) => {
            return Err(usage_error(
                "demo.bad_mode",
                format!("unknown --mode {other:?}: use out-of-band or in-band"),
            ))
        }
    };
    if let Some(dialect) = &how.dialect {
        profile.dialect = dialect.clone();
    }
    profile.check().map_err(|e| e.info())?;
    // Written only when it changed: a hand-written station.toml stays as it was written.
    if station.config.provisioning != before {
        station.save()?;
    }
    Ok(())
}

pub fn demo(dir: &Path, fault: Option<Fault>, how: &DemoMode) -> CmdResult {
    let (mut station, ca, _claim, passphrase) = lab_station_keyed(dir)?;
    apply_mode(&mut station, how)?;
    let faults = fault.into_iter().collect();
    let sim = SimDevice::spawn(SimConfig {
        faults,
        ..SimConfig::default()
    })
    .map_err(|e| usage_error("sim.start_failed", e.to_string()))?;
    let lab = if station.config.provisioning.in_band() {
        // The lab broker admits the bootstrap identity of the unit it is about to see.
        let fleet_ca = station.unlock_ca(&passphrase)?;
        Lab::up_in_band(&mut station, &ca, fleet_ca, &[sim.device_id()])?
    } else {
        Lab::up(&mut station, &ca)?
    };
    drop(passphrase);
    eprintln!(
        "lab broker: mosquitto on 127.0.0.1:{} (mutual TLS, ACLs)",
        lab.port()
    );
    let profile = &station.config.provisioning;
    if profile.in_band() {
        let backend = match profile.dialect() {
            Ok(Dialect::AzureDps) => {
                format!("scope {}, hub {}", profile.id_scope, profile.assigned_hub)
            }
            _ => format!("template {}", profile.template),
        };
        eprintln!(
            "in-band provisioning: dialect {}, {backend}, bootstrap {} for {} h",
            profile.dialect,
            profile.bootstrap_common_name(sim.device_id()),
            profile.bootstrap_validity_hours
        );
    }
    eprintln!("simulated unit {} on {}", sim.device_id(), sim.path());
    let report = pipeline::commission(
        &station,
        &ca,
        &CommissionRequest {
            port: sim.path(),
            baud: 115_200,
            operator: "demo",
        },
        CommissionOptions::default(),
        &mut print_progress,
    );
    drop(lab);
    let code = finish(&report, false)?;
    println!("  journal      {}", station.journal_path().display());
    Ok(code)
}

/// The station profile's VID:PID filters, when there is a station; listing ports needs none.
pub fn model_filters(dir: &Path) -> Vec<ModelFilter> {
    Station::open(dir)
        .map(|s| s.config.models)
        .unwrap_or_default()
}

/// The family a port's units speak: the profile's for its VID:PID, else the default.
fn port_family<'a>(filters: &'a [ModelFilter], p: &PortInfo) -> &'a str {
    family_for(filters, p).unwrap_or(DEFAULT_FAMILY)
}

fn port_line(p: &PortInfo, model: Option<&str>, family: &str) -> String {
    let usb = match (p.vid, p.pid) {
        (Some(v), Some(pid)) => format!("{v:04x}:{pid:04x}"),
        _ => "-".into(),
    };
    format!(
        "{:<20} {:<8} {:<10} {:<16} {:<14} {:<10} {}",
        p.path,
        p.kind,
        usb,
        p.serial_number.as_deref().unwrap_or("-"),
        model.unwrap_or("-"),
        family,
        p.product.as_deref().unwrap_or_default()
    )
}

pub fn ports(dir: &Path, json: bool, watch: bool) -> CmdResult {
    let filters = model_filters(dir);
    if watch {
        return watch_ports(filters, json);
    }
    let ports = commissioner_core::device::discovery::list_ports()?;
    if json {
        // The listing's shape stays that of `PortInfo`, with the profile's model added.
        let mut listed = Vec::with_capacity(ports.len());
        for port in &ports {
            let mut value =
                serde_json::to_value(port).map_err(|e| usage_error("cli.output", e.to_string()))?;
            value["model"] = serde_json::json!(model_for(&filters, port));
            value["family"] = serde_json::json!(port_family(&filters, port));
            listed.push(value);
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&listed)
                .map_err(|e| usage_error("cli.output", e.to_string()))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if ports.is_empty() {
        println!("no serial ports found");
    }
    for p in &ports {
        println!(
            "{}",
            port_line(p, model_for(&filters, p), port_family(&filters, p))
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn watch_ports(filters: Vec<ModelFilter>, json: bool) -> CmdResult {
    eprintln!("watching serial ports; press Ctrl-C to stop");
    let _watcher = PortWatcher::system(Duration::from_millis(300), filters.clone(), move |event| {
        let line = if json {
            serde_json::to_string(&event).unwrap_or_default()
        } else {
            match &event {
                PortEvent::Plugged { port, model } => format!(
                    "plugged    {}",
                    port_line(port, model.as_deref(), port_family(&filters, port))
                ),
                PortEvent::Unplugged { path } => format!("unplugged  {path}"),
            }
        };
        println!("{line}");
    })
    .map_err(|e| usage_error("ports.watch_failed", e.to_string()))?;
    loop {
        std::thread::park();
    }
}
