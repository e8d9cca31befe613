//! `[provisioning]`: whether the station installs the operational certificate itself
//! (out-of-band, the default) or gives the unit a short-lived bootstrap identity with which it
//! obtains its operational certificate over MQTT (in-band), and in which wire dialect.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::error::Coded;
use crate::mqtt::dialect::Dialect;

/// How units get their operational certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProvisioningMode {
    /// The station issues the operational certificate and writes it (today's behaviour).
    #[default]
    OutOfBand,
    /// The station issues a bootstrap certificate; the unit obtains its operational one over
    /// MQTT in `dialect`, and the station proves it does before the unit leaves the line.
    InBand,
}

/// `[provisioning]` in `station.toml`. Absent: out-of-band, exactly as before it existed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningProfile {
    #[serde(default)]
    pub mode: ProvisioningMode,
    /// The in-band wire dialect (`commissioner`, `aws-fleet`, `azure-dps`).
    #[serde(default = "default_dialect")]
    pub dialect: String,
    /// The provisioning template RegisterThing names (aws-fleet).
    #[serde(default = "default_template")]
    pub template: String,
    /// Lifetime of a bootstrap certificate: long enough for the exchange on the line, short
    /// enough that a unit which never completes it holds nothing useful for long.
    #[serde(default = "default_bootstrap_validity_hours")]
    pub bootstrap_validity_hours: i64,
    /// Common name of a bootstrap certificate; `{device_id}` is replaced by the unit's id. It
    /// must differ from the id itself, so that a bootstrap identity is never the unit's
    /// operational identity on the broker.
    #[serde(default = "default_bootstrap_cn")]
    pub bootstrap_cn: String,
    /// The DPS ID scope a unit names in its MQTT user name (azure-dps).
    #[serde(default = "default_id_scope")]
    pub id_scope: String,
    /// The IoT hub the azure-dps backend assigns units to.
    #[serde(default = "default_assigned_hub")]
    pub assigned_hub: String,
}

fn default_dialect() -> String {
    Dialect::AwsFleet.name().to_owned()
}
fn default_template() -> String {
    "commissioner".to_owned()
}
fn default_bootstrap_validity_hours() -> i64 {
    24
}
fn default_bootstrap_cn() -> String {
    "bootstrap-{device_id}".to_owned()
}
fn default_id_scope() -> String {
    "0ne0commissioner".to_owned()
}
fn default_assigned_hub() -> String {
    "hub.commissioner.lab".to_owned()
}

impl Default for ProvisioningProfile {
    fn default() -> Self {
        Self {
            mode: ProvisioningMode::OutOfBand,
            dialect: default_dialect(),
            template: default_template(),
            bootstrap_validity_hours: default_bootstrap_validity_hours(),
            bootstrap_cn: default_bootstrap_cn(),
            id_scope: default_id_scope(),
            assigned_hub: default_assigned_hub(),
        }
    }
}

/// The longest bootstrap lifetime accepted: a week. A bootstrap identity is a claim to be
/// exchanged on the line, not a credential to ship.
pub const MAX_BOOTSTRAP_HOURS: i64 = 24 * 7;

/// Why a `[provisioning]` section is refused, each with its own code.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProvisioningProblem {
    #[error("[provisioning] dialect {0:?} is not one of commissioner, aws-fleet, azure-dps")]
    UnknownDialect(String),
    #[error("[provisioning] template {0:?} must be one topic level: not empty, no '/', '+', '#'")]
    BadTemplate(String),
    #[error(
        "[provisioning] bootstrap_validity_hours {0} is out of range: 1 to {MAX_BOOTSTRAP_HOURS}"
    )]
    BadValidity(i64),
    #[error(
        "[provisioning] bootstrap_cn {0:?} must contain {{device_id}} once and add something to it"
    )]
    BadCommonName(String),
}

impl Coded for ProvisioningProblem {
    fn code(&self) -> &'static str {
        match self {
            ProvisioningProblem::UnknownDialect(_) => "provisioning.unknown_dialect",
            ProvisioningProblem::BadTemplate(_) => "provisioning.bad_template",
            ProvisioningProblem::BadValidity(_) => "provisioning.bad_validity",
            ProvisioningProblem::BadCommonName(_) => "provisioning.bad_common_name",
        }
    }
}

impl ProvisioningProfile {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    pub fn in_band(&self) -> bool {
        self.mode == ProvisioningMode::InBand
    }

    /// The dialect, parsed (checked at load, so this fails only on a profile built in code).
    pub fn dialect(&self) -> Result<Dialect, ProvisioningProblem> {
        self.dialect
            .parse()
            .map_err(|_| ProvisioningProblem::UnknownDialect(self.dialect.clone()))
    }

    /// The bootstrap certificate's common name for `device_id`.
    pub fn bootstrap_common_name(&self, device_id: &str) -> String {
        self.bootstrap_cn.replace("{device_id}", device_id)
    }

    /// The unit whose bootstrap common name is `cn`, when `cn` is one.
    pub fn device_id_of_bootstrap<'c>(&self, cn: &'c str) -> Option<&'c str> {
        let (prefix, suffix) = self.bootstrap_cn.split_once("{device_id}")?;
        cn.strip_prefix(prefix)?
            .strip_suffix(suffix)
            .filter(|id| !id.is_empty())
    }

    /// Checked when the station is opened: a profile the station cannot run is a configuration
    /// error, not a failed unit. Out-of-band profiles are checked too, so that switching the
    /// mode never reveals a mistake made long before.
    pub fn check(&self) -> Result<(), ProvisioningProblem> {
        self.dialect()?;
        if !crate::mqtt::dialect::is_topic_level(&self.template) {
            return Err(ProvisioningProblem::BadTemplate(self.template.clone()));
        }
        if !(1..=MAX_BOOTSTRAP_HOURS).contains(&self.bootstrap_validity_hours) {
            return Err(ProvisioningProblem::BadValidity(
                self.bootstrap_validity_hours,
            ));
        }
        let cn = &self.bootstrap_cn;
        if cn.matches("{device_id}").count() != 1 || cn == "{device_id}" {
            return Err(ProvisioningProblem::BadCommonName(cn.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ProvisioningProfile {
        toml::from_str(text).expect("test input")
    }

    #[test]
    fn absent_fields_keep_out_of_band() {
        let p = parse("");
        assert!(p.is_default());
        assert!(!p.in_band());
        assert_eq!(p.check(), Ok(()));
        assert_eq!(p.bootstrap_common_name("unit-1"), "bootstrap-unit-1");
    }

    #[test]
    fn in_band_aws_fleet_parses_and_checks() {
        let p = parse(
            "mode = \"in-band\"\ndialect = \"aws-fleet\"\ntemplate = \"line-1\"\n\
             bootstrap_validity_hours = 2\nbootstrap_cn = \"claim-{device_id}-x\"",
        );
        assert!(p.in_band());
        assert_eq!(p.dialect(), Ok(Dialect::AwsFleet));
        assert_eq!(p.check(), Ok(()));
        assert_eq!(p.bootstrap_common_name("u7"), "claim-u7-x");
        assert_eq!(p.device_id_of_bootstrap("claim-u7-x"), Some("u7"));
        for not_one in ["u7", "claim--x", "claim-u7", "bootstrap-u7"] {
            assert_eq!(p.device_id_of_bootstrap(not_one), None, "{not_one}");
        }
    }

    #[test]
    fn each_mistake_has_its_own_code() {
        let with = |edit: fn(&mut ProvisioningProfile)| {
            let mut p = ProvisioningProfile {
                mode: ProvisioningMode::InBand,
                ..ProvisioningProfile::default()
            };
            edit(&mut p);
            p.check().expect_err("refused").code()
        };
        assert_eq!(
            with(|p| p.dialect = "aws".into()),
            "provisioning.unknown_dialect"
        );
        assert_eq!(
            with(|p| p.template = "a/b".into()),
            "provisioning.bad_template"
        );
        assert_eq!(
            with(|p| p.bootstrap_validity_hours = 0),
            "provisioning.bad_validity"
        );
        assert_eq!(
            with(|p| p.bootstrap_validity_hours = MAX_BOOTSTRAP_HOURS + 1),
            "provisioning.bad_validity"
        );
        assert_eq!(
            with(|p| p.bootstrap_cn = "{device_id}".into()),
            "provisioning.bad_common_name"
        );
        assert_eq!(
            with(|p| p.bootstrap_cn = "bootstrap".into()),
            "provisioning.bad_common_name"
        );
        assert!(toml::from_str::<ProvisioningProfile>("mode = \"sideways\"").is_err());
        assert!(toml::from_str::<ProvisioningProfile>("modes = \"in-band\"").is_err());
    }
}
