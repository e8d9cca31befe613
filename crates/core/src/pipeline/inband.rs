//! In-band provisioning (`[provisioning] mode = "in-band"`): the `issue` step issues the unit a
//! bootstrap certificate for the key it made at keygen, and the `handshake` step runs the
//! dialect's exchange as the unit (its key signs every TLS handshake through the remote
//! signer): connect with the bootstrap identity, send the CSR the unit made at keygen, receive
//! the operational certificate the backend issued on the station's CA, write it to the unit,
//! and prove it with a CONNECT of its own. The unit keeps one key: the bootstrap and the
//! operational certificate certify the same key, the one the unit made and never gave out.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{PipelineError, Run};
use crate::device::protocol::Hello;
use crate::error::{Coded, ErrorInfo};
use crate::journal::{CertFilter, CertStatus, CertificateRecords, KeyOrigin};
use crate::mqtt::dialect::Dialect;
use crate::mqtt::handshake::HandshakeSpec;
use crate::mqtt::inband::{self, DpsRequest, ExchangeFailure, FleetRequest, InbandConnection};
use crate::mqtt::signer::DeviceSigningKey;
use crate::mqtt::tls::{client_config_with, ClientIdentity, TlsOptions};
use crate::mqtt::MqttError;
use crate::pki::{cert_pem, fingerprint, IssuedCert};
use crate::station::issuing;
use crate::station::BrokerProfile;

/// AWS's replies carry no correlation, and a generic broker hands them to every subscriber of
/// the reply topics: two exchanges at once would each take the first answer, perhaps the other
/// unit's (the registry check below would then fail the unit). Sessions of this station run
/// their fleet exchanges one at a time (DPS answers carry the request's id: no lock); other stations on the same broker are the deployment's to
/// keep apart (docs/provisioning-handshake.md).
static EXCHANGE: Mutex<()> = Mutex::new(());

impl Run<'_> {
    pub(super) fn in_band(&self) -> bool {
        self.station.config.provisioning.in_band()
    }

    /// The `issue` step in in-band mode: the bootstrap certificate, recorded and marked.
    pub(super) fn issue_bootstrap(
        &mut self,
        spki_der: &[u8],
        device_id: &str,
        origin: KeyOrigin,
    ) -> Result<IssuedCert, ErrorInfo> {
        self.clear_centrally(device_id)?;
        let cert = issuing::issue_bootstrap_for_device(
            self.issuing(),
            spki_der,
            device_id,
            origin,
            self.clock.now(),
        )?;
        let profile = &self.station.config.provisioning;
        self.inband_log.push(format!(
            "bootstrap certificate {} issued: CN {}, valid {} h until {}, dialect {}",
            cert.serial,
            profile.bootstrap_common_name(device_id),
            profile.bootstrap_validity_hours,
            cert.not_after,
            profile.dialect
        ));
        self.report.bootstrap_serial = Some(cert.serial.clone());
        Ok(cert)
    }

    /// The `handshake` step in in-band mode; returns the operational certificate, written to
    /// the unit and proven on the broker.
    pub(super) fn inband_handshake(
        &mut self,
        hello: &Hello,
        bootstrap: &IssuedCert,
        csr_der: &[u8],
        spki_der: &[u8],
    ) -> Result<IssuedCert, ErrorInfo> {
        let device_id = hello.device_id.clone();
        let profile = self.station.config.provisioning.clone();
        // The backend admits a unit by its active bootstrap certificate.
        self.writer
            .activate_certificate(&bootstrap.serial)
            .map_err(|e| e.info())?;
        let broker = self.station.broker()?.clone();
        let conn = InbandConnection {
            host: broker.host.clone(),
            port: broker.port,
            client_id: profile.bootstrap_common_name(&device_id),
            timeout: Duration::from_secs(broker.timeout_secs.max(1)),
        };
        let dialect = profile.dialect().map_err(|e| e.info())?;
        let (tls, key) = self.unit_tls(bootstrap)?;
        let exchanged = match dialect {
            Dialect::AzureDps => dps_exchange(&conn, &profile.id_scope, csr_der, tls),
            Dialect::Commissioner => self.commissioner_exchange(&conn, hello, csr_der, tls)?,
            Dialect::AwsFleet => {
                let request = FleetRequest {
                    template: profile.template.clone(),
                    csr_pem: csr_pem(csr_der),
                    parameters: serial_parameters(&device_id),
                };
                fleet_exchange(&conn, &request, tls)
            }
        };
        let outcome = match exchanged {
            Ok(outcome) => outcome,
            Err(failure) => {
                self.inband_log.extend(failure.messages);
                return Err(unit_error(&key, failure.error));
            }
        };
        self.inband_log.extend(outcome.messages.iter().cloned());
        let operational = self.operational_from_registry(
            &device_id,
            outcome.der.clone(),
            outcome.certificate_id.as_deref(),
            spki_der,
        )?;
        self.inband_operational = Some(operational.serial.clone());
        self.inband_log.push(format!(
            "operational certificate {} registered and active; writing it to the unit",
            operational.serial
        ));
        self.write(&operational, hello)?;
        let (tls, key) = self.unit_tls(&operational)?;
        let proof = InbandConnection {
            client_id: device_id.clone(),
            ..conn.clone()
        };
        let connack = inband::connect_only(&proof, tls).map_err(|e| unit_error(&key, e))?;
        self.inband_log.push(format!(
            "CONNACK as {device_id} (operational identity {}): {connack}",
            operational.serial
        ));
        let used = super::bootstrap_audit::UsedExchange {
            conn: &conn,
            hello,
            csr_der,
            dialect,
            replay_token: outcome.replay_token.as_deref(),
            operational: &operational,
        };
        self.bootstrap_audit(bootstrap, &used)?;
        self.report.certificate_serial = Some(operational.serial.clone());
        self.report.fingerprint_sha256 = Some(operational.fingerprint.clone());
        Ok(operational)
    }

    /// Commissioner's own request/response as the bootstrap identity, on its own request
    /// topic, with the unit's CSR: Completed carries the operational certificate. The outer
    /// error is the session's stop; the inner one the exchange's.
    pub(super) fn commissioner_exchange(
        &self,
        conn: &InbandConnection,
        hello: &Hello,
        csr_der: &[u8],
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<Result<Exchanged, ExchangeFailure>, ErrorInfo> {
        let broker = self.station.broker()?.clone();
        let cn = &conn.client_id;
        let request_topic = BrokerProfile::topic(&broker.request_topic, cn);
        let spec = HandshakeSpec {
            host: conn.host.clone(),
            port: conn.port,
            client_id: cn.clone(),
            request_topic: request_topic.clone(),
            response_topic: BrokerProfile::topic(&broker.response_topic, cn),
            user_properties: vec![
                ("deviceType".into(), hello.model.clone()),
                ("firmwareVersion".into(), hello.fw_version.clone()),
                ("stationId".into(), self.station.config.station_id.clone()),
                ("provisioning".into(), "in-band".into()),
            ],
            payload: inband::commissioner_request(cn, csr_der, &self.station.config.station_id),
            timeout: conn.timeout,
            connect_timeout: Duration::from_secs(broker.connect_timeout_secs),
            // The bootstrap identity keeps nothing on the broker once the exchange is over.
            session_expiry_secs: 0,
        };
        let mut messages = vec![format!(
            "-> {request_topic} as {cn} (bootstrap identity; CSR {} bytes, MQTT {:?})",
            csr_der.len(),
            broker.mqtt_version
        )];
        let outcome =
            match self.broker_wait(spec, tls, broker.mqtt_version, broker.retry.clone())? {
                Ok(outcome) => outcome,
                Err(error) => {
                    messages.push(format!("<- {error}"));
                    return Ok(Err(ExchangeFailure { error, messages }));
                }
            };
        let chain = inband::commissioner_chain(&outcome.reply_body);
        messages.push(format!(
            "<- {} after {} ms ({} Pending): certificate chain of {}",
            outcome.status,
            outcome.total_millis,
            outcome.pending_polls,
            chain.len()
        ));
        Ok(match chain.into_iter().next() {
            Some(der) => Ok(Exchanged {
                der,
                certificate_id: None,
                messages,
                replay_token: None,
            }),
            None => Err(ExchangeFailure {
                error: MqttError::BadStatus(
                    "Completed without a certificateChain for the CSR".into(),
                ),
                messages,
            }),
        })
    }

    /// Hands the broker a CRL with the latest revocation, so a retired certificate stops
    /// opening it now rather than at the next `lab reload` or `ca crl`. A failure is noted, not
    /// fatal: the unit is commissioned and the revocation recorded; the backend refuses a used
    /// bootstrap anyway.
    pub(super) fn publish_crl(&mut self) {
        use crate::mqtt::audit::session::{publish_crl_to_broker, CrlPublished};
        let note = match publish_crl_to_broker(self.station, self.ca) {
            Ok(CrlPublished::Hook) => "CRL published through the profile's crl_hook".to_owned(),
            Ok(CrlPublished::LabBroker(pid)) => {
                format!("CRL written to the lab broker (mosquitto pid {pid}) and reloaded")
            }
            Ok(CrlPublished::Nowhere) => "no crl_hook and no lab broker: the broker learns of \
                 the revocation when its CRL is next published (`commissioner ca crl`)"
                .to_owned(),
            Err(e) => format!("the CRL could not be published: {} ({e})", e.code()),
        };
        self.inband_log.push(note);
    }

    /// A failed session revokes what it issued and never confirmed; the operational
    /// certificate of an in-band exchange was activated by the backend, so the session revokes
    /// it here (cessation of operation), and the unit leaves with nothing usable.
    pub(super) fn withdraw_inband_operational(&mut self) {
        let Some(serial) = self.inband_operational.take() else {
            return;
        };
        let revoked = crate::station::admin::revoke(
            self.journal,
            crate::station::admin::RevokeTarget::Serial(&serial),
            crate::pki::revoke::Reason::CessationOfOperation,
            self.clock.now(),
        );
        match revoked {
            Ok(_) => self.report.certificate_serial = Some(serial),
            Err(e) => tracing::error!("cannot revoke the in-band certificate {serial}: {e}"),
        }
    }

    /// Revokes the bootstrap certificate (reason superseded) once the operational one is
    /// proven. The backend's RegisterThing already retired it when it activated the
    /// operational one; this makes sure, whatever backend ran, and journals it. The operational
    /// certificate belongs to the backend's session, sealed by now, so it does not get the
    /// `supersedes` link a recommission records.
    pub(super) fn revoke_bootstrap(&mut self, serial: &str) -> Result<(), ErrorInfo> {
        crate::station::admin::revoke(
            self.journal,
            crate::station::admin::RevokeTarget::Serial(serial),
            crate::pki::revoke::Reason::Superseded,
            self.clock.now(),
        )
        .map_err(|e| e.info())?;
        self.inband_log.push(format!(
            "bootstrap certificate {serial} revoked (superseded)"
        ));
        self.publish_crl();
        Ok(())
    }

    /// TLS as the unit with `cert`: the unit's key signs through the serial link.
    pub(super) fn unit_tls(
        &self,
        cert: &IssuedCert,
    ) -> Result<(Arc<rustls::ClientConfig>, DeviceSigningKey), ErrorInfo> {
        let link = self.link.clone().ok_or_else(crate::device::not_open)?;
        let key = DeviceSigningKey::new(link);
        let broker = self.station.broker()?;
        let tls = client_config_with(
            &self.broker_trust_anchors()?,
            ClientIdentity::Remote {
                chain: vec![
                    CertificateDer::from(cert.der.clone()),
                    CertificateDer::from(self.ca.issuing_der().to_vec()),
                ],
                key: Arc::new(key.clone()),
            },
            &TlsOptions::of_profile(broker),
        )?;
        Ok((tls, key))
    }

    /// The certificate the backend answered with, as the registry holds it: it must be the
    /// unit's, for the unit's own key, and active; anything else is not the unit's identity.
    fn operational_from_registry(
        &self,
        device_id: &str,
        der: Vec<u8>,
        certificate_id: Option<&str>,
        spki_der: &[u8],
    ) -> Result<IssuedCert, ErrorInfo> {
        let mismatch = |why: String| PipelineError::InbandCertificate(why).info();
        let sha256 = fingerprint(&der);
        if let Some(id) = certificate_id.filter(|id| !sha256.eq_ignore_ascii_case(id)) {
            return Err(mismatch(format!(
                "certificateId {id} is not the certificate's fingerprint {sha256}"
            )));
        }
        // The SubjectPublicKeyInfo sits verbatim in the certificate.
        if !der.windows(spki_der.len()).any(|w| w == spki_der) {
            return Err(mismatch(
                "the operational certificate does not certify the unit's key".into(),
            ));
        }
        let entry = self
            .journal
            .list_certificates(&CertFilter {
                device_id: Some(device_id),
                search: Some(&sha256),
                ..CertFilter::default()
            })
            .map_err(|e| e.info())?
            .into_iter()
            .find(|c| c.sha256.eq_ignore_ascii_case(&sha256))
            .ok_or_else(|| {
                mismatch(format!(
                    "the operational certificate {sha256} is not in this station's registry for {device_id}"
                ))
            })?;
        if entry.status != CertStatus::Active {
            return Err(mismatch(format!(
                "the operational certificate {} is {}, not active",
                entry.serial, entry.status
            )));
        }
        let time = |t: &str| {
            OffsetDateTime::parse(t, &Rfc3339)
                .map_err(|_| mismatch(format!("unreadable registry date {t}")))
        };
        Ok(IssuedCert {
            pem: cert_pem(&der),
            der,
            serial: entry.serial,
            fingerprint: sha256,
            not_before: time(&entry.not_before)?,
            not_after: time(&entry.not_after)?,
        })
    }
}

/// What an exchange answered: the operational certificate (DER), the id the backend gave it
/// (AWS's certificateId), and the messages both ways.
pub(super) struct Exchanged {
    der: Vec<u8>,
    certificate_id: Option<String>,
    messages: Vec<String>,
    /// aws-fleet's ownership token, kept in memory for the replay check only.
    replay_token: Option<String>,
}

pub(super) fn fleet_exchange(
    conn: &InbandConnection,
    request: &FleetRequest,
    tls: Arc<rustls::ClientConfig>,
) -> Result<Exchanged, ExchangeFailure> {
    let outcome = {
        let _one_at_a_time = EXCHANGE.lock().unwrap_or_else(|p| p.into_inner());
        inband::aws_fleet_exchange(conn, request, tls)?
    };
    let pem = outcome.created.certificate_pem.as_bytes();
    let der = rustls_pki_types::pem::PemObject::from_pem_slice(pem)
        .map(|c: CertificateDer<'_>| c.to_vec());
    match der {
        Ok(der) => Ok(Exchanged {
            der,
            certificate_id: Some(outcome.created.certificate_id),
            messages: outcome.messages,
            replay_token: Some(outcome.created.certificate_ownership_token),
        }),
        Err(_) => Err(ExchangeFailure {
            error: MqttError::BadStatus(
                "CreateCertificateFromCsr accepted, its certificatePem is not a certificate".into(),
            ),
            messages: outcome.messages,
        }),
    }
}

pub(super) fn dps_exchange(
    conn: &InbandConnection,
    id_scope: &str,
    csr_der: &[u8],
    tls: Arc<rustls::ClientConfig>,
) -> Result<Exchanged, ExchangeFailure> {
    let request = DpsRequest {
        id_scope: id_scope.to_owned(),
        csr_der: csr_der.to_vec(),
    };
    let outcome = inband::azure_dps_exchange(conn, &request, tls)?;
    match outcome.chain.into_iter().next() {
        Some(der) => Ok(Exchanged {
            der,
            certificate_id: None,
            messages: outcome.messages,
            replay_token: None,
        }),
        None => Err(ExchangeFailure {
            error: MqttError::BadStatus(
                "DPS assigned the registration without issuing a certificate for the CSR".into(),
            ),
            messages: outcome.messages,
        }),
    }
}

/// A failed exchange: the unit's own reason when its signature failed, else the broker's or
/// the backend's.
fn unit_error(key: &DeviceSigningKey, e: MqttError) -> ErrorInfo {
    super::audit::signature_failure(key).unwrap_or_else(|| {
        if key.was_asked_tls12() {
            MqttError::UnitTls12.info()
        } else {
            e.info()
        }
    })
}

/// RegisterThing's parameters: the unit's serial number.
pub(super) fn serial_parameters(device_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("SerialNumber".to_owned(), device_id.to_owned())])
}

/// PEM of a DER certificate request, as the AWS dialect carries it.
pub(super) fn csr_pem(der: &[u8]) -> String {
    cert_pem(der).replace("CERTIFICATE-----", "CERTIFICATE REQUEST-----")
}
