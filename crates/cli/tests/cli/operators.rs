//! Operators at the command line: PINs, roles, login tokens, the lockout, and a station
//! without operators still working as before.

use std::path::Path;
use std::process::{Command, Output};

use commissioner_core::journal::Journal;

use crate::commands::{text, PASSPHRASE};

pub fn run(station: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_commissioner"))
        .arg("--station")
        .arg(station)
        .args(args)
        .env("COMMISSIONER_CA_PASSPHRASE", PASSPHRASE)
        .env_remove("COMMISSIONER_OPERATOR")
        .env_remove("COMMISSIONER_PIN")
        // The sign-in token lives with the OS user's session, here one per test.
        .env("XDG_RUNTIME_DIR", runtime_dir(station))
        .envs(env.iter().copied())
        .output()
        .expect("run commissioner")
}

fn runtime_dir(station: &Path) -> std::path::PathBuf {
    station.parent().expect("parent").join("run")
}

/// Where `commissioner login` keeps the token for `station` (see `token_path` in the CLI).
pub fn token_file(station: &Path) -> std::path::PathBuf {
    use sha2::Digest;
    let canonical = std::fs::canonicalize(station).expect("station");
    let id = hex::encode(&sha2::Sha256::digest(canonical.as_os_str().as_encoded_bytes())[..8]);
    runtime_dir(station)
        .join("commissioner")
        .join(format!("station-{id}.token"))
}

pub fn refused(out: &Output, code: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", text(out));
    assert!(
        text(out).contains(&format!("error[{code}]")),
        "{}",
        text(out)
    );
}

fn last_operator(station: &Path) -> String {
    let journal = Journal::open(&station.join("journal.sqlite")).expect("journal");
    journal
        .connection()
        .query_row(
            "SELECT operator FROM sessions ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("session")
}

#[test]
fn roles_pins_tokens_and_lockout() {
    let dir = tempfile::tempdir().expect("tmp");
    let st = dir.path().join("station");
    // No operators yet: the name given is recorded as before.
    let out = run(&st, &["line", "--sim", "1", "--operator", "bench-3"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(last_operator(&st), "bench-3");

    let add = |id: &str, role: &str, pin: &str, env: &[(&str, &str)]| {
        let mut env = env.to_vec();
        env.push(("COMMISSIONER_NEW_PIN", pin));
        run(&st, &["operator", "add", id, "--role", role], &env)
    };
    refused(
        &add("tom", "technician", "135791", &[]),
        "operator.first_must_be_admin",
    );
    assert!(add("ada", "admin", "246802", &[]).status.success());
    // From now on only an admin adds operators.
    refused(
        &add("tom", "technician", "135791", &[]),
        "operator.not_signed_in",
    );
    let admin = [
        ("COMMISSIONER_OPERATOR", "ada"),
        ("COMMISSIONER_PIN", "246802"),
    ];
    assert!(add("tom", "technician", "135791", &admin).status.success());
    assert!(add("quinn", "qa", "864202", &admin).status.success());
    let list = run(&st, &["operator", "list"], &[]);
    assert!(text(&list).contains("tom") && text(&list).contains("technician"));

    let tom = [
        ("COMMISSIONER_OPERATOR", "tom"),
        ("COMMISSIONER_PIN", "135791"),
    ];
    let quinn = [
        ("COMMISSIONER_OPERATOR", "quinn"),
        ("COMMISSIONER_PIN", "864202"),
    ];
    let export = |env: &[(&str, &str)]| {
        let file = dir.path().join("export.csv");
        run(
            &st,
            &["journal", "export", "--out", file.to_str().expect("utf-8")],
            env,
        )
    };
    // A technician neither recommissions nor exports; QA does not commission.
    refused(
        &run(
            &st,
            &["commission", "--port", "/dev/null", "--recommission"],
            &tom,
        ),
        "operator.forbidden",
    );
    refused(&export(&tom), "operator.forbidden");
    // The audit signs test identities with the CA: not a technician's job.
    refused(&run(&st, &["audit", "--json"], &tom), "operator.forbidden");
    refused(
        &run(&st, &["line", "--sim", "1"], &quinn),
        "operator.forbidden",
    );
    assert!(export(&quinn).status.success(), "{}", text(&export(&quinn)));
    // Nobody signed in at a station with operators: refused.
    refused(
        &run(&st, &["line", "--sim", "1"], &[]),
        "operator.not_signed_in",
    );

    // A login lasts: the technician commissions without giving the PIN again, and the
    // session records who did it.
    let login = run(
        &st,
        &["login", "--operator", "tom"],
        &[("COMMISSIONER_PIN", "135791")],
    );
    assert!(login.status.success(), "{}", text(&login));
    let out = run(&st, &["line", "--sim", "1"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(last_operator(&st), "tom");
    assert!(run(&st, &["logout"], &[]).status.success());

    // Five wrong PINs lock the operator out, the right one included.
    for _ in 0..5 {
        let wrong = run(
            &st,
            &["login", "--operator", "quinn"],
            &[("COMMISSIONER_PIN", "000000")],
        );
        refused(&wrong, "operator.bad_credentials");
    }
    refused(
        &run(
            &st,
            &["login", "--operator", "quinn"],
            &[("COMMISSIONER_PIN", "864202")],
        ),
        "operator.locked_out",
    );
}

#[test]
fn the_ca_and_the_profile_are_the_admins_alone() {
    let dir = tempfile::tempdir().expect("tmp");
    let st = dir.path().join("station");
    let out = run(&st, &["line", "--sim", "1"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let journal = Journal::open(&st.join("journal.sqlite")).expect("journal");
    let device: String = journal
        .connection()
        .query_row("SELECT device_id FROM certificates LIMIT 1", [], |r| {
            r.get(0)
        })
        .expect("certificate");

    let add = |id: &str, role: &str, pin: &str, env: &[(&str, &str)]| {
        let mut env = env.to_vec();
        env.push(("COMMISSIONER_NEW_PIN", pin));
        run(&st, &["operator", "add", id, "--role", role], &env)
    };
    assert!(add("ada", "admin", "246802", &[]).status.success());
    let admin = [
        ("COMMISSIONER_OPERATOR", "ada"),
        ("COMMISSIONER_PIN", "246802"),
    ];
    assert!(add("tom", "technician", "135791", &admin).status.success());
    assert!(add("fay", "field_engineer", "975313", &admin)
        .status
        .success());
    assert!(add("quinn", "qa", "864202", &admin).status.success());
    let as_op = |id: &'static str, pin: &'static str| {
        [("COMMISSIONER_OPERATOR", id), ("COMMISSIONER_PIN", pin)]
    };
    let crl = dir.path().join("crl.pem");
    let crl = crl.to_str().expect("utf-8");
    let revoke = [
        "ca",
        "revoke",
        "--device-id",
        &device,
        "--reason",
        "key-compromise",
    ];
    let svc = dir.path().join("svc");
    let svc = svc.to_str().expect("utf-8");
    let admin_only: [&[&str]; 7] = [
        &revoke,
        &["ca", "crl", "--out", crl],
        &["ca", "issue-backend", "--out", svc],
        &[
            "ca",
            "issue-server",
            "--name",
            "mqtt.example.com",
            "--out",
            svc,
        ],
        &["ca", "init", "--lab"],
        &["lab", "up"],
        &["lab", "reload"],
    ];
    for args in admin_only {
        for who in [
            as_op("tom", "135791"),
            as_op("fay", "975313"),
            as_op("quinn", "864202"),
        ] {
            refused(&run(&st, args, &who), "operator.forbidden");
        }
        // Signed in nowhere: refused before the passphrase is even asked for.
        refused(&run(&st, args, &[]), "operator.not_signed_in");
    }
    // A technician's login token is no way round it either.
    let login = run(
        &st,
        &["login", "--operator", "tom"],
        &[("COMMISSIONER_PIN", "135791")],
    );
    assert!(login.status.success(), "{}", text(&login));
    refused(&run(&st, &revoke, &[]), "operator.forbidden");
    assert!(run(&st, &["logout"], &[]).status.success());

    let revoked = run(&st, &revoke, &admin);
    assert!(revoked.status.success(), "{}", text(&revoked));
    assert!(text(&revoked).contains(&device), "{}", text(&revoked));
    let out = run(&st, &["ca", "crl", "--out", crl], &admin);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_walk_up_user_cannot_switch_the_role_checks_off() {
    let dir = tempfile::tempdir().expect("tmp");
    let st = dir.path().join("station");
    let out = run(&st, &["lab", "init"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run(
        &st,
        &["operator", "add", "ada", "--role", "admin"],
        &[("COMMISSIONER_NEW_PIN", "246802")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Archive used to need no role and leave a journal without operators behind.
    refused(
        &run(&st, &["journal", "archive", "--out", "/tmp/x"], &[]),
        "operator.not_signed_in",
    );
    // Reading the journal or the registry is QA's.
    refused(
        &run(&st, &["journal", "verify"], &[]),
        "operator.not_signed_in",
    );
    refused(&run(&st, &["ca", "list"], &[]), "operator.not_signed_in");

    // Deleting the journal does not open the station either: the station knows its journal
    // and refuses to start a new one in its place.
    let journal = st.join("journal.sqlite");
    let kept = dir.path().join("kept.sqlite");
    std::fs::rename(&journal, &kept).expect("move the journal away");
    for f in ["journal.sqlite-wal", "journal.sqlite-shm"] {
        let _ = std::fs::remove_file(st.join(f));
    }
    let out = run(
        &st,
        &["operator", "add", "mallory", "--role", "admin"],
        &[("COMMISSIONER_NEW_PIN", "999999")],
    );
    refused(&out, "journal.replaced");
    assert!(!journal.exists(), "a new journal was started");

    // Nor does another journal put in its place (here a fresh station's, without operators).
    let other = dir.path().join("other");
    assert_eq!(run(&other, &["lab", "init"], &[]).status.code(), Some(0));
    std::fs::copy(other.join("journal.sqlite"), &journal).expect("swap");
    refused(&run(&st, &["journal", "sessions"], &[]), "journal.replaced");

    // And with the station's own journal back, but emptied of operators by hand: the station
    // required operators once, so it fails closed.
    std::fs::copy(&kept, &journal).expect("restore");
    let status = std::process::Command::new("sqlite3")
        .arg(&journal)
        .arg("UPDATE operators SET pin_hash = NULL")
        .status()
        .expect("sqlite3");
    assert!(status.success());
    refused(
        &run(&st, &["journal", "sessions"], &[]),
        "operator.journal_without_operators",
    );
}

#[test]
fn short_or_non_digit_pins_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let st = dir.path().join("station");
    assert_eq!(run(&st, &["lab", "init"], &[]).status.code(), Some(0));
    for pin in ["2468", "24680", "24680a"] {
        refused(
            &run(
                &st,
                &["operator", "add", "ada", "--role", "admin"],
                &[("COMMISSIONER_NEW_PIN", pin)],
            ),
            "operator.weak_pin",
        );
    }
}

#[test]
fn a_sign_in_lives_with_the_os_user_and_logout_revokes_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let st = dir.path().join("station");
    assert_eq!(run(&st, &["lab", "init"], &[]).status.code(), Some(0));
    let out = run(
        &st,
        &["operator", "add", "ada", "--role", "admin"],
        &[("COMMISSIONER_NEW_PIN", "246802")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run(
        &st,
        &["login", "--operator", "ada"],
        &[("COMMISSIONER_PIN", "246802")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Not in the station directory, where anyone running a command there would find it.
    assert!(!std::fs::read_dir(&st)
        .expect("station")
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains("token")));
    let tokens: Vec<_> = std::fs::read_dir(runtime_dir(&st).join("commissioner"))
        .expect("runtime dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    let token = std::fs::read_to_string(&tokens[0]).expect("token");
    assert_eq!(run(&st, &["journal", "verify"], &[]).status.code(), Some(0));

    // Logout revokes the token in the journal: a copy kept aside signs nobody in.
    assert_eq!(run(&st, &["logout"], &[]).status.code(), Some(0));
    std::fs::write(&tokens[0], &token).expect("restore the copy");
    refused(
        &run(&st, &["journal", "verify"], &[]),
        "operator.token_invalid",
    );
}

#[test]
fn operators_change_their_pin_and_admins_disable_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let st = dir.path().join("station");
    assert_eq!(run(&st, &["lab", "init"], &[]).status.code(), Some(0));
    let admin = [
        ("COMMISSIONER_OPERATOR", "ada"),
        ("COMMISSIONER_PIN", "246802"),
    ];
    let add = |id: &str, role: &str, pin: &str, env: &[(&str, &str)]| {
        let mut env = env.to_vec();
        env.push(("COMMISSIONER_NEW_PIN", pin));
        run(&st, &["operator", "add", id, "--role", role], &env)
    };
    assert!(add("ada", "admin", "246802", &[]).status.success());
    assert!(add("quinn", "qa", "864202", &admin).status.success());
    let as_quinn = |pin: &'static str| {
        [
            ("COMMISSIONER_OPERATOR", "quinn"),
            ("COMMISSIONER_PIN", pin),
        ]
    };

    // Quinn changes the PIN: the old one stops working, the new one works.
    let mut env = as_quinn("864202").to_vec();
    env.push(("COMMISSIONER_NEW_PIN", "5"));
    refused(&run(&st, &["operator", "pin"], &env), "operator.weak_pin");
    env.pop();
    env.push(("COMMISSIONER_NEW_PIN", "975320"));
    let out = run(&st, &["operator", "pin"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    refused(
        &run(&st, &["journal", "verify"], &as_quinn("864202")),
        "operator.bad_credentials",
    );
    assert_eq!(
        run(&st, &["journal", "verify"], &as_quinn("975320"))
            .status
            .code(),
        Some(0)
    );

    // Quinn cannot disable anyone; the admin disables quinn, whose PIN then signs in nobody.
    refused(
        &run(&st, &["operator", "disable", "ada"], &as_quinn("975320")),
        "operator.forbidden",
    );
    let out = run(&st, &["operator", "disable", "quinn"], &admin);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    refused(
        &run(&st, &["journal", "verify"], &as_quinn("975320")),
        "operator.bad_credentials",
    );
    // The last admin stays, and every change is in the chain.
    refused(
        &run(&st, &["operator", "disable", "ada"], &admin),
        "operator.last_admin",
    );
    let out = run(&st, &["journal", "verify"], &admin);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn an_archive_keeps_the_operators_and_the_registry() {
    let dir = tempfile::tempdir().expect("tmp");
    let st = dir.path().join("station");
    assert_eq!(run(&st, &["lab", "init"], &[]).status.code(), Some(0));
    let admin = [
        ("COMMISSIONER_OPERATOR", "ada"),
        ("COMMISSIONER_PIN", "246802"),
    ];
    let out = run(
        &st,
        &["operator", "add", "ada", "--role", "admin"],
        &[("COMMISSIONER_NEW_PIN", "246802")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run(
        &st,
        &[
            "ca",
            "issue-backend",
            "--out",
            dir.path().join("svc").to_str().expect("utf8"),
        ],
        &admin,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let before = run(&st, &["ca", "list"], &admin);
    assert!(
        text(&before).contains("commissioner-backend"),
        "{}",
        text(&before)
    );

    let archive = dir.path().join("archive");
    let out = run(
        &st,
        &[
            "journal",
            "archive",
            "--out",
            archive.to_str().expect("utf8"),
        ],
        &admin,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Before, the new journal had no operators: anyone could make themselves admin (or, once
    // the station required operators, nobody could do anything any more).
    refused(
        &run(
            &st,
            &["operator", "add", "mallory", "--role", "admin"],
            &[("COMMISSIONER_NEW_PIN", "999999")],
        ),
        "operator.not_signed_in",
    );
    // The admin signs in as before and the registry is the same.
    let after = run(&st, &["ca", "list"], &admin);
    assert_eq!(after.status.code(), Some(0), "{}", text(&after));
    assert_eq!(text(&after), text(&before));
    let verify = run(&st, &["journal", "verify"], &admin);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
}
