//! Errors that belong to the pipeline itself rather than to a component.

use thiserror::Error;

use crate::device::protocol::Lifecycle;
use crate::error::Coded;

/// Errors that belong to the pipeline itself rather than to a component.
#[derive(Debug, Error)]
pub enum PipelineError {
    #[error("the unit is already {}; recommissioning needs the field engineer's workflow", lifecycle_name(.0))]
    AlreadyCommissioned(Lifecycle),
    #[error("the unit speaks protocol version {0}, this station speaks 1")]
    ProtocolVersion(u32),
    #[error(
        "the unit is locked (out of factory mode); recommissioning it needs the authorised unlock"
    )]
    Locked,
    #[error("the unit lacks the '{0}' capability this station needs; check its firmware version")]
    MissingCapability(String),
    #[error("the unit's clock reads {device}, {days} days away from the station's; it would reject valid certificates. Check its real-time clock or battery")]
    DeviceClock { device: String, days: i64 },
    #[error("the {slot} slot read back a different certificate than was written (wrote {expected}, read {found})")]
    ReadBackMismatch {
        slot: &'static str,
        expected: String,
        found: String,
    },
    #[error("the unit did not lock (state {0:?})")]
    NotLocked(Lifecycle),
    #[error("cannot read the broker CA {path}: {reason}")]
    BrokerCa { path: String, reason: String },
    #[error("the unit did not return to factory mode after the authorised unlock (state {0:?})")]
    NotUnlocked(Lifecycle),
    #[error("unit {0} has no active certificate in this station's registry: a unit in service is unlocked only for a recommission of its registered identity (a revoked or unknown unit stays locked)")]
    NoActiveCertificate(String),
    #[error("the session was cancelled before '{step}'")]
    Cancelled { step: &'static str },
    #[error("the session was cancelled during '{step}'; the unit may hold part of it: commission it again")]
    CancelledDuring { step: &'static str },
    #[error("'{step}' did not finish within {} s: the unit (or the broker) is too slow for this station; check it, or raise [timeouts] in the station profile", after.as_secs())]
    StepTimeout {
        step: &'static str,
        after: std::time::Duration,
    },
    #[error("the in-band exchange did not give the unit its operational certificate: {0}")]
    InbandCertificate(String),
    #[error("the station is set to in-band provisioning, which the {0} family cannot run yet: commission this unit on an out-of-band station")]
    InbandFamily(String),
}

impl Coded for PipelineError {
    fn code(&self) -> &'static str {
        match self {
            PipelineError::AlreadyCommissioned(_) => "device.already_commissioned",
            PipelineError::ProtocolVersion(_) => "device.protocol_version",
            PipelineError::Locked => "device.locked",
            PipelineError::MissingCapability(_) => "device.missing_capability",
            PipelineError::DeviceClock { .. } => "device.clock_invalid",
            PipelineError::ReadBackMismatch { .. } => "write.readback_mismatch",
            PipelineError::NotLocked(_) => "device.not_locked",
            PipelineError::BrokerCa { .. } => "station.broker_ca",
            // Before or during a step, the operator stopped it: the same answer for the UI.
            PipelineError::Cancelled { .. } | PipelineError::CancelledDuring { .. } => {
                "session.cancelled"
            }
            PipelineError::StepTimeout { .. } => "pipeline.step_timeout",
            PipelineError::NotUnlocked(_) => "device.not_unlocked",
            PipelineError::NoActiveCertificate(_) => "recommission.no_active_certificate",
            PipelineError::InbandCertificate(_) => "inband.operational_mismatch",
            PipelineError::InbandFamily(_) => "inband.family_unsupported",
        }
    }
}

fn lifecycle_name(state: &Lifecycle) -> &'static str {
    match state {
        Lifecycle::Blank => "blank",
        Lifecycle::Keyed => "keyed",
        Lifecycle::Certified => "certified",
        Lifecycle::Locked => "locked",
    }
}
