//! The unit's non-volatile memory: key, certificate slots, lifecycle and broker settings,
//! optionally kept in a file so that a unit can be recommissioned across runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use commissioner_core::device::protocol::{DeviceConfig, Lifecycle};
use rcgen::KeyPair;
use serde::{Deserialize, Serialize};

/// What survives a reset.
#[derive(Debug)]
pub struct Flash {
    pub device_id: String,
    pub state: Lifecycle,
    pub key: Option<KeyPair>,
    pub slots: BTreeMap<&'static str, Vec<u8>>,
    pub config: Option<DeviceConfig>,
}

/// The file format: PEM for the key, base64 for slots. A software key store, for a
/// simulator only; a real unit keeps its key in a secure element.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    device_id: String,
    state: Lifecycle,
    key_pem: Option<String>,
    slots: BTreeMap<String, String>,
    config: Option<DeviceConfig>,
}

/// Slot names as the store and the protocol spell them.
pub const SLOT_NAMES: [&str; 3] = ["device", "chain", "broker_ca"];

impl Flash {
    pub fn blank(device_id: String) -> Self {
        Self {
            device_id,
            state: Lifecycle::Blank,
            key: None,
            slots: BTreeMap::new(),
            config: None,
        }
    }

    /// Loads a unit's flash from `path`; `None` when there is no file yet. A damaged file
    /// is reported, not silently replaced, so that a test never commissions the wrong unit.
    pub fn load(path: &Path) -> std::io::Result<Option<Self>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let bad = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let stored: Stored = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let key = stored
            .key_pem
            .as_deref()
            .map(KeyPair::from_pem)
            .transpose()
            .map_err(|e| bad(e.to_string()))?;
        let mut slots = BTreeMap::new();
        for (name, b64) in stored.slots {
            let Some(slot) = SLOT_NAMES.into_iter().find(|n| *n == name) else {
                continue;
            };
            slots.insert(slot, B64.decode(b64).map_err(|e| bad(e.to_string()))?);
        }
        Ok(Some(Self {
            device_id: stored.device_id,
            state: stored.state,
            key,
            slots,
            config: stored.config,
        }))
    }

    /// Writes the flash to `path` atomically (a crash leaves the old file or the new one).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let stored = Stored {
            device_id: self.device_id.clone(),
            state: self.state,
            key_pem: self.key.as_ref().map(KeyPair::serialize_pem),
            slots: self
                .slots
                .iter()
                .map(|(k, v)| ((*k).to_owned(), B64.encode(v)))
                .collect(),
            config: self.config.clone(),
        };
        let text = serde_json::to_string_pretty(&stored)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp: PathBuf = path.with_extension("tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    }
}
