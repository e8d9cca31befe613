//! Wire dialects of the in-band provisioning exchange: which topics a requester publishes on,
//! where the backend answers, and the payloads both ways. Pure encode and decode, no I/O, so
//! the responder and the station's own handshake share one description of each wire format.
//!
//! - [`commissioner`]: Commissioner's own MQTT v5 request/response (`provisioning/{id}/...`).
//! - [`aws_fleet`]: AWS IoT fleet provisioning by claim (`$aws/certificates/create-from-csr/json`,
//!   `$aws/provisioning-templates/{template}/provision/json`, each with `/accepted` and
//!   `/rejected`).
//! - [`azure_dps`]: the Azure IoT Hub Device Provisioning Service over MQTT
//!   (`$dps/registrations/...`, `202` + operation id + `retry-after`, then polling).

pub mod aws_fleet;
pub mod azure_dps;
pub mod commissioner;
mod query;

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// The wire format a unit and the backend speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dialect {
    #[default]
    Commissioner,
    AwsFleet,
    AzureDps,
}

/// A dialect name that is not one of [`Dialect::NAMES`].
#[derive(Debug, Error, PartialEq, Eq)]
#[error("unknown provisioning dialect {0:?}: use commissioner, aws-fleet or azure-dps")]
pub struct UnknownDialect(pub String);

impl Dialect {
    /// Every dialect's name, as profiles and the command line spell it.
    pub const NAMES: [&'static str; 3] = ["commissioner", "aws-fleet", "azure-dps"];

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Commissioner => Self::NAMES[0],
            Dialect::AwsFleet => Self::NAMES[1],
            Dialect::AzureDps => Self::NAMES[2],
        }
    }

    /// The topic filters a backend subscribes to, to receive every unit's requests.
    ///
    /// Commissioner's filter is a shared subscription (several responders split the load: each
    /// request stands alone). The vendor dialects keep state between requests (an ownership
    /// token, an operation id), so one responder serves them with a plain subscription.
    pub fn request_filters(self) -> Vec<String> {
        match self {
            Dialect::Commissioner => vec![commissioner::REQUEST_FILTER.to_owned()],
            Dialect::AwsFleet => vec![
                aws_fleet::CREATE_FROM_CSR_TOPIC.to_owned(),
                aws_fleet::REGISTER_THING_FILTER.to_owned(),
            ],
            Dialect::AzureDps => vec![
                azure_dps::REGISTER_FILTER.to_owned(),
                azure_dps::OPERATION_STATUS_FILTER.to_owned(),
            ],
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dialect {
    type Err = UnknownDialect;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "commissioner" => Ok(Dialect::Commissioner),
            "aws-fleet" => Ok(Dialect::AwsFleet),
            "azure-dps" => Ok(Dialect::AzureDps),
            other => Err(UnknownDialect(other.to_owned())),
        }
    }
}

/// True when `name` can stand as one topic level: not empty, no level separator, no wildcard.
/// A template name or id that broke this would let a requester address other topics.
pub(crate) fn is_topic_level(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '+', '#', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for name in Dialect::NAMES {
            let dialect: Dialect = name.parse().expect("test input");
            assert_eq!(dialect.name(), name);
            assert_eq!(dialect.to_string(), name);
        }
        assert_eq!(
            "aws".parse::<Dialect>(),
            Err(UnknownDialect("aws".to_owned()))
        );
    }

    #[test]
    fn each_dialect_subscribes_to_its_own_request_topics() {
        assert_eq!(
            Dialect::Commissioner.request_filters(),
            ["$share/commissioner-responders/provisioning/+/request"]
        );
        assert_eq!(
            Dialect::AwsFleet.request_filters(),
            [
                "$aws/certificates/create-from-csr/json",
                "$aws/provisioning-templates/+/provision/json"
            ]
        );
        assert_eq!(
            Dialect::AzureDps.request_filters(),
            [
                "$dps/registrations/PUT/iotdps-register/+",
                "$dps/registrations/GET/iotdps-get-operationstatus/+"
            ]
        );
    }

    #[test]
    fn topic_levels_refuse_separators_and_wildcards() {
        assert!(is_topic_level("factory-template_1"));
        for bad in ["", "a/b", "+", "a#", "x\0"] {
            assert!(!is_topic_level(bad), "{bad:?}");
        }
    }
}
