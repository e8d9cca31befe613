//! The pipeline's steps for the nRF91 AT family: the same steps in the same order, each done
//! with AT commands; what a modem cannot do is reported skipped by the family's reasons.

use std::time::Duration;

use base64::Engine;

use crate::device::nrf91::{self, AtTimeouts, Nrf91, Nrf91Error, CLIENT_CERT, ROOT_CA_CERT};
use crate::device::DeviceError;
use crate::error::{Coded, ErrorInfo};
use crate::journal::{CertificateRecords, KeyOrigin};

use super::Run;

/// The modem link the nRF91 steps share.
pub(super) type Modem = Nrf91<Box<dyn serialport::SerialPort>>;

/// Read timeout of the port itself; bounds how late a reply's deadline is noticed.
const PORT_POLL: Duration = Duration::from_millis(20);

impl Run<'_> {
    pub(super) fn steps_nrf91(&mut self) -> Result<(), ErrorInfo> {
        let outcome = self.nrf91_credential_steps();
        // Back to the functional mode the modem had, whatever happened: a modem left offline
        // does not reach the network in the field.
        if let Some(modem) = self.modem.as_mut() {
            if let Err(e) = modem.leave_offline() {
                tracing::warn!("cannot restore the modem's functional mode: {e}");
            }
        }
        outcome
    }

    fn nrf91_credential_steps(&mut self) -> Result<(), ErrorInfo> {
        let sec_tag = self.station.config.nrf91.sec_tag.get();
        let device_id = self.step("identify", |run| run.nrf91_identify())?;
        let csr = self.step("keygen", |run| {
            let reply = run
                .modem()?
                .keygen(sec_tag, Some(&format!("CN={device_id}")))
                .map_err(info)?;
            if let Some(uuid) = &reply.device_uuid {
                run.report
                    .family_details
                    .insert("attested_uuid".into(), uuid.clone());
            }
            run.report
                .family_details
                .insert("sec_tag".into(), sec_tag.to_string());
            Ok(reply.csr_der)
        })?;
        let spki_der = self.validate_csr_step(&csr, &device_id)?;
        self.key_origin = Some(KeyOrigin::Device);
        let cert = self.step("issue", |run| {
            run.issue(&spki_der, &device_id, KeyOrigin::Device)
        })?;
        self.step("write_cert", |run| {
            let anchors = run.broker_trust_anchors()?;
            let broker_ca = anchors
                .iter()
                .map(|der| pem("CERTIFICATE", der))
                .collect::<String>();
            let client = format!(
                "{}{}",
                nrf91::lf_pem(&cert.pem),
                format_args!("\n{}", pem("CERTIFICATE", run.ca.issuing_der()))
            );
            let modem = run.modem()?;
            modem
                .write_verified(sec_tag, ROOT_CA_CERT, &broker_ca)
                .map_err(info)?;
            modem
                .write_verified(sec_tag, CLIENT_CERT, &client)
                .map_err(info)?;
            Ok(())
        })?;
        for step in ["prove_possession", "handshake", "audit", "lock"] {
            if let Some(why) = self.family.skip_reason(step) {
                self.skip_step(step, &why);
            }
        }
        self.writer
            .activate_certificate(&cert.serial)
            .map_err(|e| e.info())?;
        Ok(())
    }

    fn nrf91_identify(&mut self) -> Result<String, ErrorInfo> {
        let port = serialport::new(self.req.port, self.req.baud)
            .timeout(PORT_POLL)
            .open()
            .map_err(|source| {
                DeviceError::Open {
                    path: self.req.port.to_owned(),
                    source,
                }
                .info()
            })?;
        let t = &self.opts.timeouts;
        let timeouts = AtTimeouts {
            command: t.other.max(t.write),
            keygen: t.keygen,
        };
        let modem = Nrf91::connect(port, timeouts).map_err(info)?;
        self.modem = Some(modem.with_interrupt(self.interrupt.clone()));
        let modem = self.modem()?;
        let id = modem.identify().map_err(info)?;
        let token = modem.attestation_token().map_err(info)?;
        // Credential work needs the modem offline (CME 518 otherwise).
        modem.go_offline().map_err(info)?;
        let device_id = id
            .device_uuid
            .clone()
            .unwrap_or_else(|| format!("nrf91-{}", id.imei));
        self.station
            .config
            .device_ids
            .check(&device_id, &self.station.dir)?;
        crate::station::issuing::check_not_service(self.journal, &device_id)?;
        self.writer
            .set_identity(self.report.session_id, &device_id, "nrf91", &id.firmware)
            .map_err(|e| e.info())?;
        self.report.device_id = Some(device_id.clone());
        self.report.model = Some("nrf91".into());
        self.report.firmware = Some(id.firmware.clone());
        let details = &mut self.report.family_details;
        details.insert("imei".into(), id.imei);
        if let Some(token) = token {
            details.insert("attestation_token".into(), token);
        }
        Ok(device_id)
    }

    fn modem(&mut self) -> Result<&mut Modem, ErrorInfo> {
        self.modem.as_mut().ok_or_else(|| ErrorInfo {
            code: "device.not_open".into(),
            message: "the serial port is not open".into(),
            detail: None,
        })
    }
}

fn info(e: Nrf91Error) -> ErrorInfo {
    e.info()
}

/// PEM with LF line endings, as the modem wants it.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
