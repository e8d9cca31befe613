//! A witness on the broker: mosquitto_sub (mosquitto's own client), as the backend identity,
//! records every request on the given filters while a closure runs, so a test can compare
//! what two clients put on the wire.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use commissioner_core::lab::LabFiles;

/// The messages published on `filters` while `during` ran, as (topic, payload).
pub fn sniff(
    port: u16,
    files: &LabFiles,
    filters: &[&str],
    during: impl FnOnce(),
) -> Vec<(String, String)> {
    // Line-buffered: piped, mosquitto_sub's stdout would hold the SUBACK line back.
    let mut cmd = Command::new("stdbuf");
    cmd.args(["-oL", "mosquitto_sub"])
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-d",
            "-i",
            "wire-witness",
        ])
        .arg("--cafile")
        .arg(&files.cafile)
        .arg("--cert")
        .arg(&files.backend_cert)
        .arg("--key")
        .arg(&files.backend_key)
        .args(["-F", "MSG\t%t\t%p"]);
    for f in filters {
        cmd.args(["-t", f]);
    }
    let mut child = Witness(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub"),
    );
    let out = child.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Subscribed before anything is sent: the witness misses nothing.
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("mosquitto_sub subscribed");
        if line.contains("SUBACK") {
            break;
        }
    }
    during();
    std::thread::sleep(Duration::from_millis(300));
    drop(child);
    rx.try_iter()
        .filter_map(|l| {
            let rest = l.strip_prefix("MSG\t")?;
            let (topic, payload) = rest.split_once('\t')?;
            Some((topic.to_owned(), payload.to_owned()))
        })
        .collect()
}

/// The mosquitto_sub process; killed when dropped, a failing test's panic included.
struct Witness(std::process::Child);

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A topic with its query values blanked (`?$rid=<>&operationId=<>`): the shape two clients
/// must share.
pub fn topic_shape(topic: &str) -> String {
    match topic.split_once('?') {
        None => topic.to_owned(),
        Some((path, query)) => {
            let keys: Vec<&str> = query
                .split('&')
                .map(|kv| kv.split_once('=').map_or(kv, |(k, _)| k))
                .collect();
            format!("{path}?{}", keys.join("&"))
        }
    }
}

/// The sorted keys of a JSON object payload; empty for anything else.
pub fn json_keys(payload: &str) -> Vec<String> {
    let mut keys: Vec<String> = serde_json::from_str::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect()))
        .unwrap_or_default();
    keys.sort();
    keys
}
