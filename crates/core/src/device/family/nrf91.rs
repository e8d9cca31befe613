//! The nRF91 AT family: Nordic nRF91 series modems provisioned with AT commands
//! (driver in `device::nrf91`).

use serde::{Deserialize, Serialize};

use super::{Capabilities, DeviceFamily, LinkRequest, PossessionProof, UnitLink};
use crate::error::ErrorInfo;

#[derive(Debug, Clone, Copy)]
pub struct Nrf91At;

/// nRF Cloud's customary sec_tag for a device's own credentials.
pub const DEFAULT_SEC_TAG: u32 = 16_842_753;

/// The station profile's `[nrf91]`: where on the modem the unit's credentials go. The
/// firmware's TLS socket names the same sec_tag, so it is the firmware team's choice, not ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nrf91Profile {
    #[serde(default = "default_sec_tag")]
    pub sec_tag: SecTag,
}

impl Default for Nrf91Profile {
    fn default() -> Self {
        Self {
            sec_tag: default_sec_tag(),
        }
    }
}

impl Nrf91Profile {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

fn default_sec_tag() -> SecTag {
    SecTag(DEFAULT_SEC_TAG)
}

/// A sec_tag an application may use: Nordic reserves 2147483648 and above (the modem answers
/// CME 514), so such a value is refused when the profile is read, not at the first unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct SecTag(u32);

impl SecTag {
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for SecTag {
    type Error = String;
    fn try_from(v: u32) -> Result<Self, Self::Error> {
        if v >= 2_147_483_648 {
            return Err(format!(
                "sec_tag {v} is reserved by Nordic (2147483648 and above); pick one below it"
            ));
        }
        Ok(SecTag(v))
    }
}

impl From<SecTag> for u32 {
    fn from(t: SecTag) -> u32 {
        t.0
    }
}

impl DeviceFamily for Nrf91At {
    fn name(&self) -> &'static str {
        "nrf91-at"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            identity: "AT+CGSN (IMEI), AT%DEVICEUUID, AT+CGMR",
            key_on_unit: true,
            write_verify: "AT%CMNG=0 write (LF PEM), AT%CMNG=1 SHA-256 list",
            possession: PossessionProof::AttestedCsr,
            remote_tls_signing: false,
            attestation: true,
            leave_factory_mode: false,
        }
    }

    fn open(&self, req: &LinkRequest<'_>) -> Option<Result<Box<dyn UnitLink>, ErrorInfo>> {
        Some(crate::device::nrf91::unit::open(req))
    }
}
