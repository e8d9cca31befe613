//! Runs a simulated unit on a pseudo-terminal.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use commissioner_core::device::frame::{self, LineBuffer};
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
    while !stop.load(Ordering::Relaxed) {
        if lines.fill_from(&mut port).is_err() {
            // EIO while no station has the port open: wait for one.
            std::thread::sleep(Duration::from_millis(20));
        }
        while let Some(line) = lines.next_line() {
            let reply = state.respond_to_line(&line);
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
