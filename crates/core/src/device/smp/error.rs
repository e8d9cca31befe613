//! Errors of the SMP link, each with a stable code.

use thiserror::Error;

use crate::device::DeviceError;
use crate::error::Coded;

use super::cbor::{MGMT_ERR_EACCESSDENIED, MGMT_ERR_EBADSTATE, MGMT_ERR_ENOTSUP};
use super::unit::{COMMISSIONER_GROUP, RC_BAD_CONTEXT, RC_LOCKED, RC_NO_KEY};

#[derive(Debug, Error)]
pub enum SmpError {
    /// The serial link itself: unplug, timeout, damaged frames, a stop.
    #[error(transparent)]
    Link(#[from] DeviceError),
    #[error("the unit refused '{op}' (SMP group {group}, rc {rc}{})", if *.v2 { "" } else { ", version 1 error" })]
    Refused {
        op: &'static str,
        group: u16,
        rc: i128,
        v2: bool,
    },
    #[error(
        "'{op}' needs {len} bytes but the unit's SMP buffer holds {mtu}; the request was not sent"
    )]
    TooLarge {
        op: &'static str,
        len: usize,
        mtu: usize,
    },
    #[error("the unit's answer to '{op}' is not what MCUmgr specifies: {reason}")]
    BadReply { op: &'static str, reason: String },
    #[error("the unit's file system has no room for '{path}'; free space on the unit or use a profile path on a larger partition")]
    NoSpace { path: String },
    #[error("'{path}' on the unit does not hash to what was written (wrote {expected}, the unit reports {found}); the flash or the file system lost data")]
    HashMismatch {
        path: String,
        expected: String,
        found: String,
    },
}

impl Coded for SmpError {
    fn code(&self) -> &'static str {
        match self {
            SmpError::Link(e) => e.code(),
            SmpError::Refused {
                group: COMMISSIONER_GROUP,
                rc,
                v2: true,
                ..
            } => match *rc {
                RC_LOCKED => "smp.unit_locked",
                RC_NO_KEY => "smp.no_key",
                RC_BAD_CONTEXT => "smp.bad_context",
                _ => "smp.refused",
            },
            SmpError::Refused { rc, .. } => match *rc {
                MGMT_ERR_ENOTSUP => "smp.not_supported",
                MGMT_ERR_EACCESSDENIED => "smp.access_denied",
                MGMT_ERR_EBADSTATE => "smp.bad_state",
                _ => "smp.refused",
            },
            SmpError::TooLarge { .. } => "smp.too_large",
            SmpError::BadReply { .. } => "smp.bad_reply",
            SmpError::NoSpace { .. } => "smp.fs_full",
            SmpError::HashMismatch { .. } => "smp.write_mismatch",
        }
    }
}

impl SmpError {
    /// The unit does not implement the group or command (MCUmgr `ENOTSUP`).
    pub fn is_not_supported(&self) -> bool {
        matches!(self, SmpError::Refused { rc, .. } if *rc == MGMT_ERR_ENOTSUP)
    }
}
