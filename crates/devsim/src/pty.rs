//! Runs a simulated unit on a pseudo-terminal, with the link-level faults, UART pacing and
//! device-side delays of real hardware.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use commissioner_core::device::frame::{self, Line, LineBuffer};
use commissioner_core::device::protocol::Response;
use serialport::{SerialPort, TTYPort};
use thiserror::Error;

use crate::device::{SimConfig, SimDevice as State};
use crate::fault::Fault;

/// Errors starting a simulator.
#[derive(Debug, Error)]
pub enum SimError {
    #[error("cannot create a pseudo-terminal")]
    Pty(#[source] serialport::Error),
    #[error("the pseudo-terminal has no path")]
    NoPath,
    #[error("cannot start the simulator thread")]
    Thread(#[source] io::Error),
    #[error("cannot read or write the unit's store file")]
    Store(#[source] io::Error),
}

/// What crossed a unit's link and how long the unit itself worked on requests: the inputs
/// of a commissioning run's lower bound (the benchmark compares wall time against it).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LinkStats {
    /// Bytes the unit received (request lines with their newline).
    pub received: u64,
    /// Bytes the unit sent (boot log, log lines, frames).
    pub sent: u64,
    /// Time the unit spent answering: its own work plus configured device delays, without
    /// the time its bytes spend on the wire.
    pub device_time: Duration,
}

#[derive(Debug, Default)]
struct Meter {
    received: AtomicU64,
    sent: AtomicU64,
    device_nanos: AtomicU64,
}

/// A simulated unit serving a pseudo-terminal; stops when dropped.
#[derive(Debug)]
pub struct SimDevice {
    path: String,
    device_id: String,
    stop: Arc<AtomicBool>,
    meter: Arc<Meter>,
    thread: Option<JoinHandle<()>>,
    // Held open so the pty stays alive while no station has the slave open.
    _slave: TTYPort,
}

impl SimDevice {
    /// Creates a pseudo-terminal and serves the unit on it.
    pub fn spawn(cfg: SimConfig) -> Result<Self, SimError> {
        // The slave end from `pair` holds neither TIOCEXCL nor a flock, so the station can open
        // its path exclusively, as it would a real port.
        let (mut master, slave) = TTYPort::pair().map_err(SimError::Pty)?;
        master
            .set_timeout(Duration::from_millis(20))
            .map_err(SimError::Pty)?;
        let path = slave.name().ok_or(SimError::NoPath)?;
        let stop = Arc::new(AtomicBool::new(false));
        let state = State::new(cfg);
        let device_id = state.device_id().to_owned();
        let meter = Arc::new(Meter::default());
        let thread = std::thread::Builder::new()
            // A simulated hostile unit's id may hold a NUL, which a thread name cannot.
            .name(format!("sim-{}", device_id.escape_default()))
            .spawn({
                let stop = stop.clone();
                let meter = meter.clone();
                move || Link::new(master, state, stop, meter).serve()
            })
            .map_err(SimError::Thread)?;
        Ok(Self {
            path,
            device_id,
            stop,
            meter,
            thread: Some(thread),
            _slave: slave,
        })
    }

    /// Path of the serial port the station opens.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// Bytes and device time so far.
    pub fn stats(&self) -> LinkStats {
        LinkStats {
            received: self.meter.received.load(Ordering::Relaxed),
            sent: self.meter.sent.load(Ordering::Relaxed),
            device_time: Duration::from_nanos(self.meter.device_nanos.load(Ordering::Relaxed)),
        }
    }
}

impl Drop for SimDevice {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The boot banner every reset prints before the boot announcement frame.
pub const BOOT_BANNER: [&str; 3] = [
    "ROM boot v2.1 (c) Commissioner reference device",
    "boot: clocks ok, flash ok",
    "boot: factory mode, waiting for station",
];

/// Log chatter a noisy unit prints between frames: stars, braces and quotes, but no marker.
const NOISE: [&str; 4] = [
    "I (4211) wifi: scan done, 3 aps *rssi -67*",
    "\u{1b}[0;33mW (4212) app: {\"heap\": 43120} low-ish\u{1b}[0m",
    "D (4213) uart: rx fifo 0/128 * ok",
    "I (4214) tick",
];

struct Link {
    port: TTYPort,
    state: State,
    stop: Arc<AtomicBool>,
    writes_seen: usize,
    meter: Arc<Meter>,
}

/// What the link does with one received line.
enum Action {
    Answer,
    Swallow,
    Reboot,
    Unplug,
}

impl Link {
    fn new(port: TTYPort, state: State, stop: Arc<AtomicBool>, meter: Arc<Meter>) -> Self {
        Self {
            port,
            state,
            stop,
            writes_seen: 0,
            meter,
        }
    }

    fn has(&self, f: Fault) -> bool {
        self.state.config().faults.contains(&f)
    }

    fn serve(mut self) {
        self.boot();
        let mut lines = LineBuffer::default();
        while !self.stop.load(Ordering::Relaxed) {
            if lines.fill_from(&mut self.port).is_err() {
                // EIO while no station has the port open: wait for one.
                std::thread::sleep(Duration::from_millis(20));
            }
            while let Some(mut line) = lines.next_line() {
                let wire = line.len() as u64 + 1;
                self.meter.received.fetch_add(wire, Ordering::Relaxed);
                // A UART hands over a line's last byte only after the whole line has crossed
                // the wire; the pty delivers it at once, so the paced unit waits for it.
                if let Some(baud) = self.state.config().baud.filter(|b| *b > 0) {
                    self.nap(Duration::from_secs_f64(
                        wire as f64 * 10.0 / f64::from(baud),
                    ));
                }
                if self.has(Fault::DropBytes) && line.len() > 8 {
                    // A receive overrun: one byte of the line never made it into the FIFO.
                    line.remove(6);
                }
                let op = op_name(&line);
                match self.action(op.as_deref()) {
                    Action::Swallow => continue,
                    Action::Unplug => return,
                    Action::Reboot => {
                        self.state.reset();
                        self.boot();
                        continue;
                    }
                    Action::Answer => {}
                }
                let working = Instant::now();
                let reply = self.state.respond_to_line(&line);
                self.nap(self.delay_for(op.as_deref()));
                let worked = working.elapsed().as_nanos() as u64;
                self.meter.device_nanos.fetch_add(worked, Ordering::Relaxed);
                if self.has(Fault::LateReply) && reply.is_some() {
                    self.nap(self.state.config().delays.late_reply);
                }
                self.send(reply.as_ref());
                if self.state.take_reboot_request() {
                    self.state.reset();
                    self.boot();
                }
            }
        }
    }

    fn action(&mut self, op: Option<&str>) -> Action {
        match op {
            Some("write_cert") => {
                self.writes_seen += 1;
                if self.has(Fault::RebootMidWrite) && self.writes_seen == 2 {
                    return Action::Reboot;
                }
            }
            Some("challenge") if self.has(Fault::UnplugMidSession) => return Action::Unplug,
            Some("hello") | None => return Action::Answer,
            Some(_) => {}
        }
        if self.has(Fault::NoReply) {
            Action::Swallow
        } else {
            Action::Answer
        }
    }

    fn delay_for(&self, op: Option<&str>) -> Duration {
        let delays = &self.state.config().delays;
        match op {
            Some("keygen") => delays.keygen,
            Some("write_cert") => delays.flash_write,
            _ => Duration::ZERO,
        }
    }

    /// Prints the boot banner and the boot announcement, as after power-up or reset.
    fn boot(&mut self) {
        let mut out = String::from("\r\n");
        if self.has(Fault::BootNoise) {
            // Garbage a UART shows while the clock settles.
            out.push_str("\u{fffd}\u{0}x\u{fffd}\r\n");
        }
        for line in BOOT_BANNER {
            out.push_str(line);
            out.push_str("\r\n");
        }
        out.push_str(&self.encode(&self.state.boot_event()));
        self.write(out.as_bytes());
    }

    fn send(&mut self, reply: Option<&Response>) {
        let mut out = String::new();
        for log in self.state.log.drain(..) {
            out.push_str(&log);
            out.push_str("\r\n");
        }
        if self.has(Fault::BootNoise) {
            for line in NOISE {
                out.push_str(line);
                out.push_str("\r\n");
            }
            // A log line cut short by the frame: text before the marker on the same line.
            out.push_str("I (4215) app: status ");
        }
        if let Some(resp) = reply {
            let mut framed = self.encode(resp);
            if self.has(Fault::CorruptBytes) {
                framed = corrupt(&framed);
            }
            out.push_str(&framed);
        }
        self.write(out.as_bytes());
    }

    fn encode(&self, resp: &Response) -> String {
        match serde_json::to_string(resp) {
            Ok(body) => frame::encode(&body).replace('\n', "\r\n"),
            Err(e) => format!("sim: cannot encode reply: {e}\r\n"),
        }
    }

    /// Writes at the configured baud rate: ten bits a byte on an 8N1 line.
    fn write(&mut self, bytes: &[u8]) {
        let baud = self.state.config().baud;
        let chunk = if baud.is_some() {
            16
        } else {
            bytes.len().max(1)
        };
        // Paced against one schedule from the first byte, as a UART's clock is: a late wake-up
        // from one nap is made up by the next, instead of every chunk adding its own.
        let started = Instant::now();
        let mut sent = 0usize;
        for part in bytes.chunks(chunk) {
            if !self.write_all(part) {
                return;
            }
            sent += part.len();
            if let Some(baud) = baud.filter(|b| *b > 0) {
                let due = started + Duration::from_secs_f64(sent as f64 * 10.0 / f64::from(baud));
                self.nap(due.saturating_duration_since(Instant::now()));
            }
        }
    }

    /// Retries while the pty's buffer is full (a station that is not reading), gives up when
    /// the simulator is stopped or the pty is gone.
    fn write_all(&mut self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() && !self.stop.load(Ordering::Relaxed) {
            match self.port.write(bytes) {
                Ok(n) => {
                    self.meter.sent.fetch_add(n as u64, Ordering::Relaxed);
                    bytes = &bytes[n..];
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => continue,
                Err(_) => return false,
            }
        }
        self.port.flush().is_ok()
    }

    /// Sleeps, but wakes for a stop request so that dropping a slow simulator is quick.
    fn nap(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stop.load(Ordering::Relaxed) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(10)));
        }
    }
}

/// The operation a request line names, if it is a readable request frame.
fn op_name(line: &str) -> Option<String> {
    let Ok(Line::Frame(body)) = frame::decode_line(line.strip_suffix('\r').unwrap_or(line)) else {
        return None;
    };
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value.get("op")?.as_str().map(str::to_owned)
}

/// Flips one bit of a frame's body, so that its CRC no longer matches.
fn corrupt(framed: &str) -> String {
    let mut bytes = framed.as_bytes().to_vec();
    // Index 3 is inside `{"id"` right after the marker: printable ASCII stays printable.
    if let Some(b) = bytes.get_mut(frame::MARKER.len() + 2) {
        *b ^= 0x01;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
