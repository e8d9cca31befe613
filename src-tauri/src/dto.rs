//! Shapes only the desktop app needs: what decides the first screen, and the editable broker
//! profile. TypeScript mirrors are generated (see `bindings`).

use std::path::PathBuf;

use commissioner_core::operator::Operator;
use commissioner_core::station::{BrokerProfile, MqttVersion, Station};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::IpcError;
use crate::state::AppState;

/// The broker profile fields a person edits; the rest (topics, retries, audit checks) keep
/// their values from station.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BrokerForm {
    pub host: String,
    pub port: u16,
    /// PEM file of the CA the broker's certificate chains to (absolute, or relative to the
    /// station directory).
    pub server_ca: String,
    /// The name the broker's certificate must carry when it is not `host`.
    pub server_name: Option<String>,
    #[ts(type = "\"5\" | \"3.1.1\"")]
    pub mqtt_version: String,
    pub tls: bool,
    pub lab: bool,
    pub timeout_secs: u32,
}

impl BrokerForm {
    pub fn from_profile(p: &BrokerProfile) -> Self {
        Self {
            host: p.host.clone(),
            port: p.port,
            server_ca: p.server_ca.display().to_string(),
            server_name: p.server_name.clone(),
            mqtt_version: match p.mqtt_version {
                MqttVersion::V5 => "5".into(),
                MqttVersion::V311 => "3.1.1".into(),
            },
            tls: p.tls,
            lab: p.lab,
            timeout_secs: u32::try_from(p.timeout_secs).unwrap_or(u32::MAX),
        }
    }

    /// The profile with this form's fields over `base` (or the defaults), checked the way
    /// station.toml is checked when it loads.
    pub fn into_profile(self, base: Option<BrokerProfile>) -> Result<BrokerProfile, IpcError> {
        let invalid = |m: String| IpcError::invalid("broker.invalid", m);
        if self.host.trim().is_empty() {
            return Err(invalid("the broker needs a host name or address".into()));
        }
        if self.port == 0 {
            return Err(invalid("the broker needs a port".into()));
        }
        let mut p = base.unwrap_or_else(|| {
            BrokerProfile::new(self.host.trim(), self.port, PathBuf::from(&self.server_ca))
        });
        p.host = self.host.trim().to_owned();
        p.port = self.port;
        p.server_ca = PathBuf::from(self.server_ca.trim());
        p.server_name = self.server_name.filter(|n| !n.trim().is_empty());
        p.mqtt_version = match self.mqtt_version.as_str() {
            "5" => MqttVersion::V5,
            "3.1.1" => MqttVersion::V311,
            other => return Err(invalid(format!("unknown MQTT version {other:?}"))),
        };
        p.tls = self.tls;
        p.lab = self.lab;
        p.timeout_secs = u64::from(self.timeout_secs.max(1));
        match p.problem() {
            Some(problem) => Err(invalid(problem)),
            None => Ok(p),
        }
    }
}

/// What decides which screen the app shows: set-up, unlock, sign-in or work.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StationStatus {
    pub station_dir: String,
    /// station.toml exists.
    pub configured: bool,
    pub station_id: Option<String>,
    pub organization: Option<String>,
    pub lab: bool,
    pub has_ca: bool,
    pub ca_unlocked: bool,
    pub broker: Option<BrokerForm>,
    /// A lab broker started by this app is running.
    pub lab_broker_running: bool,
    /// The station has operators, so every action needs a sign-in.
    pub operators_enforced: bool,
    pub operator: Option<Operator>,
}

impl StationStatus {
    pub fn read(state: &AppState) -> Result<Self, IpcError> {
        let dir = state.station_dir().to_owned();
        let mut status = Self {
            station_dir: dir.display().to_string(),
            configured: Station::config_path(&dir).exists(),
            station_id: None,
            organization: None,
            lab: false,
            has_ca: false,
            ca_unlocked: false,
            broker: None,
            lab_broker_running: state.lab().is_some(),
            operators_enforced: false,
            operator: state.signed_in(),
        };
        if !status.configured {
            return Ok(status);
        }
        let station = state.station()?;
        // The UI reads the status on a timer: an idle station signs out and locks here.
        state.expire_if_idle(&station);
        status.operator = state.signed_in();
        let ca = commissioner_core::pki::ca::CaPaths::new(&station.ca_dir());
        status.station_id = Some(station.config.station_id.clone());
        status.organization = Some(station.config.organization.clone());
        status.lab = station.config.lab;
        status.has_ca = ca.issuing_cert.exists();
        status.ca_unlocked = status.has_ca && state.ca_unlocked(&station);
        status.broker = station.config.broker.as_ref().map(BrokerForm::from_profile);
        status.operators_enforced = station.operators_enforced(&station.journal()?)?;
        Ok(status)
    }
}
