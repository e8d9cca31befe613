//! Line benchmark: simulated units paced like a 115200-baud UART against the real lab broker.
//!
//! `cargo build --release -p commissioner-cli && ./target/release/line-bench [--units 16] [--runs 5]`
//!
//! Prints:
//! - one unit: wall time against its bound (bytes on the wire × 10 / baud + the unit's own
//!   time + the broker's share, taken as the handshake step of an unpaced run). Goal ≤ 1.15.
//! - N units at once, `--runs` times with fresh units: throughput of the median run against
//!   N × the one-unit rate (goal ≥ 0.9) with the spread over the runs, and the CPU time and
//!   peak RSS of the station. The N units run in a child `commissioner sim` process, and
//!   the lab broker and provisioning responder in their own (`commissioner lab up`), so that
//!   the figures are the station's alone.
//! - where the CPU went during the N-unit run: station, simulated units, broker, responder,
//!   and the whole machine. The simulated units, the broker and the responder share the
//!   station's cores here, which they would not on a real line; when the machine's cores are
//!   busy for most of the run, the ratio measures the machine, not the station.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::path::{Path, PathBuf};

use commissioner_core::lab::LabFiles;
use commissioner_core::pipeline::{self, CommissionOptions, CommissionRequest, Report};
use commissioner_core::pki::UnlockedCa;
use commissioner_core::station::{init_lab_station, Station, PASSPHRASE_ENV};
use commissioner_devsim::{SimConfig, SimDevice};

const BAUD: u32 = 115_200;
const PASS: &str = "bench-only-passphrase";

#[path = "shared/args.rs"]
mod args;
use args::{arg, BenchResult};

fn one(station: &Station, ca: &UnlockedCa, port: &str) -> Report {
    let req = CommissionRequest {
        port,
        baud: BAUD,
        operator: "bench",
    };
    pipeline::commission(station, ca, &req, CommissionOptions::default(), &mut |_| {})
}

fn check(report: &Report) -> BenchResult<()> {
    if report.passed() {
        Ok(())
    } else {
        Err(format!("a unit did not pass:\n{}", report.render()).into())
    }
}

/// CPU time (user + system) of a process so far (`self` or a pid), from /proc; Linux ticks
/// are 1/100 s.
fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Busy and total time of all the machine's cores so far (/proc/stat), in ticks.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let total: u64 = cpu.iter().sum();
    // idle and iowait are the only fields that are not work.
    let idle = cpu.get(3).copied().unwrap_or(0) + cpu.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// CPU time of the processes that take part in a run, read before and after it.
struct CpuSnapshot {
    station: Duration,
    sims: Duration,
    broker: Duration,
    responder: Duration,
    machine: (u64, u64),
}

impl CpuSnapshot {
    fn take(sims: u32, lab: &LabPids) -> Self {
        Self {
            station: cpu_time("self"),
            sims: cpu_time(&sims.to_string()),
            broker: cpu_time(&lab.broker),
            responder: cpu_time(&lab.responder),
            machine: machine_ticks(),
        }
    }
}

/// A status field of this process (`VmHWM`, `VmRSS`), in MiB.
fn rss_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

/// The `commissioner` binary beside this one, which runs the simulated units and the lab.
/// `cargo run --bin line-bench` builds only the bench, so say how to get it when it is missing.
fn cli_binary() -> BenchResult<PathBuf> {
    let exe = std::env::current_exe()?.with_file_name("commissioner");
    if !exe.is_file() {
        return Err(format!(
            "{} is not built; line-bench runs the simulated units and the lab broker through it: \
             cargo build --release -p commissioner-cli, then run line-bench again",
            exe.display()
        )
        .into());
    }
    Ok(exe)
}

/// `commissioner sim --count n --baud 115200` next to this binary; returns it and its ports.
fn sim_process(n: usize) -> BenchResult<(Child, Vec<String>)> {
    let mut child = Command::new(cli_binary()?)
        .args([
            "sim",
            "--count",
            &n.to_string(),
            "--baud",
            &BAUD.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let ports: Vec<String> = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .take_while(|l| !l.starts_with("press Ctrl-C"))
        .filter(|l| l.starts_with("unit "))
        .filter_map(|l| l.split_whitespace().nth(3).map(str::to_owned))
        .collect();
    if ports.len() != n {
        let _ = child.kill();
        return Err(format!("the simulator started {} of {n} units", ports.len()).into());
    }
    Ok((child, ports))
}

const USAGE: &str = "\
line-bench: simulated units paced like a 115200-baud UART against the real lab broker

usage: line-bench [--units N] [--runs R]
  --units N   units commissioned at once (default 16)
  --runs R    runs with fresh units, the median is reported (default 5)

Needs the `commissioner` binary beside it: cargo build --release -p commissioner-cli
Prints the one-unit wall time against its bound (goal <= 1.15), N units at once against
N x the one-unit rate (goal >= 0.9), the station's CPU time and peak RSS.";

fn main() -> BenchResult<()> {
    // Answer --help without starting anything: a run takes minutes and a lab broker.
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let units = arg("--units", 16);
    let runs = arg("--runs", 5).max(1);
    let dir = tempfile::tempdir()?;
    let station_dir = dir.path().join("station");
    init_lab_station(&station_dir, PASS)?;
    let lab = LabProcess::up(&station_dir)?;
    // `lab up` pointed the profile at its broker.
    let mut station = Station::open(&station_dir)?;
    // Many runs of 16 would pass the profile's hourly issuing limit.
    station.config.policy.max_per_hour = u32::MAX;
    let ca = station.unlock_ca(PASS)?;
    let lab_pids = lab.pids(&station)?;

    // N units at once first, so that the peak RSS is that of these runs and not inflated by
    // the in-process simulators of the one-unit runs below.
    // The set-up (CA unlock, lab start) is not the run's: its peak is forgotten here.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = rss_mib("VmRSS");
    let mut batches = Vec::new();
    let mut reports = Vec::new();
    for _ in 0..runs {
        let (batch, batch_reports) = batch(&station, &ca, units, &lab_pids)?;
        println!("  {units} units at once: {:>7.1} ms wall", ms(batch.wall));
        reports.extend(batch_reports);
        batches.push(batch);
    }
    let rss = rss_mib("VmHWM");
    let per_step = step_times(&reports);
    let outside = outside_steps(&reports);
    // The median batch (for an even count, the slower of the middle two): one late wake-up of
    // the broker moves a single batch by ~10 ms.
    let mut by_wall: Vec<&Batch> = batches.iter().collect();
    by_wall.sort_by_key(|b| b.wall);
    let median = by_wall[by_wall.len() / 2];
    let wall_n = median.wall;
    let (cpu0, cpu1) = (&median.cpu0, &median.cpu1);

    // The broker's share: the handshake of an unpaced unit (TLS and MQTT round trips).
    let unpaced = SimDevice::spawn(SimConfig::default())?;
    let report = one(&station, &ca, unpaced.path());
    check(&report)?;
    let broker = report
        .steps
        .iter()
        .find(|s| s.name == "handshake")
        .map(|s| Duration::from_micros(s.micros))
        .unwrap_or_default();

    let mut walls = Vec::new();
    let mut bounds = Vec::new();
    let mut singles = Vec::new();
    for _ in 0..runs {
        let sim = SimDevice::spawn(SimConfig {
            baud: Some(BAUD),
            ..SimConfig::default()
        })?;
        // The boot banner went out before the session; only the session's bytes count.
        std::thread::sleep(Duration::from_millis(50));
        let before = sim.stats();
        let t = Instant::now();
        let report = one(&station, &ca, sim.path());
        let wall = t.elapsed();
        check(&report)?;
        singles.push(report);
        let after = sim.stats();
        let bytes = (after.received - before.received) + (after.sent - before.sent);
        let wire = Duration::from_secs_f64(bytes as f64 * 10.0 / f64::from(BAUD));
        let device = after.device_time.saturating_sub(before.device_time);
        walls.push(wall);
        bounds.push(wire + device + broker);
        println!(
            "  run: {:>7.1} ms wall, bound {:>7.1} ms (wire {} B = {:.1} ms, device {:.1} ms, broker {:.1} ms)",
            ms(wall),
            ms(wire + device + broker),
            bytes,
            ms(wire),
            ms(device),
            ms(broker)
        );
    }
    drop(lab);
    let t1 = mean(&walls);
    let bound = mean(&bounds);
    println!(
        "one unit @ {BAUD} baud: {:.1} ms wall vs {:.1} ms bound: ratio {:.3} (goal <= 1.15)",
        ms(t1),
        ms(bound),
        ms(t1) / ms(bound)
    );
    let rate_n = units as f64 / wall_n.as_secs_f64();
    let rate_1 = 1.0 / t1.as_secs_f64();
    let ratio = |wall: Duration| t1.as_secs_f64() / wall.as_secs_f64();
    println!(
        "{units} units at once (median of {runs}): {:.1} ms wall, {:.1} units/s vs {units} x {:.2} units/s: ratio {:.3} (goal >= 0.9); runs {:.3}..{:.3}",
        ms(wall_n),
        rate_n,
        rate_1,
        rate_n / (units as f64 * rate_1),
        ratio(by_wall[by_wall.len() - 1].wall),
        ratio(by_wall[0].wall),
    );
    println!(
        "  steps of one unit alone, mean/worst ms:{}",
        step_times(&singles)
    );
    println!("  steps of the {units}-unit runs, mean/worst ms:{per_step}");
    println!(
        "  outside the steps (journal open, begin, activate, finish), mean/worst ms: one unit alone {}, the {units}-unit runs {outside}",
        outside_steps(&singles)
    );
    let share = |d: Duration| 100.0 * d.as_secs_f64() / wall_n.as_secs_f64();
    let station_cpu = cpu1.station.saturating_sub(cpu0.station);
    println!(
        "station during the median {units}-unit run: CPU {:.0} ms ({:.0} % of one core), peak RSS {:.1} MiB over the runs ({:.1} MiB before them)",
        ms(station_cpu),
        share(station_cpu),
        rss,
        rss_before
    );
    let sims_cpu = cpu1.sims.saturating_sub(cpu0.sims);
    let broker_cpu = cpu1.broker.saturating_sub(cpu0.broker);
    let responder_cpu = cpu1.responder.saturating_sub(cpu0.responder);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (busy, total) = (
        cpu1.machine.0.saturating_sub(cpu0.machine.0),
        cpu1.machine.1.saturating_sub(cpu0.machine.1),
    );
    println!(
        "  on the same {cores} cores: simulated units {:.0} % of one core, broker {:.0} %, responder {:.0} %; \
         the machine's cores were {:.0} % busy ({:.0} % of that was this run, the rest other work)",
        share(sims_cpu),
        share(broker_cpu),
        share(responder_cpu),
        100.0 * busy as f64 / total.max(1) as f64,
        100.0 * (station_cpu + sims_cpu + broker_cpu + responder_cpu).as_secs_f64() * 100.0
            / (busy.max(1) as f64)
    );
    Ok(())
}

/// One run of N units at once, each in a fresh simulator process.
struct Batch {
    wall: Duration,
    cpu0: CpuSnapshot,
    cpu1: CpuSnapshot,
}

fn batch(
    station: &Station,
    ca: &UnlockedCa,
    units: usize,
    lab: &LabPids,
) -> BenchResult<(Batch, Vec<Report>)> {
    let (mut sims, ports) = sim_process(units)?;
    // As for the one-unit runs: the boot banners (paced at the baud rate) go out before the
    // sessions, so that both runs time the same bytes.
    std::thread::sleep(Duration::from_millis(50));
    let jobs: Vec<CommissionRequest<'_>> = ports
        .iter()
        .map(|port| CommissionRequest {
            port,
            baud: BAUD,
            operator: "bench",
        })
        .collect();
    let cpu0 = CpuSnapshot::take(sims.id(), lab);
    let t0 = Instant::now();
    let reports =
        pipeline::commission_many(station, ca, &jobs, CommissionOptions::default(), &|_, _| {});
    let wall = t0.elapsed();
    let cpu1 = CpuSnapshot::take(sims.id(), lab);
    let _ = sims.kill();
    let _ = sims.wait();
    reports.iter().try_for_each(check)?;
    Ok((Batch { wall, cpu0, cpu1 }, reports))
}

/// The lab broker and responder in processes of their own, stopped on drop.
struct LabProcess {
    station: PathBuf,
    cli: PathBuf,
}

/// Process ids of the lab broker and responder, as /proc names them.
struct LabPids {
    broker: String,
    responder: String,
}

impl LabProcess {
    fn up(station: &Path) -> BenchResult<Self> {
        let lab = Self {
            station: station.to_owned(),
            cli: cli_binary()?,
        };
        let out = lab.command("up").output()?;
        if !out.status.success() {
            return Err(format!(
                "lab up failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
            .into());
        }
        Ok(lab)
    }

    fn command(&self, verb: &str) -> Command {
        let mut cmd = Command::new(&self.cli);
        cmd.arg("--station")
            .arg(&self.station)
            .args(["lab", verb])
            .env(PASSPHRASE_ENV, PASS)
            .stdout(Stdio::null());
        cmd
    }

    fn pids(&self, station: &Station) -> BenchResult<LabPids> {
        let files = LabFiles::new(station);
        let read =
            |p: &Path| -> BenchResult<String> { Ok(std::fs::read_to_string(p)?.trim().to_owned()) };
        Ok(LabPids {
            broker: read(&files.broker_pid)?,
            responder: read(&files.responder_pid)?,
        })
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        let _ = self.command("down").status();
    }
}

/// Mean and worst time of each session outside its steps, in milliseconds.
fn outside_steps(reports: &[Report]) -> String {
    let times: Vec<u64> = reports
        .iter()
        .map(|r| {
            let steps: u64 = r.steps.iter().map(|s| s.micros).sum();
            (r.total_millis * 1000).saturating_sub(steps)
        })
        .collect();
    let worst = times.iter().copied().max().unwrap_or(0);
    let mean = times.iter().sum::<u64>() / times.len().max(1) as u64;
    format!("{:.0}/{:.0}", mean as f64 / 1000.0, worst as f64 / 1000.0)
}

/// Mean and worst time of each step over `reports`, in milliseconds.
fn step_times(reports: &[Report]) -> String {
    let mut out = String::new();
    for name in pipeline::STEPS {
        let times: Vec<u64> = reports
            .iter()
            .flat_map(|r| r.steps.iter().filter(|s| s.name == name).map(|s| s.micros))
            .collect();
        let worst = times.iter().copied().max().unwrap_or(0);
        let mean = times.iter().sum::<u64>() / times.len().max(1) as u64;
        out.push_str(&format!(
            " {name} {:.0}/{:.0}",
            mean as f64 / 1000.0,
            worst as f64 / 1000.0
        ));
    }
    out
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mean(samples: &[Duration]) -> Duration {
    samples.iter().sum::<Duration>() / samples.len().max(1) as u32
}
