//! What decides trust, attacked by someone who can write the station's files (issue 20):
//! operators, sign-in tokens and sign-in attempts are chained, so a row written, edited or
//! deleted with `sqlite3` shows in `journal verify` and does not sign in; exports are trusted
//! by the key pinned in station.toml, so a swapped key file is refused.

use std::path::Path;

use crate::commands::text;
use crate::integrity::sqlite;
use crate::operators::{refused, run};

/// A station with an admin (ada, 246802) and a technician (tom, 135791).
fn station_with_operators(st: &Path) {
    for (id, role, pin, env) in [
        ("ada", "admin", "246802", vec![]),
        (
            "tom",
            "technician",
            "135791",
            vec![
                ("COMMISSIONER_OPERATOR", "ada"),
                ("COMMISSIONER_PIN", "246802"),
            ],
        ),
    ] {
        let mut env = env;
        env.push(("COMMISSIONER_NEW_PIN", pin));
        let out = run(st, &["operator", "add", id, "--role", role], &env);
        assert!(out.status.success(), "{}", text(&out));
    }
}

const ADMIN: [(&str, &str); 2] = [
    ("COMMISSIONER_OPERATOR", "ada"),
    ("COMMISSIONER_PIN", "246802"),
];

fn broken(st: &Path, code: &str) {
    let verify = run(st, &["journal", "verify"], &ADMIN);
    let shown = text(&verify);
    assert_eq!(verify.status.code(), Some(1), "{shown}");
    assert!(shown.contains(&format!("[{code}]")), "{shown}");
}

fn verifies(st: &Path) {
    let verify = run(st, &["journal", "verify"], &ADMIN);
    assert!(verify.status.success(), "{}", text(&verify));
}

fn sha256_hex(text: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)[..64].to_owned()
}

fn export(st: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let file = st.join("export.csv");
    run(
        st,
        &["journal", "export", "--out", file.to_str().expect("utf-8")],
        env,
    )
}

#[test]
fn a_token_row_written_by_hand_is_detected_and_does_not_sign_in() {
    let dir = tempfile::tempdir().expect("tmp");
    let st = dir.path().join("station");
    assert!(run(&st, &["lab", "init"], &[]).status.success());
    station_with_operators(&st);
    let login = run(
        &st,
        &["login", "--operator", "ada"],
        &[("COMMISSIONER_PIN", "246802")],
    );
    assert!(login.status.success(), "{}", text(&login));
    verifies(&st);
    // Sign-out revokes the token in the journal, chained: still verifies.
    assert!(run(&st, &["logout"], &[]).status.success());
    verifies(&st);

    // An admin token made by hand: the hash of a token the attacker chose, valid for a day.
    // Before this fix, verify said OK and the token signed in as ada.
    let token = "f".repeat(64);
    let expires = time::OffsetDateTime::now_utc().unix_timestamp() + 86_400;
    sqlite(
        &st,
        &format!(
            "INSERT INTO operator_tokens (token_sha256, operator_id, expires_unix)
             VALUES ('{}', 'ada', {expires})",
            sha256_hex(&token)
        ),
    );
    broken(&st, "chain.token_unrecorded");
    let forged = crate::operators::token_file(&st);
    std::fs::create_dir_all(forged.parent().expect("dir")).expect("runtime dir");
    std::fs::write(&forged, &token).expect("forge the token file");
    refused(&export(&st, &[]), "operator.unrecorded");
}

#[test]
fn a_role_raised_by_hand_is_detected_and_does_not_sign_in() {
    let dir = tempfile::tempdir().expect("tmp");
    let st = dir.path().join("station");
    assert!(run(&st, &["lab", "init"], &[]).status.success());
    station_with_operators(&st);
    let tom = [
        ("COMMISSIONER_OPERATOR", "tom"),
        ("COMMISSIONER_PIN", "135791"),
    ];
    refused(&export(&st, &tom), "operator.forbidden");
    sqlite(
        &st,
        "UPDATE operators SET role = 'admin' WHERE operator_id = 'tom'",
    );
    broken(&st, "chain.operator_edited");
    refused(&export(&st, &tom), "operator.unrecorded");

    // An operator inserted by hand (a PIN hash copied from tom's) is not recorded either.
    sqlite(
        &st,
        "UPDATE operators SET role = 'technician' WHERE operator_id = 'tom'",
    );
    verifies(&st);
    sqlite(
        &st,
        "INSERT INTO operators (operator_id, first_seen, role, pin_hash, created_at)
         SELECT 'eve', first_seen, 'admin', pin_hash, created_at FROM operators
         WHERE operator_id = 'tom'",
    );
    broken(&st, "chain.operator_unrecorded");
    refused(
        &export(
            &st,
            &[
                ("COMMISSIONER_OPERATOR", "eve"),
                ("COMMISSIONER_PIN", "135791"),
            ],
        ),
        "operator.unrecorded",
    );
}

#[test]
fn failed_sign_ins_deleted_to_lift_a_lockout_are_detected() {
    let dir = tempfile::tempdir().expect("tmp");
    let st = dir.path().join("station");
    assert!(run(&st, &["lab", "init"], &[]).status.success());
    station_with_operators(&st);
    for _ in 0..5 {
        let wrong = run(
            &st,
            &["login", "--operator", "tom"],
            &[("COMMISSIONER_PIN", "000000")],
        );
        refused(&wrong, "operator.bad_credentials");
    }
    verifies(&st);
    sqlite(&st, "DELETE FROM login_attempts WHERE ok = 0");
    broken(&st, "chain.login_attempt_deleted");
}

pub(crate) fn verify_export(st: &Path, file: &Path, trust: &[&str]) -> std::process::Output {
    let mut args = vec!["journal", "verify-export", file.to_str().expect("utf-8")];
    for key in trust {
        args.extend(["--trust", key]);
    }
    run(st, &args, &[])
}

#[test]
fn an_export_re_signed_with_a_swapped_key_file_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for st in [&a, &b] {
        assert!(run(st, &["lab", "init"], &[]).status.success());
        assert!(run(st, &["line", "--sim", "1"], &[]).status.success());
        assert!(export(st, &[]).status.success());
    }
    let key_a = text(&run(&a, &["journal", "key"], &[])).trim().to_owned();
    assert_eq!(key_a.len(), 44, "{key_a}");
    let toml = std::fs::read_to_string(a.join("station.toml")).expect("toml");
    assert!(
        toml.contains(&format!("export_key = \"{key_a}\"")),
        "{toml}"
    );
    let export_a = a.join("export.csv");
    let out = verify_export(&b, &export_a, &[&key_a]);
    assert!(out.status.success(), "{}", text(&out));

    // The attacker puts their own key (b's) in a's key file and passes an export signed with
    // it off as a's. Before this fix verify-export took whatever key file it found: OK.
    std::fs::copy(
        b.join("keys/export-signing.key.pem"),
        a.join("keys/export-signing.key.pem"),
    )
    .expect("swap the key");
    std::fs::copy(b.join("export.csv"), &export_a).expect("forged export");
    std::fs::copy(
        b.join("export.csv.manifest.json"),
        a.join("export.csv.manifest.json"),
    )
    .expect("forged manifest");
    let out = verify_export(&a, &export_a, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("[export.wrong_station]"),
        "{}",
        text(&out)
    );
    // Elsewhere, against the key QA recorded: refused too.
    let out = verify_export(&b, &export_a, &[&key_a]);
    assert!(
        text(&out).contains("[export.wrong_station]"),
        "{}",
        text(&out)
    );
    // The station itself signs nothing with the swapped key.
    refused(&export(&a, &[]), "export.key_not_pinned");

    // A missing key is an error, not a new identity.
    std::fs::remove_file(a.join("keys/export-signing.key.pem")).expect("rm key");
    refused(&export(&a, &[]), "export.key_missing");
    assert!(!a.join("keys/export-signing.key.pem").exists());
    refused(&run(&a, &["journal", "key"], &[]), "export.key_missing");
    // A trusted key that is not a key is refused with its own code.
    refused(
        &verify_export(&b, &export_a, &["not-a-key"]),
        "export.trusted_key_invalid",
    );
}

#[test]
fn incremental_verify_checks_what_is_new_and_cannot_be_skipped_ahead() {
    let dir = tempfile::tempdir().expect("tmp");
    let st = dir.path().join("station");
    assert!(run(&st, &["lab", "init"], &[]).status.success());
    assert!(run(&st, &["line", "--sim", "2"], &[]).status.success());
    let incremental = |st: &Path| run(st, &["journal", "verify", "--incremental"], &[]);
    // No verified head yet: a full verify, which records its head.
    let out = incremental(&st);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("verified in full"), "{}", text(&out));
    assert!(run(&st, &["line", "--sim", "2"], &[]).status.success());
    let out = incremental(&st);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("incremental: checked what came after"),
        "{}",
        text(&out)
    );
    // The two units, and the lab's broker and backend identities the second line registered.
    assert!(text(&out).contains("4 sealed sessions"), "{}", text(&out));

    // A session sealed after the verified head, edited: found.
    assert!(run(&st, &["line", "--sim", "1"], &[]).status.success());
    let newest = sqlite(&st, "SELECT max(id) FROM sessions");
    sqlite(
        &st,
        &format!("UPDATE sessions SET operator = 'mallory' WHERE id = {newest}"),
    );
    let out = incremental(&st);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("[chain.session_edited]"),
        "{}",
        text(&out)
    );

    // The journal's record moved to the current head, to skip the edit: the anchors do not
    // confirm it, so the verify is a full one and still finds it.
    let head = sqlite(
        &st,
        "SELECT seq || ',' || hash FROM chain ORDER BY seq DESC LIMIT 1",
    );
    let (seq, hash) = head.split_once(',').expect("head");
    sqlite(
        &st,
        &format!(
            "UPDATE meta SET value = '{{\"head\":{{\"seq\":{seq},\"hash\":\"{hash}\"}},\"maxSession\":{newest}}}'
             WHERE key = 'verified_head'"
        ),
    );
    let out = incremental(&st);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("verified in full"), "{}", text(&out));
    assert!(
        text(&out).contains("[chain.session_edited]"),
        "{}",
        text(&out)
    );
}
