//! The bootstrap identity's audit at the end of the in-band `handshake` step: as the unit,
//! with the bootstrap certificate it just traded, the broker must confine it and the backend
//! must refuse to serve it again (`mqtt::audit::bootstrap` judges the answers).

use std::time::Duration;

use super::audit::signature_failure;
use super::inband::{csr_pem, dps_exchange, fleet_exchange, serial_parameters};
use super::Run;
use crate::device::protocol::Hello;
use crate::error::ErrorInfo;
use crate::mqtt::audit::bootstrap::{self as bootstrap_checks, BootstrapProbe};
use crate::mqtt::dialect::Dialect;
use crate::mqtt::inband::{self, FleetRequest, InbandConnection};
use crate::pki::IssuedCert;
use crate::station::BrokerProfile;

/// The exchange just made, as the bootstrap audit repeats it.
pub(super) struct UsedExchange<'a> {
    pub(super) conn: &'a InbandConnection,
    pub(super) hello: &'a Hello,
    pub(super) csr_der: &'a [u8],
    pub(super) dialect: Dialect,
    pub(super) replay_token: Option<&'a str>,
    /// The operational certificate just proven: the unit publishes with it while the
    /// bootstrap listens.
    pub(super) operational: &'a IssuedCert,
}

impl Run<'_> {
    /// The bootstrap identity's audit, as the unit, once its operational certificate is
    /// proven: the bootstrap reaches nothing beyond its in-band topics, cannot obtain a
    /// certificate again, and the exchange's last message cannot be replayed. Recorded with the
    /// session's audit checks; a broker or backend that fails one fails the unit.
    pub(super) fn bootstrap_audit(
        &mut self,
        bootstrap: &IssuedCert,
        used: &UsedExchange<'_>,
    ) -> Result<(), ErrorInfo> {
        let broker = self.station.broker()?.clone();
        let conn = used.conn;
        let device_id = &used.hello.device_id;
        let (tls, key) = self.unit_tls(bootstrap)?;
        let probe = BootstrapProbe {
            host: conn.host.clone(),
            port: conn.port,
            client_id: conn.client_id.clone(),
            version: broker.mqtt_version,
            timeout: conn.timeout,
        };
        // The unit's own operational topics (a bootstrap must not act as the unit, nor forge
        // its answers), and a topic nobody was given.
        let forbidden = vec![
            BrokerProfile::topic(&broker.request_topic, device_id),
            BrokerProfile::topic(&broker.response_topic, device_id),
            format!("commissioner/audit/{}", conn.client_id),
        ];
        let (unit_tls, unit_key) = self.unit_tls(used.operational)?;
        let witness = bootstrap_checks::Witness {
            tls: unit_tls,
            client_id: device_id.clone(),
        };
        let wait = Duration::from_millis(broker.audit.delivery_wait_ms);
        let mut checks = vec![bootstrap_checks::reach(
            &probe,
            tls.clone(),
            &forbidden,
            Some(witness),
            wait,
        )];
        let again = match used.dialect {
            Dialect::AzureDps => dps_exchange(
                conn,
                &self.station.config.provisioning.id_scope,
                used.csr_der,
                tls.clone(),
            ),
            Dialect::Commissioner => {
                self.commissioner_exchange(conn, used.hello, used.csr_der, tls.clone())?
            }
            Dialect::AwsFleet => {
                let request = FleetRequest {
                    template: self.station.config.provisioning.template.clone(),
                    csr_pem: csr_pem(used.csr_der),
                    parameters: serial_parameters(device_id),
                };
                fleet_exchange(conn, &request, tls.clone())
            }
        };
        checks.push(bootstrap_checks::judge_repeat(
            "bootstrap_reuse",
            "a new exchange with the used bootstrap",
            again.map_err(|f| f.error),
        ));
        checks.push(match used.replay_token {
            Some(token) => bootstrap_checks::judge_repeat(
                "bootstrap_replay",
                "RegisterThing replayed with the used ownership token",
                inband::replay_register_thing(
                    conn,
                    &self.station.config.provisioning.template,
                    token,
                    &serial_parameters(device_id),
                    tls,
                )
                .map_err(|f| f.error),
            ),
            None => bootstrap_checks::not_applicable(
                "bootstrap_replay",
                "a one-message exchange: replaying it is what bootstrap_reuse tried",
            ),
        });
        if let Some(e) = signature_failure(&key).or_else(|| signature_failure(&unit_key)) {
            return Err(e);
        }
        for c in &checks {
            self.inband_log.push(format!(
                "audit {}: {} ({})",
                c.name,
                c.outcome.as_str(),
                c.evidence
            ));
        }
        self.judge_checks(&checks)
    }
}
