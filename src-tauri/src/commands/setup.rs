//! First run and sign-in: station status, the setup wizard, unlocking the CA, operators.

use std::path::Path;

use commissioner_core::lab::Lab;
use commissioner_core::operator::{self, Action, Operator, Role};
use commissioner_core::pki::setup::{self, ImportKey, ImportOptions, InitOptions, IssuingKey};
use commissioner_core::station::{create_station, Station};
use serde::Deserialize;
use tauri::State;
use ts_rs::TS;

use super::blocking;
use crate::dto::{BrokerForm, StationStatus};
use crate::error::IpcError;
use crate::state::AppState;

/// Where the station's CA comes from.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum CaSource {
    /// A new root and issuing CA made here. The root key is written once to `root_key_out`
    /// with its own passphrase, and only the issuing key stays on the station; a lab station
    /// may leave both out and keep its root key in `ca/`.
    #[serde(rename_all = "camelCase")]
    Create {
        #[serde(default)]
        root_key_out: Option<String>,
        #[serde(default)]
        root_passphrase: Option<String>,
    },
    /// An issuing CA made elsewhere (PEM files).
    #[serde(rename_all = "camelCase")]
    Import {
        cert: String,
        root: String,
        key: String,
        key_passphrase: Option<String>,
    },
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct AdminForm {
    pub id: String,
    pub pin: String,
}

/// What the setup wizard sends.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SetupRequest {
    pub organization: String,
    /// Encrypts the CA keys; asked for when the app starts.
    pub passphrase: String,
    pub ca: CaSource,
    /// A lab station may run a lab broker started by the app.
    pub lab: bool,
    pub admin: AdminForm,
}

/// Shortest CA passphrase the wizard accepts.
const MIN_PASSPHRASE: usize = 8;

#[tauri::command]
pub async fn station_status(state: State<'_, AppState>) -> Result<StationStatus, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || StationStatus::read(&state)).await
}

/// Creates the station, its CA and its first admin, unlocks the CA and signs the admin in.
#[tauri::command]
pub async fn setup_station(
    state: State<'_, AppState>,
    request: SetupRequest,
) -> Result<StationStatus, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        check_request(&request)?;
        let dir = state.station_dir().to_owned();
        // A CA already there (a station whose station.toml went missing) is never removed.
        let ca_existed = dir.join("ca").exists();
        if Station::config_path(&dir).exists() {
            return Err(IpcError::invalid(
                "station.exists",
                format!("a station is already set up in {}", dir.display()),
            ));
        }
        let station = create_station(&dir, request.organization.trim(), request.lab)?;
        if let Err(e) = install_ca(&station, &request) {
            // Leave no half station: the wizard can be run again.
            let _ = std::fs::remove_file(Station::config_path(&dir));
            if !ca_existed {
                let _ = std::fs::remove_dir_all(station.ca_dir());
            }
            return Err(e);
        }
        state.unlock(&station, &request.passphrase)?;
        let now = state.clock.now();
        let admin = operator::add(
            &station.journal()?,
            request.admin.id.trim(),
            Role::Admin,
            &request.admin.pin,
            now,
        )?;
        let mut station = station;
        station.require_operators()?;
        tracing::info!(station = %station.config.station_id, admin = %admin.id, "station set up");
        state.station_changed();
        state.sign_in(Some(admin));
        StationStatus::read(&state)
    })
    .await
}

fn check_request(r: &SetupRequest) -> Result<(), IpcError> {
    if r.organization.trim().is_empty() {
        return Err(IpcError::invalid(
            "setup.organization",
            "name the organisation the CA is for",
        ));
    }
    if r.passphrase.chars().count() < MIN_PASSPHRASE {
        return Err(IpcError::invalid(
            "setup.weak_passphrase",
            format!("the CA passphrase needs at least {MIN_PASSPHRASE} characters"),
        ));
    }
    if r.admin.id.trim().is_empty() {
        return Err(IpcError::invalid(
            "setup.admin_id",
            "name the first administrator",
        ));
    }
    Ok(())
}

fn install_ca(station: &Station, r: &SetupRequest) -> Result<(), IpcError> {
    match &r.ca {
        CaSource::Create {
            root_key_out,
            root_passphrase,
        } => {
            fn given(s: &Option<String>) -> Option<&str> {
                s.as_deref().filter(|s| !s.trim().is_empty())
            }
            setup::init_ca(
                &station.ca_dir(),
                &InitOptions {
                    organization: r.organization.trim(),
                    passphrase: &r.passphrase,
                    issuing_key: IssuingKey::Generate,
                    root_key_out: given(root_key_out).map(|p| Path::new(p.trim())),
                    root_passphrase: given(root_passphrase),
                    lab: r.lab,
                    now: time::OffsetDateTime::now_utc(),
                },
            )?;
        }
        CaSource::Import {
            cert,
            root,
            key,
            key_passphrase,
        } => {
            setup::import_ca(
                &station.ca_dir(),
                &ImportOptions {
                    issuing_cert: Path::new(cert),
                    root_cert: Path::new(root),
                    key: ImportKey::Pem {
                        path: Path::new(key),
                        passphrase: key_passphrase.as_deref().filter(|p| !p.is_empty()),
                    },
                    passphrase: &r.passphrase,
                    replace: false,
                },
            )?;
        }
    }
    Ok(())
}

/// Starts a lab mosquitto and responder for a lab station and points the profile at them.
/// They stop when the app exits.
#[tauri::command]
pub async fn start_lab_broker(state: State<'_, AppState>) -> Result<StationStatus, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let mut station = state.station()?;
        state.authorize(&station.journal()?, Action::EditProfile)?;
        if !station.config.lab {
            return Err(IpcError::invalid(
                "lab.not_a_lab_station",
                "only a lab station runs a lab broker; set a broker profile instead",
            ));
        }
        let ca = state.ca(&station)?;
        let mut lab = state.lab();
        // One lab broker at a time: a second start replaces the first.
        *lab = None;
        let started = Lab::up(&mut station, &ca)?;
        tracing::info!(port = started.port(), "lab broker started");
        *lab = Some(started);
        drop(lab);
        state.station_changed();
        StationStatus::read(&state)
    })
    .await
}

/// Saves the broker profile (admins only).
#[tauri::command]
pub async fn save_broker_profile(
    state: State<'_, AppState>,
    form: BrokerForm,
) -> Result<StationStatus, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let mut station = state.station()?;
        state.authorize(&station.journal()?, Action::EditProfile)?;
        let profile = form.into_profile(station.config.broker.clone())?;
        station.config.broker = Some(profile);
        station.save()?;
        state.station_changed();
        StationStatus::read(&state)
    })
    .await
}

/// Connects to the broker of `form` and checks its certificate, without saving anything.
#[tauri::command]
pub async fn test_broker(
    state: State<'_, AppState>,
    form: BrokerForm,
) -> Result<commissioner_core::mqtt::audit::reach::ConnectionTest, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let station = state.station()?;
        state.authorize(&station.journal()?, Action::EditProfile)?;
        let profile = form.into_profile(station.config.broker.clone())?;
        let mut probe = station.clone();
        probe.config.broker = Some(profile.clone());
        let anchors = commissioner_core::mqtt::audit::session::trust_anchors(&probe)?;
        Ok(commissioner_core::mqtt::audit::reach::test_connection(
            &profile, &anchors,
        ))
    })
    .await
}

#[tauri::command]
pub async fn unlock_ca(
    state: State<'_, AppState>,
    passphrase: String,
) -> Result<StationStatus, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let station = state.station()?;
        state.unlock(&station, &passphrase)?;
        StationStatus::read(&state)
    })
    .await
}

#[tauri::command]
pub async fn login(
    state: State<'_, AppState>,
    operator: String,
    pin: String,
) -> Result<Operator, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let journal = state.station()?.journal()?;
        let op = operator::authenticate(&journal, operator.trim(), &pin, state.clock.now())?;
        tracing::info!(operator = %op.id, role = op.role.as_str(), "signed in");
        state.sign_in(Some(op.clone()));
        Ok(op)
    })
    .await
}

#[tauri::command]
pub fn logout(state: State<'_, AppState>) {
    if let Some(op) = state.signed_in() {
        tracing::info!(operator = %op.id, "signed out");
    }
    state.sign_in(None);
}

/// Adds an operator (admins only).
#[tauri::command]
pub async fn add_operator(
    state: State<'_, AppState>,
    id: String,
    role: String,
    pin: String,
) -> Result<Operator, IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let journal = state.station()?.journal()?;
        state.authorize(&journal, Action::ManageOperators)?;
        let role: Role = role.parse()?;
        let added = operator::add(&journal, id.trim(), role, &pin, state.clock.now())?;
        // A station set up before the setting existed gets it with its next operator.
        let mut station = state.station()?;
        if !station.config.operators_required {
            station.require_operators()?;
            state.station_changed();
        }
        Ok(added)
    })
    .await
}

/// Disables an operator (admins only): their PIN goes, so no sign-in or token of theirs works;
/// never the last admin. Disabling oneself signs out.
#[tauri::command]
pub async fn disable_operator(state: State<'_, AppState>, id: String) -> Result<(), IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let journal = state.station()?.journal()?;
        let by = state.authorize(&journal, Action::ManageOperators)?;
        operator::disable(&journal, id.trim(), state.clock.now())?;
        tracing::info!(operator = %id.trim(), %by, "operator disabled");
        if by == id.trim() {
            state.sign_in(None);
        }
        Ok(())
    })
    .await
}

/// The signed-in operator changes their own PIN; the old one is checked like a sign-in (and
/// counts towards the lockout).
#[tauri::command]
pub async fn change_pin(
    state: State<'_, AppState>,
    old_pin: String,
    new_pin: String,
) -> Result<(), IpcError> {
    let state = state.inner().clone_handle();
    blocking(move || {
        let station = state.station()?;
        state.expire_if_idle(&station);
        let me = state.signed_in().ok_or_else(IpcError::sign_in_required)?;
        operator::change_pin(
            &station.journal()?,
            &me.id,
            &old_pin,
            &new_pin,
            state.clock.now(),
        )?;
        state.touch();
        Ok(())
    })
    .await
}
