//! `lab up --central`: the lab's own PostgreSQL, started like the lab broker, outliving the
//! command, and keeping its data across `lab down` and `lab up`.

use std::path::Path;
use std::process::Command;

use commissioner_core::journal::generate::{generate, Synthetic};
use commissioner_core::journal::Journal;
use time::macros::datetime;

const PASSPHRASE: &str = "lab-central-passphrase";

fn cli(station: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_commissioner"))
        .arg("--station")
        .arg(station)
        .args(args)
        .env("COMMISSIONER_CA_PASSPHRASE", PASSPHRASE)
        .env_remove("COMMISSIONER_CENTRAL_PASSWORD")
        .output()
        .expect("run commissioner");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Stops the lab whatever the test did, and removes its cluster (outside the station).
struct Down<'a>(&'a Path, Option<std::path::PathBuf>);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = cli(self.0, &["lab", "down"]);
        if let Some(cluster) = &self.1 {
            let _ = std::fs::remove_dir_all(cluster);
        }
    }
}

#[test]
fn lab_up_central_starts_postgresql_that_keeps_its_data_across_down_and_up() {
    let dir = tempfile::tempdir().expect("tmp");
    let station = dir.path().join("station");
    let (ok, out) = cli(&station, &["lab", "init"]);
    assert!(ok, "{out}");
    let (ok, out) = cli(&station, &["lab", "up", "--central"]);
    let cluster = out
        .split("(data in ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .map(std::path::PathBuf::from);
    let _down = Down(&station, cluster);
    assert!(ok, "{out}");
    assert!(
        out.contains("central:    PostgreSQL on postgresql://"),
        "{out}"
    );
    let toml = std::fs::read_to_string(station.join("station.toml")).expect("profile");
    assert!(toml.contains("[central]"), "{toml}");

    let journal = Journal::open(&station.join("journal.sqlite")).expect("journal");
    generate(
        &journal,
        &Synthetic {
            sessions: 25,
            start: datetime!(2026-06-01 06:00 UTC),
            every: time::Duration::seconds(30),
            seed: 11,
            station_id: "synthetic".into(),
        },
    )
    .expect("generate");
    drop(journal);
    let (ok, out) = cli(&station, &["sync"]);
    assert!(ok, "{out}");
    let (ok, out) = cli(
        &station,
        &["journal", "sessions", "--central", "--limit", "100"],
    );
    assert!(ok, "{out}");
    let central_rows = out.lines().filter(|l| l.contains("SYN-")).count();
    assert_eq!(central_rows, 25, "{out}");

    // Down stops it; up starts the same cluster again (a new port), data kept.
    let (ok, out) = cli(&station, &["lab", "down"]);
    assert!(ok && out.contains("lab central store stopped"), "{out}");
    let (ok, out) = cli(&station, &["journal", "sessions", "--central"]);
    assert!(!ok, "the server is down: {out}");
    assert!(out.contains("central.unreachable"), "{out}");
    let (ok, out) = cli(&station, &["lab", "up", "--central"]);
    assert!(ok, "{out}");
    let (ok, out) = cli(
        &station,
        &["journal", "sessions", "--central", "--limit", "100"],
    );
    assert!(ok, "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains("SYN-")).count(),
        25,
        "{out}"
    );
}
