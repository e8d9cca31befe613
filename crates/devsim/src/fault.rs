//! Faults a simulated unit can be told to show, one set per unit.

use thiserror::Error;

/// One misbehaviour of a simulated unit. Link faults act on the bytes between unit and
/// station; device faults on what the unit does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Log lines and stray bytes between frames, and text before a marker on the same line.
    /// A station must sync past them: this one is expected to PASS.
    BootNoise,
    /// One byte of every line the unit receives is lost (a UART receive overrun); the unit
    /// answers `bad_frame`.
    DropBytes,
    /// One byte of every frame the unit sends is flipped on the way to the station.
    CorruptBytes,
    /// Every reply comes [`crate::Delays::late_reply`] after its request.
    LateReply,
    /// The unit answers `hello`, then hangs and never answers again.
    NoReply,
    /// The unit resets after the first chunk of a certificate write.
    RebootMidWrite,
    /// The unit disappears (the port closes) when asked for proof of possession.
    UnplugMidSession,
    /// The CSR's subject CN is not the id the unit reports in `hello`.
    WrongCsrCn,
    /// The CSR's self-signature does not verify.
    BadCsrSignature,
    /// `challenge` is signed with a key other than the one in the CSR.
    WrongPopKey,
    /// Writes are acknowledged but flash keeps its erased state: read-back differs.
    WriteNotPersisted,
    /// The unit's real-time clock starts at 1970-01-01 (a flat RTC battery).
    Clock1970,
    /// The unit is already locked: it refuses keygen and other factory operations.
    Locked,
    /// The unit has no key generator: it does not announce `keygen:ecdsa-p256`, answers
    /// `keygen` with `unsupported`, and takes a key only through `inject_key`.
    NoKeygen,
}

impl Fault {
    /// Every fault, in the order the documentation lists them.
    pub const ALL: [Fault; 14] = [
        Fault::BootNoise,
        Fault::DropBytes,
        Fault::CorruptBytes,
        Fault::LateReply,
        Fault::NoReply,
        Fault::RebootMidWrite,
        Fault::UnplugMidSession,
        Fault::WrongCsrCn,
        Fault::BadCsrSignature,
        Fault::WrongPopKey,
        Fault::WriteNotPersisted,
        Fault::Clock1970,
        Fault::Locked,
        Fault::NoKeygen,
    ];

    /// The name used on the command line (`--fault drop-bytes`).
    pub fn name(self) -> &'static str {
        match self {
            Fault::BootNoise => "boot-noise",
            Fault::DropBytes => "drop-bytes",
            Fault::CorruptBytes => "corrupt-bytes",
            Fault::LateReply => "late-reply",
            Fault::NoReply => "no-reply",
            Fault::RebootMidWrite => "reboot-mid-write",
            Fault::UnplugMidSession => "unplug-mid-session",
            Fault::WrongCsrCn => "wrong-cn",
            Fault::BadCsrSignature => "bad-csr-signature",
            Fault::WrongPopKey => "wrong-pop-key",
            Fault::WriteNotPersisted => "write-not-persisted",
            Fault::Clock1970 => "clock-1970",
            Fault::Locked => "locked",
            Fault::NoKeygen => "no-keygen",
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A fault name that is not one of [`Fault::ALL`].
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("unknown fault '{given}' (known: {})", known())]
pub struct UnknownFault {
    pub given: String,
}

fn known() -> String {
    Fault::ALL.map(Fault::name).join(", ")
}

impl std::str::FromStr for Fault {
    type Err = UnknownFault;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Underscores too, and the name the first release used for the CN fault.
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        if wanted == "wrong-csr-cn" {
            return Ok(Fault::WrongCsrCn);
        }
        Fault::ALL
            .into_iter()
            .find(|f| f.name() == wanted)
            .ok_or_else(|| UnknownFault { given: s.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in Fault::ALL {
            assert_eq!(f.name().parse::<Fault>(), Ok(f));
        }
        assert_eq!("wrong_csr_cn".parse::<Fault>(), Ok(Fault::WrongCsrCn));
        let err = "melt".parse::<Fault>().expect_err("unknown");
        assert!(err.to_string().contains("drop-bytes"), "{err}");
    }
}
