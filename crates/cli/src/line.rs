//! `commissioner line`: plug-and-commission. Every unit whose port matches one of the station
//! profile's models is commissioned as soon as it appears, many at once, without a click; a
//! unit unplugged mid-session ends interrupted.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use commissioner_core::device::discovery::PortInfo;
use commissioner_core::device::watch::{family_for, PortEvent, PortWatcher};
use commissioner_core::lab::Lab;
use commissioner_core::operator::Action;
use commissioner_core::pipeline::{
    self, CommissionOptions, CommissionRequest, Report, Stop, StopSignal,
};
use commissioner_core::pki::UnlockedCa;
use commissioner_core::station::Station;
use commissioner_core::text::terminal_safe;
use commissioner_devsim::{SimConfig, SimDevice};

use crate::sim::UnitFault;
use crate::{usage_error, CmdResult, EXIT_FAIL};

#[derive(Debug, Args)]
pub struct LineArgs {
    /// Work order or batch id, recorded with every session (a barcode scanner types it).
    #[arg(long, env = "COMMISSIONER_WORK_ORDER")]
    work_order: Option<String>,
    /// Who runs the line (recorded with every session); at a station with operators, with
    /// COMMISSIONER_PIN or after `commissioner login`.
    #[arg(long, env = "COMMISSIONER_OPERATOR")]
    operator: Option<String>,
    #[arg(long, default_value_t = 115_200)]
    baud: u32,
    /// Instead of watching real ports: start a lab broker and N simulated units, commission
    /// them all at once, print the results and exit (1 if any unit did not pass).
    #[arg(long, value_name = "N")]
    sim: Option<usize>,
    /// With --sim: a fault for every unit (`drop-bytes`) or for one (`2=drop-bytes`).
    #[arg(long = "fault")]
    faults: Vec<UnitFault>,
    /// Print one JSON report per unit instead of a line.
    #[arg(long)]
    json: bool,
}

/// The sessions under way, by port, each with the flag that stops it.
type Active = Arc<Mutex<HashMap<String, Arc<StopSignal>>>>;

/// What the line needs to start a session; cloned into each session's thread.
#[derive(Clone)]
struct Line {
    station: Arc<Station>,
    ca: Arc<UnlockedCa>,
    operator: Arc<str>,
    work_order: Option<Arc<str>>,
    baud: u32,
    active: Active,
    done: Sender<Report>,
}

impl Line {
    fn on_event(&self, event: PortEvent) {
        match event {
            // Ports that are no unit of this station (a modem, a debugger) are left alone.
            PortEvent::Plugged { model: None, .. } => {}
            PortEvent::Plugged {
                port,
                model: Some(model),
            } => self.start(port, &model),
            PortEvent::Unplugged { path } => {
                // The session's next serial read may notice first; the stop makes sure nothing
                // more is attempted on a port that is gone, and either way the session ends
                // as device.unplugged.
                if let Some(flag) = lock(&self.active).get(&path) {
                    eprintln!("{path}: unplugged");
                    flag.stop(Stop::Unplugged);
                }
            }
        }
    }

    fn start(&self, port: PortInfo, model: &str) {
        let cancel = Arc::new(StopSignal::default());
        {
            let mut active = lock(&self.active);
            if active.contains_key(&port.path) {
                return;
            }
            active.insert(port.path.clone(), cancel.clone());
        }
        // The family from the USB identity the watcher saw: a hub may carry units of several
        // families, and the port may be gone from a later listing by the time a session asks.
        let family = family_for(&self.station.config.models, &port).map(str::to_owned);
        eprintln!(
            "{}: {model} plugged, commissioning{}",
            port.path,
            family
                .as_deref()
                .map(|f| format!(" ({f})"))
                .unwrap_or_default()
        );
        let line = self.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("line-{}", port.path))
            .spawn(move || {
                let req = CommissionRequest {
                    port: &port.path,
                    baud: line.baud,
                    operator: &line.operator,
                };
                let opts = CommissionOptions {
                    work_order: line.work_order.as_deref(),
                    cancel: Some(&cancel),
                    family: family.as_deref(),
                    ..CommissionOptions::default()
                };
                let report = pipeline::commission(&line.station, &line.ca, &req, opts, &mut |_| {});
                lock(&line.active).remove(&port.path);
                // The receiver is gone only when the line is shutting down.
                let _ = line.done.send(report);
            });
        if let Err(e) = spawned {
            eprintln!("cannot start a session thread: {e}");
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn print_report(report: &Report, json: bool) {
    if json {
        match serde_json::to_string(report) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("cannot print the report: {e}"),
        }
        return;
    }
    let id = terminal_safe(report.device_id.as_deref().unwrap_or("-"), false);
    match &report.error {
        None => println!(
            "PASS  {id:<24} serial {}  {} ms",
            report.certificate_serial.as_deref().unwrap_or("-"),
            report.total_millis
        ),
        Some(e) => println!(
            "{:<5} {id:<24} {}: {}",
            report.result.as_str().to_uppercase(),
            e.code,
            terminal_safe(&e.message, false)
        ),
    }
}

pub fn run(dir: &Path, args: LineArgs) -> CmdResult {
    let (mut station, ca, _claim) = match args.sim {
        Some(_) => crate::run::lab_station(dir)?,
        None => crate::run::open_station(dir)?,
    };
    // Before anything is started or saved for the line.
    let operator =
        crate::operator::resolve(&station, args.operator.as_deref(), Action::Commission)?;
    // Simulated units are pseudo-terminals with no USB identity: they get a lab broker and a
    // model of their own instead of the profile's VID:PID match.
    let lab = match args.sim {
        Some(_) => Some(Lab::up(&mut station, &ca)?),
        None => None,
    };
    // The newest sealed head goes to anchors.jsonl and the off-station target while the line
    // runs, and once more when it stops (dropped last).
    let _heads = station.publish_heads(commissioner_core::station::SEAL_ANCHOR_EVERY);
    // Session events reach the MES while the line runs; whatever is left waits in the outbox.
    let _mes = station.start_mes_sender(std::time::Duration::from_secs(1))?;
    let (tx, rx) = mpsc::channel();
    let line = Line {
        station: Arc::new(station),
        ca: Arc::new(ca),
        operator: operator.into(),
        work_order: args.work_order.as_deref().map(Into::into),
        baud: args.baud,
        active: Arc::default(),
        done: tx,
    };
    let Some(count) = args.sim else {
        let filters = line.station.config.models.clone();
        if filters.is_empty() {
            return Err(usage_error(
                "line.no_models",
                "the station profile has no [[models]] with a VID:PID filter: the line would never start a unit",
            ));
        }
        eprintln!("line: watching serial ports; plug units in, press Ctrl-C to stop");
        let watcher_line = line.clone();
        let _watcher = PortWatcher::system(Duration::from_millis(300), filters, move |e| {
            watcher_line.on_event(e)
        })
        .map_err(|e| usage_error("ports.watch_failed", e.to_string()))?;
        for report in rx {
            print_report(&report, args.json);
        }
        return Ok(ExitCode::SUCCESS);
    };

    let sims = (1..=count)
        .map(|n| {
            let faults = args
                .faults
                .iter()
                .filter(|f| f.unit.is_none_or(|u| u == n))
                .map(|f| f.fault)
                .collect();
            SimDevice::spawn(SimConfig {
                faults,
                ..SimConfig::default()
            })
            .map_err(|e| usage_error("sim.start_failed", e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for sim in &sims {
        line.on_event(PortEvent::Plugged {
            port: PortInfo::bare(sim.path(), "pty"),
            model: Some("simulated unit".into()),
        });
    }
    drop(line);
    let mut passed = 0;
    let mut total = 0;
    for report in rx.iter().take(count) {
        total += 1;
        passed += usize::from(report.passed());
        print_report(&report, args.json);
    }
    drop(lab);
    eprintln!("line: {passed} of {total} units passed");
    Ok(if passed == count {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAIL)
    })
}

#[cfg(test)]
mod tests {
    use commissioner_core::journal::SessionResult;
    use commissioner_core::station::init_lab_station;

    use super::*;

    #[test]
    fn an_unplug_event_stops_the_session_on_that_port_as_interrupted() {
        let dir = tempfile::tempdir().expect("tmp");
        let station =
            init_lab_station(&dir.path().join("station"), "line-test-pass").expect("station");
        let ca = station.unlock_ca("line-test-pass").expect("ca");
        let sim = SimDevice::spawn(SimConfig::default()).expect("sim");
        let (tx, rx) = mpsc::channel();
        let line = Line {
            station: Arc::new(station),
            ca: Arc::new(ca),
            operator: "line".into(),
            work_order: Some("WO-1".into()),
            baud: 115_200,
            active: Arc::default(),
            done: tx,
        };
        // A port of no known model is left alone.
        line.on_event(PortEvent::Plugged {
            port: PortInfo::bare("/dev/ttyS0", "pci"),
            model: None,
        });
        assert!(lock(&line.active).is_empty());
        // The unit goes away right after it appeared: the session stops at its next step
        // boundary (or on the serial error, whichever comes first). Without a broker it could
        // not pass anyway, so nothing but the unplug can make it end interrupted.
        line.on_event(PortEvent::Plugged {
            port: PortInfo::bare(sim.path(), "pty"),
            model: Some("sim".into()),
        });
        line.on_event(PortEvent::Unplugged {
            path: sim.path().into(),
        });
        let report = rx.recv().expect("report");
        assert_eq!(
            report.result,
            SessionResult::Interrupted,
            "{}",
            report.render()
        );
        let code = report.error.as_ref().map(|e| e.code.as_str());
        assert_eq!(code, Some("device.unplugged"), "{}", report.render());
        assert!(lock(&line.active).is_empty(), "the port is free again");
    }

    /// One hub, two families: each port's USB identity names its family in `[[models]]`.
    #[test]
    fn a_hub_with_units_of_two_families_commissions_each_in_its_own() {
        use commissioner_core::device::watch::{ModelFilter, UsbId};
        use commissioner_devsim::nrf91::{Nrf91Sim, Nrf91SimConfig};

        let dir = tempfile::tempdir().expect("tmp");
        let mut station =
            init_lab_station(&dir.path().join("station"), "line-test-pass").expect("station");
        let ca = station.unlock_ca("line-test-pass").expect("ca");
        let _lab = Lab::up(&mut station, &ca).expect("lab broker");
        let (reference_usb, nordic_usb) = ((0x0483, 0x5740), (0x1915, 0x910a));
        for ((vid, pid), model, family) in [
            (reference_usb, "CM-SENSOR-1", None),
            (nordic_usb, "nRF9160 DK", Some("nrf91-at".to_owned())),
        ] {
            station.config.models.push(ModelFilter {
                usb: UsbId {
                    vid,
                    pid: Some(pid),
                },
                model: model.into(),
                family,
            });
        }
        let reference = SimDevice::spawn(SimConfig::default()).expect("sim");
        let nrf91 = Nrf91Sim::spawn(Nrf91SimConfig::default()).expect("nrf91 emulator");
        let (tx, rx) = mpsc::channel();
        let line = Line {
            station: Arc::new(station),
            ca: Arc::new(ca),
            operator: "line".into(),
            work_order: None,
            baud: 115_200,
            active: Arc::default(),
            done: tx,
        };
        for (path, (vid, pid), model) in [
            (reference.path(), reference_usb, "CM-SENSOR-1"),
            (nrf91.path(), nordic_usb, "nRF9160 DK"),
        ] {
            let port = PortInfo {
                vid: Some(vid),
                pid: Some(pid),
                ..PortInfo::bare(path, "usb")
            };
            line.on_event(PortEvent::Plugged {
                port,
                model: Some(model.into()),
            });
        }
        let mut reports: Vec<Report> = (0..2).map(|_| rx.recv().expect("report")).collect();
        reports.sort_by(|a, b| a.family.cmp(&b.family));
        let families: Vec<&str> = reports.iter().map(|r| r.family.as_str()).collect();
        assert_eq!(families, ["nrf91-at", "reference"]);
        for r in &reports {
            assert!(r.passed(), "{}", r.render());
        }
        assert_eq!(reports[0].device_id.as_deref(), Some(nrf91.uuid()));
        assert_eq!(reports[1].device_id.as_deref(), Some(reference.device_id()));
    }
}
