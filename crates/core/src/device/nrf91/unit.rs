//! An nRF91 modem as a [`UnitLink`]: the pipeline runs its usual steps through it, and the
//! family's capabilities leave out what a modem cannot do (challenge, TLS signing, lock).

use super::{lf_pem, AtTimeouts, Nrf91, Nrf91Error, CLIENT_CERT, ROOT_CA_CERT};
use crate::device::family::{Credentials, LinkRequest, Nrf91At, UnitIdentity, UnitLink};
use crate::device::{DeviceError, Interrupt};
use crate::error::{Coded, ErrorInfo};
use crate::pki::cert_pem;

type Port = Box<dyn serialport::SerialPort>;

pub struct Nrf91Unit {
    /// The open port until `identify` finds the AT client on it; the modem after.
    port: Option<Port>,
    modem: Option<Nrf91<Port>>,
    timeouts: AtTimeouts,
    interrupt: std::sync::Arc<Interrupt>,
    sec_tag: u32,
    facts: Vec<(String, String)>,
}

/// Opens the port of an `nrf91-at` unit; the AT client is looked for in `identify`, so that
/// the probe counts against that step's deadline and the operator's stop.
pub fn open(req: &LinkRequest<'_>) -> Result<Box<dyn UnitLink>, ErrorInfo> {
    let port = req.open_port()?;
    let t = &req.timeouts;
    Ok(Box::new(Nrf91Unit {
        port: Some(port),
        modem: None,
        timeouts: AtTimeouts {
            command: t.other.max(t.write),
            keygen: t.keygen,
        },
        interrupt: req.interrupt.clone(),
        sec_tag: req.config.nrf91.sec_tag.get(),
        facts: Vec::new(),
    }))
}

fn info(e: Nrf91Error) -> ErrorInfo {
    e.info()
}

impl Nrf91Unit {
    fn modem(&mut self) -> Result<&mut Nrf91<Port>, ErrorInfo> {
        self.modem.as_mut().ok_or_else(crate::device::not_open)
    }

    fn cannot(op: &'static str) -> DeviceError {
        DeviceError::Refused {
            op,
            code: "not_supported".into(),
            message: format!("an nRF91 modem has no {op} command"),
        }
    }
}

impl UnitLink for Nrf91Unit {
    fn identify(&mut self) -> Result<UnitIdentity, ErrorInfo> {
        let port = self.port.take().ok_or_else(crate::device::not_open)?;
        let modem = Nrf91::connect(port, self.timeouts).map_err(info)?;
        let modem = self
            .modem
            .insert(modem.with_interrupt(self.interrupt.clone()));
        let id = modem.identify().map_err(info)?;
        let token = modem.attestation_token().map_err(info)?;
        // Credential work needs the modem offline (CME 518 otherwise).
        modem.go_offline().map_err(info)?;
        let device_id = id
            .device_uuid
            .clone()
            .unwrap_or_else(|| format!("nrf91-{}", id.imei));
        let mut details = vec![("imei".into(), id.imei)];
        if let Some(token) = token {
            details.push(("attestation_token".into(), token));
        }
        Ok(UnitIdentity {
            device_id,
            model: "nrf91".into(),
            firmware: id.firmware,
            mode: &Nrf91At,
            details,
        })
    }

    fn keygen(&mut self, device_id: &str) -> Result<Vec<u8>, ErrorInfo> {
        let sec_tag = self.sec_tag;
        let reply = self
            .modem()?
            .keygen(sec_tag, Some(&format!("CN={device_id}")))
            .map_err(info)?;
        if let Some(uuid) = reply.device_uuid {
            self.facts.push(("attested_uuid".into(), uuid));
        }
        self.facts.push(("sec_tag".into(), sec_tag.to_string()));
        Ok(reply.csr_der)
    }

    fn write_credentials(&mut self, creds: &Credentials<'_>) -> Result<(), ErrorInfo> {
        let sec_tag = self.sec_tag;
        let broker_ca: String = creds.broker_ca.iter().map(|der| cert_pem(der)).collect();
        // The unit presents its issuing CA after its own certificate.
        let client = format!(
            "{}\n{}",
            lf_pem(&cert_pem(creds.certificate)),
            cert_pem(creds.chain)
        );
        let modem = self.modem()?;
        modem
            .write_verified(sec_tag, ROOT_CA_CERT, &broker_ca)
            .map_err(info)?;
        modem
            .write_verified(sec_tag, CLIENT_CERT, &client)
            .map_err(info)
    }

    fn challenge(&mut self, _nonce: &[u8]) -> Result<Vec<u8>, ErrorInfo> {
        Err(Self::cannot("challenge").info())
    }

    fn sign_tls13(&mut self, _msg: &[u8]) -> Result<Vec<u8>, DeviceError> {
        Err(Self::cannot("sign_tls13"))
    }

    fn lock(&mut self) -> Result<(), ErrorInfo> {
        Err(Self::cannot("lock").info())
    }

    fn take_log(&mut self) -> Vec<String> {
        self.modem.as_mut().map(Nrf91::take_log).unwrap_or_default()
    }

    fn take_facts(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.facts)
    }

    fn close(&mut self) {
        // Back to the functional mode the modem had, whatever happened: a modem left offline
        // does not reach the network in the field.
        if let Some(modem) = self.modem.as_mut() {
            if let Err(e) = modem.leave_offline() {
                tracing::warn!("cannot restore the modem's functional mode: {e}");
            }
        }
    }
}
