//! The modem's non-volatile memory in a file (`commissioner sim --family nrf91-at --store`), so
//! that a unit keeps its IMEI, UUID, keys and credentials across runs, as real modems do: the
//! way to rehearse recommissioning, or a unit that comes back to the line.

use std::io;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rcgen::KeyPair;
use serde::{Deserialize, Serialize};

use super::modem::{Modem, ModemConfig};

/// The file format. A software key store, for an emulator only: a real modem never lets a
/// private key out.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    imei: String,
    uuid: String,
    firmware: String,
    /// `(sec_tag, type, content in base64)`.
    credentials: Vec<(u32, u8, String)>,
    /// `(sec_tag, private key PEM)`.
    keys: Vec<(u32, String)>,
}

fn bad(e: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl Modem {
    /// The modem kept in `path`, or a new one made from `cfg` (and saved) when there is no
    /// file yet. A damaged file is an error rather than a new unit, so that a rehearsal never
    /// commissions a different unit than the one it meant.
    pub fn open_stored(path: &Path, cfg: ModemConfig) -> io::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let modem = Modem::new(cfg);
                modem.save(path)?;
                return Ok(modem);
            }
            Err(e) => return Err(e),
        };
        let stored: Stored = serde_json::from_str(&text).map_err(bad)?;
        let uuid: [u8; 16] = hex::decode(&stored.uuid)
            .map_err(bad)?
            .try_into()
            .map_err(|_| bad("uuid is not 16 bytes"))?;
        let mut modem = Modem::new(ModemConfig {
            imei: stored.imei,
            uuid,
            firmware: stored.firmware,
            ..cfg
        });
        for (tag, kind, content) in stored.credentials {
            modem
                .store
                .insert((tag, kind), B64.decode(content).map_err(bad)?);
        }
        for (tag, pem) in stored.keys {
            modem
                .keys
                .insert(tag, KeyPair::from_pem(&pem).map_err(bad)?);
        }
        Ok(modem)
    }

    /// Writes the modem's memory to `path` (whole file replaced, never half written).
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let stored = Stored {
            imei: self.cfg.imei.clone(),
            uuid: hex::encode(self.cfg.uuid),
            firmware: self.cfg.firmware.clone(),
            credentials: self
                .store
                .iter()
                .map(|((t, k), v)| (*t, *k, B64.encode(v)))
                .collect(),
            keys: self
                .keys
                .iter()
                .map(|(t, k)| (*t, k.serialize_pem()))
                .collect(),
        };
        let text = serde_json::to_string_pretty(&stored).map_err(bad)?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    }

    /// Saves to `path` if anything changed since the last save.
    pub fn persist(&mut self, path: &Path) -> io::Result<()> {
        if std::mem::take(&mut self.dirty) {
            self.save(path)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_modem_comes_back_with_its_identity_keys_and_credentials() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("unit.json");
        let mut first = Modem::open_stored(&path, ModemConfig::default()).expect("new");
        first.handle("AT+CFUN=4");
        let csr = first.handle("AT%KEYGEN=42,2,0");
        assert!(csr.ends_with("OK\r\n"), "{csr}");
        first.handle(
            "AT%CMNG=0,42,1,\"-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\"",
        );
        first.persist(&path).expect("save");
        let listed = first.handle("AT%CMNG=1,42");

        // A different random identity in the config: the file wins.
        let mut again = Modem::open_stored(&path, ModemConfig::default()).expect("load");
        assert_eq!(again.cfg.imei, first.cfg.imei);
        assert_eq!(again.uuid_string(), first.uuid_string());
        assert_eq!(again.handle("AT%CMNG=1,42"), listed);
        assert_eq!(
            again.keys.get(&42).map(|k| k.public_key_raw().to_vec()),
            first.keys.get(&42).map(|k| k.public_key_raw().to_vec())
        );
    }

    #[test]
    fn a_damaged_store_is_an_error_not_a_new_unit() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("unit.json");
        std::fs::write(&path, "{ not json").expect("write");
        assert!(Modem::open_stored(&path, ModemConfig::default()).is_err());
    }
}
