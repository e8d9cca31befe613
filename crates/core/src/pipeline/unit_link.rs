//! The pipeline's steps for a family that brings its own link ([`UnitLink`]): the same steps
//! in the same order; the capabilities of the mode the unit turned out to speak decide which
//! run, and every other step is reported skipped with the family's reason.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::device::family::{
    Credentials, LinkRequest, LinkSigner, SharedLink, UnitIdentity, UnitLink,
};
use crate::error::{Coded, ErrorInfo};
use crate::journal::{CertificateRecords, KeyOrigin};
use crate::mqtt::signer::DeviceSigningKey;
use crate::pki::pop;
use crate::station::issuing;

use super::connect::AsUnit;
use super::{PipelineError, Run, HOST_KEY_NO_CSR};

impl Run<'_> {
    /// Runs the session through the family's link, if the family opens one; `None` for the
    /// families the pipeline drives itself.
    pub(super) fn steps_through_link(&mut self) -> Option<Result<(), ErrorInfo>> {
        let req = LinkRequest {
            port: self.req.port,
            baud: self.req.baud,
            timeouts: self.opts.timeouts,
            interrupt: &self.interrupt,
            config: &self.station.config,
        };
        // Opening is part of identify: a port that will not open fails that step.
        let opened = self.family.open(&req)?;
        let outcome = self.link_steps(opened);
        if let Ok(mut unit) = self.unit() {
            unit.close();
        }
        Some(outcome)
    }

    fn link_steps(
        &mut self,
        opened: Result<Box<dyn UnitLink>, ErrorInfo>,
    ) -> Result<(), ErrorInfo> {
        let id = self.step("identify", |run| {
            run.unit = Some(Arc::new(Mutex::new(opened?)));
            run.link_identify()
        })?;
        let device_id = id.device_id.clone();
        if self.in_band() {
            // Refused before any key or certificate, in a journalled step: in-band provisioning
            // here runs through the reference protocol's signer and certificate slots.
            let family = self.family.name();
            return self.step("keygen", |_| {
                Err(PipelineError::InbandFamily(family.to_owned()).into())
            });
        }
        let caps = self.family.capabilities();
        let mut host_key_pem = None;
        let (spki_der, origin) = if caps.key_on_unit {
            let csr = self.step("keygen", |run| {
                let mut unit = run.unit()?;
                let csr = unit.keygen(&device_id)?;
                let facts = unit.take_facts();
                drop(unit);
                run.report.family_details.extend(facts);
                Ok(csr)
            })?;
            (self.validate_csr_step(&csr, &device_id)?, KeyOrigin::Device)
        } else {
            // Only where the profile allows host-made keys; recorded as such.
            let key = self.step("keygen", |run| {
                Ok(issuing::host_key(
                    run.station,
                    run.journal,
                    &device_id,
                    run.opts.recommission,
                )?)
            })?;
            self.skip_step("validate_csr", HOST_KEY_NO_CSR);
            host_key_pem = Some(key.to_pem()?);
            (key.spki_der().to_vec(), KeyOrigin::Host)
        };
        self.key_origin = Some(origin);
        let cert = self.step("issue", |run| run.issue(&spki_der, &device_id, origin))?;
        self.step("write_cert", |run| {
            let broker_ca = run.broker_trust_anchors()?;
            let creds = Credentials {
                certificate: &cert.der,
                chain: run.ca.issuing_der(),
                broker_ca: &broker_ca,
                host_key_pem: host_key_pem.as_deref().map(String::as_str),
            };
            run.unit()?.write_credentials(&creds)
        })?;
        drop(host_key_pem);
        if let Some(why) = self.family.skip_reason("prove_possession") {
            self.skip_step("prove_possession", &why);
        } else {
            self.step("prove_possession", |run| {
                let nonce: [u8; 32] = rand::random();
                let sig = run.unit()?.challenge(&nonce)?;
                Ok(pop::verify(&cert.der, &nonce, &sig)?)
            })?;
        }
        if let Some(why) = self.handshake_skip_reason() {
            self.skip_step("handshake", &why);
            self.skip_step("audit", &why);
        } else {
            let link = self.shared_unit()?;
            let as_unit = AsUnit {
                device_id: &id.device_id,
                model: &id.model,
                fw_version: &id.firmware,
            };
            let key = DeviceSigningKey::new(Arc::new(LinkSigner(link)));
            self.step("handshake", |run| run.handshake_as(&as_unit, key, &cert))?;
            self.after_handshake(&cert, &device_id)?;
        }
        if let Some(why) = self.family.skip_reason("lock") {
            self.skip_step("lock", &why);
        } else {
            self.step("lock", |run| run.unit()?.lock())?;
        }
        self.writer
            .activate_certificate(&cert.serial)
            .map_err(|e| e.info())?;
        Ok(())
    }

    /// The `validate_csr` step: the CSR against the station's policy; its public key.
    pub(super) fn validate_csr_step(
        &mut self,
        csr: &[u8],
        device_id: &str,
    ) -> Result<Vec<u8>, ErrorInfo> {
        let validated = self.step("validate_csr", |run| {
            Ok(issuing::validate_csr(
                run.station,
                run.journal,
                csr,
                device_id,
                run.opts.recommission,
            )?)
        })?;
        Ok(validated.spki_der)
    }

    fn link_identify(&mut self) -> Result<UnitIdentity, ErrorInfo> {
        let id = self.unit()?.identify()?;
        // The mode the unit speaks decides which steps run and what the session may claim.
        self.family = id.mode;
        self.station
            .config
            .device_ids
            .check(&id.device_id, &self.station.dir)?;
        issuing::check_not_service(self.journal, &id.device_id)?;
        self.writer
            .set_identity(
                self.report.session_id,
                &id.device_id,
                &id.model,
                &id.firmware,
            )
            .map_err(|e| e.info())?;
        self.report.device_id = Some(id.device_id.clone());
        self.report.model = Some(id.model.clone());
        self.report.firmware = Some(id.firmware.clone());
        for (k, v) in &id.details {
            self.report.family_details.insert(k.clone(), v.clone());
        }
        Ok(id)
    }

    fn shared_unit(&self) -> Result<SharedLink, ErrorInfo> {
        self.unit.clone().ok_or_else(crate::device::not_open)
    }

    fn unit(&self) -> Result<MutexGuard<'_, Box<dyn UnitLink>>, ErrorInfo> {
        self.unit
            .as_ref()
            .map(|l| l.lock().unwrap_or_else(|p| p.into_inner()))
            .ok_or_else(crate::device::not_open)
    }

    /// Device log lines the link saw since the last step.
    pub(super) fn unit_log(&self) -> Vec<String> {
        self.unit
            .as_ref()
            .map(|l| l.lock().unwrap_or_else(|p| p.into_inner()).take_log())
            .unwrap_or_default()
    }
}
