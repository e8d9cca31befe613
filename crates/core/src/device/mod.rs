//! The device link: framing, protocol messages, the reference driver and port discovery.

pub mod discovery;
pub mod driver;
pub mod family;
pub mod frame;
pub mod identity;
pub mod interrupt;
pub mod log;
pub mod nrf91;
pub mod protocol;
pub mod smp;
mod timeouts;
pub mod watch;

use std::time::Duration;

use thiserror::Error;

use crate::error::Coded;

pub use driver::Driver;
pub use interrupt::{Interrupt, Stop, StopSignal};
pub use timeouts::{StepDeadlines, Timeouts};

/// A driver over a real serial port (or a pseudo-terminal that looks like one).
pub type SerialDriver = Driver<Box<dyn serialport::SerialPort>>;

/// Read timeout of the port itself; bounds how late a deadline is noticed.
const PORT_POLL: Duration = Duration::from_millis(20);

/// Opens a serial port at `baud` and wraps it in the reference driver.
pub fn open_serial(path: &str, baud: u32, timeouts: Timeouts) -> Result<SerialDriver, DeviceError> {
    let port = serialport::new(path, baud)
        .timeout(PORT_POLL)
        .open()
        .map_err(|source| DeviceError::Open {
            path: path.to_owned(),
            source,
        })?;
    Ok(Driver::new(port, timeouts).with_path(path))
}

/// Errors of the device link.
#[derive(Debug, Error)]
pub enum DeviceError {
    #[error("cannot open serial port {path}: is the unit plugged in and the port free?")]
    Open {
        path: String,
        #[source]
        source: serialport::Error,
    },
    #[error("the unit was unplugged or the port vanished during '{op}'")]
    Unplugged { op: &'static str },
    #[error("serial I/O failed during '{op}'")]
    Io {
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("the unit did not answer '{op}' within {} s", after.as_secs_f32())]
    Timeout { op: &'static str, after: Duration },
    #[error("the unit answered '{op}' only after the {} s timeout: it is alive but too slow; check its firmware or raise the station's timeout", after.as_secs_f32())]
    SlowReply { op: &'static str, after: Duration },
    #[error("the unit received '{op}' damaged ({reason}): bytes are lost on the way to it; check the cable, the baud rate and the USB hub")]
    RequestDamaged { op: &'static str, reason: String },
    #[error("the unit restarted during '{op}' (it sent its boot announcement); check its power supply, then plug it in again")]
    Rebooted { op: &'static str },
    #[error("the unit refused '{op}': {message} ({code})")]
    Refused {
        op: &'static str,
        code: String,
        message: String,
    },
    #[error("a corrupted frame arrived during '{op}' ({reason}); check the cable and baud rate")]
    Corrupted { op: &'static str, reason: String },
    #[error("the unit answered '{op}' with something this station does not understand: {reason}")]
    Protocol { op: &'static str, reason: String },
    #[error("cannot list serial ports")]
    Enumerate(#[source] serialport::Error),
    #[error("'{op}' was abandoned in flight ({})", match .why {
        Stop::Cancelled => "the session was cancelled",
        Stop::Unplugged => "the unit's port went away",
        Stop::Deadline => "the step ran out of time",
    })]
    Stopped { op: &'static str, why: Stop },
}

impl DeviceError {
    /// True for errors that end a session as *interrupted* rather than failed: the unit went
    /// away (unplugged, restarted), so nothing can be concluded about the unit itself.
    pub fn is_interruption(&self) -> bool {
        matches!(
            self,
            DeviceError::Unplugged { .. }
                | DeviceError::Rebooted { .. }
                | DeviceError::Stopped {
                    why: Stop::Unplugged,
                    ..
                }
        )
    }

    /// True when the station itself abandoned the operation (cancel or step deadline); the
    /// pipeline turns it into the session's own code rather than a fault of the unit.
    pub fn is_stop(&self) -> bool {
        matches!(self, DeviceError::Stopped { .. })
    }
}

impl Coded for DeviceError {
    fn code(&self) -> &'static str {
        match self {
            DeviceError::Open { .. } => "device.open_failed",
            DeviceError::Unplugged { .. } => "device.unplugged",
            DeviceError::Io { .. } => "device.io",
            DeviceError::Timeout { .. } => "device.timeout",
            DeviceError::SlowReply { .. } => "device.slow_reply",
            DeviceError::RequestDamaged { .. } => "device.request_damaged",
            DeviceError::Rebooted { .. } => "device.rebooted",
            // The codes a technician acts on differently get their own station code.
            DeviceError::Refused { code, .. } => match code.as_str() {
                "locked" => "device.locked",
                "unsupported_version" => "device.protocol_version",
                _ => "device.refused",
            },
            DeviceError::Corrupted { .. } => "device.corrupted_frame",
            DeviceError::Protocol { .. } => "device.protocol",
            DeviceError::Enumerate(_) => "device.enumerate_failed",
            // The pipeline names the step; these only travel that far.
            DeviceError::Stopped {
                why: Stop::Cancelled,
                ..
            } => "device.cancelled",
            DeviceError::Stopped {
                why: Stop::Unplugged,
                ..
            } => "device.unplugged",
            DeviceError::Stopped {
                why: Stop::Deadline,
                ..
            } => "device.step_deadline",
        }
    }
}

/// A step that needs the unit's link ran before the link was open (`device.not_open`).
pub(crate) fn not_open() -> crate::error::ErrorInfo {
    crate::error::ErrorInfo {
        code: "device.not_open".into(),
        message: "the serial port is not open".into(),
        detail: None,
    }
}

// Last: the error-code scanner reads each file up to its first `#[cfg(test)]`.
#[cfg(test)]
mod tests;
