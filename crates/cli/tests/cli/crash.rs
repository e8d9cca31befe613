use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use commissioner_core::journal::{Journal, SessionResult};
use commissioner_devsim::SimDevice;

const PASSPHRASE: &str = "crash-test-passphrase";
const KILLS: u32 = 24;

fn cli(station: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_commissioner"));
    c.arg("--station")
        .arg(station)
        .env("COMMISSIONER_CA_PASSPHRASE", PASSPHRASE)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// A unit whose flash takes as long as a real one's: the window between issuing a certificate
/// and confirming it on the unit must be wide enough for some of the kills to land in it, now
/// that the broker handshake takes a couple of milliseconds.
fn flashing_unit() -> commissioner_devsim::SimConfig {
    commissioner_devsim::SimConfig {
        delays: commissioner_devsim::Delays {
            flash_write: Duration::from_millis(30),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Kills `commissioner commission` with SIGKILL at points spread over a whole session; after
/// each kill the journal must be intact, and the next start must close the session as
/// interrupted and list any certificate that never reached the unit.
#[test]
fn sigkill_at_any_point_leaves_a_consistent_journal() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    run_ok(cli(&station).args(["lab", "init"]));
    run_ok(cli(&station).args(["lab", "up"]));

    // One undisturbed run tells how long a session takes end to end.
    let sim = SimDevice::spawn(flashing_unit()).expect("sim");
    let t0 = Instant::now();
    run_ok(cli(&station).args(["commission", "--port", sim.path()]));
    let full = t0.elapsed();

    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut interrupted_seen = 0;
    let mut listed_for_revocation = BTreeSet::new();
    for i in 0..KILLS {
        let sim = SimDevice::spawn(flashing_unit()).expect("sim");
        let mut child = cli(&station)
            .args(["commission", "--port", sim.path()])
            .spawn()
            .expect("spawn");
        // Spread the kill points over the session, with a little xorshift jitter.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let jitter = Duration::from_millis(seed % 15);
        std::thread::sleep(full.mul_f64(f64::from(i) / f64::from(KILLS)) + jitter);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();

        let journal = Journal::open(&station.join("journal.sqlite")).expect("journal opens");
        let integrity: String = journal
            .connection()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .expect("integrity_check");
        assert_eq!(integrity, "ok", "after kill {i}");
        drop(journal);

        // The next start.
        let out = run_ok(cli(&station).args(["journal", "recover"]));
        for line in out
            .lines()
            .filter(|l| l.starts_with("revoked: certificate "))
        {
            listed_for_revocation.insert(
                line.split_whitespace()
                    .nth(2)
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
        let verify = run_ok(cli(&station).args(["journal", "verify"]));
        assert!(
            verify.contains("OK: the journal is intact"),
            "after kill {i}: {verify}"
        );

        let journal = Journal::open(&station.join("journal.sqlite")).expect("journal");
        let last: Option<i64> = journal
            .connection()
            .query_row("SELECT max(id) FROM sessions", [], |r| r.get(0))
            .expect("max id");
        if let Some(row) = last.and_then(|id| journal.session(id).expect("q")) {
            assert_ne!(row.result, SessionResult::Running, "after kill {i}");
            if row.result == SessionResult::Interrupted {
                interrupted_seen += 1;
                // Every step that was recorded is closed: no step row without an end.
                for step in journal.steps(row.id).expect("steps") {
                    assert!(!step.ended_at.is_empty());
                }
            }
        }
    }
    eprintln!("{KILLS} kills: {interrupted_seen} interrupted sessions, {} certificates listed for revocation", listed_for_revocation.len());
    let down = run_ok(cli(&station).args(["lab", "down"]));
    assert!(down.contains("stopped"), "{down}");

    // Kill points cover the whole session, so several land mid-session, and some between
    // issuing a certificate and confirming it on the unit.
    assert!(
        interrupted_seen >= 5,
        "only {interrupted_seen} interrupted sessions"
    );
    // Every certificate an interrupted session left behind was revoked as the session was
    // closed, and said so; none is left waiting for someone to revoke it.
    let journal = Journal::open(&station.join("journal.sqlite")).expect("journal");
    let expected: BTreeSet<String> = journal
        .connection()
        .prepare(
            "SELECT c.serial FROM certificates c JOIN sessions s ON s.id = c.session_id
             WHERE s.result = 'interrupted' AND c.status = 'revoked'",
        )
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(listed_for_revocation, expected);
    assert!(journal.unconfirmed_serials(None).expect("q").is_empty());
    assert!(
        !expected.is_empty(),
        "no kill landed between issue and confirmation"
    );
}
