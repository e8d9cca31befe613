//! What another local account, or the station being killed, must not get: readable station
//! files, the CA passphrase in a child's environment, a lab broker left running.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::commands::{commissioner, text, PASSPHRASE};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Processes whose command line mentions `needle`, with their pids.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        })
        .collect()
}

fn mosquitto_of(station: &Path) -> Vec<u32> {
    processes_mentioning(&station.join("lab").display().to_string())
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "mosquitto")
        })
        .collect()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn station_files_are_owner_only_and_a_planted_link_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    let out = commissioner(&station, &["demo"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    assert_eq!(mode(&station), 0o700);
    let mut files: Vec<PathBuf> = ["station.toml", "journal.sqlite", "journal.sqlite-wal"]
        .iter()
        .map(|n| station.join(n))
        .collect();
    for sub in ["ca", "lab"] {
        assert_eq!(mode(&station.join(sub)), 0o700, "{sub}/");
        for e in std::fs::read_dir(station.join(sub)).expect("dir").flatten() {
            if e.path().is_file() {
                files.push(e.path());
            }
        }
    }
    // Keys and the lab's config among them.
    assert!(files.iter().any(|f| f.ends_with("lab/backend.key")));
    for f in &files {
        if f.exists() {
            assert_eq!(mode(f), 0o600, "{}", f.display());
        }
    }

    // A station whose rights were loosened is tightened when it is next opened.
    std::fs::set_permissions(&station, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(
        station.join("journal.sqlite"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let out = commissioner(&station, &["journal", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(mode(&station), 0o700);
    assert_eq!(mode(&station.join("journal.sqlite")), 0o600);

    // Another account swaps the journal for a link to a file of its choice: refused, and the
    // target is untouched.
    let target = dir.path().join("elsewhere.sqlite");
    std::fs::rename(station.join("journal.sqlite"), &target).expect("move");
    let _ = std::fs::remove_file(station.join("journal.sqlite-wal"));
    let _ = std::fs::remove_file(station.join("journal.sqlite-shm"));
    std::os::unix::fs::symlink(&target, station.join("journal.sqlite")).expect("link");
    let before = std::fs::read(&target).expect("read");
    let out = commissioner(&station, &["journal", "verify"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("symbolic link"), "{}", text(&out));
    assert_eq!(std::fs::read(&target).expect("read"), before);
}

#[test]
fn a_killed_station_leaves_no_lab_broker_running_and_children_never_see_the_passphrase() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    // A unit that answers hello and then hangs keeps the line busy for its keygen timeout.
    let mut line = Command::new(env!("CARGO_BIN_EXE_commissioner"))
        .arg("--station")
        .arg(&station)
        .args(["line", "--sim", "1", "--fault", "no-reply"])
        .env("COMMISSIONER_CA_PASSPHRASE", PASSPHRASE)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn line");
    wait_for("the lab broker", || !mosquitto_of(&station).is_empty());
    let brokers = mosquitto_of(&station);
    // The line is running once its lab is up and its unit plugged; the kill lands then.
    let journal = station.join("journal.sqlite");
    // The lab's own service identities are issued in sessions of their own (operator `lab`)
    // before its broker starts; the unit's session is the first one of another operator.
    wait_for("the unit's session", || {
        commissioner_core::journal::Journal::open(&journal).is_ok_and(|j| {
            j.connection()
                .query_row(
                    "SELECT count(*) FROM sessions WHERE operator <> 'lab'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .is_ok_and(|n| n > 0)
        })
    });
    for pid in &brokers {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
        assert!(
            !String::from_utf8_lossy(&environ).contains("COMMISSIONER_CA_PASSPHRASE"),
            "mosquitto {pid} inherited the CA passphrase"
        );
    }

    line.kill().expect("SIGKILL"); // no destructor runs
    line.wait().expect("reap");
    wait_for("the orphaned broker to stop", || {
        brokers
            .iter()
            .all(|pid| !Path::new(&format!("/proc/{pid}")).exists() || is_zombie(*pid))
    });
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}
