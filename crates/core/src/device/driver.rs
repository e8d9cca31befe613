//! The station side of the reference protocol over any byte stream (a serial port in
//! production, a pseudo-terminal under test).

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::de::DeserializeOwned;

use super::frame::{self, Line, LineBuffer};
use super::protocol::{
    CertDigest, Hello, Keygen, LockAck, Op, Request, Response, Signature, Slot, WriteAck,
};
use super::DeviceError;

/// Per-operation timeouts. Keygen and flash writes are slow on real parts.
#[derive(Debug, Clone)]
pub struct Timeouts {
    pub hello: Duration,
    pub keygen: Duration,
    pub write: Duration,
    pub sign: Duration,
    pub other: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            hello: Duration::from_secs(2),
            keygen: Duration::from_secs(20),
            write: Duration::from_secs(5),
            sign: Duration::from_secs(5),
            other: Duration::from_secs(5),
        }
    }
}

/// Frame overhead the chunker reserves: marker, JSON keys, slot name, numbers, CRC, newline.
const WRITE_FRAME_OVERHEAD: usize = 128;

/// Drives one unit. Not shared between threads without a lock: the protocol is strictly
/// request/response on one line.
pub struct Driver<P> {
    port: P,
    next_id: u32,
    lines: LineBuffer,
    log: Vec<String>,
    max_frame: usize,
    timeouts: Timeouts,
}

impl<P> std::fmt::Debug for Driver<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("next_id", &self.next_id)
            .field("max_frame", &self.max_frame)
            .finish_non_exhaustive()
    }
}

impl<P: Read + Write> Driver<P> {
    /// Wraps a port. The port must return from `read` within a short timeout
    /// (`io::ErrorKind::TimedOut` or `WouldBlock`) so that deadlines are honoured.
    pub fn new(port: P, timeouts: Timeouts) -> Self {
        Self {
            port,
            next_id: 1,
            lines: LineBuffer::default(),
            log: Vec::new(),
            max_frame: 256,
            timeouts,
        }
    }

    /// Device log lines seen since the last call.
    pub fn take_log(&mut self) -> Vec<String> {
        std::mem::take(&mut self.log)
    }

    /// `hello`, retried a few times: a unit that is still booting misses the first frames.
    pub fn hello(&mut self) -> Result<Hello, DeviceError> {
        let mut last = None;
        for _ in 0..3 {
            match self.call::<Hello>(Op::Hello, self.timeouts.hello) {
                Ok(hello) => {
                    self.max_frame = hello.max_frame.max(WRITE_FRAME_OVERHEAD + 64);
                    return Ok(hello);
                }
                Err(err @ DeviceError::Timeout { .. }) => last = Some(err),
                Err(err) => return Err(err),
            }
        }
        Err(last.unwrap_or(DeviceError::Timeout {
            op: "hello",
            after: self.timeouts.hello,
        }))
    }

    /// Has the unit generate a P-256 key; returns the CSR's DER.
    pub fn keygen(&mut self) -> Result<Vec<u8>, DeviceError> {
        let res: Keygen = self.call(
            Op::Keygen {
                alg: "ecdsa-p256".into(),
            },
            self.timeouts.keygen,
        )?;
        decode_b64("keygen", &res.csr)
    }

    /// Writes a DER blob to a slot in chunks that fit the unit's maximum frame.
    pub fn write_cert(&mut self, slot: Slot, der: &[u8]) -> Result<(), DeviceError> {
        // base64 turns 3 bytes into 4 characters; keep chunks a multiple of 3 so that every
        // chunk decodes on its own.
        let chunk = ((self.max_frame - WRITE_FRAME_OVERHEAD) / 4 * 3).max(3);
        let mut offset = 0;
        while offset < der.len() {
            let end = (offset + chunk).min(der.len());
            let ack: WriteAck = self.call(
                Op::WriteCert {
                    slot,
                    offset,
                    total: der.len(),
                    data: B64.encode(&der[offset..end]),
                },
                self.timeouts.write,
            )?;
            if ack.received != end {
                return Err(DeviceError::Protocol {
                    op: "write_cert",
                    reason: format!("unit acknowledged {} bytes, {} sent", ack.received, end),
                });
            }
            offset = end;
        }
        Ok(())
    }

    /// Reads back the length and SHA-256 of what a slot holds.
    pub fn read_cert(&mut self, slot: Slot) -> Result<CertDigest, DeviceError> {
        self.call(Op::ReadCert { slot }, self.timeouts.other)
    }

    /// Proof of possession: the unit signs the context-separated nonce.
    pub fn challenge(&mut self, nonce: &[u8]) -> Result<Vec<u8>, DeviceError> {
        let res: Signature = self.call(
            Op::Challenge {
                nonce: B64.encode(nonce),
            },
            self.timeouts.sign,
        )?;
        decode_b64("challenge", &res.sig)
    }

    /// Signs a TLS 1.3 client CertificateVerify input with the unit's key.
    pub fn sign_tls13(&mut self, msg: &[u8]) -> Result<Vec<u8>, DeviceError> {
        let res: Signature = self.call(
            Op::SignTls13 {
                msg: B64.encode(msg),
            },
            self.timeouts.sign,
        )?;
        decode_b64("sign_tls13", &res.sig)
    }

    /// Leaves factory mode.
    pub fn lock(&mut self) -> Result<LockAck, DeviceError> {
        self.call(Op::Lock, self.timeouts.other)
    }

    fn call<T: DeserializeOwned>(&mut self, op: Op, timeout: Duration) -> Result<T, DeviceError> {
        let name = op.name();
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let body =
            serde_json::to_string(&Request { id, op }).map_err(|e| DeviceError::Protocol {
                op: name,
                reason: e.to_string(),
            })?;
        self.port
            .write_all(frame::encode(&body).as_bytes())
            .and_then(|()| self.port.flush())
            .map_err(|e| io_error(name, e))?;

        let deadline = Instant::now() + timeout;
        loop {
            while let Some(line) = self.lines.next_line() {
                if let Some(resp) = self.classify(name, &line)? {
                    if resp.id != id {
                        // A late answer to an earlier request that timed out; not ours.
                        continue;
                    }
                    return self.unpack(name, resp);
                }
            }
            if Instant::now() >= deadline {
                return Err(DeviceError::Timeout {
                    op: name,
                    after: timeout,
                });
            }
            if let Err(e) = self.lines.fill_from(&mut self.port) {
                return Err(io_error(name, e));
            }
        }
    }

    /// Returns the response in a frame line, or `None` for a log line (which is kept).
    fn classify(&mut self, op: &'static str, line: &str) -> Result<Option<Response>, DeviceError> {
        match frame::decode_line(line) {
            Ok(Line::Log(text)) => {
                if !text.is_empty() {
                    self.log.push(text.to_owned());
                }
                Ok(None)
            }
            Ok(Line::Frame(body)) => match serde_json::from_str::<Response>(body) {
                Ok(resp) => Ok(Some(resp)),
                // A frame that is not a response (our own request echoed back by a
                // mis-configured line) is logged, not fatal.
                Err(_) => {
                    self.log.push(line.to_owned());
                    Ok(None)
                }
            },
            Err(e) => {
                self.log.push(format!("[bad frame: {e}] {line}"));
                Err(DeviceError::Corrupted {
                    op,
                    reason: e.to_string(),
                })
            }
        }
    }

    fn unpack<T: DeserializeOwned>(
        &self,
        op: &'static str,
        resp: Response,
    ) -> Result<T, DeviceError> {
        if !resp.ok {
            let fault = resp.err.unwrap_or_else(|| super::protocol::DeviceFault {
                code: "unknown".into(),
                msg: "the unit reported an error without a code".into(),
            });
            return Err(DeviceError::Refused {
                op,
                code: fault.code,
                message: fault.msg,
            });
        }
        let res = resp.res.unwrap_or(serde_json::Value::Null);
        serde_json::from_value(res).map_err(|e| DeviceError::Protocol {
            op,
            reason: format!("unexpected result: {e}"),
        })
    }
}

fn decode_b64(op: &'static str, s: &str) -> Result<Vec<u8>, DeviceError> {
    B64.decode(s).map_err(|e| DeviceError::Protocol {
        op,
        reason: format!("bad base64: {e}"),
    })
}

fn io_error(op: &'static str, e: io::Error) -> DeviceError {
    // A USB serial adapter that disappears shows up as EIO / broken pipe / ENXIO.
    match e.kind() {
        io::ErrorKind::BrokenPipe | io::ErrorKind::NotConnected | io::ErrorKind::UnexpectedEof => {
            DeviceError::Unplugged { op }
        }
        _ if e.raw_os_error() == Some(5) || e.raw_os_error() == Some(6) => {
            DeviceError::Unplugged { op }
        }
        _ => DeviceError::Io { op, source: e },
    }
}
