//! What the start-up and memory benchmark reads from the running app: how long the process
//! took to become interactive, and its resident memory.

use std::time::Duration;

use serde::Serialize;
use ts_rs::TS;

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`): 100 on every Linux
/// architecture Tauri supports.
const USER_HZ: f64 = 100.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AppMetrics {
    /// From process start to the UI's first interactive screen (10 ms resolution).
    pub interactive_ms: Option<u64>,
    pub rss_kib: Option<u64>,
    pub peak_rss_kib: Option<u64>,
    /// This process, so that a benchmark measures it and the WebKit processes it started,
    /// not another instance.
    pub pid: u32,
}

/// Time since this process started, from the kernel's record, so the dynamic loader and
/// WebKit's start are counted too.
pub fn process_age() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which may itself contain spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let start_ticks: f64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(Duration::from_secs_f64(
        (uptime - start_ticks / USER_HZ).max(0.0),
    ))
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn snapshot(interactive: Option<Duration>) -> AppMetrics {
    AppMetrics {
        interactive_ms: interactive.map(|d| d.as_millis() as u64),
        rss_kib: status_kib("VmRSS:"),
        peak_rss_kib: status_kib("VmHWM:"),
        pid: std::process::id(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let age = process_age().expect("process age from /proc");
        assert!(age < Duration::from_secs(24 * 3600), "{age:?}");
        let m = snapshot(None);
        let (rss, peak) = (m.rss_kib.expect("VmRSS"), m.peak_rss_kib.expect("VmHWM"));
        assert!(rss > 0 && peak >= rss, "rss {rss} peak {peak}");
    }
}
