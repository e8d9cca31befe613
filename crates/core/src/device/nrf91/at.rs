//! The AT line link: one command out, lines in until a final result code, with the modem's
//! or the application's log lines and colour codes set aside rather than mistaken for replies.

use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::device::{DeviceError, Interrupt};

use super::error::Nrf91Error;

/// How a command reaches the modem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtMode {
    /// The modem's (or the AT client sample's) UART: commands as they are.
    Raw,
    /// Zephyr's shell: `at '<command>'`, line breaks inside the command written as `\n`.
    Shell,
}

/// A command's reply: the information lines before its `OK`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AtReply {
    pub lines: Vec<String>,
}

impl AtReply {
    /// The value of the first `<prefix>: value` line.
    pub fn value(&self, prefix: &str) -> Option<&str> {
        self.lines.iter().find_map(|l| {
            l.strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix(':'))
                .map(str::trim)
        })
    }
}

pub struct AtLink<P> {
    port: P,
    pub mode: AtMode,
    pending: Vec<u8>,
    /// Lines that were neither the reply nor its result code: device log, kept for the record.
    log: Vec<String>,
    /// A stop or step deadline ends a wait for the modem (a keygen takes seconds).
    interrupt: Option<Arc<Interrupt>>,
    /// Once the modem has answered, a boot banner means it restarted under us: whatever the
    /// command was doing is lost, and waiting for its `OK` would only run into the timeout.
    pub watch_reboot: bool,
}

impl<P: Read + Write> AtLink<P> {
    pub fn new(port: P, mode: AtMode) -> Self {
        Self {
            port,
            mode,
            pending: Vec::new(),
            log: Vec::new(),
            interrupt: None,
            watch_reboot: false,
        }
    }

    pub fn set_interrupt(&mut self, interrupt: Arc<Interrupt>) {
        self.interrupt = Some(interrupt);
    }

    pub fn take_log(&mut self) -> Vec<String> {
        std::mem::take(&mut self.log)
    }

    /// Sends `cmd` and waits up to `timeout` for its final result code.
    pub fn command(&mut self, cmd: &str, timeout: Duration) -> Result<AtReply, Nrf91Error> {
        let wire = match self.mode {
            AtMode::Raw => format!("{cmd}\r\n"),
            AtMode::Shell => format!("at '{}'\r\n", cmd.replace('\r', "").replace('\n', "\\n")),
        };
        self.port
            .write_all(wire.as_bytes())
            .and_then(|()| self.port.flush())
            .map_err(|source| DeviceError::Io { op: "at", source })?;
        let deadline = Instant::now() + timeout;
        let mut reply = AtReply::default();
        loop {
            let Some(line) = self.next_line(deadline)? else {
                return Err(DeviceError::Timeout {
                    op: "at",
                    after: timeout,
                }
                .into());
            };
            let line = clean(&line);
            if line.is_empty() || is_echo(&line, cmd) {
                continue;
            }
            if self.watch_reboot && is_boot_banner(&line) {
                self.log.push(line);
                return Err(Nrf91Error::Rebooted {
                    cmd: command_name(cmd),
                });
            }
            if line == "OK" {
                return Ok(reply);
            }
            if line == "ERROR" {
                return Err(Nrf91Error::Error {
                    cmd: command_name(cmd),
                });
            }
            if let Some(code) = line.strip_prefix("+CME ERROR:") {
                let code = code.trim().parse().unwrap_or(0);
                return Err(Nrf91Error::cme(&command_name(cmd), code));
            }
            if is_log(&line) {
                self.log.push(line);
            } else {
                reply.lines.push(line);
            }
        }
    }

    /// The next line (without its terminator), or `None` at the deadline.
    fn next_line(&mut self, deadline: Instant) -> Result<Option<String>, Nrf91Error> {
        let mut buf = [0u8; 512];
        loop {
            if let Some(pos) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=pos).collect();
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            let now = Instant::now();
            if let Some(why) = self.interrupt.as_ref().and_then(|i| i.check(now)) {
                return Err(DeviceError::Stopped { op: "at", why }.into());
            }
            if now >= deadline {
                return Ok(None);
            }
            match self.port.read(&mut buf) {
                Ok(0) => std::thread::sleep(Duration::from_millis(5)),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                    return Err(DeviceError::Unplugged { op: "at" }.into())
                }
                Err(source) => return Err(DeviceError::Io { op: "at", source }.into()),
            }
        }
    }
}

/// The command without its arguments, for messages (a PEM does not belong in an error).
fn command_name(cmd: &str) -> String {
    cmd.split(['=', '?']).next().unwrap_or(cmd).to_owned()
}

/// A line without colour codes, carriage returns and a shell prompt.
pub fn clean(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte.
            if chars.peek() == Some(&'[') {
                chars.next();
                for f in chars.by_ref() {
                    if ('@'..='~').contains(&f) {
                        break;
                    }
                }
            }
            continue;
        }
        if c != '\r' && !c.is_control() {
            out.push(c);
        }
    }
    let trimmed = out.trim();
    let trimmed = trimmed
        .strip_prefix("uart:~$")
        .map(str::trim)
        .unwrap_or(trimmed);
    trimmed.to_owned()
}

/// Zephyr log lines (`[00:00:01.234,000] <inf> app: …`), boot banners, and line noise (bytes
/// that were not UTF-8: a modem never answers with those, a glitching cable does).
fn is_log(line: &str) -> bool {
    line.contains('\u{fffd}')
        || line.starts_with('[')
        || line.starts_with("*** ")
        || ["<inf>", "<wrn>", "<err>", "<dbg>"]
            .iter()
            .any(|t| line.contains(t))
}

/// Zephyr's `*** Booting nRF Connect SDK … ***` (or `*** Booting Zephyr OS …`).
fn is_boot_banner(line: &str) -> bool {
    line.starts_with("*** Booting")
}

fn is_echo(line: &str, cmd: &str) -> bool {
    line == cmd || line.starts_with("at '") || line.starts_with("at AT")
}
