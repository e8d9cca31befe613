//! A simulated Commissioner reference device (docs/device-protocol.md) on a pseudo-terminal.
//!
//! - [`device`]: the unit's state machine, free of I/O, so it can be tested frame by frame;
//!   [`ops`] holds the operations that change its flash, [`store`] the optional file that
//!   keeps that flash across runs.
//! - [`fault`]: the faults a unit can be told to show.
//! - [`pty`]: runs a device on the master side of a pseudo-terminal on its own thread, with
//!   link faults, baud pacing and delays; the station opens the slave path exactly as it
//!   would open `/dev/ttyUSB0`.

pub mod device;
pub mod fault;
pub mod nrf91;
pub mod ops;
pub mod pty;
pub mod store;
pub mod zephyr;

pub use device::{Delays, SimConfig, SimDevice as DeviceState};
pub use fault::{Fault, UnknownFault};
pub use pty::{LinkStats, SimDevice, SimError};
