//! The station side of SMP over a serial console: one request at a time, answers matched by
//! sequence number, the unit's buffer size (its MTU) discovered and respected, log lines kept.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ciborium::Value;

use super::cbor::{self, FS_ERR_FILE_WRITE_FAILED};
use super::error::SmpError;
use super::frame::{self, Decoder, Event, MAX_LINE};
use super::header::{self, Header, Op, HEADER_LEN, VERSION_2};
use crate::device::driver::io_error;
use crate::device::interrupt::Interrupt;
use crate::device::log::DeviceLog;
use crate::device::DeviceError;

pub const GROUP_OS: u16 = 0;
pub const GROUP_FS: u16 = 8;
pub const OS_ECHO: u8 = 0;
pub const OS_MCUMGR_PARAMS: u8 = 6;
pub const OS_INFO: u8 = 7;
pub const FS_FILE: u8 = 0;
pub const FS_HASH: u8 = 2;

/// Zephyr's default `CONFIG_MCUMGR_TRANSPORT_NETBUF_SIZE`, assumed until the unit reports its
/// own (some firmware leaves `mcumgr params` out).
pub const DEFAULT_BUF_SIZE: usize = 384;
/// The 2-byte length and 2-byte CRC that share the unit's reassembly buffer with the packet.
const FRAME_OVERHEAD: usize = 4;
/// Room the CBOR keys and numbers of an upload take besides the file name and the data.
const UPLOAD_OVERHEAD: usize = 40;

/// How long requests may take.
#[derive(Debug, Clone, Copy)]
pub struct SmpTimeouts {
    pub request: Duration,
    /// Requests that make a key or sign on the unit.
    pub slow: Duration,
}

/// One request.
#[derive(Debug, Clone)]
pub struct Request {
    pub name: &'static str,
    pub op: Op,
    pub group: u16,
    pub id: u8,
    pub body: Value,
    pub timeout: Duration,
    /// Sends in all on a timeout or a damaged answer: only for requests whose repetition
    /// has the same effect as one.
    pub sends: u32,
}

impl Request {
    pub fn new(name: &'static str, op: Op, group: u16, id: u8, body: Value) -> Self {
        Self {
            name,
            op,
            group,
            id,
            body,
            timeout: Duration::from_secs(3),
            sends: 1,
        }
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    pub fn idempotent(mut self) -> Self {
        self.sends = 3;
        self
    }
}

pub struct SmpClient<P> {
    port: P,
    path: Option<PathBuf>,
    seq: u8,
    decoder: Decoder,
    log: DeviceLog,
    buf_size: usize,
    interrupt: Option<Arc<Interrupt>>,
    pub timeouts: SmpTimeouts,
}

impl<P> std::fmt::Debug for SmpClient<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmpClient")
            .field("seq", &self.seq)
            .field("buf_size", &self.buf_size)
            .finish_non_exhaustive()
    }
}

/// The unit's transport parameters (`os mcumgr params`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub buf_size: usize,
    pub buf_count: usize,
}

impl<P: Read + Write> SmpClient<P> {
    /// The port must return from `read` within a short timeout so that deadlines hold.
    pub fn new(port: P, timeouts: SmpTimeouts) -> Self {
        Self {
            port,
            path: None,
            seq: rand::random(),
            decoder: Decoder::default(),
            log: DeviceLog::default(),
            buf_size: DEFAULT_BUF_SIZE,
            interrupt: None,
            timeouts,
        }
    }

    pub fn with_interrupt(mut self, interrupt: Arc<Interrupt>) -> Self {
        self.interrupt = Some(interrupt);
        self
    }

    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub fn take_log(&mut self) -> Vec<String> {
        self.log.take()
    }

    /// The unit's reassembly buffer: no request is larger than this less the frame overhead.
    pub fn buf_size(&self) -> usize {
        self.buf_size
    }

    /// Sends `req` and returns the body of its answer; an error body becomes
    /// [`SmpError::Refused`].
    pub fn call(&mut self, req: &Request) -> Result<Value, SmpError> {
        let body = cbor::encode(&req.body);
        let len = HEADER_LEN + body.len();
        if len + FRAME_OVERHEAD > self.buf_size {
            return Err(SmpError::TooLarge {
                op: req.name,
                len: len + FRAME_OVERHEAD,
                mtu: self.buf_size,
            });
        }
        let mut last = None;
        for _ in 0..req.sends.max(1) {
            self.seq = self.seq.wrapping_add(1);
            let packet = header::packet(req.op, VERSION_2, req.group, self.seq, req.id, &body);
            for line in frame::encode(&packet, MAX_LINE) {
                self.port
                    .write_all(&line)
                    .map_err(|e| io_error(req.name, e))?;
            }
            self.port.flush().map_err(|e| io_error(req.name, e))?;
            match self.await_answer(req) {
                Ok(v) => return refusal_of(req, v),
                Err(e @ (DeviceError::Timeout { .. } | DeviceError::Corrupted { .. })) => {
                    last = Some(e)
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(last
            .unwrap_or(DeviceError::Timeout {
                op: req.name,
                after: req.timeout,
            })
            .into())
    }

    fn await_answer(&mut self, req: &Request) -> Result<Value, DeviceError> {
        let deadline = Instant::now() + req.timeout;
        let mut events = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            for event in events.drain(..) {
                match event {
                    Event::Log(line) => {
                        let line = crate::device::nrf91::at::clean(&line);
                        if !line.is_empty() {
                            self.log.push(line);
                        }
                    }
                    // Whose answer it was cannot be read: an idempotent request is sent
                    // again at once rather than after the timeout.
                    Event::Damaged(reason) => {
                        self.log
                            .push(format!("[station] damaged SMP frame: {reason}"));
                        return Err(DeviceError::Corrupted {
                            op: req.name,
                            reason,
                        });
                    }
                    Event::Packet(p) => {
                        if let Some(v) = self.answer_to(req, &p)? {
                            return Ok(v);
                        }
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                if self.path.as_ref().is_some_and(|p| !p.exists()) {
                    return Err(DeviceError::Unplugged { op: req.name });
                }
                return Err(DeviceError::Timeout {
                    op: req.name,
                    after: req.timeout,
                });
            }
            if let Some(why) = self.interrupt.as_ref().and_then(|i| i.check(now)) {
                return Err(DeviceError::Stopped { op: req.name, why });
            }
            match self.port.read(&mut buf) {
                Ok(0) => std::thread::sleep(Duration::from_millis(5)),
                Ok(n) => self.decoder.push(&buf[..n], &mut events),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut
                            | io::ErrorKind::WouldBlock
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(io_error(req.name, e)),
            }
        }
    }

    /// The body of `packet` if it answers `req`; `None` for a packet that answers something
    /// else (a late answer to an earlier send, or a request echoed by the line).
    fn answer_to(&mut self, req: &Request, packet: &[u8]) -> Result<Option<Value>, DeviceError> {
        let Some((h, body)) = Header::parse(packet) else {
            self.log
                .push("[station] an SMP packet whose header does not match its length".to_owned());
            return Ok(None);
        };
        if h.seq != self.seq || h.op != req.op.response() || h.group != req.group || h.id != req.id
        {
            self.log.push(format!(
                "[station] SMP packet set aside (seq {}, group {}, id {}, op {:?}) while waiting for seq {}",
                h.seq, h.group, h.id, h.op, self.seq
            ));
            return Ok(None);
        }
        cbor::decode(body)
            .map(Some)
            .map_err(|reason| DeviceError::Protocol {
                op: req.name,
                reason: format!("body is not CBOR: {reason}"),
            })
    }

    /// `os mcumgr params`; the unit's buffer size is used from then on. A unit without the
    /// command keeps the default.
    pub fn params(&mut self) -> Result<Option<Params>, SmpError> {
        let req = Request::new(
            "mcumgr params",
            Op::Read,
            GROUP_OS,
            OS_MCUMGR_PARAMS,
            cbor::map(vec![]),
        )
        .timeout(self.timeouts.request)
        .idempotent();
        let v = match self.call(&req) {
            Ok(v) => v,
            Err(e) if e.is_not_supported() => return Ok(None),
            Err(e) => return Err(e),
        };
        let field = |k| {
            cbor::int(&v, k)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| bad(req.name, format!("no '{k}'")))
        };
        let params = Params {
            buf_size: field("buf_size")?,
            buf_count: field("buf_count")?,
        };
        // A unit may claim anything; below a header and a little body nothing fits at all.
        self.buf_size = params.buf_size.clamp(64, frame::MAX_PACKET);
        Ok(Some(params))
    }

    pub fn echo(&mut self, text: &str) -> Result<String, SmpError> {
        let req = Request::new(
            "echo",
            Op::Write,
            GROUP_OS,
            OS_ECHO,
            cbor::map(vec![("d", text.into())]),
        )
        .timeout(self.timeouts.request)
        .idempotent();
        let v = self.call(&req)?;
        cbor::text(&v, "r")
            .map(str::to_owned)
            .ok_or_else(|| bad(req.name, "no 'r'".into()))
    }

    /// `os info` with one format letter (`s` kernel, `n` node name, `r` release, `v` version,
    /// `b` build, `m` machine, `p` processor, `i` platform, `o` OS).
    pub fn os_info(&mut self, format: &str) -> Result<String, SmpError> {
        let req = Request::new(
            "os info",
            Op::Read,
            GROUP_OS,
            OS_INFO,
            cbor::map(vec![("format", format.into())]),
        )
        .timeout(self.timeouts.request)
        .idempotent();
        let v = self.call(&req)?;
        cbor::text(&v, "output")
            .map(str::to_owned)
            .ok_or_else(|| bad(req.name, "no 'output'".into()))
    }

    /// Uploads `data` to `path` in pieces that fit the unit's buffer.
    pub fn fs_upload(&mut self, path: &str, data: &[u8]) -> Result<(), SmpError> {
        let room = self
            .buf_size
            .saturating_sub(FRAME_OVERHEAD + HEADER_LEN + UPLOAD_OVERHEAD + path.len());
        if room < 16 {
            return Err(SmpError::TooLarge {
                op: "fs upload",
                len: FRAME_OVERHEAD + HEADER_LEN + UPLOAD_OVERHEAD + path.len() + 16,
                mtu: self.buf_size,
            });
        }
        let mut off = 0usize;
        loop {
            let end = (off + room).min(data.len());
            let mut fields = vec![
                ("off", Value::from(off as u64)),
                ("data", Value::Bytes(data[off..end].to_vec())),
                ("name", path.into()),
            ];
            if off == 0 {
                fields.push(("len", Value::from(data.len() as u64)));
            }
            let req = Request::new("fs upload", Op::Write, GROUP_FS, FS_FILE, cbor::map(fields))
                .timeout(self.timeouts.request);
            let v = self.call(&req).map_err(|e| match e {
                SmpError::Refused {
                    rc,
                    group: GROUP_FS,
                    ..
                } if rc == FS_ERR_FILE_WRITE_FAILED => SmpError::NoSpace { path: path.into() },
                SmpError::Refused { rc, .. } if rc == cbor::MGMT_ERR_ENOMEM => {
                    SmpError::NoSpace { path: path.into() }
                }
                e => e,
            })?;
            let next = cbor::int(&v, "off")
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| bad(req.name, "no 'off'".into()))?;
            // The unit says where it is; it must have moved forward and stayed in the file.
            if next <= off && !data.is_empty() || next > data.len() {
                return Err(bad(
                    req.name,
                    format!("offset {next} after writing from {off}"),
                ));
            }
            if next == data.len() {
                return Ok(());
            }
            off = next;
        }
    }

    /// `fs hash` with SHA-256: the length the unit hashed and the digest.
    pub fn fs_sha256(&mut self, path: &str) -> Result<(usize, Vec<u8>), SmpError> {
        let req = Request::new(
            "fs hash",
            Op::Read,
            GROUP_FS,
            FS_HASH,
            cbor::map(vec![("name", path.into()), ("type", "sha256".into())]),
        )
        .timeout(self.timeouts.slow)
        .idempotent();
        let v = self.call(&req)?;
        let len = cbor::int(&v, "len")
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| bad(req.name, "no 'len'".into()))?;
        let digest = cbor::bytes(&v, "output")
            .filter(|d| d.len() == 32)
            .ok_or_else(|| bad(req.name, "no 32-byte 'output'".into()))?;
        Ok((len, digest.to_vec()))
    }
}

fn refusal_of(req: &Request, v: Value) -> Result<Value, SmpError> {
    match cbor::refusal(&v) {
        None => Ok(v),
        Some(r) => Err(SmpError::Refused {
            op: req.name,
            group: r.group.unwrap_or(req.group),
            rc: r.rc,
            v2: r.group.is_some(),
        }),
    }
}

fn bad(op: &'static str, reason: String) -> SmpError {
    SmpError::BadReply { op, reason }
}
