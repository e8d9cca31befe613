//! `ca issue-server` and `ca issue-backend` make a deployment's broker and backend: a real
//! mosquitto configured with exactly the lines they print, the responder with the backend's
//! certificate, and a unit commissioned through both. Then the backend is revoked.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use commissioner_core::lab::{free_port, mosquitto_binary};
use commissioner_core::station::{BrokerProfile, Station};

use crate::commands::{commissioner, text};

struct Running(Vec<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn openssl_verify(station: &Path, cert: &Path, purpose: &str) -> String {
    let out = Command::new("openssl")
        .args(["verify", "-x509_strict", "-purpose", purpose, "-CAfile"])
        .arg(station.join("ca/root.pem"))
        .arg("-untrusted")
        .arg(station.join("ca/issuing.pem"))
        .arg(cert)
        .output()
        .expect("openssl");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The printed lines that belong in a mosquitto file: everything but the summary.
fn config_lines(stdout: &str, keep: &[&str]) -> String {
    stdout
        .lines()
        .filter(|l| keep.iter().any(|k| l.starts_with(k)))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn issued_server_and_backend_identities_run_a_real_deployment_and_are_revocable() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("s");
    let out = commissioner(&station, &["lab", "init"]);
    assert!(out.status.success(), "{}", text(&out));
    let port = free_port().expect("port");
    let mut s = Station::open(&station).expect("open");
    s.config.broker = Some(BrokerProfile::new("127.0.0.1", port, "svc/ca.pem".into()));
    s.save().expect("save");
    let svc = station.join("svc");
    let svc_arg = svc.to_str().expect("utf-8");

    let server = commissioner(&station, &["ca", "issue-server", "--out", svc_arg]);
    assert!(server.status.success(), "{}", text(&server));
    let backend = commissioner(&station, &["ca", "issue-backend", "--out", svc_arg]);
    assert!(backend.status.success(), "{}", text(&backend));
    let server_pem = svc.join("127.0.0.1.pem");
    let backend_pem = svc.join("commissioner-backend.pem");
    assert!(openssl_verify(&station, &server_pem, "sslserver").contains(": OK"));
    assert!(openssl_verify(&station, &backend_pem, "sslclient").contains(": OK"));
    // Each for its own side only.
    assert!(!openssl_verify(&station, &server_pem, "sslclient").contains(": OK"));
    assert!(!openssl_verify(&station, &backend_pem, "sslserver").contains(": OK"));

    // mosquitto from the printed lines, the listener bound to a free loopback port.
    let server_out = String::from_utf8_lossy(&server.stdout).into_owned();
    let backend_out = String::from_utf8_lossy(&backend.stdout).into_owned();
    let acl = svc.join("acl");
    std::fs::write(
        &acl,
        config_lines(&backend_out, &["user ", "topic ", "pattern "]),
    )
    .expect("acl");
    let listener = config_lines(
        &server_out,
        &["certfile", "keyfile", "cafile", "require_", "use_"],
    );
    let conf = svc.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "per_listener_settings true\npersistence false\nuser root\n\
             listener {port} 127.0.0.1\n{listener}acl_file {}\n",
            acl.display()
        ),
    )
    .expect("conf");
    let broker = Command::new(mosquitto_binary().expect("mosquitto"))
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto");
    let mut running = Running(vec![broker]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut responder = Command::new(env!("CARGO_BIN_EXE_commissioner"))
        .arg("--station")
        .arg(&station)
        .args(["responder", "--cert"])
        .arg(&backend_pem)
        .arg("--key")
        .arg(svc.join("commissioner-backend.key"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("responder");
    let ready = responder.stdout.take().map(|o| {
        let mut line = String::new();
        let _ = BufReader::new(o).read_line(&mut line);
        line
    });
    running.0.push(responder);
    assert!(
        ready.unwrap_or_default().contains("responder ready"),
        "the responder could not subscribe with the printed ACL"
    );

    let sim = commissioner_devsim::SimDevice::spawn(Default::default()).expect("sim");
    let out = commissioner(
        &station,
        &["commission", "--port", sim.path(), "--operator", "alice"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    drop(running);

    // Registered, and revocable like a unit's certificate.
    let list = commissioner(&station, &["ca", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    let serial_of = |name: &str| {
        rows.as_array()
            .and_then(|r| r.iter().find(|e| e["deviceId"] == name))
            .and_then(|e| e["serial"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("{name} not registered: {rows}"))
    };
    let serial = serial_of("commissioner-backend");
    serial_of("127.0.0.1");
    let out = commissioner(
        &station,
        &[
            "ca",
            "revoke",
            "--serial",
            &serial,
            "--reason",
            "key-compromise",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let crl = svc.join("crl.pem");
    let out = commissioner(
        &station,
        &["ca", "crl", "--out", crl.to_str().expect("utf-8")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let crl_text = Command::new("openssl")
        .args(["crl", "-noout", "-text", "-in"])
        .arg(&crl)
        .output()
        .expect("openssl crl");
    assert!(
        String::from_utf8_lossy(&crl_text.stdout).contains(&serial),
        "{serial} not in the CRL"
    );
}
