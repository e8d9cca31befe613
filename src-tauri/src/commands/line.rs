//! The line: ports and simulated units, commissioning and recommissioning with progress,
//! cancellation.

use commissioner_core::device::discovery::{self, PortInfo};
use commissioner_core::device::watch::{family_for, model_for};
use commissioner_core::operator::Action;
use commissioner_core::pipeline::{self, CommissionRequest, ProgressEvent, Report, Stop};
use commissioner_devsim::{AnySim, Fault, SimConfig, SimKind};
use serde::{Deserialize, Serialize};
use tauri::ipc::Channel;
use tauri::State;
use ts_rs::TS;

use super::blocking;
use crate::error::IpcError;
use crate::state::AppState;

/// Baud rate for real ports (the reference protocol's default; a pseudo-terminal ignores it).
pub const DEFAULT_BAUD: u32 = 115_200;
/// `kind` of a simulated unit's port.
pub const SIMULATED: &str = "simulated";

/// Options of one run.
#[derive(Debug, Clone, Default, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "CommissionOptions")]
pub struct RunOptions {
    /// Re-key a unit that is already commissioned (field engineers).
    pub recommission: bool,
    /// Work order or batch id (barcode), recorded with the session.
    pub work_order: Option<String>,
}

/// A port the line can commission, with what the station profile says about it.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    #[serde(flatten)]
    #[ts(flatten)]
    pub port: PortInfo,
    /// The model `[[models]]` gives its USB VID:PID.
    pub model: Option<String>,
    /// Line mode may start it without a click: a simulated unit, or a port whose VID:PID
    /// names a model of the profile. Without `[[models]]` hardware ports wait for a click (as
    /// `commissioner line` refuses to start): a console cable or a modem is never written to
    /// unasked.
    pub auto_eligible: bool,
    /// The device family the station speaks to it, where known before the unit answers: the
    /// emulator's for a simulated unit, the profile's `[[models]]` entry for a USB port.
    pub family: Option<String>,
}

/// Serial ports of this machine, then the simulated units this app started.
#[tauri::command]
pub async fn list_targets(state: State<'_, AppState>) -> Result<Vec<Target>, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let filters = state.station().map(|s| s.config.models).unwrap_or_default();
        let mut targets: Vec<Target> = discovery::list_ports()?
            .into_iter()
            .map(|port| {
                let model = model_for(&filters, &port).map(str::to_owned);
                let family = family_for(&filters, &port).map(str::to_owned);
                Target {
                    port,
                    auto_eligible: model.is_some(),
                    model,
                    family,
                }
            })
            .collect();
        targets.extend(state.sims().values().map(|sim| Target {
            port: sim_port(sim),
            model: None,
            auto_eligible: true,
            family: Some(sim.kind().family().to_owned()),
        }));
        Ok(targets)
    })
    .await
}

fn sim_port(sim: &AnySim) -> PortInfo {
    let product = match sim.kind() {
        SimKind::Reference => "Simulated unit".to_owned(),
        kind => format!("Simulated unit ({kind})"),
    };
    PortInfo {
        serial_number: Some(sim.label().to_owned()),
        product: Some(product),
        ..PortInfo::bare(sim.path(), SIMULATED)
    }
}

/// Names of the faults a simulated unit can have.
#[tauri::command]
pub fn sim_faults() -> Vec<&'static str> {
    Fault::ALL.iter().map(|f| f.name()).collect()
}

/// Kinds of simulated unit: the reference unit, an nRF91 modem, a stock Zephyr unit and one
/// with Commissioner's SMP group.
#[tauri::command]
pub fn sim_kinds() -> Vec<&'static str> {
    SimKind::ALL.iter().map(|k| k.name()).collect()
}

/// Starts a simulated unit on a pseudo-terminal. Its flash lives as long as the unit, so it
/// can be commissioned, then recommissioned.
#[tauri::command]
pub async fn start_simulated_unit(
    state: State<'_, AppState>,
    fault: Option<String>,
    kind: Option<String>,
) -> Result<PortInfo, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        // A simulated unit gets a real certificate from the station's CA: lab stations only,
        // and only for someone who may commission.
        let station = state.station()?;
        if !station.config.lab {
            return Err(IpcError::invalid(
                "lab.not_a_lab_station",
                "simulated units run only on a lab station",
            ));
        }
        state.authorize(&station.journal()?, Action::Commission)?;
        let faults = match fault.as_deref().filter(|f| !f.is_empty() && *f != "none") {
            Some(name) => vec![name.parse::<Fault>().map_err(|_| {
                IpcError::invalid("sim.unknown_fault", format!("no simulator fault {name:?}"))
            })?],
            None => Vec::new(),
        };
        let kind = match kind.as_deref().filter(|k| !k.is_empty()) {
            Some(name) => name
                .parse::<SimKind>()
                .map_err(|e| IpcError::invalid("sim.unknown_kind", e.to_string()))?,
            None => SimKind::Reference,
        };
        if kind != SimKind::Reference && !faults.is_empty() {
            return Err(IpcError::invalid(
                "sim.unknown_fault",
                format!("faults are simulated on reference units only, not on {kind}"),
            ));
        }
        let cfg = SimConfig {
            faults,
            ..SimConfig::default()
        };
        let sim = AnySim::spawn(kind, cfg).map_err(IpcError::sim)?;
        let port = sim_port(&sim);
        tracing::info!(port = %port.path, device = sim.label(), %kind, fault = ?fault, "simulated unit started");
        state.sims().insert(port.path.clone(), sim);
        Ok(port)
    })
    .await
}

#[tauri::command]
pub async fn stop_simulated_unit(state: State<'_, AppState>, path: String) -> Result<(), IpcError> {
    let state = state.inner().clone_handle();
    // Dropping the unit joins its thread and closes the pseudo-terminal: not on the UI thread.
    blocking(move || {
        let sim = state.sims().remove(&path);
        drop(sim);
        Ok(())
    })
    .await
}

/// Commissions (or recommissions) the unit on `target`, streaming each step on
/// `on_progress`. Every attempt, whatever its end, is a journal session.
#[tauri::command]
pub async fn commission(
    state: State<'_, AppState>,
    target: String,
    options: Option<RunOptions>,
    on_progress: Channel<ProgressEvent>,
) -> Result<Report, IpcError> {
    let state = state.inner().clone_handle();
    let options = options.unwrap_or_default();
    blocking(move || {
        let station = state.station()?;
        let action = match options.recommission {
            true => Action::Recommission,
            false => Action::Commission,
        };
        let operator = state.authorize(&station.journal()?, action)?;
        let ca = state.ca(&station)?;
        // Only a port the station listed (a serial port, or a simulated unit of this app):
        // not a path a hand-made IPC call chose.
        // A simulated unit's family is the emulator's (a pseudo-terminal has no USB identity).
        let sim_family = state.sims().get(&target).map(|s| s.kind().family());
        let known =
            sim_family.is_some() || discovery::list_ports()?.iter().any(|p| p.path == target);
        if !known {
            return Err(IpcError::invalid(
                "line.unknown_port",
                format!("{target} is not a serial port of this station"),
            ));
        }
        state.claim_sessions(&station)?;
        let run = state.begin_run(&target).ok_or_else(|| IpcError::busy(&target))?;
        let req = CommissionRequest {
            port: &target,
            baud: DEFAULT_BAUD,
            operator: &operator,
        };
        let opts = pipeline::CommissionOptions {
            recommission: options.recommission,
            work_order: options.work_order.as_deref().filter(|w| !w.is_empty()),
            cancel: Some(&run.cancel),
            family: sim_family,
            ..Default::default()
        };
        tracing::info!(port = %target, recommission = options.recommission, "commissioning");
        let report = pipeline::commission(&station, &ca, &req, opts, &mut |e| {
            if let Err(err) = on_progress.send(e) {
                tracing::warn!(error = %err, "progress event not delivered");
            }
        });
        drop(run);
        tracing::info!(session = report.session_id, result = ?report.result, port = %target, "commissioned");
        Ok(report)
    })
    .await
}

/// Asks the run on `target` to stop; it ends as interrupted and is journaled.
#[tauri::command]
pub fn cancel_commission(state: State<'_, AppState>, target: String) -> bool {
    // A walk-up user cannot stop a technician's units.
    let allowed = state
        .station()
        .and_then(|s| Ok(s.journal()?))
        .and_then(|j| state.authorize(&j, Action::Commission));
    if let Err(e) = allowed {
        tracing::warn!(port = %target, error = %e, "cancel refused");
        return false;
    }
    match state.cancel_flag(&target) {
        Some(flag) => {
            flag.stop(Stop::Cancelled);
            tracing::info!(port = %target, "cancel requested");
            true
        }
        None => false,
    }
}
