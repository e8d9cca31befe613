//! The lab broker for in-band provisioning: ACL entries that give each expected unit's bootstrap
//! identity its in-band topics and nothing else, the backend's side of those topics, and the
//! dialect's responder (aws-fleet or azure-dps) beside the station's own.
//!
//! A bootstrap identity is a user (certificate CN) of its own, so it gets a `user` block. The
//! ACL's `pattern` lines apply to every user, bootstrap ones included, so each block also
//! denies the unit topics those patterns would grant: mosquitto checks a user's denials before
//! any grant.

use std::collections::BTreeMap;

use super::{
    backend_tls, config::LabKind, responder_config, station_responder_config, Lab, LabError,
    BACKEND_IDENTITY,
};
use crate::mqtt::dialect::{aws_fleet, azure_dps, Dialect};
use crate::mqtt::responder::bootstrap::InbandIssuer;
use crate::mqtt::responder::commissioner::CommissionerBackend;
use crate::mqtt::responder::dps::{DpsAllocation, DpsBackend};
use crate::mqtt::responder::fleet::{FleetBackend, FleetTemplates};
use crate::mqtt::responder::{DialectBackend, Responder};
use crate::pki::UnlockedCa;
use crate::station::Station;

/// Client id of the lab's in-band responder: its own, so that it does not take over the station
/// responder's session (both connect as the backend identity).
pub const FLEET_CLIENT_ID: &str = "commissioner-backend-fleet";

/// The ACL lines of the AWS fleet exchange for `template`: the backend's side, and one block per
/// bootstrap common name.
pub fn aws_fleet_acl(template: &str, bootstrap_cns: &[String]) -> String {
    let create = aws_fleet::CREATE_FROM_CSR_TOPIC;
    let register = aws_fleet::register_thing_topic(template);
    let mut out = format!(
        "\n# In-band provisioning (aws-fleet, template {template}).\n\
         # The backend answers every unit's fleet requests.\n\
         user {BACKEND_IDENTITY}\n\
         topic read {create}\n\
         topic write {create}/+\n\
         topic read {filter}\n\
         topic write {filter}/+\n",
        filter = aws_fleet::REGISTER_THING_FILTER,
    );
    for cn in bootstrap_cns {
        out.push_str(&format!(
            "\n# Bootstrap identity {cn}: its in-band requests and their replies only.\n\
             user {cn}\n\
             topic deny provisioning/#\n\
             topic write {create}\n\
             topic read {create}/+\n\
             topic write {register}\n\
             topic read {register}/+\n"
        ));
    }
    out
}

/// The ACL lines of the Azure DPS exchange: the backend's side, and one block per bootstrap
/// common name. DPS topics name no unit, so every bootstrap identity reads the one answer
/// topic; answers carry the request's random id and nothing secret (certificates are public).
pub fn azure_dps_acl(bootstrap_cns: &[String]) -> String {
    let (register, status) = (
        azure_dps::REGISTER_FILTER,
        azure_dps::OPERATION_STATUS_FILTER,
    );
    let answers = azure_dps::RESPONSE_FILTER;
    let mut out = format!(
        "\n# In-band provisioning (azure-dps).\n\
         # The backend answers every unit's registrations and polls.\n\
         user {BACKEND_IDENTITY}\n\
         topic read {register}\n\
         topic read {status}\n\
         topic write {answers}\n"
    );
    for cn in bootstrap_cns {
        out.push_str(&format!(
            "\n# Bootstrap identity {cn}: its registration, its polls and the answers only.\n\
             user {cn}\n\
             topic deny provisioning/#\n\
             topic write {register}\n\
             topic write {status}\n\
             topic read {answers}\n"
        ));
    }
    out
}

/// The ACL of `dialect`'s in-band exchange for these bootstrap identities.
pub fn in_band_acl(dialect: Dialect, template: &str, bootstrap_cns: &[String]) -> String {
    match dialect {
        Dialect::AzureDps => azure_dps_acl(bootstrap_cns),
        Dialect::AwsFleet => aws_fleet_acl(template, bootstrap_cns),
        // The unit patterns already give a bootstrap identity (user = its CN) its own request
        // and response topics, which are its in-band topics in this dialect, and nothing else.
        Dialect::Commissioner => {
            "\n# In-band provisioning (commissioner): bootstrap identities ask on their own\n\
             # provisioning topics, which the unit patterns above grant.\n"
                .to_owned()
        }
    }
}

/// The backend of the station's in-band dialect on the lab broker at `port`, signing on `ca`.
pub fn in_band_backend(
    station: &Station,
    ca: UnlockedCa,
    port: u16,
) -> Result<Box<dyn DialectBackend>, LabError> {
    let profile = &station.config.provisioning;
    let handed = BTreeMap::from([("Station".to_owned(), station.config.station_id.clone())]);
    let backend: Box<dyn DialectBackend> = match profile.dialect() {
        Ok(Dialect::Commissioner) => Box::new(
            CommissionerBackend::new(&station_responder_config(station, port))?.issuing(
                InbandIssuer::new(station.clone(), ca, Dialect::Commissioner)
                    .map_err(crate::station::StationError::from)?,
            ),
        ),
        Ok(Dialect::AzureDps) => Box::new(
            DpsBackend::new(
                station.clone(),
                ca,
                DpsAllocation {
                    assigned_hub: profile.assigned_hub.clone(),
                    payload: Some(serde_json::json!(handed)),
                    // Decided at once: a lab line should not wait for nothing.
                    retry_after_secs: 0,
                },
            )
            .map_err(crate::station::StationError::from)?,
        ),
        _ => Box::new(
            FleetBackend::new(
                station.clone(),
                ca,
                FleetTemplates {
                    templates: BTreeMap::from([(profile.template.clone(), handed)]),
                },
            )
            .map_err(crate::station::StationError::from)?,
        ),
    };
    Ok(backend)
}

/// A lab broker on `port` that the vendors' device SDKs can reach: the default lab with TLS 1.2
/// let in (azure-iot-device 2.14.0 speaks nothing newer; units signing on their own key still
/// get 1.3, which the broker prefers) and the in-band ACL of the station's dialect for these
/// bootstrap common names. The caller starts the responder it wants beside it; the broker stops
/// when the returned value is dropped, a panicking test included.
pub fn vendor_sdk_broker(
    station: &mut Station,
    ca: &UnlockedCa,
    port: u16,
    bootstrap_cns: &[String],
) -> Result<(super::LabFiles, SdkBroker), LabError> {
    let files = super::prepare(station, ca, port)?;
    let io = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| LabError::Io { path, source }
    };
    let config = std::fs::read_to_string(&files.config).map_err(io(&files.config))?;
    std::fs::write(
        &files.config,
        config.replace("tls_version tlsv1.3", "tls_version tlsv1.2"),
    )
    .map_err(io(&files.config))?;
    let profile = &station.config.provisioning;
    let acl = std::fs::read_to_string(&files.acl).map_err(io(&files.acl))?;
    let extra = in_band_acl(
        profile.dialect().unwrap_or_default(),
        &profile.template,
        bootstrap_cns,
    );
    std::fs::write(&files.acl, format!("{acl}{extra}")).map_err(io(&files.acl))?;
    let broker = super::start_broker(&files, port)?;
    Ok((files, SdkBroker(broker)))
}

/// The mosquitto of [`vendor_sdk_broker`]; killed when dropped.
#[derive(Debug)]
pub struct SdkBroker(std::process::Child);

impl Drop for SdkBroker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Lab {
    /// A lab broker for in-band provisioning under the station's `[provisioning]` profile: the
    /// bootstrap identities of `units` (device ids) may reach their in-band topics, and the
    /// dialect's responder signs on `fleet_ca` (a second unlock of the station's CA: the backend signs on
    /// its own thread) beside the station's responder.
    pub fn up_in_band(
        station: &mut Station,
        ca: &UnlockedCa,
        fleet_ca: UnlockedCa,
        units: &[&str],
    ) -> Result<Self, LabError> {
        let profile = station.config.provisioning.clone();
        let cns: Vec<String> = units
            .iter()
            .map(|u| profile.bootstrap_common_name(u))
            .collect();
        let dialect = profile.dialect().unwrap_or_default();
        let acl = in_band_acl(dialect, &profile.template, &cns);
        let mut lab = Self::up_with_acl(station, ca, LabKind::Default, &acl)?;
        let backend = in_band_backend(station, fleet_ca, lab.port)?;
        let tls = backend_tls(&lab.files, ca.root_der())?;
        if dialect == Dialect::Commissioner {
            // In-band requests come on the station responder's own shared subscription: a
            // second responder beside it would get only some of them. It is replaced by one
            // that also issues.
            lab.responder.take();
            let cfg = station_responder_config(station, lab.port);
            lab.responder = Some(Responder::start_dialect(cfg, tls, backend)?);
        } else {
            let mut cfg = responder_config(lab.port);
            cfg.client_id = FLEET_CLIENT_ID.into();
            lab.fleet = Some(Responder::start_dialect(cfg, tls, backend)?);
        }
        Ok(lab)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bootstrap_identity_gets_its_fleet_topics_and_is_denied_the_unit_topics() {
        let acl = aws_fleet_acl("line-1", &["bootstrap-u1".to_owned()]);
        let block = acl
            .split("user bootstrap-u1\n")
            .nth(1)
            .expect("a block for the bootstrap identity");
        assert_eq!(
            block.lines().collect::<Vec<_>>(),
            [
                "topic deny provisioning/#",
                "topic write $aws/certificates/create-from-csr/json",
                "topic read $aws/certificates/create-from-csr/json/+",
                "topic write $aws/provisioning-templates/line-1/provision/json",
                "topic read $aws/provisioning-templates/line-1/provision/json/+",
            ]
        );
        assert!(acl.contains(
            "user commissioner-backend\ntopic read $aws/certificates/create-from-csr/json\n"
        ));
    }
}
