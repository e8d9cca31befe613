//! Journal benchmark: a million synthetic sessions, then the figures QA cares about.
//!
//! `cargo run --release -p commissioner-cli --bin journal-bench -- [--sessions N] [--dir DIR]
//! [--verify-only] [--stats] [--new N]`
//!
//! Prints: generation time, file size, filtered QA query p50, export of 100k sessions, verify
//! over the whole file (warm, then cold: the file's pages dropped from the page cache), and an
//! incremental verify of N new sessions on top, each next to its goal.

#[path = "../progress.rs"]
mod progress;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use commissioner_core::journal::export::{ExportFormat, StationKey};
use commissioner_core::journal::generate::{generate, Synthetic, MODELS};
use commissioner_core::journal::query::SessionFilter;
use commissioner_core::journal::Journal;
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;
use time::Duration as TimeDuration;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn p50(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

const HELP: &str = "journal-bench: a large synthetic journal, then the figures QA cares about

usage: journal-bench [--sessions N] [--dir DIR] [--verify-only] [--stats] [--new N]

  --sessions N    sessions to generate (default 1000000)
  --dir DIR       keep the journal in DIR and reuse it on the next run
  --verify-only   only the verify figures (full and incremental)
  --stats         only the yield dashboard figures (Journal::yield_stats per filter)
  --new N         sessions added on top for the incremental verify (default 10000)

Prints generation time, file size, filtered query p50, export of 100k sessions, full verify
warm (the file was just read) and cold (its pages dropped from the page cache with
posix_fadvise DONTNEED, which needs no root, and a new connection), and the incremental verify
of the new sessions.";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("{HELP}");
        return Ok(());
    }
    let sessions: u64 = arg("--sessions")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let tmp = tempfile::tempdir()?;
    let dir = arg("--dir")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_owned());
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("bench-journal.sqlite");
    let start = datetime!(2025-01-01 00:00 UTC);
    let every = TimeDuration::minutes(3);

    let existing = path.exists();
    let journal = Journal::open(&path)?;
    let t = Instant::now();
    if !existing {
        let _working = progress::Working::start(&format!("generating {sessions} sessions"));
        generate(
            &journal,
            &Synthetic {
                sessions,
                start,
                every,
                seed: 1,
                station_id: "synthetic".into(),
            },
        )?;
        journal
            .connection()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); ANALYZE")?;
    }
    let generated = t.elapsed();
    let size = std::fs::metadata(&path)?.len();
    let total = journal.count_sessions(&SessionFilter::default())?;
    println!(
        "journal: {total} sessions, {:.0} MiB, generated in {:.1} s{}",
        size as f64 / 1048576.0,
        generated.as_secs_f64(),
        if existing { " (reused)" } else { "" }
    );

    if std::env::args().any(|a| a == "--stats") {
        return stats(&journal, start + every * (total as i32));
    }
    if std::env::args().any(|a| a == "--verify-only") {
        verify(&journal, "warm page cache")?;
        cold_verify(&path)?;
        return incremental(&journal, start);
    }

    // A QA day: the filters of the journal screen, each a page of 100, newest first.
    let iso = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let end = start + every * (total as i32);
    let month = (iso(end - TimeDuration::days(30)), iso(end));
    let week = (iso(end - TimeDuration::days(7)), iso(end));
    let filters = vec![
        (
            "failures of one model, last 30 days",
            SessionFilter {
                result: Some("fail".into()),
                model: Some(MODELS[1].into()),
                from: Some(month.0.clone()),
                to: Some(month.1.clone()),
                ..Default::default()
            },
        ),
        (
            "one operator, last week",
            SessionFilter {
                operator: Some("carol".into()),
                from: Some(week.0.clone()),
                to: Some(week.1.clone()),
                ..Default::default()
            },
        ),
        (
            "failed at handshake, any time",
            SessionFilter {
                failed_step: Some("handshake".into()),
                ..Default::default()
            },
        ),
        (
            "firmware 2.0.1 passes, last 30 days",
            SessionFilter {
                firmware: Some("2.0.1".into()),
                result: Some("pass".into()),
                from: Some(month.0),
                to: Some(month.1),
                ..Default::default()
            },
        ),
        (
            "one device id",
            SessionFilter {
                device_id: Some(format!("SYN-{:08X}", total / 2)),
                ..Default::default()
            },
        ),
        (
            "one work order",
            SessionFilter {
                work_order: Some(format!("WO-{}", total / 1000)),
                ..Default::default()
            },
        ),
    ];
    let mut all = Vec::new();
    println!("\nfiltered QA query (page of 100 + total count), p50 of 21 runs:");
    for (name, filter) in &filters {
        let mut samples = Vec::new();
        for _ in 0..21 {
            let t = Instant::now();
            let page = journal.sessions(filter, 100, 0)?;
            let count = journal.count_sessions(filter)?;
            samples.push(t.elapsed());
            std::hint::black_box((page, count));
        }
        all.extend(samples.iter().copied());
        println!("  {:<40} {:>10}", name, ms(p50(samples)));
    }
    let q = p50(all);
    println!(
        "  {:<40} {:>10}   goal < 50 ms  {}",
        "all queries",
        ms(q),
        if q < Duration::from_millis(50) {
            "MET"
        } else {
            "MISSED"
        }
    );

    // Export of 100k sessions: the most recent 100k by date.
    let from = iso(end - every * 100_000);
    let filter = SessionFilter {
        from: Some(from),
        ..Default::default()
    };
    let key = StationKey::load_or_create(&dir.join("bench-key.p8"))?;
    let out = dir.join("bench-export.csv");
    let t = Instant::now();
    let manifest = journal.export(
        &filter,
        ExportFormat::Csv,
        &out,
        "bench",
        &key,
        time::OffsetDateTime::now_utc(),
    )?;
    let export = t.elapsed();
    println!(
        "\nexport of {} sessions (CSV + signed manifest): {:>10}   goal < 1 s    {}",
        manifest.rows,
        ms(export),
        if export < Duration::from_secs(1) {
            "MET"
        } else {
            "MISSED"
        }
    );

    verify(&journal, "warm page cache")?;
    cold_verify(&path)?;
    incremental(&journal, start)?;
    println!(
        "file size: {:.0} MiB ({} bytes)",
        size as f64 / 1048576.0,
        size
    );
    Ok(())
}

/// The yield dashboard's figures (every chart at once) for the filters QA would pick.
fn stats(journal: &Journal, end: time::OffsetDateTime) -> Result<(), Box<dyn std::error::Error>> {
    use commissioner_core::journal::stats::{Bucket, StatsRequest};
    let iso = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let since = |d: TimeDuration| SessionFilter {
        from: Some(iso(end - d)),
        to: Some(iso(end)),
        ..Default::default()
    };
    let total = journal.count_sessions(&SessionFilter::default())?;
    let requests = [
        (
            "the running shift (last 8 h), hourly",
            since(TimeDuration::hours(8)),
            Bucket::Hour,
        ),
        (
            "last 24 h, hourly",
            since(TimeDuration::hours(24)),
            Bucket::Hour,
        ),
        (
            "last 30 days, daily",
            since(TimeDuration::days(30)),
            Bucket::Day,
        ),
        (
            "one work order, hourly",
            SessionFilter {
                work_order: Some(format!("WO-{}", total / 1000)),
                ..Default::default()
            },
            Bucket::Hour,
        ),
        (
            "one model, last 30 days, daily",
            SessionFilter {
                model: Some(MODELS[2].into()),
                ..since(TimeDuration::days(30))
            },
            Bucket::Day,
        ),
        (
            "whole journal, daily",
            SessionFilter::default(),
            Bucket::Day,
        ),
    ];
    println!("\nyield figures (every chart of the dashboard), p50 of 5 runs:");
    for (name, filter, bucket) in requests {
        let req = StatsRequest { filter, bucket };
        let mut samples = Vec::new();
        let mut sessions = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let s = journal.yield_stats(&req)?;
            samples.push(t.elapsed());
            sessions = s.tally.total;
        }
        let took = p50(samples);
        println!(
            "  {:<36} {:>8} sessions {:>10}   goal < 250 ms  {}",
            name,
            sessions,
            ms(took),
            if took < Duration::from_millis(250) {
                "MET"
            } else {
                "MISSED"
            }
        );
    }
    Ok(())
}

fn verify(journal: &Journal, cache: &str) -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let report = journal.verify()?;
    let verify = t.elapsed();
    println!(
        "verify over {} sessions ({} chain entries), {cache}: {:>10}   goal < 3 s    {}",
        report.sealed_sessions,
        report.entries,
        ms(verify),
        if verify < Duration::from_secs(3) {
            "MET"
        } else {
            "MISSED"
        }
    );
    if let Some(p) = report.problem {
        return Err(format!("the benchmark journal does not verify: {}", p.message).into());
    }
    Ok(())
}

/// A full verify from disk: the journal's pages dropped from the page cache first, and a new
/// connection (no SQLite page cache either).
fn cold_verify(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    for file in [path.to_owned(), PathBuf::from(wal)] {
        if let Ok(f) = std::fs::File::open(&file) {
            // Dirty pages are not dropped: written out first.
            f.sync_all()?;
            rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed)?;
        }
    }
    verify(&Journal::open(path)?, "cold page cache")
}

/// Records the verified head, adds `--new` sessions after the existing ones, and times the
/// incremental verify of them.
fn incremental(
    journal: &Journal,
    start: time::OffsetDateTime,
) -> Result<(), Box<dyn std::error::Error>> {
    use commissioner_core::journal::chain::incremental::{record_verified, verify_since};
    let new: u64 = arg("--new")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    let report = journal.verify()?;
    let verified = record_verified(journal.connection(), &report.head)?;
    let total = journal.count_sessions(&SessionFilter::default())?;
    generate(
        journal,
        &Synthetic {
            sessions: new,
            start: start + TimeDuration::minutes(3) * (total as i32 + 1),
            every: TimeDuration::minutes(3),
            seed: 2 + total,
            station_id: "synthetic".into(),
        },
    )?;
    let t = Instant::now();
    let report = verify_since(journal.connection(), &verified)?;
    let took = t.elapsed();
    println!(
        "incremental verify of {} new sessions ({} chain entries): {:>10}   goal < 100 ms    {}",
        report.sealed_sessions,
        report.entries,
        ms(took),
        if took < Duration::from_millis(100) {
            "MET"
        } else {
            "MISSED"
        }
    );
    if let Some(p) = report.problem {
        return Err(format!("the incremental verify failed: {}", p.message).into());
    }
    Ok(())
}
