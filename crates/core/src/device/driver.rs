//! The station side of the reference protocol over any byte stream (a serial port in
//! production, a pseudo-terminal under test).
//!
//! Everything here blocks: the driver is meant to run on a thread of its own (or in
//! `spawn_blocking`), never on an async runtime's worker.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::frame::{self, Line, LineBuffer};
use super::interrupt::Interrupt;
use super::log::DeviceLog;
use super::protocol::{
    CertDigest, DeviceConfig, Hello, Keygen, LockAck, Op, RequestRef, Response, Secret, Signature,
    Slot, UnlockNonce, WriteAck, BOOT_EVENT, PROTOCOL_VERSION,
};
// Re-exported so that `device::driver::Timeouts`, its first home, keeps working.
pub use super::timeouts::Timeouts;
use super::DeviceError;

/// Frame overhead the chunker reserves: marker, JSON keys, slot name, numbers, CRC, newline.
const WRITE_FRAME_OVERHEAD: usize = 128;
/// Room for a request body before its buffer grows: far more than an `inject_key` (a P-256
/// PKCS#8 in base64 is under 200 bytes), so a secret is never copied by a reallocation.
const REQUEST_CAPACITY: usize = 1024;

/// Drives one unit. Not shared between threads without a lock: the protocol is strictly
/// request/response on one line.
pub struct Driver<P> {
    pub(super) port: P,
    /// Device node of the port, checked when a unit goes quiet: a USB adapter that is pulled
    /// out takes its node with it, even where reads merely time out.
    path: Option<PathBuf>,
    next_id: u32,
    lines: LineBuffer,
    log: DeviceLog,
    max_frame: usize,
    timeouts: Timeouts,
    /// Set once `hello` succeeded; from then on a boot announcement means the unit restarted
    /// under us, and whatever it was doing is lost.
    identified: bool,
    /// The session's cancel and step deadline, looked at between reads.
    interrupt: Option<Arc<Interrupt>>,
}

impl<P> std::fmt::Debug for Driver<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("next_id", &self.next_id)
            .field("max_frame", &self.max_frame)
            .finish_non_exhaustive()
    }
}

/// Why one send of a request did not produce its response.
enum Miss {
    /// Worth sending again if the operation allows it.
    Retry(DeviceError),
    /// The link is gone or the unit restarted: stop now.
    Fatal(DeviceError),
}

impl<P: Read + Write> Driver<P> {
    /// Wraps a port. The port must return from `read` within a short timeout
    /// (`io::ErrorKind::TimedOut` or `WouldBlock`) so that deadlines are honoured.
    pub fn new(port: P, timeouts: Timeouts) -> Self {
        Self {
            port,
            path: None,
            next_id: 1,
            lines: LineBuffer::default(),
            log: DeviceLog::default(),
            max_frame: 256,
            timeouts,
            identified: false,
            interrupt: None,
        }
    }

    /// Lets a cancel or a step deadline end an operation that is waiting for the unit.
    pub fn with_interrupt(mut self, interrupt: Arc<Interrupt>) -> Self {
        self.interrupt = Some(interrupt);
        self
    }

    fn stopped(&self, op: &'static str) -> Option<DeviceError> {
        let why = self.interrupt.as_ref()?.check(Instant::now())?;
        Some(DeviceError::Stopped { op, why })
    }

    /// Remembers the port's device node so that unplugging is noticed even on a quiet line.
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Device log lines seen since the last call.
    pub fn take_log(&mut self) -> Vec<String> {
        self.log.take()
    }

    /// `hello` with version negotiation; retried, since a unit that is still booting misses
    /// the first frames.
    pub fn hello(&mut self) -> Result<Hello, DeviceError> {
        let op = Op::Hello {
            versions: Some(vec![PROTOCOL_VERSION]),
        };
        let hello: Hello = self.call(op, self.timeouts.hello)?;
        self.max_frame = hello.max_frame.max(WRITE_FRAME_OVERHEAD + 64);
        self.identified = true;
        Ok(hello)
    }

    /// Has the unit generate a P-256 key; returns the CSR's DER.
    pub fn keygen(&mut self) -> Result<Vec<u8>, DeviceError> {
        let alg = "ecdsa-p256".into();
        let res: Keygen = self.call(Op::Keygen { alg }, self.timeouts.keygen)?;
        decode_b64("keygen", &res.csr)
    }

    /// Writes a DER blob to a slot in chunks that fit the unit's maximum frame.
    pub fn write_cert(&mut self, slot: Slot, der: &[u8]) -> Result<(), DeviceError> {
        self.chunked(der, |offset, total, data| Op::WriteCert {
            slot,
            offset,
            total,
            data,
        })
    }

    /// Sends `der` in chunks that fit the unit's frame, each acknowledged with the bytes
    /// received so far (`write_cert`, `unlock_cert`).
    fn chunked(
        &mut self,
        der: &[u8],
        op: impl Fn(usize, usize, String) -> Op,
    ) -> Result<(), DeviceError> {
        // base64 turns 3 bytes into 4 characters; keep chunks a multiple of 3 so that every
        // chunk decodes on its own.
        let chunk = ((self.max_frame - WRITE_FRAME_OVERHEAD) / 4 * 3).max(3);
        let mut offset = 0;
        while offset < der.len() {
            let end = (offset + chunk).min(der.len());
            let request = op(offset, der.len(), B64.encode(&der[offset..end]));
            let name = request.name();
            let ack: WriteAck = self.call(request, self.timeouts.write)?;
            if ack.received != end {
                return Err(DeviceError::Protocol {
                    op: name,
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
        let nonce = B64.encode(nonce);
        let res: Signature = self.call(Op::Challenge { nonce }, self.timeouts.sign)?;
        decode_b64("challenge", &res.sig)
    }

    /// Signs a TLS 1.3 client CertificateVerify input with the unit's key.
    pub fn sign_tls13(&mut self, msg: &[u8]) -> Result<Vec<u8>, DeviceError> {
        let msg = B64.encode(msg);
        let res: Signature = self.call(Op::SignTls13 { msg }, self.timeouts.sign)?;
        decode_b64("sign_tls13", &res.sig)
    }

    /// Stores the broker endpoint and topics on the unit.
    pub fn set_config(&mut self, config: &DeviceConfig) -> Result<(), DeviceError> {
        let _: serde_json::Value = self.call(Op::SetConfig(config.clone()), self.timeouts.other)?;
        Ok(())
    }

    /// Leaves factory mode.
    pub fn lock(&mut self) -> Result<LockAck, DeviceError> {
        self.call(Op::Lock, self.timeouts.other)
    }

    /// Asks the unit to restart. Its next boot announcement is expected, not an interruption;
    /// call [`Driver::hello`] afterwards.
    pub fn reboot(&mut self) -> Result<(), DeviceError> {
        let _: LockAck = self.call(Op::Reboot, self.timeouts.other)?;
        self.identified = false;
        Ok(())
    }

    /// Stores a host-generated P-256 key (PKCS#8 DER) on the unit. Only where the station's
    /// policy allows it; the unit must announce `inject_key`.
    pub fn inject_key(&mut self, pkcs8_der: &[u8]) -> Result<LockAck, DeviceError> {
        let key = Secret::new(B64.encode(pkcs8_der));
        self.call(Op::InjectKey { key }, self.timeouts.keygen)
    }

    /// First half of the authorised unlock: the unit's fresh nonce.
    pub fn unlock_begin(&mut self) -> Result<Vec<u8>, DeviceError> {
        let res: UnlockNonce = self.call(Op::UnlockBegin, self.timeouts.other)?;
        decode_b64("unlock_begin", &res.nonce)
    }

    /// Second half: the signature over the unit's unlock message, after the unlock
    /// authority's certificate (DER) where the unit takes one.
    pub fn unlock(&mut self, sig: &[u8], cert: Option<&[u8]>) -> Result<LockAck, DeviceError> {
        if let Some(der) = cert {
            self.chunked(der, |offset, total, data| Op::UnlockCert {
                offset,
                total,
                data,
            })?;
        }
        let sig = B64.encode(sig);
        self.call(Op::Unlock { sig }, self.timeouts.other)
    }

    fn call<T: DeserializeOwned>(&mut self, op: Op, timeout: Duration) -> Result<T, DeviceError> {
        let name = op.name();
        let idempotent = op.is_idempotent();
        let attempts = if idempotent {
            self.timeouts.attempts.max(1)
        } else {
            1
        };
        let mut late = false;
        let mut last = DeviceError::Timeout {
            op: name,
            after: timeout,
        };
        // A unit that reports a damaged request did not act on it, so even a request that is
        // not idempotent may be sent once more after that.
        let mut damaged_resend = !idempotent;
        let mut sends_left = attempts;
        while sends_left > 0 {
            sends_left -= 1;
            match self.exchange(&op, timeout, &mut late) {
                Ok(resp) => return self.unpack(name, resp),
                Err(Miss::Fatal(e)) => return Err(e),
                Err(Miss::Retry(e)) => {
                    if damaged_resend && matches!(e, DeviceError::RequestDamaged { .. }) {
                        damaged_resend = false;
                        sends_left += 1;
                    }
                    last = e;
                }
            }
        }
        Err(match last {
            DeviceError::Timeout { op, after } if late => DeviceError::SlowReply { op, after },
            other => other,
        })
    }

    /// Sends the request once and waits for its response.
    fn exchange(&mut self, op: &Op, timeout: Duration, late: &mut bool) -> Result<Response, Miss> {
        let name = op.name();
        // Not even sent: a retry or the next chunk must not start after a stop.
        if let Some(stop) = self.stopped(name) {
            return Err(Miss::Fatal(stop));
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        // The request may carry a secret (`inject_key`): serialized without copying the
        // operation, into a buffer big enough not to grow for such a request, and both it and
        // the framed line are wiped when dropped.
        let mut body = Zeroizing::new(Vec::with_capacity(REQUEST_CAPACITY));
        serde_json::to_writer(&mut *body, &RequestRef { id, op }).map_err(|e| {
            Miss::Fatal(DeviceError::Protocol {
                op: name,
                reason: e.to_string(),
            })
        })?;
        let line = Zeroizing::new(frame::encode_exact(&body));
        if let Err(e) = self.port.write_all(&line).and_then(|()| self.port.flush()) {
            return Err(Miss::Fatal(self.write_failed(name, e)));
        }

        let deadline = Instant::now() + timeout;
        loop {
            while let Some(line) = self.lines.next_line() {
                let Some(resp) = self.classify(name, &line)? else {
                    continue;
                };
                if resp.id == id {
                    return Ok(resp);
                }
                if resp.id == 0 {
                    self.unsolicited(name, resp)?;
                } else {
                    // An answer to a request that already timed out: the unit is alive.
                    *late = true;
                }
            }
            if Instant::now() >= deadline {
                if self.path.as_ref().is_some_and(|p| !p.exists()) {
                    return Err(Miss::Fatal(DeviceError::Unplugged { op: name }));
                }
                return Err(Miss::Retry(DeviceError::Timeout {
                    op: name,
                    after: timeout,
                }));
            }
            if let Some(stop) = self.stopped(name) {
                return Err(Miss::Fatal(stop));
            }
            if let Err(e) = self.lines.fill_from(&mut self.port) {
                return Err(Miss::Fatal(io_error(name, e)));
            }
        }
    }

    /// Classifies a failed write. Some ports report a vanished device on write only as a
    /// generic failure (a `tcdrain` error loses its errno), so look closer before calling it
    /// an I/O error: a device node that is gone, or a read that hangs up, is an unplug.
    fn write_failed(&mut self, op: &'static str, e: io::Error) -> DeviceError {
        let err = io_error(op, e);
        if !matches!(err, DeviceError::Io { .. }) {
            return err;
        }
        if self.path.as_ref().is_some_and(|p| !p.exists()) {
            return DeviceError::Unplugged { op };
        }
        match self
            .lines
            .fill_from(&mut self.port)
            .map_err(|read| io_error(op, read))
        {
            Err(gone @ DeviceError::Unplugged { .. }) => gone,
            _ => err,
        }
    }

    /// A frame with id 0: a boot announcement, or the unit's complaint about a line it could
    /// not read.
    fn unsolicited(&mut self, op: &'static str, resp: Response) -> Result<(), Miss> {
        if resp.evt.as_deref() == Some(BOOT_EVENT) {
            if self.identified {
                self.log.push("[station] unit announced a restart");
                return Err(Miss::Fatal(DeviceError::Rebooted { op }));
            }
            // A unit that was just powered up or reset before we said hello.
            return Ok(());
        }
        match resp.err {
            Some(fault) if matches!(fault.code.as_str(), "bad_frame" | "too_large") => {
                Err(Miss::Retry(DeviceError::RequestDamaged {
                    op,
                    reason: format!("{}: {}", fault.code, fault.msg),
                }))
            }
            _ => Ok(()),
        }
    }

    /// Returns the response in a frame line, or `None` for a log line (which is kept).
    fn classify(&mut self, op: &'static str, line: &str) -> Result<Option<Response>, Miss> {
        match frame::decode_line(line) {
            Ok(Line::Log(text)) => {
                if !text.is_empty() {
                    self.log.push(text);
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
                Err(Miss::Retry(DeviceError::Corrupted {
                    op,
                    reason: e.to_string(),
                }))
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

pub(crate) fn io_error(op: &'static str, e: io::Error) -> DeviceError {
    // A USB serial adapter that disappears shows up as EIO / broken pipe / ENXIO / ENODEV.
    match e.kind() {
        io::ErrorKind::BrokenPipe | io::ErrorKind::NotConnected | io::ErrorKind::UnexpectedEof => {
            DeviceError::Unplugged { op }
        }
        _ if matches!(e.raw_os_error(), Some(5 | 6 | 19)) => DeviceError::Unplugged { op },
        _ => DeviceError::Io { op, source: e },
    }
}
