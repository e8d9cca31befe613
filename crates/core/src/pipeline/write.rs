//! The write step: certificate, chain and broker CA into the unit, each read back and compared.

use crate::device::protocol::{DeviceConfig, Hello, Slot};
use crate::error::ErrorInfo;
use crate::pki::{fingerprint, IssuedCert};
use crate::station::BrokerProfile;

use super::{PipelineError, Run};

/// The order the certificate slots are written in (see [`Run::write`]).
pub const WRITE_ORDER: [Slot; 3] = [Slot::Chain, Slot::BrokerCa, Slot::Device];

impl Run<'_> {
    pub(super) fn write(&mut self, cert: &IssuedCert, hello: &Hello) -> Result<(), ErrorInfo> {
        let broker_ca = self.broker_trust_anchors()?;
        // The device certificate last: writing it makes the unit `certified`, after which it is
        // re-keyed only through lock and the unlock, which is verified against the chain slot.
        // Written first, an interruption before the chain left a certified unit that could be
        // locked but never unlocked again. In this order an interrupted unit is still `keyed`
        // (commissioned again as it is) or certified with its chain in place (recommissioned).
        let mut device = self.device()?;
        for slot in WRITE_ORDER {
            let (name, der): (&'static str, &[u8]) = match slot {
                Slot::Chain => ("chain", self.ca.issuing_der()),
                Slot::BrokerCa => (
                    "broker_ca",
                    broker_ca.first().map(Vec::as_slice).unwrap_or_default(),
                ),
                Slot::Device => ("device", &cert.der),
            };
            device.write_cert(slot, der)?;
            let digest = device.read_cert(slot)?;
            let expected = fingerprint(der);
            if digest.sha256 != expected || digest.len != der.len() {
                return Err(PipelineError::ReadBackMismatch {
                    slot: name,
                    expected,
                    found: digest.sha256,
                }
                .into());
            }
        }
        // Units that keep broker settings get the ones the handshake is about to prove.
        if hello.caps.iter().any(|c| c == "set_config") {
            let broker = self.station.broker()?;
            let id = &hello.device_id;
            device.set_config(&DeviceConfig {
                broker_host: broker.host.clone(),
                broker_port: broker.port,
                request_topic: BrokerProfile::topic(&broker.request_topic, id),
                response_topic: BrokerProfile::topic(&broker.response_topic, id),
            })?;
        }
        Ok(())
    }
}
