//! An emulated Nordic nRF91 modem on a pseudo-terminal, speaking AT commands on a raw UART
//! or behind Zephyr's shell (`at AT+…`). Its fidelity is judged by Nordic's own nrfcredstore
//! (see `scripts/python-peers.sh` and the CLI's `nrf91_peers` tests).

pub mod modem;
mod nvm;

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serialport::{SerialPort, TTYPort};

pub use modem::{Modem, ModemConfig};

use crate::pty::SimError;

/// How the emulated unit is wired.
#[derive(Debug, Clone, Default)]
pub struct Nrf91SimConfig {
    pub modem: ModemConfig,
    /// Behind Zephyr's shell (`uart:~$ `) rather than on the modem's raw AT UART.
    pub shell: bool,
    /// An application that logs: a Zephyr log line, in colour, before every reply.
    pub chatter: bool,
    /// Pace output like a UART at this baud rate.
    pub baud: Option<u32>,
    /// A noisy line: a burst of bytes that are not text before every reply.
    pub garbage: bool,
    /// Keep the modem's memory in this file (identity, keys, credentials) across runs.
    pub store: Option<PathBuf>,
}

/// An emulated nRF91 unit; stops when dropped.
pub struct Nrf91Sim {
    path: String,
    imei: String,
    uuid: String,
    modem: Arc<Mutex<Modem>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    _slave: TTYPort,
}

impl Nrf91Sim {
    pub fn spawn(cfg: Nrf91SimConfig) -> Result<Self, SimError> {
        let (mut master, slave) = TTYPort::pair().map_err(SimError::Pty)?;
        master
            .set_timeout(Duration::from_millis(20))
            .map_err(SimError::Pty)?;
        let path = slave.name().ok_or(SimError::NoPath)?;
        let modem = match &cfg.store {
            Some(path) => Modem::open_stored(path, cfg.modem.clone()).map_err(SimError::Store)?,
            None => Modem::new(cfg.modem.clone()),
        };
        let (imei, uuid) = (modem.cfg.imei.clone(), modem.uuid_string());
        let modem = Arc::new(Mutex::new(modem));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name(format!("nrf91-{imei}"))
            .spawn({
                let (stop, modem) = (stop.clone(), modem.clone());
                move || serve(master, &modem, &cfg, &stop)
            })
            .map_err(SimError::Thread)?;
        Ok(Self {
            path,
            imei,
            uuid,
            modem,
            stop,
            thread: Some(thread),
            _slave: slave,
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn imei(&self) -> &str {
        &self.imei
    }

    /// The device UUID, `8-4-4-4-12` lowercase.
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// The modem's functional mode now.
    pub fn cfun(&self) -> u8 {
        self.modem.lock().map(|m| m.cfun()).unwrap_or(0)
    }
}

impl Drop for Nrf91Sim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const PROMPT: &str = "uart:~$ ";

fn serve(mut port: TTYPort, modem: &Mutex<Modem>, cfg: &Nrf91SimConfig, stop: &AtomicBool) {
    let mut line = Vec::new();
    let mut quoted = false;
    let mut buf = [0u8; 1024];
    if cfg.shell {
        send(&mut port, PROMPT.as_bytes(), cfg.baud, stop);
    }
    while !stop.load(Ordering::Relaxed) {
        let n = match port.read(&mut buf) {
            Ok(0) => continue,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => continue,
            Err(_) => return,
        };
        for &b in &buf[..n] {
            // A command ends at CR or LF, except inside a quoted string (a PEM spans lines).
            match b {
                b'"' => {
                    quoted = !quoted;
                    line.push(b);
                }
                b'\r' | b'\n' if !quoted => {
                    if line.is_empty() {
                        continue;
                    }
                    let text = String::from_utf8_lossy(&line).into_owned();
                    line.clear();
                    let out = answer(&text, modem, cfg);
                    if cfg.garbage {
                        send(&mut port, GARBAGE, cfg.baud, stop);
                    }
                    send(&mut port, out.as_bytes(), cfg.baud, stop);
                }
                _ => line.push(b),
            }
        }
    }
}

/// The bytes a unit sends back for one received line.
fn answer(text: &str, modem: &Mutex<Modem>, cfg: &Nrf91SimConfig) -> String {
    let mut out = String::new();
    let cmd = if cfg.shell {
        // The shell echoes the line after its prompt.
        out.push_str(text);
        out.push_str("\r\n");
        match shell_command(text) {
            Some(cmd) => Some(cmd),
            None => {
                out.push_str(&format!(
                    "{}: command not found\r\n{PROMPT}",
                    first_word(text)
                ));
                return out;
            }
        }
    } else {
        Some(text.to_owned())
    };
    if cfg.chatter {
        out.push_str("\u{1b}[0m[00:00:07.520,000] <inf> app: modem event\u{1b}[0m\r\n");
    }
    if let Some(cmd) = cmd {
        let reply = match modem.lock() {
            Ok(mut m) => {
                let reply = m.handle(&cmd);
                if let Some(path) = &cfg.store {
                    if let Err(e) = m.persist(path) {
                        // The unit's flash failing is the emulator's problem, not the station's.
                        eprintln!("nrf91 emulator: cannot save {}: {e}", path.display());
                    }
                }
                reply
            }
            Err(_) => "ERROR\r\n".into(),
        };
        out.push_str(&reply);
    }
    if cfg.shell {
        out.push_str(PROMPT);
    }
    out
}

/// `at AT+CGSN` or `at 'AT%CMNG=0,…\n…'` → the AT command, with `\n` escapes undone.
fn shell_command(text: &str) -> Option<String> {
    let rest = text.trim().strip_prefix("at ")?.trim();
    let unquoted = rest
        .strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .unwrap_or(rest);
    Some(unquoted.replace("\\n", "\n"))
}

fn first_word(text: &str) -> &str {
    text.split_whitespace().next().unwrap_or("")
}

/// Line noise: bytes that are not UTF-8, a stray control code, half an escape sequence.
const GARBAGE: &[u8] = b"\xff\xfe\x80~\x07\x1b[\xc3\r\n";

/// Writes `bytes` to the unit's side of the line, paced like a UART at `baud` if given.
pub(crate) fn send(port: &mut TTYPort, bytes: &[u8], baud: Option<u32>, stop: &AtomicBool) {
    let chunk = if baud.is_some() {
        16
    } else {
        bytes.len().max(1)
    };
    for part in bytes.chunks(chunk) {
        let mut rest = part;
        while !rest.is_empty() && !stop.load(Ordering::Relaxed) {
            match port.write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::TimedOut => continue,
                Err(_) => return,
            }
        }
        if let Some(baud) = baud.filter(|b| *b > 0) {
            std::thread::sleep(Duration::from_secs_f64(
                part.len() as f64 * 10.0 / f64::from(baud),
            ));
        }
    }
    let _ = port.flush();
}
