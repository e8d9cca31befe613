//! The commands the web UI invokes: each a few lines over `commissioner_core`.

use commissioner_core::device::discovery::{self, PortInfo};
use commissioner_core::pipeline::{self, CommissionRequest, ProgressEvent, Report};
use commissioner_core::station::Station;
use commissioner_devsim::{SimConfig, SimDevice};
use tauri::ipc::Channel;
use tauri::State;

use crate::error::IpcError;
use crate::state::AppState;

/// Path of the synthetic target that commissions a freshly spawned simulated unit.
pub const SIM_TARGET: &str = "sim";
/// Baud rate for real ports (the reference protocol's default; a pseudo-terminal ignores it).
pub const DEFAULT_BAUD: u32 = 115_200;

/// Serial ports of this machine, then the simulated unit.
#[tauri::command]
pub fn list_targets() -> Result<Vec<PortInfo>, IpcError> {
    let mut ports = discovery::list_ports()?;
    ports.push(PortInfo::bare(SIM_TARGET, "simulated"));
    Ok(ports)
}

/// Commissions the unit on `target` (a port path, or [`SIM_TARGET`]), streaming each step's
/// progress on `on_progress`. The pipeline runs on a blocking thread, never on the UI thread.
#[tauri::command]
pub async fn commission(
    state: State<'_, AppState>,
    target: String,
    on_progress: Channel<ProgressEvent>,
) -> Result<Report, IpcError> {
    let station = Station::open(&state.station_dir)?;
    let passphrase = state.passphrase.clone().ok_or_else(IpcError::ca_locked)?;
    let operator = state.operator.clone();
    tauri::async_runtime::spawn_blocking(move || {
        let ca = station.unlock_ca(&passphrase)?;
        let sim = match target.as_str() {
            SIM_TARGET => Some(SimDevice::spawn(SimConfig::default())?),
            _ => None,
        };
        let req = CommissionRequest {
            port: sim.as_ref().map_or(target.as_str(), SimDevice::path),
            baud: DEFAULT_BAUD,
            operator: &operator,
        };
        tracing::info!(target = %target, port = req.port, "commissioning");
        let report = pipeline::commission(&station, &ca, &req, &mut |event| {
            if let Err(e) = on_progress.send(event) {
                tracing::warn!(error = %e, "progress event not delivered");
            }
        });
        tracing::info!(session = report.session_id, result = ?report.result, "commissioned");
        Ok(report)
    })
    .await
    .map_err(IpcError::task_failed)?
}
