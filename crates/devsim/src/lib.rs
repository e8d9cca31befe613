//! A simulated Commissioner reference device (docs/device-protocol.md) on a pseudo-terminal.
//!
//! - [`device`]: the unit's state machine and key store, free of I/O, so it can be tested
//!   frame by frame.
//! - [`pty`]: runs a device on the master side of a pseudo-terminal on its own thread; the
//!   station opens the slave path exactly as it would open `/dev/ttyUSB0`.

pub mod device;
pub mod pty;

pub use device::{Fault, SimConfig, SimDevice as DeviceState};
pub use pty::{SimDevice, SimError};
