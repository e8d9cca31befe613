//! The handshake step: the broker's trust anchors from the station profile, and the MQTT v5
//! provisioning handshake with the unit's new identity (the unit signs over serial).

use rustls_pki_types::pem::PemObject;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use rustls_pki_types::CertificateDer;

use super::{PipelineError, Run};
use crate::device::protocol::Hello;
use crate::device::DeviceError;
use crate::error::{Coded, ErrorInfo};
use crate::mqtt::handshake::{self, HandshakeOutcome, HandshakeSpec};
use crate::mqtt::retry::with_retry_now;
use crate::mqtt::signer::DeviceSigningKey;
use crate::mqtt::tls::{client_config_with, ClientIdentity, TlsOptions};
use crate::mqtt::{handshake_v311, MqttError};
use crate::pki::IssuedCert;
use crate::station::{BrokerProfile, MqttVersion, RetryPolicy};

/// The assurance note of a session whose broker turned TLS 1.3 down.
const BROKER_TLS12_ONLY: &str = "the broker speaks TLS 1.2 only";

/// Who the handshake speaks as.
pub(super) struct AsUnit<'a> {
    pub device_id: &'a str,
    pub model: &'a str,
    pub fw_version: &'a str,
}

/// How often the session looks at its cancel and deadline while the broker is busy.
const BROKER_WAIT_POLL: Duration = Duration::from_millis(20);

impl Run<'_> {
    pub(super) fn broker_trust_anchors(&self) -> Result<Vec<Vec<u8>>, ErrorInfo> {
        let broker = self.station.broker()?;
        let path = self.station.resolve(&broker.server_ca);
        let pem = std::fs::read(&path).map_err(|e| PipelineError::BrokerCa {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let ders: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(pem.as_slice())
            .filter_map(Result::ok)
            .map(|c| c.to_vec())
            .collect();
        if ders.is_empty() {
            return Err(PipelineError::BrokerCa {
                path: path.display().to_string(),
                reason: "no certificate in file".into(),
            }
            .into());
        }
        Ok(ders)
    }

    /// The request payload: the profile's template, or the built-in one.
    fn request_payload(
        &self,
        broker: &BrokerProfile,
        hello: &AsUnit<'_>,
        cert: &IssuedCert,
    ) -> String {
        let station_id = &self.station.config.station_id;
        match &broker.payload_template {
            Some(template) => BrokerProfile::render_payload(
                template,
                &[
                    ("device_id", hello.device_id),
                    ("model", hello.model),
                    ("firmware_version", hello.fw_version),
                    ("certificate_serial", &cert.serial),
                    ("station_id", station_id),
                ],
            ),
            None => serde_json::json!({
                "deviceId": hello.device_id,
                "model": hello.model,
                "firmwareVersion": hello.fw_version,
                "certificateSerial": cert.serial,
                "stationId": station_id,
            })
            .to_string(),
        }
    }

    /// Runs the handshake (with the profile's retries) on a thread of its own and waits for it
    /// while watching the session's cancel and the step's deadline. On a stop the session
    /// moves on at once; the thread sees the stop before its next attempt, and its device
    /// signatures fail at once, so it ends within one broker timeout and then lets the port go.
    pub(super) fn broker_wait(
        &self,
        spec: HandshakeSpec,
        tls: Arc<ClientConfig>,
        version: MqttVersion,
        retry: RetryPolicy,
    ) -> Result<Result<HandshakeOutcome, MqttError>, ErrorInfo> {
        let (tx, rx) = mpsc::channel();
        let interrupt = self.interrupt.clone();
        let spawned = thread::Builder::new()
            .name(format!("handshake-{}", spec.client_id))
            .spawn(move || {
                let outcome = with_retry_now(&retry, || {
                    if let Some(why) = interrupt.check(Instant::now()) {
                        // Not retryable: the retry loop ends here.
                        return Err(MqttError::Config(format!("handshake stopped ({why:?})")));
                    }
                    match version {
                        MqttVersion::V5 => handshake::run(&spec, tls.clone()),
                        MqttVersion::V311 => handshake_v311::run(&spec, tls.clone()),
                    }
                });
                // The receiver is gone only when the session already moved on after a stop.
                let _ = tx.send(outcome);
            });
        if let Err(e) = spawned {
            return Err(MqttError::Connection(format!("cannot start the handshake: {e}")).info());
        }
        loop {
            match rx.recv_timeout(BROKER_WAIT_POLL) {
                Ok(outcome) => return Ok(outcome),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(why) = self.interrupt.check(Instant::now()) {
                        return Err(DeviceError::Stopped {
                            op: "handshake",
                            why,
                        }
                        .info());
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Ok(Err(MqttError::Connection(
                        "the handshake thread ended without an outcome".into(),
                    )))
                }
            }
        }
    }

    /// Why the handshake (and the audit after it) is left out: the family cannot sign for it,
    /// or the profile allows TLS 1.2 and the broker turns a TLS 1.3 offer down, which the unit
    /// cannot sign for (it signs TLS 1.3 input only, so that its key is no signing oracle).
    /// The probe costs one ServerHello, and only on profiles that allow TLS 1.2.
    pub(super) fn handshake_skip_reason(&mut self) -> Option<String> {
        if let Some(why) = self.family.skip_reason("handshake") {
            return Some(why);
        }
        let broker = self.station.broker().ok()?;
        if !broker.tls12_allowed {
            return None;
        }
        let anchors = self.broker_trust_anchors().ok()?;
        if crate::mqtt::audit::accepts_tls13(broker, &anchors) != Some(false) {
            return None;
        }
        self.handshake_note = Some(BROKER_TLS12_ONLY);
        Some(format!(
            "{BROKER_TLS12_ONLY}: the unit signs TLS 1.3 handshakes only, so its first \
             connection is its own (the profile allows TLS 1.2; recorded as weaker)"
        ))
    }

    pub(super) fn handshake(&mut self, hello: &Hello, cert: &IssuedCert) -> Result<(), ErrorInfo> {
        let link = self.link.clone().ok_or_else(crate::device::not_open)?;
        let unit = AsUnit {
            device_id: &hello.device_id,
            model: &hello.model,
            fw_version: &hello.fw_version,
        };
        self.handshake_as(&unit, DeviceSigningKey::new(link), cert)
    }

    /// The handshake with `key` signing for the unit (whatever link carries its signatures).
    pub(super) fn handshake_as(
        &mut self,
        hello: &AsUnit<'_>,
        key: DeviceSigningKey,
        cert: &IssuedCert,
    ) -> Result<(), ErrorInfo> {
        let broker: BrokerProfile = self.station.broker()?.clone();
        let anchors = self.broker_trust_anchors()?;
        let tls = client_config_with(
            &anchors,
            ClientIdentity::Remote {
                chain: vec![
                    CertificateDer::from(cert.der.clone()),
                    CertificateDer::from(self.ca.issuing_der().to_vec()),
                ],
                key: Arc::new(key.clone()),
            },
            // TLS 1.2 where the profile allows it: a unit's key refuses to sign it
            // (mqtt.unit_tls12), but the station says so instead of "no version in common".
            &TlsOptions::of_profile(&broker),
        )?;
        let id = hello.device_id;
        let spec = HandshakeSpec {
            host: broker.host.clone(),
            port: broker.port,
            client_id: id.to_owned(),
            request_topic: BrokerProfile::topic(&broker.request_topic, id),
            response_topic: BrokerProfile::topic(&broker.response_topic, id),
            user_properties: vec![
                ("deviceType".into(), hello.model.to_owned()),
                ("firmwareVersion".into(), hello.fw_version.to_owned()),
                ("stationId".into(), self.station.config.station_id.clone()),
            ],
            payload: self.request_payload(&broker, hello, cert).into_bytes(),
            timeout: Duration::from_secs(broker.timeout_secs),
            connect_timeout: Duration::from_secs(broker.connect_timeout_secs),
            session_expiry_secs: broker.session_expiry_secs,
        };
        let outcome = self.broker_wait(spec, tls, broker.mqtt_version, broker.retry.clone())?;
        match outcome {
            Ok(_) => Ok(()),
            Err(_) if key.was_asked_tls12() => Err(MqttError::UnitTls12.info()),
            // A failed device signature surfaces as a TLS failure; report the device's reason.
            // Unplugged or restarted mid-handshake: the session is interrupted, not failed; a
            // signature abandoned on cancel or deadline: the pipeline names the step.
            Err(e) => Err(super::audit::signature_failure(&key).unwrap_or_else(|| {
                // The retry loop saw the stop before the broker wait did.
                match self.interrupt.check(Instant::now()) {
                    Some(why) => DeviceError::Stopped {
                        op: "handshake",
                        why,
                    }
                    .info(),
                    None => e.info(),
                }
            })),
        }
    }
}
