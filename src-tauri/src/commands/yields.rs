//! QA's yield dashboard and batch report, and a unit's label: thin over the core.

use commissioner_core::journal::stats::{LineStrip, StatsRequest, YieldStats};
use commissioner_core::operator::Action;
use tauri::State;

use super::blocking;
use crate::error::IpcError;
use crate::state::AppState;

/// The dashboard's figures for the Journal screen's filter (QA and admin). The dashboard
/// polls it, so it does not count as activity for the idle timeout.
#[tauri::command]
pub async fn yield_stats(
    state: State<'_, AppState>,
    request: StatsRequest,
) -> Result<YieldStats, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let journal = state.station()?.journal()?;
        state.authorize_quietly(&journal, Action::Export)?;
        Ok(journal.yield_stats(&request)?)
    })
    .await
}

/// Today's tally and rate for the technician's strip on the Line screen: anyone who may
/// commission. The core fixes the day (local midnight at `utcOffsetMinutes`), so this never
/// reads further back; polled, so not activity either.
#[tauri::command]
pub async fn line_strip(
    state: State<'_, AppState>,
    utc_offset_minutes: i32,
) -> Result<LineStrip, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let journal = state.station()?.journal()?;
        state.authorize_quietly(&journal, Action::Commission)?;
        Ok(journal.line_strip(state.clock.now(), utc_offset_minutes)?)
    })
    .await
}

/// Asks where to save, then writes the work order's report (PDF + CSV) and anchors its head.
/// `None` when the dialog is cancelled.
#[tauri::command]
pub async fn batch_report(
    state: State<'_, AppState>,
    work_order: String,
) -> Result<Option<String>, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let station = state.station()?;
        let journal = station.journal()?;
        state.authorize(&journal, Action::Export)?;
        let Some(path) = state
            .chooser()?
            .save(&format!("report-{work_order}.pdf"), ("PDF", &["pdf"]))
        else {
            return Ok(None);
        };
        let done = station.publish_report(&journal, &work_order, &path, state.clock.now())?;
        Ok(Some(done.pdf.display().to_string()))
    })
    .await
}

/// Prints the label of a passed session (the technician's button); returns the PDF's path
/// when the profile writes one.
#[tauri::command]
pub async fn print_label(
    state: State<'_, AppState>,
    session_id: i64,
) -> Result<Option<String>, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let station = state.station()?;
        let journal = station.journal()?;
        state.authorize(&journal, Action::Commission)?;
        let printed = station.print_label(&journal, session_id)?;
        Ok(printed.pdf.map(|p| p.display().to_string()))
    })
    .await
}
