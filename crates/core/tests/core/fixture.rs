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

/// Commissions the simulated unit `sim` on the station's profile, without progress.
pub fn commission_sim(
    s: &LabStation,
    sim: &commissioner_devsim::SimDevice,
) -> commissioner_core::pipeline::Report {
    commissioner_core::pipeline::commission(
        &s.station,
        &s.ca,
        &commissioner_core::pipeline::CommissionRequest {
            port: sim.path(),
            baud: 115_200,
            operator: "test",
        },
        Default::default(),
        &mut |_| {},
    )
}

/// A handshake of unit `id` on the default topics of the broker on loopback `port`, with a
/// JSON request naming it.
pub fn handshake_spec(
    port: u16,
    id: &str,
    timeout: std::time::Duration,
    connect_timeout: std::time::Duration,
) -> commissioner_core::mqtt::handshake::HandshakeSpec {
    commissioner_core::mqtt::handshake::HandshakeSpec {
        host: "127.0.0.1".into(),
        port,
        client_id: id.into(),
        request_topic: format!("provisioning/{id}/request"),
        response_topic: format!("provisioning/{id}/response"),
        user_properties: vec![],
        payload: serde_json::json!({ "deviceId": id })
            .to_string()
            .into_bytes(),
        timeout,
        connect_timeout,
        session_expiry_secs: 0,
    }
}

/// The test binary's PostgreSQL, started on first use and stopped (by its watchdog) when the
/// binary exits. Tests hold a read guard while they use it; the one test that stops and
/// restarts the server takes the write guard.
pub struct SharedPg {
    _dir: TempDir,
    pub server: commissioner_core::central::server::PgServer,
}

pub fn pg() -> &'static std::sync::RwLock<SharedPg> {
    static PG: std::sync::OnceLock<std::sync::RwLock<SharedPg>> = std::sync::OnceLock::new();
    PG.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = commissioner_core::central::server::PgServer::start(
            &dir.path().join("pg"),
            "central-test-password",
        )
        .expect("start PostgreSQL");
        std::sync::RwLock::new(SharedPg { _dir: dir, server })
    })
}

/// A `[central]` profile for the test server.
pub fn central_profile(
    server: &commissioner_core::central::server::PgServer,
) -> commissioner_core::central::CentralProfile {
    commissioner_core::central::CentralProfile {
        url: server.url(),
        tls: commissioner_core::central::CentralTls::Disable,
        ca_file: None,
        password: Some(server.password().to_owned()),
        when_unreachable: commissioner_core::central::WhenUnreachable::Refuse,
        batch: 100,
    }
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
