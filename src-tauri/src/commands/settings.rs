//! Settings (station, CA details, operators, CRL export) and the log console.

use commissioner_core::operator::{self, Action, Operator};
use commissioner_core::pki::ca::CaPaths;
use commissioner_core::station::Station;
use serde::Serialize;
use tauri::ipc::Channel;
use tauri::State;
use ts_rs::TS;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::blocking;
use crate::dto::StationStatus;
use crate::error::IpcError;
use crate::logs::LogLine;
use crate::state::AppState;

/// The station's issuing CA as Settings shows it.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct CaDetails {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    pub fingerprint_sha256: String,
    /// `file` (encrypted PKCS#8) or `pkcs11`.
    pub key_storage: String,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    pub status: StationStatus,
    pub ca: Option<CaDetails>,
    pub operators: Vec<Operator>,
    /// The profile's `policy.allow_host_generated_key`: units without a key generator (stock
    /// Zephyr) get a key made on the station, recorded as weaker.
    pub host_keys_allowed: bool,
}

#[tauri::command]
pub async fn settings(state: State<'_, AppState>) -> Result<SettingsView, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let station = state.station()?;
        let journal = station.journal()?;
        // Every signed-in operator has Settings (to change their PIN); the CA and the
        // operators are the admin's.
        let admin = state.authorize(&journal, Action::ManageOperators).is_ok();
        if !admin && state.signed_in().is_none() {
            return Err(IpcError::sign_in_required());
        }
        Ok(SettingsView {
            status: StationStatus::read(&state)?,
            ca: if admin { ca_details(&station)? } else { None },
            operators: if admin {
                operator::list(&journal)?
            } else {
                Vec::new()
            },
            host_keys_allowed: station.config.policy.allow_host_generated_key,
        })
    })
    .await
}

/// Allows or forbids keys made on the station for units that cannot make their own (admins
/// only): the profile's `policy.allow_host_generated_key`, read again by the next session.
#[tauri::command]
pub async fn set_host_keys(state: State<'_, AppState>, allowed: bool) -> Result<bool, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let mut station = state.station()?;
        state.authorize(&station.journal()?, Action::ManageOperators)?;
        station.config.policy.allow_host_generated_key = allowed;
        station.save()?;
        tracing::info!(allowed, "host-generated keys policy changed");
        state.station_changed();
        Ok(allowed)
    })
    .await
}

fn ca_details(station: &Station) -> Result<Option<CaDetails>, IpcError> {
    let paths = CaPaths::new(&station.ca_dir());
    if !paths.issuing_cert.exists() {
        return Ok(None);
    }
    let der = commissioner_core::pki::ca::read_cert_der(&paths.issuing_cert)?;
    let (_, cert) = X509Certificate::from_der(&der).map_err(|e| {
        IpcError::new(
            "ca.unreadable",
            "the station's CA certificate cannot be read",
            Some(e.to_string()),
        )
    })?;
    Ok(Some(CaDetails {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string(),
        not_before: cert.validity().not_before.to_string(),
        not_after: cert.validity().not_after.to_string(),
        fingerprint_sha256: commissioner_core::pki::fingerprint(&der),
        key_storage: if paths.issuing_key_uri.exists() {
            "pkcs11".into()
        } else {
            "file".into()
        },
    }))
}

/// Asks where to save, then writes a CRL of every revoked certificate (admins only).
#[tauri::command]
pub async fn export_crl(state: State<'_, AppState>) -> Result<Option<String>, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let station = state.station()?;
        let journal = station.journal()?;
        state.authorize(&journal, Action::AdministerCa)?;
        let ca = state.ca(&station)?;
        let Some(path) = state
            .chooser()?
            .save("station.crl.pem", ("CRL (PEM)", &["pem"]))
        else {
            return Ok(None);
        };
        let crl = station.publish_crl(&ca, &journal, &path, state.clock.now())?;
        tracing::info!(path = %path.display(), number = crl.number, revoked = crl.revoked, "CRL written");
        Ok(Some(path.display().to_string()))
    })
    .await
}

/// The log console's lines so far (QA and admins: the Log tab).
#[tauri::command]
pub async fn recent_logs(state: State<'_, AppState>) -> Result<Vec<LogLine>, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        state.authorize(&state.station()?.journal()?, Action::ReadJournal)?;
        Ok(state.logs.recent())
    })
    .await
}

/// Streams every new log line to `on_line` until the window goes away.
#[tauri::command]
pub async fn subscribe_logs(
    state: State<'_, AppState>,
    on_line: Channel<LogLine>,
) -> Result<(), IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        state.authorize(&state.station()?.journal()?, Action::ReadJournal)?;
        state.logs.listen(on_line);
        Ok(())
    })
    .await
}

/// Called by the UI once its first screen can take input; the first call is the start-up time.
#[tauri::command]
pub fn ui_ready(state: State<'_, AppState>) -> crate::metrics::AppMetrics {
    let at = *state.interactive.get_or_init(crate::metrics::process_age);
    tracing::info!(interactive_ms = ?at.map(|d| d.as_millis()), "UI interactive");
    crate::metrics::snapshot(at)
}

/// Start-up time and memory now, for the benchmark.
#[tauri::command]
pub fn app_metrics(state: State<'_, AppState>) -> crate::metrics::AppMetrics {
    crate::metrics::snapshot(state.interactive.get().copied().flatten())
}
