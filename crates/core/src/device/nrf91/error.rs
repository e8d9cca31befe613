//! Errors of the nRF91 AT family: every `+CME ERROR` the credential commands give, and the
//! station's own refusals, each with a code a technician's screen can branch on.

use thiserror::Error;

use crate::device::DeviceError;
use crate::error::Coded;

#[derive(Debug, Error)]
pub enum Nrf91Error {
    #[error(transparent)]
    Link(#[from] DeviceError),
    #[error("the modem did not answer AT commands on a raw AT port or a Zephyr shell (`at AT+…`); check that the unit runs an AT client and the baud rate")]
    NoAtClient,
    #[error("'{cmd}' is not allowed while the modem is active (CME 518); the station puts it in AT+CFUN=4 first, so the unit's firmware turned it back on: reset it and try again")]
    ModemActive { cmd: String },
    #[error("'{cmd}': the credential already exists (CME 519)")]
    Exists { cmd: String },
    #[error("'{cmd}': no such credential (CME 513)")]
    NotFound { cmd: String },
    #[error("'{cmd}': the modem refused access (CME 514); the sec_tag may be reserved by Nordic")]
    NoAccess { cmd: String },
    #[error("'{cmd}': the modem's credential store is full (CME 515); delete unused sec_tags")]
    MemoryFull { cmd: String },
    #[error("'{cmd}': the modem could not generate a key (CME 523); set the unit aside")]
    KeygenFailed { cmd: String },
    #[error("'{cmd}': the modem rejected the content (CME 527); the PEM is malformed or uses CRLF line endings")]
    InvalidContent { cmd: String },
    #[error(
        "'{cmd}': the modem is in its power-off warning state (CME 528); check the supply voltage"
    )]
    PowerOffWarning { cmd: String },
    #[error("'{cmd}' failed with +CME ERROR: {code}")]
    Cme { cmd: String, code: u32 },
    #[error("the unit restarted during '{cmd}' and lost what it was doing; check its power supply and cable, then commission it again")]
    Rebooted { cmd: String },
    #[error("'{cmd}' failed with ERROR")]
    Error { cmd: String },
    #[error("the modem firmware {version} is too old for %KEYGEN (needs mfw 1.3.0 or later); update the modem firmware")]
    FirmwareTooOld { version: String },
    #[error("the %KEYGEN attestation names a CSR digest {attested} but the CSR's SHA-256 is {actual}: the CSR is not the one the modem signed")]
    CoseDigestMismatch { attested: String, actual: String },
    #[error("the %KEYGEN reply cannot be read: {reason}")]
    BadKeygenReply { reason: String },
    #[error("the modem's reply to '{cmd}' cannot be read: {reason}")]
    BadReply { cmd: String, reason: String },
    #[error("sec_tag {sec_tag} type {kind} reads back SHA-256 {found}, expected {expected}: the write did not persist as sent")]
    WriteMismatch {
        sec_tag: u32,
        kind: u8,
        expected: String,
        found: String,
    },
}

impl Nrf91Error {
    /// The error for a `+CME ERROR: <code>` reply to `cmd`.
    pub fn cme(cmd: &str, code: u32) -> Self {
        let cmd = cmd.to_owned();
        match code {
            513 => Self::NotFound { cmd },
            514 => Self::NoAccess { cmd },
            515 => Self::MemoryFull { cmd },
            518 => Self::ModemActive { cmd },
            519 => Self::Exists { cmd },
            523 => Self::KeygenFailed { cmd },
            527 => Self::InvalidContent { cmd },
            528 => Self::PowerOffWarning { cmd },
            code => Self::Cme { cmd, code },
        }
    }
}

impl Coded for Nrf91Error {
    fn code(&self) -> &'static str {
        match self {
            Self::Link(e) => e.code(),
            Self::NoAtClient => "nrf91.no_at_client",
            Self::ModemActive { .. } => "nrf91.modem_active",
            Self::Exists { .. } => "nrf91.exists",
            Self::NotFound { .. } => "nrf91.not_found",
            Self::NoAccess { .. } => "nrf91.no_access",
            Self::MemoryFull { .. } => "nrf91.memory_full",
            Self::KeygenFailed { .. } => "nrf91.keygen_failed",
            Self::InvalidContent { .. } => "nrf91.invalid_content",
            Self::PowerOffWarning { .. } => "nrf91.power_off_warning",
            Self::Cme { .. } => "nrf91.cme_error",
            Self::Rebooted { .. } => "nrf91.rebooted",
            Self::Error { .. } => "nrf91.error",
            Self::FirmwareTooOld { .. } => "nrf91.firmware_too_old",
            Self::CoseDigestMismatch { .. } => "nrf91.cose_digest_mismatch",
            Self::BadKeygenReply { .. } => "nrf91.bad_keygen_reply",
            Self::BadReply { .. } => "nrf91.bad_reply",
            Self::WriteMismatch { .. } => "nrf91.write_mismatch",
        }
    }
}
