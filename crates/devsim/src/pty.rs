//! Runs a simulated unit on a pseudo-terminal.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use commissioner_core::device::frame::{self, Line, LineBuffer};
use commissioner_core::device::protocol::{DeviceFault, Request, Response};
use serialport::{SerialPort, TTYPort};
use thiserror::Error;

use crate::device::{SimConfig, SimDevice as State};

/// Errors starting a simulator.
#[derive(Debug, Error)]
pub enum SimError {
    #[error("cannot create a pseudo-terminal")]
    Pty(#[source] serialport::Error),
    #[error("the pseudo-terminal has no path")]
    NoPath,
    #[error("cannot start the simulator thread")]
    Thread(#[source] io::Error),
}

/// A simulated unit serving a pseudo-terminal; stops when dropped.
#[derive(Debug)]
pub struct SimDevice {
    path: String,
    device_id: String,
    stop: Arc<AtomicBool>,
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
        let device_id = cfg.device_id.clone();
        let thread = std::thread::Builder::new()
            .name(format!("sim-{device_id}"))
            .spawn({
                let stop = stop.clone();
                move || serve(master, State::new(cfg), &stop)
            })
            .map_err(SimError::Thread)?;
        Ok(Self {
            path,
            device_id,
            stop,
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
}

impl Drop for SimDevice {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut port: TTYPort, mut state: State, stop: &AtomicBool) {
    let boot = [
        "",
        "ROM boot v2.1 (c) Commissioner reference device",
        "boot: clocks ok, flash ok",
        "boot: factory mode, waiting for station",
    ];
    for line in boot {
        let _ = port.write_all(format!("{line}\r\n").as_bytes());
    }
    let mut lines = LineBuffer::default();
    let mut buf = [0u8; 1024];
    while !stop.load(Ordering::Relaxed) {
        match port.read(&mut buf) {
            Ok(0) => std::thread::sleep(Duration::from_millis(5)),
            Ok(n) => lines.push(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            // EIO while no station has the port open: wait for one.
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
        while let Some(line) = lines.next_line() {
            let reply = reply_to(&mut state, &line);
            let mut out = String::new();
            for log in state.log.drain(..) {
                out.push_str(&log);
                out.push_str("\r\n");
            }
            if let Some(resp) = reply {
                match serde_json::to_string(&resp) {
                    Ok(body) => out.push_str(&frame::encode(&body)),
                    Err(e) => out.push_str(&format!("sim: cannot encode reply: {e}\r\n")),
                }
            }
            if port
                .write_all(out.as_bytes())
                .and_then(|()| port.flush())
                .is_err()
            {
                break;
            }
        }
    }
}

/// The device's reaction to one line: a response, or nothing for noise and non-requests.
fn reply_to(state: &mut State, line: &str) -> Option<Response> {
    if line.len() > state.config().max_frame {
        return Some(error_response(0, "too_large", "frame exceeds max_frame"));
    }
    match frame::decode_line(line) {
        Ok(Line::Log(_)) => None,
        Ok(Line::Frame(body)) => match serde_json::from_str::<Request>(body) {
            Ok(req) => Some(state.handle(req)),
            Err(e) => {
                // Reply to the id if one can be read; 0 otherwise.
                let id = serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.get("id").and_then(|i| i.as_u64()))
                    .unwrap_or(0) as u32;
                if serde_json::from_str::<Response>(body).is_ok() {
                    return None;
                }
                Some(error_response(id, "bad_request", &e.to_string()))
            }
        },
        Err(e) => Some(error_response(0, "bad_frame", &e.to_string())),
    }
}

fn error_response(id: u32, code: &str, msg: &str) -> Response {
    Response {
        id,
        ok: false,
        res: None,
        err: Some(DeviceFault {
            code: code.into(),
            msg: msg.into(),
        }),
    }
}
