//! MCUmgr's Simple Management Protocol over a serial console, as Zephyr units speak it: the
//! console framing ([`frame`]), the 8-byte header ([`header`]), CBOR bodies and both error
//! shapes ([`cbor`]), and the station's client ([`client`]). The emulator in `crates/devsim`
//! uses the same framing for the unit's side.
//!
//! Why not a crate: `mcumgr-toolkit` (the maintained client) owns the serial port and reads
//! it itself, so the station could neither keep the unit's log lines for the journal, nor
//! stop a request on the session's cancel or step deadline, nor reuse the framing for the
//! emulator's (server) side; `mcumgr-smp` (0.8) likewise brings its own client transports and
//! no server side. The framing is a page of code, so it lives here, shared by both sides.

pub mod cbor;
pub mod client;
pub mod error;
pub mod frame;
pub mod header;
pub mod unit;

pub use client::{Params, Request, SmpClient, SmpTimeouts};
pub use error::SmpError;
pub use header::Op;
