//! Making a station directory: `station.toml`, an empty journal and, for a lab station, its CA
//! and export-signing key.

use std::path::Path;
use std::sync::Arc;

use super::{default_idle_minutes, IssuancePolicy, Station, StationConfig, StationError};
use crate::pki::ca;

/// Creates a lab station: a lab CA (keys encrypted with `passphrase`), `station.toml` and an
/// empty journal.
pub fn init_lab_station(dir: &Path, passphrase: &str) -> Result<Station, StationError> {
    new_dir(dir)?;
    let organization = "Commissioner Lab";
    ca::create_lab_ca(
        &dir.join("ca"),
        organization,
        passphrase,
        time::OffsetDateTime::now_utc(),
    )?;
    let made = create_station(dir, organization, true)?;
    // The key is made and pinned with the station: its identity from the first export on.
    made.unlock_export_key(passphrase)
        .map_err(|e| StationError::BadConfig {
            path: Station::config_path(dir).display().to_string(),
            reason: e.to_string(),
        })?;
    // Read again with the pin, so that a later save keeps it; the unlocked key comes along.
    let mut station = Station::open(dir)?;
    station.carry_over(&made);
    Ok(station)
}

/// Writes `station.toml` and an empty journal for a station whose CA is set up separately
/// (`commissioner ca init` / `ca import`).
pub fn create_station(dir: &Path, organization: &str, lab: bool) -> Result<Station, StationError> {
    new_dir(dir)?;
    let prefix = if lab { "lab" } else { "station" };
    let station = Station {
        writer: Arc::default(),
        issuing: Arc::default(),
        export_signer: Arc::default(),
        off_station: Arc::default(),
        dir: dir.to_owned(),
        config: StationConfig {
            station_id: format!(
                "{prefix}-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            organization: organization.to_owned(),
            lab,
            policy: IssuancePolicy::default(),
            broker: None,
            models: Vec::new(),
            timeouts: Default::default(),
            device_ids: Default::default(),
            operators_required: false,
            pkcs11_module: None,
            idle_timeout_minutes: default_idle_minutes(),
            journal_genesis: None,
            export_key: None,
            anchor_target: None,
            nrf91: Default::default(),
            zephyr_smp: Default::default(),
            label: None,
            mes: None,
            central: None,
            provisioning: Default::default(),
        },
    };
    let mut station = station;
    station.save()?;
    station.record_journal_genesis()?;
    // The export-signing key is made and pinned at the first unlock: it is encrypted under
    // the station passphrase, which a station set up for `ca init` has not seen yet.
    let station = Station::open(dir)?;
    station.journal()?;
    Ok(station)
}

/// Refuses a directory that already holds a station, and makes it (0700).
fn new_dir(dir: &Path) -> Result<(), StationError> {
    if Station::config_path(dir).exists() {
        return Err(StationError::Exists(dir.display().to_string()));
    }
    crate::secure_fs::create_dir(dir).map_err(|source| StationError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    Ok(())
}
