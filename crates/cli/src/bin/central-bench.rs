//! Central store benchmark against a real PostgreSQL started on a temporary directory.
//!
//! `cargo run --release -p commissioner-cli --bin central-bench -- [--sessions N]
//! [--stations N] [--seconds N] [--qa-rows N]`
//!
//! Prints: drain rate of one station's backlog, sync lag p50/p99 while N stations commission
//! and sync at once, and the central QA query p50 over `--qa-rows` sessions, each next to its
//! goal.

#[path = "../progress.rs"]
mod progress;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use commissioner_core::central::outbox::backlog;
use commissioner_core::central::server::PgServer;
use commissioner_core::central::sync::{sync_once, SyncOptions};
use commissioner_core::central::{connect, query, CentralProfile, CentralTls, WhenUnreachable};
use commissioner_core::journal::generate::{generate, Synthetic, MODELS};
use commissioner_core::journal::query::SessionFilter;
use commissioner_core::journal::Journal;
use time::macros::datetime;

const HELP: &str = "central-bench: the central store on a real PostgreSQL

usage: central-bench [--sessions N] [--stations N] [--seconds N] [--qa-rows N]

  --sessions N   backlog one station drains (default 100000)
  --stations N   stations commissioning and syncing at once (default 8)
  --seconds N    how long they run (default 20)
  --qa-rows N    sessions in the central store for the QA query (default 1000000; the
                 drained ones, the rest generated on the server)";

fn arg(name: &str, default: u64) -> Result<u64, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    Ok(match args.iter().position(|a| a == name) {
        Some(i) => args.get(i + 1).ok_or("missing value")?.parse()?,
        None => default,
    })
}

fn pct(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples
        .get(((samples.len() as f64 - 1.0) * p) as usize)
        .copied()
        .unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn profile(server: &PgServer) -> CentralProfile {
    CentralProfile {
        url: server.url(),
        tls: CentralTls::Disable,
        ca_file: None,
        password: Some(server.password().to_owned()),
        when_unreachable: WhenUnreachable::Refuse,
        batch: 1_000,
    }
}

fn spec(station: &str, sessions: u64, seed: u64) -> Synthetic {
    Synthetic {
        sessions,
        start: datetime!(2026-01-05 06:00 UTC),
        every: time::Duration::seconds(20),
        seed,
        station_id: station.into(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("{HELP}");
        return Ok(());
    }
    let sessions = arg("--sessions", 100_000)?;
    let stations = arg("--stations", 8)?;
    let seconds = arg("--seconds", 20)?;
    let qa_rows = arg("--qa-rows", 1_000_000)?;
    let tmp = tempfile::tempdir()?;
    let server = PgServer::start(&tmp.path().join("pg"), "bench-password")?;
    let profile = profile(&server);

    // 1. One station's backlog drained.
    let journal = Journal::open(&tmp.path().join("drain.sqlite"))?;
    let t = Instant::now();
    let working = progress::Working::start(&format!("generating {sessions} sessions"));
    generate(&journal, &spec("drain", sessions, 1))?;
    drop(working);
    println!(
        "generated {sessions} sessions in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut central = connect(&profile, tmp.path())?;
    let t = Instant::now();
    let report = sync_once(
        &journal,
        &mut central,
        &SyncOptions {
            station_id: "drain",
            batch: profile.batch,
            max_batches: None,
        },
    )?;
    let took = t.elapsed().as_secs_f64();
    println!(
        "drain: {} sessions ({} entries, {} batches) in {took:.1} s = {:.0} sessions/s (goal >= 5000)",
        report.new_sessions,
        report.entries,
        report.batches,
        report.new_sessions as f64 / took
    );

    // 2. N stations commissioning (a session every 50 ms each) and syncing at once.
    let stop = AtomicBool::new(false);
    let lags = Mutex::new(Vec::<Duration>::new());
    std::thread::scope(|scope| -> Result<(), String> {
        let mut handles = Vec::new();
        for n in 0..stations {
            let (stop, lags, profile, dir) = (&stop, &lags, &profile, tmp.path());
            handles.push(scope.spawn(move || -> Result<u64, String> {
                let name = format!("line-{n}");
                let path = dir.join(format!("{name}.sqlite"));
                let reader = Journal::open(&path).map_err(|e| e.to_string())?;
                let mut central = connect(profile, dir).map_err(|e| e.to_string())?;
                // (chain seq of a sealed session, when it was sealed)
                let sealed = Mutex::new(Vec::<(i64, Instant)>::new());
                std::thread::scope(|inner| -> Result<u64, String> {
                    let (sealed, name_ref, path_ref) = (&sealed, &name, &path);
                    let producer = inner.spawn(move || -> Result<(), String> {
                        let writer = Journal::open(path_ref).map_err(|e| e.to_string())?;
                        let name = name_ref;
                        let mut i = 0;
                        while !stop.load(Ordering::Relaxed) {
                            generate(&writer, &spec(name, 1, 1_000 + i))
                                .map_err(|e| e.to_string())?;
                            let seq = commissioner_core::journal::chain::head(writer.connection())
                                .map_err(|e| e.to_string())?
                                .map(|h| h.seq)
                                .unwrap_or_default();
                            sealed
                                .lock()
                                .map_err(|e| e.to_string())?
                                .push((seq, Instant::now()));
                            i += 1;
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Ok(())
                    });
                    let mut delivered = 0;
                    let opts = SyncOptions {
                        station_id: &name,
                        batch: 1_000,
                        max_batches: None,
                    };
                    loop {
                        let done = stop.load(Ordering::Relaxed);
                        let r =
                            sync_once(&reader, &mut central, &opts).map_err(|e| e.to_string())?;
                        delivered += r.new_sessions;
                        let synced = backlog(&reader)
                            .map_err(|e| e.to_string())?
                            .synced_seq
                            .unwrap_or_default();
                        let now = Instant::now();
                        let mut pending = sealed.lock().map_err(|e| e.to_string())?;
                        let mut out = lags.lock().map_err(|e| e.to_string())?;
                        pending.retain(|(seq, at)| {
                            if *seq <= synced {
                                out.push(now - *at);
                                false
                            } else {
                                true
                            }
                        });
                        drop((pending, out));
                        if done {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    producer
                        .join()
                        .map_err(|_| "producer panicked".to_owned())??;
                    Ok(delivered)
                })
            }));
        }
        std::thread::sleep(Duration::from_secs(seconds));
        stop.store(true, Ordering::Relaxed);
        let mut total = 0;
        for h in handles {
            total += h.join().map_err(|_| "station panicked".to_owned())??;
        }
        let mut lags = std::mem::take(&mut *lags.lock().map_err(|e| e.to_string())?);
        println!(
            "{stations} stations for {seconds} s: {total} sessions synced ({:.0}/s); lag p50 {} (goal < 1 s), p99 {}",
            total as f64 / seconds as f64,
            ms(pct(&mut lags, 0.5)),
            ms(pct(&mut lags, 0.99)),
        );
        Ok(())
    })?;

    // 3. QA over the whole central store: fill it up to `qa_rows` on the server.
    let have = query::count_sessions(&mut central, &SessionFilter::default())?;
    if qa_rows > have {
        let t = Instant::now();
        central.client().execute(
            "INSERT INTO journals (journal_id, station_id) VALUES ('bench-fill', 'line-fill')
             ON CONFLICT DO NOTHING",
            &[],
        )?;
        central.client().execute(
            "INSERT INTO sessions (journal_id, session_id, station_id, started_at, ended_at,
                                   operator, port, device_id, model, firmware, result,
                                   failed_step, work_order, chain_seq)
             SELECT 'bench-fill', g, 'line-' || (g % 8),
                    timestamptz '2026-01-05 06:00Z' + g * interval '3 seconds',
                    timestamptz '2026-01-05 06:00Z' + g * interval '3 seconds' + interval '9 s',
                    (ARRAY['alice','bob','carol','dave','erin','frank'])[1 + g % 6],
                    '/dev/ttyUSB0', 'FILL-' || g,
                    (ARRAY['CM-SENSOR-1','CM-SENSOR-2','CM-GATEWAY-1','CM-METER-3'])[1 + g % 4],
                    (ARRAY['1.4.2','1.5.0','2.0.1'])[1 + g % 3],
                    CASE WHEN g % 25 = 0 THEN 'fail' ELSE 'pass' END,
                    CASE WHEN g % 25 = 0 THEN 'handshake' END,
                    'WO-' || (g / 500), g
             FROM generate_series(1, $1::int8) g",
            &[&((qa_rows - have) as i64)],
        )?;
        central.client().batch_execute("ANALYZE sessions")?;
        println!(
            "filled the central store to {qa_rows} sessions in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    let filters = [
        SessionFilter {
            from: Some("2026-01-20T00:00:00Z".into()),
            to: Some("2026-01-21T00:00:00Z".into()),
            model: Some(MODELS[1].into()),
            ..SessionFilter::default()
        },
        SessionFilter {
            result: Some("fail".into()),
            failed_step: Some("handshake".into()),
            ..SessionFilter::default()
        },
        SessionFilter {
            operator: Some("carol".into()),
            from: Some("2026-02-01T00:00:00Z".into()),
            ..SessionFilter::default()
        },
        SessionFilter {
            device_id: Some("FILL-4242".into()),
            ..SessionFilter::default()
        },
    ];
    let mut samples = Vec::new();
    for _ in 0..10 {
        for f in &filters {
            let t = Instant::now();
            let rows = query::sessions(&mut central, f, 100, 0)?;
            samples.push(t.elapsed());
            std::hint::black_box(rows);
        }
    }
    println!(
        "QA query (one page of 100, 4 filter shapes) over {} sessions: p50 {} (goal < 100 ms), p99 {}",
        query::count_sessions(&mut central, &SessionFilter::default())?,
        ms(pct(&mut samples, 0.5)),
        ms(pct(&mut samples, 0.99))
    );
    Ok(())
}
