//! QA's journal: filtered pages, one session in full, signed exports, chain and export checks.

use std::time::Instant;

use commissioner_core::journal::chain;
use commissioner_core::journal::export::{
    manifest_path, verify_export as check_export, ExportFormat,
};
use commissioner_core::journal::query::SessionFilter;
use commissioner_core::journal::{CertificateRow, SessionRow, StepRow};
use commissioner_core::operator::Action;
use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use super::blocking;
use crate::error::IpcError;
use crate::state::AppState;

/// Largest page the UI may ask for: a page is all it ever holds.
const MAX_PAGE: u32 = 500;

/// One page of sessions, newest first.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SessionPage {
    pub rows: Vec<SessionRow>,
    /// Sessions matching the filter in all.
    pub total: u64,
    pub offset: u64,
}

/// A journaled audit check, as stored.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StoredCheck {
    pub name: String,
    #[ts(type = "Outcome")]
    pub outcome: String,
    pub evidence: String,
}

/// Everything QA sees about one session.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SessionDetails {
    pub session: SessionRow,
    pub steps: Vec<StepRow>,
    pub certificates: Vec<CertificateRow>,
    pub device_log: Vec<String>,
    pub audit_checks: Vec<StoredCheck>,
}

/// A written export and its signed manifest.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ExportOutcome {
    pub path: String,
    pub manifest_path: String,
    pub rows: u64,
    pub chain_head: String,
}

/// `journal verify` as the UI shows it.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct VerifySummary {
    pub ok: bool,
    pub entries: i64,
    pub sealed_sessions: i64,
    pub running_sessions: i64,
    pub head: String,
    /// The first broken link, with its code; `None` when the chain holds.
    pub first_problem: Option<String>,
    pub problem_code: Option<String>,
    pub millis: u64,
}

/// `journal verify-export` as the UI shows it.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ExportCheck {
    pub path: String,
    pub ok: bool,
    pub rows: u64,
    pub station_id: Option<String>,
    pub chain_head: Option<String>,
    /// Why the export does not verify.
    pub problem: Option<crate::error::IpcError>,
}

/// One page of sessions matching `filter`: this station's journal, or with `central` every
/// station's sessions from the central store (each row names its station).
#[tauri::command]
pub async fn query_sessions(
    state: State<'_, AppState>,
    filter: SessionFilter,
    limit: u32,
    offset: u64,
    central: Option<bool>,
) -> Result<SessionPage, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let station = state.station()?;
        let journal = station.journal()?;
        state.authorize(&journal, Action::ReadJournal)?;
        let limit = limit.clamp(1, MAX_PAGE);
        let (rows, total) = if central.unwrap_or(false) {
            use commissioner_core::central;
            let mut c = central::connect(station.central_profile()?, &station.dir)?;
            (
                central::query::sessions(&mut c, &filter, limit, offset)?,
                central::query::count_sessions(&mut c, &filter)?,
            )
        } else {
            (
                journal.sessions(&filter, limit, offset)?,
                journal.count_sessions(&filter)?,
            )
        };
        Ok(SessionPage {
            rows,
            total,
            offset,
        })
    })
    .await
}

#[tauri::command]
pub async fn session_details(
    state: State<'_, AppState>,
    id: i64,
) -> Result<SessionDetails, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let journal = state.station()?.journal()?;
        let session = journal.session(id)?;
        let owner = session.as_ref().map_or("", |s| s.operator.as_str());
        state.authorize_or_own(&journal, Action::ReadJournal, owner)?;
        let session = session.ok_or_else(|| {
            IpcError::invalid(
                "journal.no_session",
                format!("no session {id} in the journal"),
            )
        })?;
        let audit_checks = journal
            .audit_checks(id)?
            .into_iter()
            .map(|(name, outcome, evidence)| StoredCheck {
                name,
                outcome,
                evidence: evidence.unwrap_or_default(),
            })
            .collect();
        Ok(SessionDetails {
            session,
            steps: journal.steps(id)?,
            certificates: journal.certificates_for_session(id)?,
            device_log: journal.device_log(id)?,
            audit_checks,
        })
    })
    .await
}

/// Asks where to save, then writes the sessions matching `filter` and the signed manifest.
/// `None` when the operator cancels the dialog.
#[tauri::command]
pub async fn export_journal(
    state: State<'_, AppState>,
    filter: SessionFilter,
    format: ExportFormat,
) -> Result<Option<ExportOutcome>, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let station = state.station()?;
        let journal = station.journal()?;
        state.authorize(&journal, Action::Export)?;
        // The export-signing key is unlocked with the CA (the start-up passphrase, if any).
        if station.export_key().is_err() {
            state.ca(&station)?;
        }
        let (ext, label) = match format {
            ExportFormat::Csv => ("csv", "CSV"),
            ExportFormat::Jsonl => ("jsonl", "JSON Lines"),
        };
        let now = state.clock.now();
        let suggested = format!(
            "journal-{}-{}.{ext}",
            station.config.station_id,
            now.unix_timestamp()
        );
        let Some(path) = state.chooser()?.save(&suggested, (label, &[ext])) else {
            return Ok(None);
        };
        let manifest = station.export_journal(&journal, &filter, format, &path, now)?;
        tracing::info!(path = %path.display(), rows = manifest.rows, "journal exported");
        Ok(Some(ExportOutcome {
            path: path.display().to_string(),
            manifest_path: manifest_path(&path).display().to_string(),
            rows: manifest.rows,
            chain_head: manifest.chain_head.hash,
        }))
    })
    .await
}

#[tauri::command]
pub async fn verify_journal(state: State<'_, AppState>) -> Result<VerifySummary, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let journal = state.station()?.journal()?;
        state.authorize(&journal, Action::ReadJournal)?;
        let started = Instant::now();
        let report = chain::verify(journal.connection())?;
        let millis = started.elapsed().as_millis() as u64;
        tracing::info!(
            ok = report.ok(),
            entries = report.entries,
            millis,
            "journal verified"
        );
        Ok(VerifySummary {
            ok: report.ok(),
            entries: report.entries,
            sealed_sessions: report.sealed_sessions,
            running_sessions: report.running_sessions,
            head: report.head.hash.clone(),
            first_problem: report.problem.as_ref().map(|p| p.message.clone()),
            problem_code: report.problem.as_ref().map(|p| p.code.to_owned()),
            millis,
        })
    })
    .await
}

/// Asks for an export file, then checks it against its manifest and this station's key.
#[tauri::command]
pub async fn verify_export(state: State<'_, AppState>) -> Result<Option<ExportCheck>, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let station = state.station()?;
        state.authorize(&station.journal()?, Action::ReadJournal)?;
        let Some(path) = state.chooser()?.open(("Journal export", &["csv", "jsonl"])) else {
            return Ok(None);
        };
        // The station's pinned key, never a key made on the spot.
        let trusted = station.trusted_export_keys()?;
        let shown = path.display().to_string();
        Ok(Some(match check_export(&path, Some(&trusted)) {
            Ok(m) => ExportCheck {
                path: shown,
                ok: true,
                rows: m.rows,
                station_id: Some(m.station_id),
                chain_head: Some(m.chain_head.hash),
                problem: None,
            },
            Err(e) => ExportCheck {
                path: shown,
                ok: false,
                rows: 0,
                station_id: None,
                chain_head: None,
                problem: Some(e.into()),
            },
        }))
    })
    .await
}
