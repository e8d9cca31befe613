//! The nRF91 AT family: Nordic nRF91 series modems provisioned with AT commands
//! (driver in `device::nrf91`).

use super::{Capabilities, DeviceFamily, PossessionProof};

#[derive(Debug, Clone, Copy)]
pub struct Nrf91At;

/// nRF Cloud's customary sec_tag for a device's own credentials.
pub const DEFAULT_SEC_TAG: u32 = 16_842_753;

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
}
