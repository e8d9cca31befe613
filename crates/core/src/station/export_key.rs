//! The station's export-signing key, pinned in `station.toml` (`export_key`, its Ed25519
//! public key in base64). The key file alone proves nothing: a key file swapped for another
//! (and every export re-signed with it) no longer matches the pin, and a missing key file is
//! an error instead of a silently new identity. QA keeps the printed key
//! (`commissioner journal key`) and verifies exports against it at any station.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::Station;
use crate::journal::export::{ExportError, StationKey};

impl Station {
    fn export_key_path(&self) -> std::path::PathBuf {
        self.dir.join("keys").join("export-signing.p8")
    }

    /// The station's export signing key, checked against its pin. A station without a pin yet
    /// (made before keys were pinned) creates or takes its key file and pins it now.
    pub fn export_key(&self) -> Result<StationKey, ExportError> {
        let path = self.export_key_path();
        let Some(pinned) = self.pinned_export_key()? else {
            let key = StationKey::load_or_create(&path)?;
            self.pin_export_key(&key)?;
            return Ok(key);
        };
        if !path.exists() {
            return Err(ExportError::KeyMissing(path.display().to_string()));
        }
        let key = StationKey::load_or_create(&path)?;
        if key.public_key() != pinned.as_slice() {
            return Err(ExportError::KeyNotPinned {
                path: path.display().to_string(),
                pinned: B64.encode(&pinned),
            });
        }
        Ok(key)
    }

    /// The export-signing public key as `journal key` prints it (base64), checked against the
    /// pin.
    pub fn export_public_key(&self) -> Result<String, ExportError> {
        Ok(B64.encode(self.export_key()?.public_key()))
    }

    /// The public key pinned in `station.toml`, if any.
    pub fn pinned_export_key(&self) -> Result<Option<Vec<u8>>, ExportError> {
        self.config
            .export_key
            .as_deref()
            .map(|k| {
                B64.decode(k.trim())
                    .ok()
                    .filter(|k| k.len() == 32)
                    .ok_or_else(|| ExportError::TrustedKeyInvalid(k.to_owned()))
            })
            .transpose()
    }

    /// Keys an export from this station must be signed with: its pin. Never creates a key.
    pub fn trusted_export_keys(&self) -> Result<Vec<Vec<u8>>, ExportError> {
        Ok(vec![self
            .pinned_export_key()?
            .ok_or(ExportError::NoTrustedKey)?])
    }

    fn pin_export_key(&self, key: &StationKey) -> Result<(), ExportError> {
        let mut pinned = self.clone_config();
        pinned.config.export_key = Some(B64.encode(key.public_key()));
        pinned
            .save()
            .map_err(|e| ExportError::Key(format!("cannot pin the key in station.toml: {e}")))
    }
}

/// Parses a trusted key as given on the command line or in a trust file (base64, 32 bytes).
pub fn parse_trusted_key(text: &str) -> Result<Vec<u8>, ExportError> {
    B64.decode(text.trim())
        .ok()
        .filter(|k| k.len() == 32)
        .ok_or_else(|| ExportError::TrustedKeyInvalid(text.trim().to_owned()))
}
