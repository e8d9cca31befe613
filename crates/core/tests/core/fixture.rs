use std::path::Path;
use std::process::Command;

use commissioner_core::lab::Lab;
use commissioner_core::pki::UnlockedCa;
use commissioner_core::station::{init_lab_station, Station};
use tempfile::TempDir;

pub const PASSPHRASE: &str = "test-passphrase";

/// A lab station in a temp dir with its CA unlocked.
pub struct LabStation {
    /// Kept so the directory lives as long as the station.
    pub _dir: TempDir,
    pub station: Station,
    pub ca: UnlockedCa,
}

pub fn station() -> LabStation {
    let dir = tempfile::tempdir().expect("temp dir");
    let station = init_lab_station(dir.path(), PASSPHRASE).expect("init lab station");
    let ca = station.unlock_ca(PASSPHRASE).expect("unlock CA");
    LabStation {
        _dir: dir,
        station,
        ca,
    }
}

/// A lab station with a running broker and responder.
pub fn station_with_lab() -> (LabStation, Lab) {
    let mut s = station();
    let lab = Lab::up(&mut s.station, &s.ca).expect("lab broker up");
    (s, lab)
}

/// Runs `openssl verify` on a PEM certificate against the station's chain; returns its output.
pub fn openssl_verify(ca_dir: &Path, cert_pem: &str, purpose: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, cert_pem).expect("write cert");
    let out = Command::new("openssl")
        .arg("verify")
        .arg("-x509_strict")
        .arg("-purpose")
        .arg(purpose)
        .arg("-CAfile")
        .arg(ca_dir.join("root.pem"))
        .arg("-untrusted")
        .arg(ca_dir.join("issuing.pem"))
        .arg(&cert)
        .output()
        .expect("run openssl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Begins a journal session for certificates a test issues outside the pipeline.
pub fn test_session(journal: &commissioner_core::journal::Journal) -> i64 {
    journal
        .begin_session(&commissioner_core::journal::NewSession {
            station_id: "test",
            operator: "test",
            port: "none",
            work_order: None,
            started_at: time::OffsetDateTime::now_utc(),
        })
        .expect("session")
}
