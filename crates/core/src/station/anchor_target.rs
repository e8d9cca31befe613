//! Sending published chain heads off the station (`[anchor_target]` in `station.toml`).
//!
//! `anchors.jsonl` lives next to the journal: whoever can cut the journal back can cut it back
//! too. A copy of every signed anchor line therefore goes somewhere the station user cannot
//! rewrite: an append-only file on another volume, the system log (RFC 5424 over the local
//! syslog socket, where a log server forwards it), or an HTTP endpoint (POST). A target that
//! cannot be reached never costs a session or an export: the line waits in
//! `anchor-outbox.jsonl` and goes first, in order, with the next one sent.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::journal::anchor::{Anchor, AnchorLog};

/// How long a syslog or HTTP send may take before the line is queued instead.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// `local0.info`: facility 16, severity 6 (RFC 5424 §6.2.1).
const SYSLOG_PRI: u8 = 16 * 8 + 6;

/// Where signed heads are sent (`[anchor_target]`, one of the keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnchorTarget {
    /// A file on another path or volume, appended to (the same format as `anchors.jsonl`,
    /// so `journal verify --anchors FILE` reads it). Make it append-only there
    /// (`chattr +a`, a WORM share) for it to outlast the station user.
    File(PathBuf),
    /// The local syslog socket, usually `/dev/log`: one RFC 5424 message per head
    /// (`local0.info`, app `commissioner`, msgid `anchor`, the signed line as message).
    Syslog(PathBuf),
    /// `http://host[:port]/path`: one POST per head, the signed line as an
    /// `application/json` body; any 2xx is received.
    Http(String),
}

/// What happened to the off-station copy of a published head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffStation {
    /// No `[anchor_target]` in the profile.
    NotConfigured,
    /// This head and `queued_before` lines that had waited were sent.
    Sent { queued_before: usize },
    /// Not sent: `pending` lines (this one included) wait in the outbox.
    Queued { pending: usize, reason: String },
}

impl OffStation {
    /// One line for the operator.
    pub fn describe(&self, target: Option<&AnchorTarget>) -> String {
        let to = target.map(AnchorTarget::describe).unwrap_or_default();
        match self {
            OffStation::NotConfigured => {
                "off-station anchor: none configured ([anchor_target] in station.toml)".into()
            }
            OffStation::Sent { queued_before: 0 } => format!("off-station anchor: sent to {to}"),
            OffStation::Sent { queued_before } => format!(
                "off-station anchor: sent to {to}, with {queued_before} that had waited"
            ),
            OffStation::Queued { pending, reason } => format!(
                "off-station anchor: NOT sent to {to} ({reason}); {pending} waiting in anchor-outbox.jsonl, sent with the next head"
            ),
        }
    }
}

impl AnchorTarget {
    /// Why the station could never send to this target, found at load.
    pub fn problem(&self) -> Option<String> {
        match self {
            AnchorTarget::Http(url) if !url.starts_with("http://") => Some(format!(
                "[anchor_target] http = \"{url}\": only http:// targets are supported"
            )),
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            AnchorTarget::File(p) => format!("file {}", p.display()),
            AnchorTarget::Syslog(p) => format!("syslog {}", p.display()),
            AnchorTarget::Http(url) => format!("http {url}"),
        }
    }

    /// Sends one signed line.
    pub fn send(&self, anchor: &Anchor) -> Result<(), String> {
        let line = anchor.line().map_err(|e| e.to_string())?;
        match self {
            AnchorTarget::File(path) => AnchorLog::new(path).append_signed(anchor).map_err(|e| {
                match std::error::Error::source(&e) {
                    Some(cause) => format!("{e}: {cause}"),
                    None => e.to_string(),
                }
            }),
            AnchorTarget::Syslog(socket) => send_syslog(socket, &line),
            AnchorTarget::Http(url) => post(url, &line),
        }
    }

    /// Sends what waits in `outbox`, then `anchor`, in order; what fails stays (or goes) in the
    /// outbox. Never an error: a failed send is reported, not fatal.
    pub fn deliver(&self, outbox: &Path, anchor: &Anchor) -> OffStation {
        let outbox = AnchorLog::new(outbox);
        let mut pending = match outbox.read() {
            Ok(p) => p,
            Err(e) => {
                // An unreadable outbox must not swallow this head: append it and report.
                let _ = outbox.append_signed(anchor);
                return OffStation::Queued {
                    pending: 1,
                    reason: e.to_string(),
                };
            }
        };
        let queued_before = pending.len();
        pending.push(anchor.clone());
        let mut sent = 0;
        let mut failure = None;
        for a in &pending {
            match self.send(a) {
                Ok(()) => sent += 1,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let left = &pending[sent..];
        let kept = outbox.replace(left);
        match (failure, kept) {
            (None, Ok(())) => OffStation::Sent { queued_before },
            (None, Err(e)) => OffStation::Sent {
                // Sent, but the outbox still lists what went: sent again next time, which a
                // reader of the target sees as a repeated line, never a missing one.
                queued_before: {
                    tracing::warn!(error = %e, "anchor outbox not cleared");
                    queued_before
                },
            },
            (Some(reason), kept) => OffStation::Queued {
                pending: left.len(),
                reason: match kept {
                    Ok(()) => reason,
                    Err(e) => format!("{reason}; the outbox cannot be written either: {e}"),
                },
            },
        }
    }
}

/// One RFC 5424 message on the local syslog socket (datagram, as `logger` and glibc send).
fn send_syslog(socket: &Path, line: &[u8]) -> Result<(), String> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    let host = if host.is_empty() || host.contains(' ') {
        "-"
    } else {
        host
    };
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| e.to_string())?;
    let body = String::from_utf8_lossy(line);
    let msg = format!(
        "<{SYSLOG_PRI}>1 {now} {host} commissioner {} anchor - {}",
        std::process::id(),
        body.trim_end()
    );
    let sock = UnixDatagram::unbound().map_err(|e| e.to_string())?;
    sock.set_write_timeout(Some(SEND_TIMEOUT))
        .map_err(|e| e.to_string())?;
    sock.send_to(msg.as_bytes(), socket)
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", socket.display()))
}

/// A plain HTTP/1.1 POST; the status line decides.
fn post(url: &str, body: &[u8]) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// targets are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let with_port = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, SEND_TIMEOUT).map_err(|e| format!("{url}: {e}"))?;
    stream
        .set_read_timeout(Some(SEND_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(SEND_TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: commissioner\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .map_err(|e| format!("{url}: {e}"))?;
    // The status line is all that is read: a reply is bounded by what we ask for.
    let mut status = Vec::with_capacity(64);
    let mut byte = [0u8; 1];
    while status.len() < 256 && !status.ends_with(b"\r\n") {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => status.push(byte[0]),
            Err(e) => return Err(format!("{url}: {e}")),
        }
    }
    let status = String::from_utf8_lossy(&status);
    let code = status.split_whitespace().nth(1).unwrap_or("");
    if code.starts_with('2') && code.len() == 3 {
        Ok(())
    } else {
        Err(format!("{url} answered '{}'", status.trim()))
    }
}
