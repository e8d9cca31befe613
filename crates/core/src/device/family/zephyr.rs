//! The Zephyr SMP family: Zephyr units managed over MCUmgr's Simple Management Protocol on
//! their serial console (driver in `device::smp`). Two modes: stock firmware (OS and file
//! system groups only) and firmware with Commissioner's own SMP group.

use serde::{Deserialize, Serialize};

use super::link::{LinkRequest, UnitLink};
use super::{Capabilities, DeviceFamily, PossessionProof};
use crate::error::ErrorInfo;

/// Stock Zephyr: identity from the OS group and the profile's rule, a station-made key (only
/// where the profile allows it), files written with the file-system group.
#[derive(Debug, Clone, Copy)]
pub struct ZephyrSmp;

/// Zephyr with Commissioner's SMP group (`docs/device-families.md`): the key is made on the
/// unit, which proves possession, signs the handshake and locks.
#[derive(Debug, Clone, Copy)]
pub struct ZephyrSmpGroup;

pub const ZEPHYR_SMP: &str = "zephyr-smp";

impl DeviceFamily for ZephyrSmp {
    fn name(&self) -> &'static str {
        ZEPHYR_SMP
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            identity: "SMP os info + mcumgr params, device id by the profile's rule",
            key_on_unit: false,
            write_verify: "SMP fs upload, fs hash (SHA-256)",
            possession: PossessionProof::None,
            remote_tls_signing: false,
            attestation: false,
            leave_factory_mode: false,
        }
    }

    fn skip_reason(&self, step: &str) -> Option<String> {
        let why = match step {
            "prove_possession" => {
                "the zephyr-smp family (stock firmware) has no identity proof: the key was made \
                 on the station and the unit proved nothing"
            }
            "handshake" | "audit" => {
                "the zephyr-smp family (stock firmware) cannot sign for the station's TLS \
                 handshake; the unit's first connection is its own"
            }
            "lock" => {
                "the zephyr-smp family (stock firmware) has no factory mode to leave; the \
                 profile's own procedure applies"
            }
            _ => return None,
        };
        Some(why.into())
    }

    fn open(&self, req: &LinkRequest<'_>) -> Option<Result<Box<dyn UnitLink>, ErrorInfo>> {
        Some(crate::device::smp::unit::open(req))
    }
}

impl DeviceFamily for ZephyrSmpGroup {
    fn name(&self) -> &'static str {
        ZEPHYR_SMP
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            identity: "Commissioner SMP group: identity",
            key_on_unit: true,
            write_verify: "SMP fs upload, fs hash (SHA-256)",
            possession: PossessionProof::Challenge,
            remote_tls_signing: true,
            attestation: false,
            leave_factory_mode: true,
        }
    }
}

/// The profile's `[zephyr_smp]` section: how a stock unit's device id is made, and where the
/// credentials go on its file system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZephyrSmpProfile {
    /// The device id of a stock unit, from `os info` fields in braces: `{n}` node name
    /// (hostname), `{s}` kernel, `{r}` release, `{v}` version, `{m}` machine, `{p}`
    /// processor, `{i}` platform, `{o}` OS. Checked like every unit's id.
    pub device_id: String,
    /// Where the key (PEM) goes, for a station-made key.
    pub key_path: String,
    /// Where the certificate followed by the issuing CA (PEM) goes.
    pub cert_path: String,
    /// Where the broker's trust anchors (PEM) go.
    pub ca_path: String,
}

impl Default for ZephyrSmpProfile {
    fn default() -> Self {
        Self {
            device_id: "{n}".into(),
            key_path: "/lfs/certs/device-key.pem".into(),
            cert_path: "/lfs/certs/device-cert.pem".into(),
            ca_path: "/lfs/certs/broker-ca.pem".into(),
        }
    }
}

impl ZephyrSmpProfile {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The `os info` letters the device-id rule uses, in order of first use.
    pub fn id_fields(&self) -> Vec<char> {
        let mut out = Vec::new();
        let mut rest = self.device_id.as_str();
        while let Some(open) = rest.find('{') {
            rest = &rest[open + 1..];
            if let Some(close) = rest.find('}') {
                let inner = &rest[..close];
                if let (Some(c), 1) = (inner.chars().next(), inner.chars().count()) {
                    if !out.contains(&c) {
                        out.push(c);
                    }
                }
                rest = &rest[close + 1..];
            }
        }
        out
    }

    /// The device id, with each `{x}` replaced by the unit's answer for `x`.
    pub fn device_id_from(&self, fields: &[(char, String)]) -> String {
        let mut id = self.device_id.clone();
        for (c, value) in fields {
            id = id.replace(&format!("{{{c}}}"), value.trim());
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_id_rule_fills_os_info_fields() {
        let p = ZephyrSmpProfile {
            device_id: "zephyr-{n}-{i}".into(),
            ..ZephyrSmpProfile::default()
        };
        assert_eq!(p.id_fields(), vec!['n', 'i']);
        assert_eq!(
            p.device_id_from(&[('n', "unit-7 ".into()), ('i', "nrf52840dk".into())]),
            "zephyr-unit-7-nrf52840dk"
        );
    }
}
