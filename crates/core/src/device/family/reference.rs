//! The reference family: units that speak `docs/device-protocol.md`.

use super::{Capabilities, DeviceFamily, PossessionProof};

#[derive(Debug, Clone, Copy)]
pub struct Reference;

impl DeviceFamily for Reference {
    fn name(&self) -> &'static str {
        "reference"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            identity: "hello",
            key_on_unit: true,
            write_verify: "chunked write, SHA-256 read-back",
            possession: PossessionProof::Challenge,
            remote_tls_signing: true,
            attestation: false,
            leave_factory_mode: true,
        }
    }
}
