//! Attacks by someone who can write the station's files (issue 20): each is refused or
//! detected, with its own code.

use std::path::Path;
use std::process::Command;

use crate::commands::{commissioner, text};

/// Runs one SQL statement on the station's journal with the `sqlite3` tool; returns stdout.
pub fn sqlite(station: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3")
        .arg(station.join("journal.sqlite"))
        .arg(sql)
        .output()
        .expect("run sqlite3");
    assert!(out.status.success(), "sqlite3 {sql}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Replaces one `key = value` line of station.toml.
fn set_toml(station: &Path, key: &str, value: &str) {
    let path = station.join("station.toml");
    let toml = std::fs::read_to_string(&path).expect("toml");
    let prefix = format!("{key} = ");
    assert!(toml.lines().any(|l| l.starts_with(&prefix)), "{toml}");
    let edited: Vec<String> = toml
        .lines()
        .map(|l| {
            if l.starts_with(&prefix) {
                format!("{prefix}{value}")
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(&path, edited.join("\n") + "\n").expect("toml");
}

fn refused(out: &std::process::Output, code: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", text(out));
    assert!(
        text(out).contains(&format!("error[{code}]")),
        "expected {code}: {}",
        text(out)
    );
}

#[test]
fn nonsense_lifetimes_in_the_profile_are_refused_before_anything_is_signed() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    assert!(commissioner(&station, &["lab", "init"]).status.success());
    set_toml(&station, "allow_host_generated_key", "true");
    let bundle = dir.path().join("bundle");
    let issue = [
        "ca",
        "issue-host-key",
        "--device-id",
        "UNIT-LIFETIME",
        "--out",
        bundle.to_str().expect("utf8"),
    ];

    // Before this fix, -5 signed a certificate that had expired before it was written.
    set_toml(&station, "validity_days", "-5");
    refused(&commissioner(&station, &issue), "policy.bad_validity");
    set_toml(&station, "validity_days", "0");
    refused(&commissioner(&station, &issue), "policy.bad_validity");
    // The lab issuing CA lives ten years; fifty would outlive it.
    set_toml(&station, "validity_days", "18250");
    refused(&commissioner(&station, &issue), "policy.outlives_ca");
    // So large it would overflow the date: refused, not a crash.
    set_toml(&station, "validity_days", "9223372036854775807");
    refused(&commissioner(&station, &issue), "policy.outlives_ca");
    assert!(!bundle.exists(), "nothing may be written");
    assert_eq!(sqlite(&station, "SELECT count(*) FROM certificates"), "0");

    set_toml(&station, "validity_days", "365");
    set_toml(&station, "crl_validity_days", "0");
    let crl = dir.path().join("crl.pem");
    let publish = ["ca", "crl", "--out", crl.to_str().expect("utf8")];
    refused(&commissioner(&station, &publish), "policy.bad_crl_validity");
    set_toml(&station, "crl_validity_days", "-3");
    refused(&commissioner(&station, &publish), "policy.bad_crl_validity");
    assert!(!crl.exists());
    assert_eq!(sqlite(&station, "SELECT count(*) FROM crls"), "0");

    // A sane profile signs again.
    set_toml(&station, "crl_validity_days", "7");
    let out = commissioner(&station, &issue);
    assert!(out.status.success(), "{}", text(&out));
}

/// Publishes a CRL to `out` and returns its number as `openssl crl -crlnumber` reads it.
pub fn publish_crl(station: &Path, out: &Path) -> u64 {
    let run = commissioner(
        station,
        &["ca", "crl", "--out", out.to_str().expect("utf8")],
    );
    assert!(run.status.success(), "{}", text(&run));
    let read = Command::new("openssl")
        .args(["crl", "-noout", "-crlnumber", "-in"])
        .arg(out)
        .output()
        .expect("openssl");
    assert!(read.status.success(), "{}", text(&read));
    let shown = String::from_utf8_lossy(&read.stdout);
    let hex = shown
        .trim()
        .trim_start_matches("crlNumber=")
        .trim_start_matches("0x");
    u64::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("crl number in {shown}"))
}

fn first_serial(station: &Path) -> String {
    let out = commissioner(station, &["ca", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    rows[0]["serial"].as_str().expect("serial").to_owned()
}

#[test]
fn crl_numbers_never_go_back_when_journal_rows_are_deleted() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    let out = commissioner(&station, &["demo"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let crl = dir.path().join("crl.pem");
    let first = publish_crl(&station, &crl);
    let second = publish_crl(&station, &crl);
    assert_eq!(second, first + 1);

    // The journal forgets every CRL it signed: the number kept beside the CA carries on, and
    // the operator is told the journal's counter was behind.
    sqlite(&station, "DELETE FROM crls");
    let elsewhere = dir.path().join("other.pem");
    let run = commissioner(
        &station,
        &["ca", "crl", "--out", elsewhere.to_str().expect("utf8")],
    );
    assert!(
        text(&run).contains("warning[crl.number_behind]"),
        "{}",
        text(&run)
    );
    let third = publish_crl(&station, &elsewhere);
    assert!(third > second + 1, "{third} after {second}");
    use std::os::unix::fs::PermissionsExt;
    let kept = station.join("ca/crl_number");
    let mode = std::fs::metadata(&kept)
        .expect("crl_number")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // The kept number deleted too: the CRL last published at that path still counts.
    let last_here = publish_crl(&station, &crl);
    sqlite(&station, "DELETE FROM crls");
    std::fs::remove_file(&kept).expect("rm crl_number");
    let next = publish_crl(&station, &crl);
    assert!(next > last_here, "{next} after {last_here}");
}

#[test]
fn revoking_again_keeps_the_stronger_reason_and_a_tampered_registry_gets_no_crl() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    let out = commissioner(&station, &["demo"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let serial = first_serial(&station);
    let revoke = |reason: &str| {
        commissioner(
            &station,
            &["ca", "revoke", "--serial", &serial, "--reason", reason],
        )
    };
    let reason_now = || {
        sqlite(
            &station,
            &format!("SELECT revocation_reason FROM certificates WHERE serial = '{serial}'"),
        )
    };
    assert!(revoke("superseded").status.success());
    let since = sqlite(
        &station,
        &format!("SELECT revoked_at FROM certificates WHERE serial = '{serial}'"),
    );
    // Another lesser reason: refused, the first one stands.
    refused(&revoke("cessation-of-operation"), "revoke.already_revoked");
    assert_eq!(reason_now(), "superseded");
    // Key compromise outranks it, keeping the revocation date.
    let out = revoke("key-compromise");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("note[revoke.reason_strengthened]"),
        "{}",
        text(&out)
    );
    assert_eq!(reason_now(), "key-compromise");
    assert_eq!(
        sqlite(
            &station,
            &format!("SELECT revoked_at FROM certificates WHERE serial = '{serial}'"),
        ),
        since
    );
    // ... and nothing takes it back down.
    refused(&revoke("superseded"), "revoke.already_revoked");
    assert_eq!(reason_now(), "key-compromise");
    let verify = commissioner(&station, &["journal", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
    let crl = dir.path().join("crl.pem");
    let number = publish_crl(&station, &crl);
    let shown = Command::new("openssl")
        .args(["crl", "-noout", "-text", "-in"])
        .arg(&crl)
        .output()
        .expect("openssl");
    assert!(text(&shown).contains("Key Compromise"), "{}", text(&shown));

    // Someone softens the reason by hand: the registry no longer verifies, and no CRL is
    // signed from it (nor is a number spent).
    sqlite(
        &station,
        &format!(
            "UPDATE certificates SET revocation_reason = 'superseded' WHERE serial = '{serial}'"
        ),
    );
    let out = commissioner(
        &station,
        &["ca", "crl", "--out", crl.to_str().expect("utf8")],
    );
    refused(&out, "crl.registry_unverified");
    assert!(
        text(&out).contains("chain.certificate_edited"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(station.join("ca/crl_number"))
            .expect("crl_number")
            .trim(),
        number.to_string()
    );
}

#[test]
fn recover_seals_only_the_sessions_this_station_began() {
    use commissioner_core::journal::NewSession;
    use commissioner_core::station::Station;

    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    assert!(commissioner(&station, &["lab", "init"]).status.success());
    // A session the station itself began, left running as a crash would leave it.
    let opened = Station::open(&station).expect("station");
    let journal = opened.journal().expect("journal");
    let real = journal
        .begin_session(&NewSession {
            station_id: &opened.config.station_id,
            operator: "alice",
            port: "/dev/ttyUSB0",
            work_order: None,
            started_at: time::OffsetDateTime::now_utc(),
        })
        .expect("begin");
    drop(journal);

    // Two forged ones written by hand: one with this station's id, one with another's, each
    // with a step claiming the unit passed.
    let own_id = opened.config.station_id.clone();
    for station_id in [own_id.as_str(), "station-elsewhere"] {
        sqlite(
            &station,
            &format!(
                "INSERT INTO sessions (started_at, station_id, operator, port, device_id, result)
                 VALUES ('2026-01-01T00:00:00Z', '{station_id}', 'mallory', '/dev/ttyUSB9', 'UNIT-FAKE', 'running');
                 INSERT INTO steps (session_id, name, started_at, ended_at, outcome)
                 VALUES (last_insert_rowid(), 'handshake', '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', 'ok');"
            ),
        );
    }
    let forged: Vec<String> = sqlite(
        &station,
        "SELECT id FROM sessions WHERE operator = 'mallory' ORDER BY id",
    )
    .lines()
    .map(str::to_owned)
    .collect();
    assert_eq!(forged.len(), 2);
    // Copying a genuine mark onto a forged row does not help either.
    sqlite(
        &station,
        &format!(
            "INSERT INTO meta (key, value) SELECT 'session_start:{}', value FROM meta WHERE key = 'session_start:{real}'",
            forged[0]
        ),
    );

    let out = commissioner(&station, &["journal", "recover"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("1 interrupted session(s) closed"), "{shown}");
    for id in &forged {
        assert!(
            shown.contains(&format!("TAMPERED [chain.session_forged]: session {id} ")),
            "{shown}"
        );
        // Not sealed: still running, and no chain entry covers it.
        assert_eq!(
            sqlite(
                &station,
                &format!("SELECT result FROM sessions WHERE id = {id}")
            ),
            "running"
        );
        assert_eq!(
            sqlite(
                &station,
                &format!("SELECT count(*) FROM chain WHERE kind = 'session' AND ref = '{id}'")
            ),
            "0"
        );
    }
    assert!(shown.contains("station-elsewhere"), "{shown}");
    assert_eq!(
        sqlite(
            &station,
            &format!("SELECT result FROM sessions WHERE id = {real}")
        ),
        "interrupted"
    );
    assert_eq!(
        sqlite(
            &station,
            &format!("SELECT count(*) FROM chain WHERE kind = 'session' AND ref = '{real}'")
        ),
        "1"
    );
}

/// Runs `count` sessions through the station's own journal API, each ending in a pass.
pub(crate) fn sessions(station: &Path, count: usize) {
    use commissioner_core::journal::{NewSession, SessionResult};
    use commissioner_core::station::Station;
    let opened = Station::open(station).expect("station");
    let journal = opened.journal().expect("journal");
    for i in 0..count {
        let now = time::OffsetDateTime::now_utc();
        let id = journal
            .begin_session(&NewSession {
                station_id: &opened.config.station_id,
                operator: "alice",
                port: "/dev/ttyUSB0",
                work_order: None,
                started_at: now,
            })
            .expect("begin");
        journal
            .set_identity(id, &format!("UNIT-{id}-{i}"), "M1", "1.0")
            .expect("identity");
        journal
            .finish_session(id, SessionResult::Pass, None, now)
            .expect("finish");
    }
}

/// Deletes the sessions after `session` with their rows, and the chain entries after `seq`.
pub(crate) fn cut_back(station: &Path, session: &str, seq: &str) {
    sqlite(
        station,
        &format!(
            "DELETE FROM steps WHERE session_id > {session};
             DELETE FROM device_log WHERE session_id > {session};
             DELETE FROM sessions WHERE id > {session};
             DELETE FROM chain WHERE seq > {seq};"
        ),
    );
}

#[test]
fn cutting_the_newest_sessions_off_the_chain_is_caught_by_the_published_heads() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    assert!(commissioner(&station, &["lab", "init"]).status.success());
    sessions(&station, 4);
    let first = dir.path().join("first.csv");
    let out = commissioner(
        &station,
        &["journal", "export", "--out", first.to_str().expect("utf8")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let kept_head = sqlite(&station, "SELECT max(seq) FROM chain");
    let kept_session = sqlite(&station, "SELECT max(id) FROM sessions");
    sessions(&station, 3);
    let second = dir.path().join("second.csv");
    let out = commissioner(
        &station,
        &["journal", "export", "--out", second.to_str().expect("utf8")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let verify = commissioner(&station, &["journal", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
    assert!(
        text(&verify).contains("2 published chain head(s) checked"),
        "{}",
        text(&verify)
    );
    // QA keeps a copy of the anchor file off the station.
    let off_station = dir.path().join("anchors-copy.jsonl");
    std::fs::copy(station.join("anchors.jsonl"), &off_station).expect("copy");

    // The three newest sessions go, with their rows and chain entries: what is left is a
    // shorter chain that is consistent in itself (before this fix, verify said OK).
    cut_back(&station, &kept_session, &kept_head);
    let verify = commissioner(&station, &["journal", "verify"]);
    let shown = text(&verify);
    assert_eq!(verify.status.code(), Some(1), "{shown}");
    assert!(shown.contains("[chain.anchor_missing]"), "{shown}");
    assert!(
        shown.contains(&format!("export {}", second.display())),
        "{shown}"
    );

    // The station's own anchor file cut back too: the copy kept off the station still tells.
    let own = std::fs::read_to_string(station.join("anchors.jsonl")).expect("anchors");
    let first_line = own.lines().next().expect("a line").to_owned() + "\n";
    std::fs::write(station.join("anchors.jsonl"), first_line).expect("cut anchors");
    let verify = commissioner(&station, &["journal", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
    let verify = commissioner(
        &station,
        &[
            "journal",
            "verify",
            "--anchors",
            off_station.to_str().expect("utf8"),
        ],
    );
    let shown = text(&verify);
    assert_eq!(verify.status.code(), Some(1), "{shown}");
    assert!(shown.contains("[chain.anchor_missing]"), "{shown}");
    assert!(shown.contains("second.csv"), "{shown}");

    // An anchor line rewritten by hand to match the cut chain is not the station's.
    let forged = own.replacen("\"seq\":", "\"seq\":1", 1);
    std::fs::write(&off_station, forged).expect("forge");
    let verify = commissioner(
        &station,
        &[
            "journal",
            "verify",
            "--anchors",
            off_station.to_str().expect("utf8"),
        ],
    );
    assert!(
        text(&verify).contains("[chain.anchor_invalid]"),
        "{}",
        text(&verify)
    );
}

#[test]
fn a_revocation_cut_off_the_chain_gets_no_crl_that_drops_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    let out = commissioner(&station, &["demo"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let serial = first_serial(&station);
    let before = sqlite(&station, "SELECT max(seq) FROM chain");
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
    let crl = dir.path().join("crl.pem");
    let number = publish_crl(&station, &crl);

    // The revocation is undone by hand and its chain entry cut off the end.
    sqlite(
        &station,
        &format!(
            "UPDATE certificates SET status = 'active', revoked_at = NULL, revocation_reason = NULL
             WHERE serial = '{serial}';
             DELETE FROM chain WHERE seq > {before};"
        ),
    );
    let verify = commissioner(&station, &["journal", "verify"]);
    let shown = text(&verify);
    assert_eq!(verify.status.code(), Some(1), "{shown}");
    assert!(shown.contains("[chain.anchor_missing]"), "{shown}");
    assert!(shown.contains(&format!("crl #{number}")), "{shown}");
    // No CRL without the compromised unit is signed.
    let out = commissioner(
        &station,
        &["ca", "crl", "--out", crl.to_str().expect("utf8")],
    );
    refused(&out, "crl.registry_unverified");
    assert!(
        text(&out).contains("chain.anchor_missing"),
        "{}",
        text(&out)
    );
}

#[test]
fn an_archived_journal_verifies_and_a_fresh_one_in_its_place_does_not() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    assert!(commissioner(&station, &["lab", "init"]).status.success());
    sessions(&station, 2);
    let export = dir.path().join("e.csv");
    let out = commissioner(
        &station,
        &["journal", "export", "--out", export.to_str().expect("utf8")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let archive = dir.path().join("archive");
    let out = commissioner(
        &station,
        &[
            "journal",
            "archive",
            "--out",
            archive.to_str().expect("utf8"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    // The export's head lives in the archived file now; the new journal continues from the
    // archive's head, which is what is checked.
    sessions(&station, 1);
    let verify = commissioner(&station, &["journal", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));

    // The journal swapped for an empty one: it does not continue the archived history.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(station.join(format!("journal.sqlite{suffix}")));
    }
    // The station knows its journal's chain start and will not open another.
    let verify = commissioner(&station, &["journal", "verify"]);
    let shown = text(&verify);
    assert_eq!(verify.status.code(), Some(2), "{shown}");
    assert!(shown.contains("[journal.replaced]"), "{shown}");
    // Someone who also edits station.toml gets past that; the published heads still tell.
    let profile = station.join("station.toml");
    let text_before = std::fs::read_to_string(&profile).expect("profile");
    let edited: String = text_before
        .lines()
        .filter(|l| !l.starts_with("journal_genesis"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&profile, edited).expect("edit profile");
    let verify = commissioner(&station, &["journal", "verify"]);
    let shown = text(&verify);
    assert_eq!(verify.status.code(), Some(1), "{shown}");
    assert!(shown.contains("[chain.anchor_missing]"), "{shown}");
    assert!(shown.contains("archive "), "{shown}");
}
