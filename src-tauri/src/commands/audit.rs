//! The broker audit screen: the same audit as `commissioner audit`, as a journal session.

use commissioner_core::mqtt::audit::session::audit_station_with_lab;
use commissioner_core::mqtt::audit::CheckResult;
use commissioner_core::operator::Action;
use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use super::blocking;
use crate::error::IpcError;
use crate::state::AppState;

/// A finished audit, recorded as a journal session.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AuditRun {
    pub session_id: i64,
    /// `host:port` of the audited broker.
    pub broker: String,
    pub checks: Vec<CheckResult>,
}

/// Audits the station's broker with test identities (QA and admins). The revocation check
/// runs only against a lab broker this app started, the one broker whose CRL it can reload.
#[tauri::command]
pub async fn run_audit(state: State<'_, AppState>) -> Result<AuditRun, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let station = state.station()?;
        let operator = state.authorize(&station.journal()?, Action::Audit)?;
        let ca = state.ca(&station)?;
        state.claim_sessions(&station)?;
        let broker = station.broker()?;
        let broker = format!("{}:{}", broker.host, broker.port);
        let lab_pid = state.lab().as_ref().map(|l| l.pid());
        let audit = audit_station_with_lab(&station, &ca, &operator, lab_pid)?;
        tracing::info!(session = audit.session_id, %broker, "broker audit finished");
        Ok(AuditRun {
            session_id: audit.session_id,
            broker,
            checks: audit.results,
        })
    })
    .await
}
