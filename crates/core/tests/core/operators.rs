//! Operators against a real journal file: roles, argon2 PINs, the wrong-PIN lockout, tokens.

use commissioner_core::journal::Journal;
use commissioner_core::operator::{self, Action, Role, MAX_FAILURES};
use time::{Duration, OffsetDateTime};

fn journal() -> (tempfile::TempDir, Journal) {
    let dir = tempfile::tempdir().expect("tmp");
    let journal = Journal::open(&dir.path().join("journal.sqlite")).expect("journal");
    (dir, journal)
}

fn code(e: operator::OperatorError) -> &'static str {
    use commissioner_core::error::Coded;
    e.code()
}

#[test]
fn roles_allow_what_their_job_needs_and_nothing_else() {
    let can = |role: Role, action| role.allows(action);
    assert!(can(Role::Technician, Action::Commission));
    assert!(!can(Role::Technician, Action::Recommission));
    assert!(!can(Role::Technician, Action::Export));
    assert!(can(Role::FieldEngineer, Action::Recommission));
    assert!(!can(Role::FieldEngineer, Action::Export));
    assert!(!can(Role::Qa, Action::Commission));
    assert!(can(Role::Qa, Action::Export));
    assert!(can(Role::Qa, Action::ReadJournal));
    assert!(!can(Role::Technician, Action::ReadJournal));
    assert!(!can(Role::FieldEngineer, Action::ReadJournal));
    // The broker audit is QA's check of the installation, not the line's.
    assert!(can(Role::Qa, Action::Audit));
    assert!(!can(Role::Technician, Action::Audit));
    assert!(!can(Role::FieldEngineer, Action::Audit));
    assert!(can(Role::Admin, Action::ManageOperators));
    // The CA and the profile are the admin's alone.
    for action in [Action::AdministerCa, Action::EditProfile] {
        assert!(can(Role::Admin, action));
        for role in [Role::Technician, Role::FieldEngineer, Role::Qa] {
            assert!(!can(role, action), "{role:?} {action:?}");
        }
    }
}

#[test]
fn pins_are_hashed_checked_and_rate_limited() {
    let (_dir, j) = journal();
    let now = OffsetDateTime::now_utc();
    assert!(!operator::enforced(&j).expect("enforced"));
    assert_eq!(
        code(operator::add(&j, "tom", Role::Technician, "123456", now).expect_err("first")),
        "operator.first_must_be_admin"
    );
    operator::add(&j, "ada", Role::Admin, "987654", now).expect("admin");
    operator::add(&j, "tom", Role::Technician, "123456", now).expect("technician");
    assert!(operator::enforced(&j).expect("enforced"));
    assert_eq!(
        code(operator::add(&j, "tom", Role::Qa, "555555", now).expect_err("twice")),
        "operator.exists"
    );
    // Only a hash is stored.
    let stored: String = j
        .connection()
        .query_row(
            "SELECT pin_hash FROM operators WHERE operator_id = 'tom'",
            [],
            |r| r.get(0),
        )
        .expect("row");
    assert!(stored.starts_with("$argon2"), "{stored}");
    assert!(!stored.contains("123456"));

    let tom = operator::authenticate(&j, "tom", "123456", now).expect("right PIN");
    assert_eq!(tom.role, Role::Technician);
    assert_eq!(
        code(operator::authenticate(&j, "nobody", "123456", now).expect_err("unknown")),
        "operator.bad_credentials"
    );
    for _ in 0..MAX_FAILURES {
        assert_eq!(
            code(operator::authenticate(&j, "tom", "000000", now).expect_err("wrong")),
            "operator.bad_credentials"
        );
    }
    // Locked out: even the right PIN is refused, and the attempt is still recorded.
    assert_eq!(
        code(operator::authenticate(&j, "tom", "123456", now).expect_err("locked")),
        "operator.locked_out"
    );
    let attempts: i64 = j
        .connection()
        .query_row(
            "SELECT COUNT(*) FROM login_attempts WHERE operator_id = 'tom'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    // The right sign-in, the wrong PINs, and the refused try: every guess is recorded.
    assert_eq!(attempts, 2 + MAX_FAILURES);
    // After the window the right PIN works again.
    let later = now + Duration::minutes(11);
    operator::authenticate(&j, "tom", "123456", later).expect("after the window");

    let token = operator::issue_token(&j, &tom, now).expect("token");
    assert_eq!(operator::from_token(&j, &token, now).expect("valid"), tom);
    assert_eq!(
        code(operator::from_token(&j, &token, now + Duration::hours(2)).expect_err("expired")),
        "operator.token_invalid"
    );
    assert_eq!(
        code(
            tom.authorize(Action::Export)
                .expect_err("technician export")
        ),
        "operator.forbidden"
    );
}

#[test]
fn parallel_guesses_get_no_more_tries_than_serial_ones() {
    let (dir, j) = journal();
    let now = OffsetDateTime::now_utc();
    operator::add(&j, "ada", Role::Admin, "987654", now).expect("admin");
    let path = dir.path().join("journal.sqlite");
    // Each guesser has its own connection, as separate processes would.
    let outcomes: Vec<&'static str> = std::thread::scope(|scope| {
        let guessers: Vec<_> = (0..4 * MAX_FAILURES)
            .map(|i| {
                let path = path.clone();
                scope.spawn(move || {
                    let j = Journal::open(&path).expect("journal");
                    let err = operator::authenticate(&j, "ada", &format!("{i:04}"), now)
                        .expect_err("every guess is wrong");
                    code(err)
                })
            })
            .collect();
        guessers
            .into_iter()
            .map(|g| g.join().expect("guesser"))
            .collect()
    });
    let checked = outcomes
        .iter()
        .filter(|c| **c == "operator.bad_credentials")
        .count();
    assert_eq!(checked as i64, MAX_FAILURES, "{outcomes:?}");
    assert!(outcomes
        .iter()
        .all(|c| matches!(*c, "operator.bad_credentials" | "operator.locked_out")));
}

/// Issue 18: the lockout was a flat 10 minutes per operator, and a guesser could spread PINs
/// over many operator ids without ever being slowed down. Now each further lockout of an
/// operator lasts twice as long, and too many wrong PINs at the station lock every sign-in.
#[test]
fn lockouts_escalate_and_a_station_stops_sign_ins_after_spread_guesses() {
    use commissioner_core::operator::{LOCKOUT_WINDOW, STATION_MAX_FAILURES};

    let (_dir, j) = journal();
    let t0 = OffsetDateTime::now_utc();
    operator::add(&j, "ada", Role::Admin, "987654", t0).expect("admin");
    operator::add(&j, "tom", Role::Technician, "123456", t0).expect("tech");
    let wrong =
        |who: &str, at| code(operator::authenticate(&j, who, "000000", at).expect_err("wrong"));
    for _ in 0..MAX_FAILURES {
        assert_eq!(wrong("tom", t0), "operator.bad_credentials");
    }
    assert_eq!(wrong("tom", t0), "operator.locked_out");
    // After the first lockout, guesses come one per lockout; the next lockout is twice as long.
    let mut t = t0;
    for _ in 0..MAX_FAILURES - 1 {
        t += LOCKOUT_WINDOW + Duration::seconds(1);
        assert_eq!(wrong("tom", t), "operator.bad_credentials");
    }
    let t_second = t + LOCKOUT_WINDOW + Duration::seconds(1);
    assert_eq!(
        code(operator::authenticate(&j, "tom", "123456", t_second).expect_err("doubled")),
        "operator.locked_out",
        "one lockout window is not enough any more"
    );
    let t_after = t_second + 2 * LOCKOUT_WINDOW + Duration::seconds(1);
    operator::authenticate(&j, "tom", "123456", t_after).expect("after the doubled lockout");

    // Guesses spread over many operator ids (known or not) lock the whole station.
    let t1 = t_after + Duration::hours(2);
    for i in 0..STATION_MAX_FAILURES {
        assert_eq!(wrong(&format!("guess{i}"), t1), "operator.bad_credentials");
    }
    assert_eq!(
        code(operator::authenticate(&j, "ada", "987654", t1).expect_err("station")),
        "operator.station_locked_out"
    );
    operator::authenticate(&j, "ada", "987654", t1 + Duration::minutes(61))
        .expect("after the hour");
    // Every one of those guesses is in the journal, chained.
    assert!(j.verify().expect("verify").ok());
}
