//! A simulated Commissioner reference device (docs/device-protocol.md) on a pseudo-terminal.
//!
//! - [`device`]: the unit's state machine, free of I/O, so it can be tested frame by frame;
//!   [`ops`] holds the operations that change its flash, [`store`] the optional file that
//!   keeps that flash across runs.
//! - [`fault`]: the faults a unit can be told to show.
//! - [`any`]: a unit of any family (reference, nRF91, Zephyr) behind one type, for the app.
//! - [`pty`]: runs a device on the master side of a pseudo-terminal on its own thread, with
//!   link faults, baud pacing and delays; the station opens the slave path exactly as it
//!   would open `/dev/ttyUSB0`.

pub mod any;
pub mod device;
pub mod fault;
pub mod nrf91;
pub mod ops;
pub mod pty;
pub mod store;
pub mod zephyr;

pub use any::{AnySim, SimKind, UnknownSimKind};
pub use device::{Delays, SimConfig, SimDevice as DeviceState};
pub use fault::{Fault, UnknownFault};
pub use pty::{LinkStats, SimDevice, SimError};
