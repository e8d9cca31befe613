//! The export-signing key encrypted like the CA key, and published chain heads sent off the
//! station (issue 20): a file on another path, the syslog socket, an HTTP endpoint. Each
//! target stands in for what a local attacker cannot rewrite; each test cuts the station's own
//! records back and shows the target still tells.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;

use crate::commands::{commissioner, text, PASSPHRASE};
use crate::integrity::{cut_back, sessions, sqlite};
use crate::operators::refused;
use crate::trust_records::verify_export;

fn export(station: &Path, file: &Path) -> std::process::Output {
    let out = commissioner(
        station,
        &["journal", "export", "--out", file.to_str().expect("utf8")],
    );
    assert!(out.status.success(), "{}", text(&out));
    out
}

fn verify_against(station: &Path, anchors: &Path) -> std::process::Output {
    commissioner(
        station,
        &[
            "journal",
            "verify",
            "--anchors",
            anchors.to_str().expect("utf8"),
        ],
    )
}

/// A new lab station `name` under `dir`.
fn lab(dir: &Path, name: &str) -> std::path::PathBuf {
    let st = dir.join(name);
    let out = commissioner(&st, &["lab", "init"]);
    assert!(out.status.success(), "{}", text(&out));
    st
}

/// The command's output contains `needle`.
fn shows(out: &std::process::Output, needle: &str) {
    assert!(
        text(out).contains(needle),
        "expected {needle}: {}",
        text(out)
    );
}

fn set_target(station: &Path, kind: &str, value: &str) {
    let path = station.join("station.toml");
    let toml = std::fs::read_to_string(&path).expect("toml");
    let kept = toml
        .split("\n[anchor_target]")
        .next()
        .expect("head")
        .trim_end();
    std::fs::write(
        &path,
        format!("{kept}\n\n[anchor_target]\n{kind} = \"{value}\"\n"),
    )
    .expect("toml");
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// The pinned key, from `journal key` (no passphrase needed).
fn pinned_key(station: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_commissioner"))
        .arg("--station")
        .arg(station)
        .args(["journal", "key"])
        .env_remove("COMMISSIONER_CA_PASSPHRASE")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The Ed25519 public key in an encrypted key file, as openssl reads it with `pass`.
fn openssl_public_key(key: &Path, pass: &str) -> Option<String> {
    use base64::Engine;
    let out = Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-passin"])
        .arg(format!("pass:{pass}"))
        .arg("-in")
        .arg(key)
        .output()
        .expect("openssl");
    out.status.success().then(|| {
        let der = out.stdout;
        base64::engine::general_purpose::STANDARD.encode(&der[der.len() - 32..])
    })
}

#[test]
fn the_export_key_is_encrypted_with_the_station_passphrase_and_a_plain_one_is_migrated() {
    let dir = tempfile::tempdir().expect("tmp");
    let st = lab(dir.path(), "station");
    let key_file = st.join("keys/export-signing.key.pem");
    let pem = std::fs::read_to_string(&key_file).expect("encrypted key");
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{pem}"
    );
    assert!(!st.join("keys/export-signing.p8").exists());
    // openssl opens it with the station passphrase only, and finds the pinned key.
    let pin = pinned_key(&st);
    assert_eq!(
        openssl_public_key(&key_file, PASSPHRASE).as_deref(),
        Some(pin.as_str())
    );
    assert_eq!(openssl_public_key(&key_file, "not-the-passphrase"), None);

    // A station from before: its key in the clear (the old format) and pinned.
    std::fs::remove_file(&key_file).expect("rm");
    let plain = st.join("keys/export-signing.p8");
    let old = commissioner_core::journal::export::StationKey::load_or_create(&plain).expect("key");
    let old_pin = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(old.public_key())
    };
    let toml = std::fs::read_to_string(st.join("station.toml")).expect("toml");
    std::fs::write(st.join("station.toml"), toml.replace(&pin, &old_pin)).expect("toml");
    sessions(&st, 1);
    let file = dir.path().join("e.csv");
    export(&st, &file);
    // Migrated at the first unlock: encrypted, the clear file gone, the same key.
    assert!(!plain.exists());
    assert_eq!(
        openssl_public_key(&key_file, PASSPHRASE).as_deref(),
        Some(old_pin.as_str())
    );
    let out = verify_export(&st, &file, &[&old_pin]);
    assert!(out.status.success(), "{}", text(&out));

    // A wrong passphrase does not open it (the CA is not needed to export).
    let out = Command::new(env!("CARGO_BIN_EXE_commissioner"))
        .arg("--station")
        .arg(&st)
        .args(["journal", "export", "--out", file.to_str().expect("utf8")])
        .env("COMMISSIONER_CA_PASSPHRASE", "wrong-passphrase")
        .output()
        .expect("run");
    refused(&out, "export.key_passphrase");
}

#[test]
fn verifying_at_another_station_never_creates_a_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let (a, b) = (lab(dir.path(), "a"), lab(dir.path(), "b"));
    sessions(&a, 2);
    let file = dir.path().join("a.csv");
    export(&a, &file);
    let key_a = pinned_key(&a);
    // Station b has lost its key file: checking a's export and its own journal still work
    // against pins, and nothing makes a key in its place.
    std::fs::remove_file(b.join("keys/export-signing.key.pem")).expect("rm");
    let out = verify_export(&b, &file, &[&key_a]);
    assert!(out.status.success(), "{}", text(&out));
    // Without --trust, b's own pin decides: not a's.
    let out = verify_export(&b, &file, &[]);
    shows(&out, "[export.wrong_station]");
    let out = verify_against(&b, &a.join("anchors.jsonl"));
    // a's anchors are not signed by b's key.
    shows(&out, "[chain.anchor_invalid]");
    assert!(!b.join("keys/export-signing.key.pem").exists());
    assert!(!b.join("keys/export-signing.p8").exists());
    // Signing needs the key: a clear error, never a new identity.
    refused(
        &commissioner(
            &b,
            &[
                "journal",
                "export",
                "--out",
                dir.path().join("b.csv").to_str().expect("utf8"),
            ],
        ),
        "export.key_missing",
    );
    assert!(!b.join("keys/export-signing.key.pem").exists());
}

#[test]
fn an_off_station_file_still_names_the_head_cut_off_the_journal_and_queues_while_away() {
    let dir = tempfile::tempdir().expect("tmp");
    let st = lab(dir.path(), "station");
    let offsite_dir = dir.path().join("other-volume");
    let offsite = offsite_dir.join("anchors.jsonl");
    // The other volume is not mounted yet: the head waits, the export does not fail.
    set_target(&st, "file", offsite.to_str().expect("utf8"));
    sessions(&st, 3);
    let first = dir.path().join("first.csv");
    let out = export(&st, &first);
    shows(&out, "off-station anchor: NOT sent");
    assert_eq!(lines(&st.join("anchor-outbox.jsonl")).len(), 1);
    let kept_head = sqlite(&st, "SELECT max(seq) FROM chain");
    let kept_session = sqlite(&st, "SELECT max(id) FROM sessions");

    std::fs::create_dir(&offsite_dir).expect("mount");
    sessions(&st, 2);
    let second = dir.path().join("second.csv");
    let out = export(&st, &second);
    shows(&out, "with 1 that had waited");
    assert!(!st.join("anchor-outbox.jsonl").exists());
    // In order, the same signed lines as the station's own file.
    let sent = lines(&offsite);
    assert_eq!(sent, lines(&st.join("anchors.jsonl")));
    assert_eq!(sent.len(), 2);
    assert!(sent[1]["source"]
        .as_str()
        .expect("source")
        .ends_with("second.csv"));
    let out = verify_against(&st, &offsite);
    assert!(out.status.success(), "{}", text(&out));

    // Cut back: the newest sessions and their chain entries, and the station's anchor file.
    cut_back(&st, &kept_session, &kept_head);
    let own = std::fs::read_to_string(st.join("anchors.jsonl")).expect("own");
    std::fs::write(
        st.join("anchors.jsonl"),
        own.lines().next().expect("line").to_owned() + "\n",
    )
    .expect("cut");
    let out = commissioner(&st, &["journal", "verify"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = verify_against(&st, &offsite);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("[chain.anchor_missing]"), "{shown}");
    assert!(
        shown.contains(&format!("export {}", second.display())),
        "{shown}"
    );

    // A line written into the target by hand to match the cut chain is not the station's.
    let mut forged = lines(&offsite)[0].clone();
    forged["source"] = serde_json::json!("forged");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&offsite)
        .expect("open");
    writeln!(f, "{forged}").expect("append");
    let out = verify_against(&st, &offsite);
    shows(&out, "[chain.anchor_invalid]");
}

#[test]
fn a_running_line_sends_its_sealed_head_to_syslog_as_rfc5424() {
    let dir = tempfile::tempdir().expect("tmp");
    let st = lab(dir.path(), "station");
    // A datagram socket stands in for the syslog daemon's /dev/log.
    let socket = dir.path().join("log.sock");
    let daemon = UnixDatagram::bind(&socket).expect("bind");
    daemon
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("timeout");
    set_target(&st, "syslog", socket.to_str().expect("utf8"));
    let out = commissioner(&st, &["line", "--sim", "1"]);
    assert!(out.status.success(), "{}", text(&out));
    // Every head the station published (the lab's CRL first), the line's sealed head last.
    let mut kept_lines = Vec::new();
    let head = sqlite(&st, "SELECT max(seq) FROM chain");
    loop {
        let mut buf = vec![0u8; 8192];
        let n = daemon.recv(&mut buf).expect("a message");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        // <PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG
        let fields: Vec<&str> = msg.splitn(8, ' ').collect();
        assert_eq!(fields[0], "<134>1", "{msg}");
        assert!(fields[1].ends_with('Z') && fields[1].contains('T'), "{msg}");
        assert_eq!(
            (fields[3], fields[5], fields[6]),
            ("commissioner", "anchor", "-"),
            "{msg}"
        );
        let anchor: serde_json::Value = serde_json::from_str(fields[7]).expect("json");
        kept_lines.push(fields[7].to_owned());
        if anchor["kind"] == "seal" {
            assert_eq!(anchor["seq"].to_string(), head, "{msg}");
            break;
        }
    }
    // What the log server kept is an anchor file `journal verify` checks.
    let kept = dir.path().join("from-syslog.jsonl");
    std::fs::write(&kept, kept_lines.join("\n") + "\n").expect("write");
    let out = verify_against(&st, &kept);
    assert!(out.status.success(), "{}", text(&out));
    sqlite(&st, &format!("DELETE FROM chain WHERE seq = {head}"));
    let out = verify_against(&st, &kept);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

/// Answers `statuses.len()` POSTs with those statuses; returns (request line, body) of each.
fn http_target(
    statuses: Vec<&'static str>,
) -> (String, std::thread::JoinHandle<Vec<(String, String)>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/anchors", listener.local_addr().expect("addr"));
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for status in statuses {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(stream);
            let mut request = String::new();
            reader.read_line(&mut request).expect("request line");
            let mut length = 0usize;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).expect("header");
                if header.trim().is_empty() {
                    break;
                }
                if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().expect("length");
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).expect("body");
            let mut stream = reader.into_inner();
            write!(stream, "HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").expect("reply");
            seen.push((
                request.trim().to_owned(),
                String::from_utf8_lossy(&body).into_owned(),
            ));
        }
        seen
    });
    (url, handle)
}

#[test]
fn an_http_target_gets_each_head_as_a_post_and_a_refused_one_is_sent_again_first() {
    let dir = tempfile::tempdir().expect("tmp");
    let st = lab(dir.path(), "station");
    let (url, server) = http_target(vec!["503 Service Unavailable", "204 No Content", "200 OK"]);
    set_target(&st, "http", &url);
    sessions(&st, 1);
    let out = export(&st, &dir.path().join("one.csv"));
    shows(&out, "NOT sent");
    shows(&out, "503");
    sessions(&st, 1);
    let out = export(&st, &dir.path().join("two.csv"));
    shows(&out, "with 1 that had waited");
    let seen = server.join().expect("server");
    assert!(
        seen.iter().all(|(r, _)| r == "POST /anchors HTTP/1.1"),
        "{seen:?}"
    );
    // The refused head again, then the new one: the endpoint sees every head, in order.
    let own = std::fs::read_to_string(st.join("anchors.jsonl")).expect("own");
    let own: Vec<&str> = own.lines().collect();
    assert_eq!(seen[0].1.trim(), own[0]);
    assert_eq!(seen[1].1.trim(), own[0]);
    assert_eq!(seen[2].1.trim(), own[1]);
    assert!(!st.join("anchor-outbox.jsonl").exists());
}
