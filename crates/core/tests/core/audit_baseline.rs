//! The audit against brokers the station itself cannot use (a TLS 1.2-only mosquitto, a wrong
//! server name, nobody listening, a peer that never answers) and against password and
//! anonymous listeners. A station that cannot connect must never grade the broker PASS.

use std::collections::HashMap;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use commissioner_core::lab::{free_port, Lab};
use commissioner_core::mqtt::audit::session::{audit_station, StationAudit};
use commissioner_core::mqtt::audit::{any_failed, CheckResult, Outcome};
use commissioner_core::station::AUDIT_CHECKS;

use crate::custom_broker::{self, common, tls_listener, TLS12_ONLY};
use crate::fixture::{station, LabStation};

/// The checks that judge what an attacker gets: all need the station's own connection.
const ATTACKER_CHECKS: &[&str] = &[
    "no_client_certificate",
    "foreign_ca",
    "client_id_binding",
    "publish_foreign_topic",
    "publish_response_topic",
    "subscribe_isolation",
    "sys_topics",
];

fn by_name(a: &StationAudit) -> HashMap<&'static str, &CheckResult> {
    a.results.iter().map(|r| (r.name, r)).collect()
}

/// Every check is there, none that needs the station's connection passes, the attacker checks
/// are inconclusive with the station's failure as the reason, and the audit session fails.
fn assert_not_judged(s: &LabStation, a: &StationAudit, cause: &str) {
    assert_not_judged_with(s, a, cause, "audit.inconclusive")
}

/// [`assert_not_judged`] where the session's error is `code` (a finding elsewhere outranks an
/// inconclusive check).
fn assert_not_judged_with(s: &LabStation, a: &StationAudit, cause: &str, code: &str) {
    let got = by_name(a);
    assert_eq!(got.len(), AUDIT_CHECKS.len(), "{:#?}", a.results);
    for name in ATTACKER_CHECKS {
        let r = got[name];
        assert_eq!(r.outcome, Outcome::Inconclusive, "{name}: {:#?}", a.results);
        assert!(
            r.evidence.contains("station's own connection"),
            "{name}: {}",
            r.evidence
        );
        assert!(r.evidence.contains(cause), "{name}: {}", r.evidence);
    }
    // Both are answered without the station's connection: the profile, and other ports.
    for r in &a.results {
        if !["protocol_version", "plaintext_listener", "tls_versions"].contains(&r.name) {
            assert_ne!(r.outcome, Outcome::Pass, "{}: {}", r.name, r.evidence);
        }
    }
    assert!(any_failed(&a.results));
    let journal = s.station.journal().expect("journal");
    let session = journal.session(a.session_id).expect("query").expect("row");
    assert_eq!(session.error_code.as_deref(), Some(code));
    let rows = journal.audit_checks(a.session_id).expect("rows");
    assert!(rows
        .iter()
        .any(|(n, o, _)| n == "foreign_ca" && o == "inconclusive"));
    assert!(journal.verify().expect("verify").ok());
}

#[test]
fn a_tls_12_only_broker_is_not_graded_by_refusals_of_the_stations_tls_13() {
    let mut s = station();
    let _broker = custom_broker::start_with_openssl(&mut s, Some(TLS12_ONLY), |files, port| {
        format!(
            "{}{}allow_anonymous false\nrequire_certificate true\n\
             use_identity_as_username true\ntls_version tlsv1.2\n",
            common(files),
            tls_listener(files, port)
        )
    });
    let a = audit_station(&s.station, &s.ca, "qa", None).expect("audit runs");
    // The version probe is the one check that can judge this broker: TLS 1.2, not allowed.
    assert_not_judged_with(&s, &a, "mqtt.tls_version", "audit.findings");
    let versions = by_name(&a)["tls_versions"];
    assert_eq!(versions.outcome, Outcome::Fail, "{}", versions.evidence);
    assert!(
        versions.evidence.contains("profile forbids"),
        "{}",
        versions.evidence
    );
    // No certificate arrived: nothing to call verified.
    let server = by_name(&a)["server_certificate"];
    assert_eq!(server.outcome, Outcome::Inconclusive, "{}", server.evidence);
}

#[test]
fn a_wrong_server_name_fails_the_certificate_and_judges_nothing_else() {
    let mut s = station();
    let _lab = Lab::up(&mut s.station, &s.ca).expect("lab up");
    if let Some(b) = s.station.config.broker.as_mut() {
        b.server_name = Some("broker.example.com".into());
    }
    let a = audit_station(&s.station, &s.ca, "qa", None).expect("audit runs");
    let got = by_name(&a);
    let server = got["server_certificate"];
    assert_eq!(server.outcome, Outcome::Fail, "{}", server.evidence);
    assert!(server.evidence.contains("mqtt.server_name_mismatch"));
    for name in ATTACKER_CHECKS {
        assert_eq!(
            got[name].outcome,
            Outcome::Inconclusive,
            "{name}: {:#?}",
            a.results
        );
    }
}

#[test]
fn an_unreachable_broker_is_inconclusive_not_refusing() {
    let mut s = station();
    let _lab = Lab::up(&mut s.station, &s.ca).expect("lab up");
    // A port nobody listens on: the connection is refused by the host, not by a broker.
    let nobody = free_port().expect("port");
    if let Some(b) = s.station.config.broker.as_mut() {
        b.port = nobody;
    }
    let a = audit_station(&s.station, &s.ca, "qa", None).expect("audit runs");
    assert_not_judged(&s, &a, "mqtt.unreachable");
    // The host answered nothing: finding no plaintext listener there proves nothing either.
    assert_eq!(
        by_name(&a)["plaintext_listener"].outcome,
        Outcome::Inconclusive
    );
}

#[test]
fn a_silent_peer_costs_the_connect_timeout_and_judges_nothing() {
    let mut s = station();
    let _lab = Lab::up(&mut s.station, &s.ca).expect("lab up");
    // Accepts TCP (the kernel does, from the backlog) and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    if let Some(b) = s.station.config.broker.as_mut() {
        b.port = port;
        b.timeout_secs = 60;
        b.connect_timeout_secs = 1;
    }
    let started = Instant::now();
    let a = audit_station(&s.station, &s.ca, "qa", None).expect("audit runs");
    let took = started.elapsed();
    assert_not_judged(&s, &a, "mqtt.timeout");
    assert_eq!(
        by_name(&a)["plaintext_listener"].outcome,
        Outcome::Inconclusive
    );
    // Far below the 60 s reply timeout: only the connect limit was spent.
    assert!(took < Duration::from_secs(30), "took {took:?}");
    drop(silent);
}

/// A TLS listener that lets clients in without a certificate, on a password file.
fn password_broker(s: &mut LabStation) -> custom_broker::CustomBroker {
    custom_broker::start(s, |files, port| {
        let passwords = files.dir.join("passwords");
        std::fs::write(&passwords, "").expect("password file");
        let ok = std::process::Command::new("mosquitto_passwd")
            .args(["-b"])
            .arg(&passwords)
            .args(["installer", "s3cret"])
            .status()
            .expect("mosquitto_passwd");
        assert!(ok.success());
        // The lab's ACL by certificate needs use_identity_as_username; this broker is the
        // password deployment a new user might write instead.
        format!(
            "{}{}allow_anonymous false\nrequire_certificate false\npassword_file {}\n",
            common(files),
            tls_listener(files, port),
            passwords.display()
        )
    })
}

#[test]
fn a_password_only_listener_fails_unless_the_profile_intends_passwords() {
    let mut s = station();
    let _broker = password_broker(&mut s);
    let a = audit_station(&s.station, &s.ca, "qa", None).expect("audit runs");
    let r = by_name(&a)["no_client_certificate"];
    assert_eq!(r.outcome, Outcome::Fail, "{:#?}", a.results);
    assert!(r.evidence.contains("password"), "{}", r.evidence);

    if let Some(b) = s.station.config.broker.as_mut() {
        b.audit.passwords_intended = true;
    }
    let a = audit_station(&s.station, &s.ca, "qa", None).expect("audit runs");
    let r = by_name(&a)["no_client_certificate"];
    assert_eq!(r.outcome, Outcome::Warn, "{}", r.evidence);
}

/// A WebSocket endpoint that upgrades `GET /mqtt` and accepts any CONNECT: what mosquitto's
/// `protocol websockets` with `allow_anonymous true` answers. This Debian mosquitto cannot open
/// a WebSocket listener ("Unable to start any listening sockets"), so the test plays it; it
/// hangs up on anything that is not an HTTP request.
fn fake_websocket_broker() -> u16 {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
                if head.len() == 3 && head != b"GET" {
                    break;
                }
            }
            if !head.starts_with(b"GET /mqtt") {
                continue;
            }
            let _ = conn.write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
            );
            let mut frame_head = [0u8; 2];
            if conn.read_exact(&mut frame_head).is_err() || frame_head[0] != 0x82 {
                continue;
            }
            let len = (frame_head[1] & 0x7f) as usize;
            let mut rest = vec![0u8; 4 + len];
            if conn.read_exact(&mut rest).is_err() || (rest[4] ^ rest[0]) != 0x10 {
                continue;
            }
            // CONNACK, return code 0, in an unmasked binary frame.
            let _ = conn.write_all(&[0x82, 0x04, 0x20, 0x02, 0x00, 0x00]);
        }
    });
    port
}

#[test]
fn every_open_plaintext_or_websocket_listener_is_reported() {
    let mut s = station();
    let plain = free_port().expect("port");
    let password_plain = free_port().expect("port");
    let closed = free_port().expect("port");
    let websocket = fake_websocket_broker();
    let mut tls_port = 0;
    let _broker = custom_broker::start(&mut s, |files, port| {
        tls_port = port;
        let passwords = files.dir.join("passwords");
        std::fs::write(&passwords, "").expect("password file");
        let ok = std::process::Command::new("mosquitto_passwd")
            .arg("-b")
            .arg(&passwords)
            .args(["installer", "s3cret"])
            .status()
            .expect("mosquitto_passwd");
        assert!(ok.success());
        format!(
            "{}{}allow_anonymous false\nrequire_certificate true\n\
             use_identity_as_username true\ncrlfile {crl}\n\n\
             listener {plain} 127.0.0.1\nallow_anonymous true\n\n\
             listener {password_plain} 127.0.0.1\nallow_anonymous false\npassword_file {pw}\n",
            common(files),
            tls_listener(files, port),
            crl = files.crl.display(),
            pw = passwords.display(),
        )
    });
    // Only ports this test opened (never the host's own 1883 or 8883): the profile's list is
    // the whole list probed.
    if let Some(b) = s.station.config.broker.as_mut() {
        b.audit.plaintext_ports = vec![plain, password_plain, closed, websocket, tls_port];
        b.connect_timeout_secs = 2;
    }
    let a = audit_station(&s.station, &s.ca, "qa", None).expect("audit runs");
    let got = by_name(&a);
    let r = got["plaintext_listener"];
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.evidence);
    let says = |port: u16, what: &str| {
        r.evidence
            .split("; ")
            .any(|part| part.contains(&format!(":{port} ")) && part.contains(what))
    };
    assert!(says(plain, "without credentials"), "{}", r.evidence);
    assert!(says(password_plain, "passwords in clear"), "{}", r.evidence);
    assert!(says(websocket, "WebSockets"), "{}", r.evidence);
    // The broker's own TLS listener is open but not plaintext: noted, not a finding.
    assert!(says(tls_port, "not judged"), "{}", r.evidence);
    assert!(
        !r.evidence.contains(&format!(":{closed} ")),
        "{}",
        r.evidence
    );
    // The TLS listener itself is the lab's: its certificate checks pass.
    assert_eq!(got["no_client_certificate"].outcome, Outcome::Pass);
    assert_eq!(got["foreign_ca"].outcome, Outcome::Pass);
}
