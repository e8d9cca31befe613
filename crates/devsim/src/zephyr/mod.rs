//! An emulated Zephyr unit speaking MCUmgr's SMP on its console, on a pseudo-terminal: stock
//! firmware (OS and file-system groups) or with Commissioner's SMP group. Its fidelity is
//! judged by smpclient / smpmgr (see `scripts/python-peers.sh` and the core's `smp_peers`
//! tests).

mod group;
mod server;

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use commissioner_core::device::smp::frame::{self, Decoder, Event, MAX_LINE};
use serialport::{SerialPort, TTYPort};

pub use server::ZephyrUnit;

use crate::nrf91::send;
use crate::pty::SimError;

/// Faults an emulated Zephyr unit can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZephyrFault {
    /// The first answer's CRC is wrong.
    BadCrc,
    /// Answers arrive in small pieces, with pauses mid-line.
    SplitFrames,
    /// `mcumgr params` claims four times the buffer the unit has; larger requests are
    /// dropped, as Zephyr drops them.
    MtuOverflow,
    /// The file system has no room.
    FsFull,
    /// `fs hash` reports a SHA-256 that does not match the file.
    BadHash,
    /// A log line before every answer.
    Chatter,
}

impl std::str::FromStr for ZephyrFault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "bad-crc" => ZephyrFault::BadCrc,
            "split-frames" => ZephyrFault::SplitFrames,
            "mtu-overflow" => ZephyrFault::MtuOverflow,
            "fs-full" => ZephyrFault::FsFull,
            "bad-hash" => ZephyrFault::BadHash,
            "chatter" => ZephyrFault::Chatter,
            other => {
                return Err(format!(
                    "'{other}' is not an SMP fault; known: bad-crc, split-frames, \
                     mtu-overflow, fs-full, bad-hash, chatter"
                ))
            }
        })
    }
}

/// How the emulated unit is built.
#[derive(Debug, Clone)]
pub struct ZephyrSimConfig {
    /// Firmware with Commissioner's SMP group; stock Zephyr otherwise.
    pub commissioner_group: bool,
    /// `os info` node name (the hostname): the device id under the default profile rule,
    /// and the unit's own id in Commissioner's group.
    pub node_name: String,
    /// `os info` hardware platform.
    pub board: String,
    /// `CONFIG_MCUMGR_TRANSPORT_NETBUF_SIZE`: the largest packet (with length and CRC) the
    /// unit takes.
    pub buf_size: usize,
    /// Bytes the file system holds.
    pub fs_capacity: usize,
    pub faults: Vec<ZephyrFault>,
    /// Pace output like a UART at this baud rate.
    pub baud: Option<u32>,
}

impl Default for ZephyrSimConfig {
    fn default() -> Self {
        Self {
            commissioner_group: false,
            node_name: format!("zephyr-{:08x}", rand::random::<u32>()),
            board: "nrf52840dk".into(),
            buf_size: 384,
            fs_capacity: 64 * 1024,
            faults: Vec::new(),
            baud: None,
        }
    }
}

/// An emulated Zephyr unit on a pseudo-terminal; stops when dropped.
pub struct ZephyrSim {
    path: String,
    node_name: String,
    unit: Arc<Mutex<ZephyrUnit>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    _slave: TTYPort,
}

impl ZephyrSim {
    pub fn spawn(mut cfg: ZephyrSimConfig) -> Result<Self, SimError> {
        let (mut master, slave) = TTYPort::pair().map_err(SimError::Pty)?;
        master
            .set_timeout(Duration::from_millis(20))
            .map_err(SimError::Pty)?;
        let path = slave.name().ok_or(SimError::NoPath)?;
        if cfg.faults.contains(&ZephyrFault::FsFull) {
            cfg.fs_capacity = 0;
        }
        let node_name = cfg.node_name.clone();
        let unit = Arc::new(Mutex::new(ZephyrUnit::new(cfg)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name(format!("zephyr-{node_name}"))
            .spawn({
                let (stop, unit) = (stop.clone(), unit.clone());
                move || serve(master, &unit, &stop)
            })
            .map_err(SimError::Thread)?;
        Ok(Self {
            path,
            node_name,
            unit,
            stop,
            thread: Some(thread),
            _slave: slave,
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// A file on the unit's file system.
    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        self.unit.lock().ok()?.file(path).map(<[u8]>::to_vec)
    }

    pub fn is_locked(&self) -> bool {
        self.unit.lock().map(|u| u.is_locked()).unwrap_or(false)
    }
}

impl Drop for ZephyrSim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut port: TTYPort, unit: &Mutex<ZephyrUnit>, stop: &AtomicBool) {
    let mut decoder = Decoder::default();
    let mut events = Vec::new();
    let mut buf = [0u8; 1024];
    let (baud, buf_size, faults) = match unit.lock() {
        Ok(u) => (u.cfg.baud, u.cfg.buf_size, u.cfg.faults.clone()),
        Err(_) => return,
    };
    let mut corrupt_next = faults.contains(&ZephyrFault::BadCrc);
    send(
        &mut port,
        b"*** Booting Zephyr OS build v4.1.0 ***\r\n",
        baud,
        stop,
    );
    while !stop.load(Ordering::Relaxed) {
        let n = match port.read(&mut buf) {
            Ok(0) => continue,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => continue,
            Err(_) => return,
        };
        decoder.push(&buf[..n], &mut events);
        for event in events.drain(..) {
            let out = match event {
                // Zephyr's shell would answer a typed line; this unit only logs it.
                Event::Log(_) => continue,
                Event::Damaged(reason) => {
                    format!("<err> smp: dropped a frame: {reason}\r\n").into_bytes()
                }
                Event::Packet(p) if p.len() + 4 > buf_size => format!(
                    "<wrn> smp: dropped a {} byte request (buffer {buf_size})\r\n",
                    p.len() + 4
                )
                .into_bytes(),
                Event::Packet(p) => {
                    let Ok(mut u) = unit.lock() else { return };
                    let Some(answer) = u.handle(&p) else { continue };
                    let mut out = Vec::new();
                    if faults.contains(&ZephyrFault::Chatter) {
                        out.extend_from_slice(
                            b"\x1b[0m[00:00:03.120,000] <inf> app: sensor tick\x1b[0m\r\n",
                        );
                    }
                    for line in u.log.drain(..) {
                        out.extend_from_slice(format!("[00:00:03.200,000] {line}\r\n").as_bytes());
                    }
                    let mut lines = frame::encode(&answer, MAX_LINE);
                    if std::mem::take(&mut corrupt_next) {
                        corrupt(&mut lines);
                    }
                    if faults.contains(&ZephyrFault::SplitFrames) {
                        send(&mut port, &out, baud, stop);
                        for piece in lines.concat().chunks(5) {
                            send(&mut port, piece, baud, stop);
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        continue;
                    }
                    out.extend(lines.concat());
                    out
                }
            };
            send(&mut port, &out, baud, stop);
        }
    }
}

/// Changes one base64 character inside the packet (past the length), so the frame still
/// decodes but its CRC no longer matches.
fn corrupt(lines: &mut [Vec<u8>]) {
    if let Some(c) = lines.first_mut().and_then(|l| l.get_mut(2 + 12)) {
        *c = if *c == b'A' { b'B' } else { b'A' };
    }
}
