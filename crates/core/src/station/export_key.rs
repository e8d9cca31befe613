//! The station's export-signing key, pinned in `station.toml` (`export_key`, its Ed25519
//! public key in base64). The key file alone proves nothing: a key file swapped for another
//! (and every export re-signed with it) no longer matches the pin, and a missing key file is
//! an error instead of a silently new identity. QA keeps the printed key
//! (`commissioner journal key`) and verifies exports against it at any station.
//!
//! The key is stored like the CA key: encrypted PKCS#8 (scrypt + AES-256-CBC) under the
//! station passphrase, which for a CA in a PKCS#11 token is the token's user PIN. It is
//! unlocked with the CA; a plaintext key file from before is encrypted at the first unlock
//! and removed.

use std::path::PathBuf;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::Station;
use crate::journal::export::{ExportError, StationKey};
use crate::pki::{ca, PkiError};

/// Where the export-signing key stands in this process.
#[derive(Default)]
pub(super) enum Signer {
    #[default]
    Locked,
    /// The passphrase the CA was unlocked with, to open the key with when it is first needed.
    Pending(zeroize::Zeroizing<String>),
    Open(Arc<StationKey>),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the passphrase.
        f.write_str(match self {
            Signer::Locked => "Locked",
            Signer::Pending(_) => "Pending",
            Signer::Open(_) => "Open",
        })
    }
}

impl Station {
    /// The encrypted key file.
    pub fn export_key_path(&self) -> PathBuf {
        self.dir.join("keys").join("export-signing.key.pem")
    }

    /// Where stations kept the key in the clear before it was encrypted.
    fn plain_export_key_path(&self) -> PathBuf {
        self.dir.join("keys").join("export-signing.p8")
    }

    fn signer(&self) -> std::sync::MutexGuard<'_, Signer> {
        self.export_signer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The unlocked export-signing key: opened now with the CA's passphrase if the CA was
    /// unlocked since (see [`Station::unlock_export_key`]), else `export.key_locked`.
    pub fn export_key(&self) -> Result<Arc<StationKey>, ExportError> {
        let pass = match &*self.signer() {
            Signer::Open(key) => return Ok(key.clone()),
            Signer::Locked => return Err(ExportError::KeyLocked),
            Signer::Pending(pass) => pass.clone(),
        };
        self.unlock_export_key(&pass)
    }

    /// Keeps the passphrase the CA was just unlocked with, for the key's first use.
    pub(super) fn export_key_passphrase(&self, passphrase: &str) {
        let mut signer = self.signer();
        if !matches!(*signer, Signer::Open(_)) {
            *signer = Signer::Pending(zeroize::Zeroizing::new(passphrase.to_owned()));
        }
    }

    /// Forgets the unlocked key (the app locks it with the CA).
    pub fn lock_export_key(&self) {
        *self.signer() = Signer::Locked;
    }

    /// Opens the export-signing key with the station passphrase and checks it against the pin.
    /// A station without a key yet (never unlocked since it was made) makes and pins one now; a
    /// plaintext key file from before is encrypted and removed.
    pub fn unlock_export_key(&self, passphrase: &str) -> Result<Arc<StationKey>, ExportError> {
        let path = self.export_key_path();
        let plain = self.plain_export_key_path();
        let pinned = self.pinned_export_key()?;
        let key = if path.exists() {
            let der = ca::decrypt_pkcs8(&path, passphrase).map_err(|e| match e {
                PkiError::BadPassphrase => ExportError::KeyPassphrase(path.display().to_string()),
                other => ExportError::Key(other.to_string()),
            })?;
            StationKey::from_pkcs8(&der)?
        } else if plain.exists() {
            let der = zeroize::Zeroizing::new(std::fs::read(&plain).map_err(io(&plain))?);
            let key = StationKey::from_pkcs8(&der)?;
            // Checked before it is encrypted: a swapped plaintext file is not adopted.
            check_pin(&key, pinned.as_deref(), &plain)?;
            store_encrypted(&path, &der, passphrase)?;
            key
        } else if pinned.is_some() {
            return Err(ExportError::KeyMissing(path.display().to_string()));
        } else {
            let (key, der) = StationKey::generate()?;
            store_encrypted(&path, &der, passphrase)?;
            key
        };
        check_pin(&key, pinned.as_deref(), &path)?;
        if pinned.is_none() {
            self.pin_export_key(&key)?;
        }
        // The encrypted copy is in place (written and synced): the clear one goes.
        if plain.exists() {
            std::fs::remove_file(&plain).map_err(io(&plain))?;
        }
        let key = Arc::new(key);
        *self.signer() = Signer::Open(key.clone());
        Ok(key)
    }

    /// The export-signing public key as `journal key` prints it (base64): the pin. Needs no
    /// passphrase and never creates a key; a pinned station whose key file is gone says so.
    pub fn export_public_key(&self) -> Result<String, ExportError> {
        let pinned = self.pinned_export_key()?.ok_or(ExportError::NoTrustedKey)?;
        if !self.export_key_path().exists() && !self.plain_export_key_path().exists() {
            return Err(ExportError::KeyMissing(
                self.export_key_path().display().to_string(),
            ));
        }
        Ok(B64.encode(pinned))
    }

    /// The public key pinned in `station.toml`, if any.
    pub fn pinned_export_key(&self) -> Result<Option<Vec<u8>>, ExportError> {
        self.config
            .export_key
            .as_deref()
            .map(parse_trusted_key)
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
        pinned.config.export_key = Some(key.public_key_base64());
        pinned
            .save()
            .map_err(|e| ExportError::Key(format!("cannot pin the key in station.toml: {e}")))
    }
}

fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn check_pin(
    key: &StationKey,
    pinned: Option<&[u8]>,
    path: &std::path::Path,
) -> Result<(), ExportError> {
    match pinned {
        Some(pin) if pin != key.public_key() => Err(ExportError::KeyNotPinned {
            path: path.display().to_string(),
            pinned: B64.encode(pin),
        }),
        _ => Ok(()),
    }
}

/// Writes the key encrypted under `passphrase`, 0600, without replacing a file already there.
fn store_encrypted(
    path: &std::path::Path,
    der: &[u8],
    passphrase: &str,
) -> Result<(), ExportError> {
    use std::io::Write;
    // PKCS#8 v1 (without the public key, which the private key determines): OpenSSL 3.0 does
    // not read v2 Ed25519 keys, and `openssl pkey` opening the file is how an admin checks it.
    let mut info =
        pkcs8::PrivateKeyInfo::try_from(der).map_err(|e| ExportError::Key(e.to_string()))?;
    info.public_key = None;
    let v1 = zeroize::Zeroizing::new(
        pkcs8::der::Encode::to_der(&info).map_err(|e| ExportError::Key(e.to_string()))?,
    );
    let pem = zeroize::Zeroizing::new(
        ca::encrypt_pkcs8(&v1, passphrase).map_err(|e| ExportError::Key(e.to_string()))?,
    );
    if let Some(dir) = path.parent() {
        crate::secure_fs::create_dir(dir).map_err(io(dir))?;
    }
    let mut file = crate::secure_fs::create_new(path).map_err(io(path))?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io(path))
}

/// Parses a trusted key as given on the command line or in a trust file (base64, 32 bytes).
pub fn parse_trusted_key(text: &str) -> Result<Vec<u8>, ExportError> {
    B64.decode(text.trim())
        .ok()
        .filter(|k| k.len() == 32)
        .ok_or_else(|| ExportError::TrustedKeyInvalid(text.trim().to_owned()))
}
