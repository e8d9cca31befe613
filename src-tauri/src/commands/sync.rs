//! The status bar's sync indicator: what `commissioner sync status` prints, without a server.

use commissioner_core::central::outbox::backlog;
use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use super::blocking;
use crate::error::IpcError;
use crate::state::AppState;

/// The station's delivery to the central store.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// Journal entries waiting for delivery (the outbox).
    pub pending: i64,
    /// Sealed sessions among them.
    pub pending_sessions: i64,
    /// When the central store last accepted a batch from this station (RFC 3339); never: null.
    pub last_sync: Option<String>,
}

/// The backlog and the last successful sync; `None` when the station has no `[central]`. Read
/// from the journal alone, so it answers with the server down. The status bar polls it: it
/// checks the sign-in without counting as activity, so polling never keeps an idle station
/// signed in. Any signed-in role may see it.
#[tauri::command]
pub async fn sync_status(state: State<'_, AppState>) -> Result<Option<SyncStatus>, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let station = state.station()?;
        state.expire_if_idle(&station);
        let journal = station.journal()?;
        if station.operators_enforced(&journal)? && state.signed_in().is_none() {
            return Err(IpcError::sign_in_required());
        }
        if station.config.central.is_none() {
            return Ok(None);
        }
        let b = backlog(&journal)?;
        Ok(Some(SyncStatus {
            pending: b.pending,
            pending_sessions: b.pending_sessions,
            last_sync: b.last_sync,
        }))
    })
    .await
}
