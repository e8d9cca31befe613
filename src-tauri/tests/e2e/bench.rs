//! The desktop benchmark: app start to interactive, and resident memory after commissioning
//! 100 simulated units through the line view. Not a test: it prints figures.
//!
//! `xvfb-run -a cargo test --release --workspace --test e2e -- --ignored --nocapture app_start`

use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

use commissioner_core::lab::Lab;
use commissioner_core::station::{init_lab_station, PASSPHRASE_ENV, STATION_ENV};
use fantoccini::{Client, Locator};
use serde_json::Value;

use crate::driver::TauriDriver;
use crate::TestResult;

const PASSPHRASE: &str = "bench passphrase";
/// App starts measured for start-to-interactive.
const STARTS: usize = 5;
const UNITS: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; see the module docs for the command"]
async fn app_start_and_memory_benchmark() {
    if !crate::display_available() {
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let station_dir = tmp.path().join("station");
    let mut station = init_lab_station(&station_dir, PASSPHRASE).expect("lab station");
    let ca = station.unlock_ca(PASSPHRASE).expect("unlock");
    let _lab = Lab::up(&mut station, &ca).expect("lab broker");
    let driver = TauriDriver::start(
        Path::new(env!("CARGO_TARGET_TMPDIR")),
        &[
            (STATION_ENV, station_dir.as_os_str()),
            (PASSPHRASE_ENV, OsStr::new(PASSPHRASE)),
        ],
    );

    let mut starts = Vec::new();
    let mut start_rss = Vec::new();
    let mut at_start = None;
    for _ in 0..STARTS {
        let client = crate::connect(&driver).await.expect("app session");
        client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css("#nav-line"))
            .await
            .expect("main screen");
        let m = metrics(&client).await.expect("metrics");
        starts.push(
            m["interactiveMs"]
                .as_u64()
                .expect("interactive time reported"),
        );
        start_rss.push(m["rssKib"].as_u64().unwrap_or(0));
        if at_start.is_none() {
            at_start = m["pid"]
                .as_u64()
                .and_then(|pid| process_tree_memory(pid as u32));
        }
        let _ = client.close().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    starts.sort_unstable();

    let client = crate::connect(&driver).await.expect("app session");
    let (rss, peak, wall) = commission_many(&client).await.expect("100 units");
    // Read while the app is still open: its WebKit processes end with the session.
    let webkit = metrics(&client)
        .await
        .ok()
        .and_then(|m| m["pid"].as_u64())
        .and_then(|pid| process_tree_memory(pid as u32));
    let _ = client.close().await;
    println!(
        "desktop benchmark ({} starts, {UNITS} simulated units)",
        STARTS
    );
    println!(
        "  start to interactive: median {} ms, min {} ms, max {} ms (goal < 1500 ms)",
        starts[starts.len() / 2],
        starts[0],
        starts[starts.len() - 1]
    );
    println!(
        "  RSS when interactive: {:.1} MiB",
        start_rss.iter().sum::<u64>() as f64 / start_rss.len().max(1) as f64 / 1024.0
    );
    println!(
        "  RSS after {UNITS} units: {:.1} MiB (peak {:.1} MiB; goal < 200 MB); {UNITS} units in {:.1} s",
        rss as f64 / 1024.0,
        peak as f64 / 1024.0,
        wall.as_secs_f64()
    );
    for (when, tree) in [("when interactive", at_start), ("after the units", webkit)] {
        match tree {
            Some(tree) => println!(
                "  {when}, with its WebKit processes ({}): PSS {:.1} MiB in all (shared pages counted once; RSS summed {:.1} MiB): {}",
                tree.names.join(", "),
                tree.pss_kib as f64 / 1024.0,
                tree.rss_kib as f64 / 1024.0,
                tree.breakdown()
            ),
            None => println!("  {when}: the app did not report its process id; WebKit processes not measured"),
        }
    }
}

/// Memory of a process and its children (the WebKit web and network processes of a WebKitGTK
/// app), from /proc.
struct TreeMemory {
    names: Vec<String>,
    pss_kib: u64,
    rss_kib: u64,
    /// Each process: name, PSS and RSS in KiB.
    each: Vec<(String, u64, u64)>,
}

impl TreeMemory {
    fn breakdown(&self) -> String {
        self.each
            .iter()
            .map(|(n, pss, rss)| {
                format!(
                    "{n} PSS {:.1} / RSS {:.1} MiB",
                    *pss as f64 / 1024.0,
                    *rss as f64 / 1024.0
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Process `app` and its children, from /proc.
fn process_tree_memory(app: u32) -> Option<TreeMemory> {
    let procs: Vec<(u32, u32, String)> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (head, rest) = stat.rsplit_once(')')?;
            let name = head.split_once('(')?.1.to_owned();
            let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid, name))
        })
        .collect();
    procs.iter().find(|(pid, _, _)| *pid == app)?;
    let tree: Vec<&(u32, u32, String)> = procs
        .iter()
        .filter(|(pid, ppid, _)| *pid == app || *ppid == app)
        .collect();
    let field = |pid: u32, key: &str| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(key)?.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let each: Vec<(String, u64, u64)> = tree
        .iter()
        .map(|(pid, _, n)| (n.clone(), field(*pid, "Pss:"), field(*pid, "Rss:")))
        .collect();
    Some(TreeMemory {
        names: each.iter().map(|(n, _, _)| n.clone()).collect(),
        pss_kib: each.iter().map(|(_, pss, _)| pss).sum(),
        rss_kib: each.iter().map(|(_, _, rss)| rss).sum(),
        each,
    })
}

async fn metrics(c: &Client) -> TestResult<Value> {
    Ok(c.execute_async(
        "const done = arguments[arguments.length - 1];\n\
         window.__TAURI_INTERNALS__.invoke('app_metrics').then(done, (e) => done({ error: e }));",
        vec![],
    )
    .await?)
}

/// Adds `UNITS` simulated units with auto-commission on and waits for every PASS.
async fn commission_many(c: &Client) -> TestResult<(u64, u64, Duration)> {
    let ui = crate::ui::Ui::new(c);
    ui.click("#nav-line").await?;
    ui.click("#auto-commission").await?;
    let started = Instant::now();
    // One unit at a time, as a technician plugs them: the figure is memory held after a
    // shift's worth of units, not a stress test of 100 concurrent runs on two cores.
    for n in 1..=UNITS {
        ui.click("#add-sim").await?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while finished(c).await? < 1 {
            if Instant::now() > deadline {
                return Err(format!("unit {n} did not finish").into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if c.find_all(Locator::Css(
            "article.unit-card .result[data-result='pass']",
        ))
        .await?
        .is_empty()
        {
            return Err(format!("unit {n} did not pass").into());
        }
        // The technician unplugs the finished unit and clears its card; a simulator left
        // running would be counted in the station's memory though no real unit lives there.
        c.execute_async(
            "const done = arguments[arguments.length - 1];\n\
             const inv = window.__TAURI_INTERNALS__.invoke;\n\
             inv('list_targets').then((ts) => Promise.all(ts\n\
               .filter((t) => t.kind === 'simulated')\n\
               .map((t) => inv('stop_simulated_unit', { path: t.path })))).then(done, done);",
            vec![],
        )
        .await?;
        ui.click("#clear-disconnected").await?;
        ui.wait_gone("article.unit-card .result[data-result]")
            .await?;
    }
    let wall = started.elapsed();
    let m = metrics(c).await?;
    Ok((
        m["rssKib"].as_u64().ok_or("no RSS")?,
        m["peakRssKib"].as_u64().ok_or("no peak RSS")?,
        wall,
    ))
}

async fn finished(c: &Client) -> TestResult<usize> {
    Ok(
        c.find_all(Locator::Css("article.unit-card .result[data-result]"))
            .await?
            .len(),
    )
}
