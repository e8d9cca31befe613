//! A simulated unit of any family the station knows, for front ends that offer them side by
//! side (the desktop app's "Add simulated unit").

use std::fmt;
use std::str::FromStr;

use crate::nrf91::{Nrf91Sim, Nrf91SimConfig};
use crate::zephyr::{ZephyrSim, ZephyrSimConfig};
use crate::{SimConfig, SimDevice, SimError};

/// Which emulator, and for Zephyr which firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimKind {
    /// docs/device-protocol.md.
    Reference,
    /// A Nordic nRF91 modem on its raw AT UART.
    Nrf91,
    /// Stock Zephyr: OS and file-system groups only (the key is made on the station).
    ZephyrStock,
    /// Zephyr with Commissioner's SMP group (key made on the unit, handshake as the unit).
    ZephyrGroup,
}

impl SimKind {
    pub const ALL: [SimKind; 4] = [
        SimKind::Reference,
        SimKind::Nrf91,
        SimKind::ZephyrStock,
        SimKind::ZephyrGroup,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SimKind::Reference => "reference",
            SimKind::Nrf91 => "nrf91-at",
            SimKind::ZephyrStock => "zephyr-smp-stock",
            SimKind::ZephyrGroup => "zephyr-smp-group",
        }
    }

    /// The device family the station must speak to it (a pseudo-terminal has no USB identity
    /// for the profile's `[[models]]` to name one).
    pub fn family(self) -> &'static str {
        match self {
            SimKind::Reference => "reference",
            SimKind::Nrf91 => "nrf91-at",
            SimKind::ZephyrStock | SimKind::ZephyrGroup => "zephyr-smp",
        }
    }
}

impl fmt::Display for SimKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a [`SimKind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSimKind(pub String);

impl fmt::Display for UnknownSimKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = SimKind::ALL.iter().map(|k| k.name()).collect();
        write!(
            f,
            "no simulated unit of kind {:?}; known: {}",
            self.0,
            known.join(", ")
        )
    }
}

impl std::error::Error for UnknownSimKind {}

impl FromStr for SimKind {
    type Err = UnknownSimKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SimKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownSimKind(s.to_owned()))
    }
}

/// A running simulated unit; stops when dropped.
pub enum AnySim {
    Reference(SimDevice),
    Nrf91(Nrf91Sim),
    Zephyr(ZephyrSim, SimKind),
}

impl AnySim {
    /// Starts a unit of `kind`; `reference` is the reference emulator with `cfg` (its faults),
    /// the others start with their defaults and a fresh identity each.
    pub fn spawn(kind: SimKind, cfg: SimConfig) -> Result<Self, SimError> {
        Ok(match kind {
            SimKind::Reference => AnySim::Reference(SimDevice::spawn(cfg)?),
            SimKind::Nrf91 => AnySim::Nrf91(Nrf91Sim::spawn(Nrf91SimConfig::default())?),
            SimKind::ZephyrStock | SimKind::ZephyrGroup => AnySim::Zephyr(
                ZephyrSim::spawn(ZephyrSimConfig {
                    commissioner_group: kind == SimKind::ZephyrGroup,
                    ..ZephyrSimConfig::default()
                })?,
                kind,
            ),
        })
    }

    pub fn kind(&self) -> SimKind {
        match self {
            AnySim::Reference(_) => SimKind::Reference,
            AnySim::Nrf91(_) => SimKind::Nrf91,
            AnySim::Zephyr(_, kind) => *kind,
        }
    }

    pub fn path(&self) -> &str {
        match self {
            AnySim::Reference(s) => s.path(),
            AnySim::Nrf91(s) => s.path(),
            AnySim::Zephyr(s, _) => s.path(),
        }
    }

    /// What the unit calls itself: the reference unit's id, the modem's UUID, the Zephyr
    /// unit's node name.
    pub fn label(&self) -> &str {
        match self {
            AnySim::Reference(s) => s.device_id(),
            AnySim::Nrf91(s) => s.uuid(),
            AnySim::Zephyr(s, _) => s.node_name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_by_name_and_names_a_family() {
        for kind in SimKind::ALL {
            assert_eq!(kind.name().parse::<SimKind>(), Ok(kind));
        }
        assert_eq!(SimKind::ZephyrStock.family(), "zephyr-smp");
        let e = "nrf53".parse::<SimKind>().expect_err("unknown");
        assert!(e.to_string().contains("zephyr-smp-group"), "{e}");
    }

    #[test]
    fn each_kind_starts_on_its_own_pseudo_terminal() {
        let units: Vec<AnySim> = SimKind::ALL
            .into_iter()
            .map(|k| AnySim::spawn(k, SimConfig::default()).expect("spawn"))
            .collect();
        for (unit, kind) in units.iter().zip(SimKind::ALL) {
            assert_eq!(unit.kind(), kind);
            assert!(
                std::path::Path::new(unit.path()).exists(),
                "{}",
                unit.path()
            );
            assert!(!unit.label().is_empty());
        }
    }
}
