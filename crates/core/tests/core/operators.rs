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
    assert_eq!(attempts, 1 + MAX_FAILURES);
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
