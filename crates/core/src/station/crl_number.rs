//! The last CRL number, kept where deleting journal rows cannot reset it: a file beside the
//! CA (`ca/crl_number`, owner-only), and the number of the CRL last published. A broker takes
//! the newest CRL by number, so a number that went back would let an older CRL, one that does
//! not list a later revocation, stand again.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::admin::AdminError;
use crate::pki::UnlockedCa;

/// `ca/crl_number`.
#[derive(Debug, Clone)]
pub struct CrlCounter {
    path: PathBuf,
}

impl CrlCounter {
    pub fn beside(ca: &UnlockedCa) -> Self {
        let dir = ca
            .paths()
            .issuing_cert
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Self {
            path: dir.join("crl_number"),
        }
    }

    /// The last number signed, 0 before the first CRL (or for a station older than this file).
    pub fn last(&self) -> Result<u64, AdminError> {
        match fs::read_to_string(&self.path) {
            Ok(text) => text.trim().parse().map_err(|_| AdminError::CrlNumber {
                path: self.path.display().to_string(),
                reason: format!("'{}' is not a number", text.trim()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(AdminError::CrlNumber {
                path: self.path.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }

    /// Records `number` as signed: written to a temporary file, synced and renamed, so a
    /// crash leaves the old number or the new one, never an empty file.
    pub fn store(&self, number: u64) -> Result<(), AdminError> {
        use std::os::unix::fs::OpenOptionsExt;
        let io = |source| AdminError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let tmp = self.path.with_extension("tmp");
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        file.write_all(format!("{number}\n").as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io)?;
        fs::rename(&tmp, &self.path).map_err(io)
    }
}

/// The number of the CRL at `path` (PEM or DER), 0 when there is none or it does not parse:
/// it only ever raises the next number, so a file that cannot be read costs nothing.
pub fn published(path: &Path) -> u64 {
    let Ok(bytes) = fs::read(path) else {
        return 0;
    };
    let der = match x509_parser::pem::parse_x509_pem(&bytes) {
        Ok((_, pem)) => pem.contents,
        Err(_) => bytes,
    };
    CertificateRevocationList::from_der(&der)
        .ok()
        .and_then(|(_, crl)| crl.crl_number().and_then(|n| n.try_into().ok()))
        .unwrap_or(0)
}
