//! `commissioner sim`: simulated units on pseudo-terminals, each with its own faults.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use commissioner_core::error::ErrorInfo;
use commissioner_devsim::nrf91::{Nrf91Sim, Nrf91SimConfig};
use commissioner_devsim::zephyr::{ZephyrFault, ZephyrSim, ZephyrSimConfig};
use commissioner_devsim::{Delays, Fault, SimConfig, SimDevice, UnknownFault};

use crate::{usage_error, CmdResult};

/// A fault for every unit (`drop-bytes`) or for one unit, counted from 1 (`2=drop-bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitFault {
    pub unit: Option<usize>,
    pub fault: Fault,
}

/// Why a `--fault` argument does not parse.
#[derive(Debug, thiserror::Error)]
pub enum UnitFaultError {
    #[error("'{0}' is not a unit number (units count from 1)")]
    Unit(String),
    #[error(transparent)]
    Fault(#[from] UnknownFault),
}

impl std::str::FromStr for UnitFault {
    type Err = UnitFaultError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((unit, fault)) => {
                let n: usize = unit
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| UnitFaultError::Unit(unit.into()))?;
                Ok(Self {
                    unit: Some(n),
                    fault: fault.parse()?,
                })
            }
            None => Ok(Self {
                unit: None,
                fault: s.parse()?,
            }),
        }
    }
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Id of the unit (with --count, units get `<id>-1`, `<id>-2`, …); random by default.
    #[arg(long)]
    device_id: Option<String>,
    /// How many units to simulate, each on its own pseudo-terminal.
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// Inject a fault into every unit (`drop-bytes`) or into one (`2=drop-bytes`); repeatable.
    /// Known: boot-noise, drop-bytes, corrupt-bytes, late-reply, no-reply, reboot-mid-write,
    /// unplug-mid-session, wrong-cn, bad-csr-signature, wrong-pop-key, write-not-persisted,
    /// clock-1970, locked, no-keygen.
    #[arg(long = "fault")]
    faults: Vec<UnitFault>,
    /// Keep each unit's key store in this directory (`unit-<n>.json`), so that units keep
    /// their identity, key and lifecycle across runs.
    #[arg(long)]
    store: Option<PathBuf>,
    /// Pace the units' output like a UART at this baud rate.
    #[arg(long)]
    baud: Option<u32>,
    /// Longest frame line the units accept, in bytes.
    #[arg(long, default_value_t = 512)]
    max_frame: usize,
    /// Extra time each keygen takes, in milliseconds.
    #[arg(long, default_value_t = 0)]
    keygen_delay_ms: u64,
    /// Extra time each certificate chunk write takes, in milliseconds.
    #[arg(long, default_value_t = 0)]
    write_delay_ms: u64,
    /// How late replies are under the late-reply fault, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    late_reply_ms: u64,
    /// Also make the port reachable at this path (a symlink; with --count, `<path>-<n>`).
    #[arg(long)]
    link: Option<PathBuf>,
    /// The device family to emulate: `reference` (docs/device-protocol.md), `nrf91-at`
    /// (a Nordic nRF91 modem speaking AT commands) or `zephyr-smp` (a Zephyr unit speaking
    /// MCUmgr SMP on its console).
    #[arg(long, default_value = "reference")]
    family: String,
    /// nrf91-at only: behind Zephyr's shell (`at AT+…`) instead of a raw AT UART.
    #[arg(long)]
    shell: bool,
    /// nrf91-at only, repeatable: modem-active (CFUN=1 at power-on), old-firmware,
    /// null-parameter (older CSR encoding), bad-cose-digest, store-full, corrupt-write,
    /// reboot-mid-write (the first certificate write restarts the modem), chatter (colour log
    /// lines between replies), garbage (line noise before every reply).
    #[arg(long = "modem-fault")]
    modem_faults: Vec<String>,
    /// zephyr-smp only: firmware with Commissioner's SMP group (key made on the unit,
    /// challenge, TLS signing, lock); stock Zephyr (OS and file-system groups) otherwise.
    #[arg(long)]
    commissioner_group: bool,
    /// zephyr-smp only: the unit's SMP buffer (CONFIG_MCUMGR_TRANSPORT_NETBUF_SIZE).
    #[arg(long, default_value_t = 384)]
    smp_buf_size: usize,
    /// zephyr-smp only, repeatable: bad-crc, split-frames, mtu-overflow, fs-full, bad-hash,
    /// chatter.
    #[arg(long = "smp-fault")]
    smp_faults: Vec<ZephyrFault>,
}

impl SimArgs {
    /// The configuration of unit `n` (counted from 1).
    pub fn config(&self, n: usize) -> SimConfig {
        let base = SimConfig::default();
        let device_id = match (&self.device_id, self.count) {
            (Some(id), 1) => id.clone(),
            (Some(id), _) => format!("{id}-{n}"),
            (None, _) => base.device_id.clone(),
        };
        SimConfig {
            device_id,
            max_frame: self.max_frame,
            faults: self
                .faults
                .iter()
                .filter(|f| f.unit.is_none_or(|u| u == n))
                .map(|f| f.fault)
                .collect(),
            store: self
                .store
                .as_ref()
                .map(|dir| dir.join(format!("unit-{n}.json"))),
            baud: self.baud,
            delays: Delays {
                keygen: Duration::from_millis(self.keygen_delay_ms),
                flash_write: Duration::from_millis(self.write_delay_ms),
                late_reply: Duration::from_millis(self.late_reply_ms),
            },
            ..base
        }
    }
}

pub fn run(args: SimArgs) -> CmdResult {
    if args.count == 0 {
        return Err(usage_error("cli.bad_count", "--count must be at least 1"));
    }
    match args.family.as_str() {
        "reference" => {}
        "nrf91-at" => return run_nrf91(&args),
        "zephyr-smp" => return run_zephyr(&args),
        other => {
            return Err(usage_error(
                "device.unknown_family",
                format!("no emulator for family '{other}'; known: reference, nrf91-at, zephyr-smp"),
            ))
        }
    }
    if let Some(n) = args
        .faults
        .iter()
        .filter_map(|f| f.unit)
        .find(|n| *n > args.count)
    {
        return Err(usage_error(
            "cli.bad_fault",
            format!(
                "--fault names unit {n}, but only {} are simulated",
                args.count
            ),
        ));
    }
    let mut units = Vec::with_capacity(args.count);
    for n in 1..=args.count {
        let cfg = args.config(n);
        let faults: Vec<String> = cfg.faults.iter().map(|f| f.to_string()).collect();
        let sim =
            SimDevice::spawn(cfg).map_err(|e| usage_error("sim.start_failed", e.to_string()))?;
        let link = link_unit(&args, n, sim.path())?;
        println!(
            "unit {n}  {}  {}{}{}",
            sim.device_id(),
            sim.path(),
            link.map(|l| format!("  (also {})", l.display()))
                .unwrap_or_default(),
            if faults.is_empty() {
                String::new()
            } else {
                format!("  faults: {}", faults.join(", "))
            }
        );
        units.push(sim);
    }
    if let Some(first) = units.first() {
        println!(
            "commission one with: commissioner commission --port {}",
            first.path()
        );
    }
    println!("press Ctrl-C to stop");
    loop {
        std::thread::park();
    }
    #[allow(unreachable_code)]
    Ok(ExitCode::SUCCESS)
}

/// The emulated modem for `--modem-fault` names.
fn nrf91_config(args: &SimArgs, n: usize) -> Result<Nrf91SimConfig, ErrorInfo> {
    let mut cfg = Nrf91SimConfig {
        shell: args.shell,
        baud: args.baud,
        store: args
            .store
            .as_ref()
            .map(|dir| dir.join(format!("nrf91-unit-{n}.json"))),
        ..Nrf91SimConfig::default()
    };
    cfg.modem.keygen_delay = Duration::from_millis(args.keygen_delay_ms);
    for f in &args.modem_faults {
        match f.as_str() {
            "modem-active" => cfg.modem.cfun = 1,
            "old-firmware" => cfg.modem.firmware = "mfw_nrf9160_1.2.3".into(),
            "null-parameter" => cfg.modem.null_parameter = true,
            "bad-cose-digest" => cfg.modem.bad_cose_digest = true,
            "store-full" => cfg.modem.capacity = 0,
            "corrupt-write" => cfg.modem.corrupt_write = true,
            "reboot-mid-write" => cfg.modem.reboot_mid_write = true,
            "chatter" => cfg.chatter = true,
            "garbage" => cfg.garbage = true,
            other => {
                return Err(usage_error(
                    "cli.bad_fault",
                    format!("'{other}' is not a modem fault; see `commissioner sim --help`"),
                ))
            }
        }
    }
    Ok(cfg)
}

/// The `--link` name of unit `n` (with `-n` when there are several), pointed at its pty.
fn link_unit(args: &SimArgs, n: usize, pty: &str) -> Result<Option<PathBuf>, ErrorInfo> {
    let Some(l) = &args.link else {
        return Ok(None);
    };
    let link = match args.count {
        1 => l.clone(),
        _ => PathBuf::from(format!("{}-{n}", l.display())),
    };
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(pty, &link)
        .map_err(|e| usage_error("sim.link_failed", format!("{}: {e}", link.display())))?;
    Ok(Some(link))
}

fn run_nrf91(args: &SimArgs) -> CmdResult {
    let mut units = Vec::with_capacity(args.count);
    for n in 1..=args.count {
        // Each call draws a new IMEI and UUID: every unit its own identity.
        let cfg = nrf91_config(args, n)?;
        let sim =
            Nrf91Sim::spawn(cfg).map_err(|e| usage_error("sim.start_failed", e.to_string()))?;
        let link = link_unit(args, n, sim.path())?;
        println!(
            "unit {n}  nrf91-at  IMEI {}  UUID {}  {}{}",
            sim.imei(),
            sim.uuid(),
            sim.path(),
            link.map(|l| format!("  (also {})", l.display()))
                .unwrap_or_default()
        );
        units.push(sim);
    }
    serve_until_stopped("nrf91-at", units.first().map(Nrf91Sim::path))
}

/// Prints how to commission the first unit and keeps the units running until Ctrl-C.
fn serve_until_stopped(family: &str, first: Option<&str>) -> CmdResult {
    if let Some(path) = first {
        println!("commission one with: commissioner commission --family {family} --port {path}");
    }
    println!("press Ctrl-C to stop");
    loop {
        std::thread::park();
    }
}

fn run_zephyr(args: &SimArgs) -> CmdResult {
    let mut units = Vec::with_capacity(args.count);
    for n in 1..=args.count {
        let base = ZephyrSimConfig::default();
        let cfg = ZephyrSimConfig {
            commissioner_group: args.commissioner_group,
            node_name: match (&args.device_id, args.count) {
                (Some(id), 1) => id.clone(),
                (Some(id), _) => format!("{id}-{n}"),
                (None, _) => base.node_name.clone(),
            },
            buf_size: args.smp_buf_size,
            faults: args.smp_faults.clone(),
            baud: args.baud,
            ..base
        };
        let sim =
            ZephyrSim::spawn(cfg).map_err(|e| usage_error("sim.start_failed", e.to_string()))?;
        let link = link_unit(args, n, sim.path())?;
        println!(
            "unit {n}  zephyr-smp ({})  {}  {}{}",
            if args.commissioner_group {
                "Commissioner group"
            } else {
                "stock"
            },
            sim.node_name(),
            sim.path(),
            link.map(|l| format!("  (also {})", l.display()))
                .unwrap_or_default()
        );
        units.push(sim);
    }
    serve_until_stopped("zephyr-smp", units.first().map(ZephyrSim::path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_per_unit() {
        let f: UnitFault = "2=drop-bytes".parse().expect("parse");
        assert_eq!(f.unit, Some(2));
        assert_eq!(f.fault, Fault::DropBytes);
        assert!("0=drop-bytes".parse::<UnitFault>().is_err());
        assert!("x=drop-bytes".parse::<UnitFault>().is_err());
        assert!("melt".parse::<UnitFault>().is_err());
        assert_eq!("locked".parse::<UnitFault>().expect("parse").unit, None);
    }
}
