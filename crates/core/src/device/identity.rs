//! Which identities a unit may claim. A unit chooses the id it reports in `hello`, and that id
//! becomes its certificate's CN, its MQTT user name (`use_identity_as_username`) and a segment
//! of the topics its ACL grants (`provisioning/%u/#`). A hostile unit must therefore not be able
//! to pick an id that names something else: another unit's topics (`a/b`), a wildcard, a
//! broker-internal topic (`$SYS`), or a privileged identity such as the provisioning backend.
//!
//! Two layers: the protocol's character rule (`docs/device-protocol.md` §6.1), which no profile
//! can loosen, and the station profile's `[device_ids]` rule (a pattern, reserved names, an
//! allowlist from a work order or MES file), which narrows it further.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::error::Coded;

/// Longest device id the protocol allows (§6.1); also the longest CN the station issues.
pub const MAX_DEVICE_ID_LEN: usize = 64;

/// Identities no unit may take, whatever the profile says: the station's own service
/// identities. A unit holding one of these names would be the backend or the broker.
pub const ALWAYS_RESERVED: [&str; 3] = [
    crate::lab::BACKEND_IDENTITY,
    crate::lab::BROKER_IDENTITY,
    "localhost",
];

/// Why an id was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DeviceIdError {
    #[error("the unit reports an empty device id")]
    Empty,
    #[error(
        "the unit's device id is {len} characters long; at most {MAX_DEVICE_ID_LEN} are allowed"
    )]
    TooLong { len: usize },
    #[error("the unit's device id contains {found}, which is not allowed (only A-Z, a-z, 0-9, '.', '_' and '-'): {shown}")]
    BadCharacter { found: String, shown: String },
    #[error("the device id '{0}' is reserved for a station or broker identity")]
    Reserved(String),
    #[error("the device id '{id}' does not match this station's pattern {pattern}")]
    PatternMismatch { id: String, pattern: String },
    #[error("the device id '{id}' is not on this station's allowlist {list}")]
    NotAllowed { id: String, list: String },
    #[error("the station profile's [device_ids] rule is not valid: {0}")]
    BadRule(String),
    #[error("cannot read the device-id allowlist {path}: {reason}")]
    Allowlist { path: String, reason: String },
}

impl Coded for DeviceIdError {
    fn code(&self) -> &'static str {
        match self {
            DeviceIdError::Empty
            | DeviceIdError::TooLong { .. }
            | DeviceIdError::BadCharacter { .. } => "device.id_invalid",
            DeviceIdError::Reserved(_)
            | DeviceIdError::PatternMismatch { .. }
            | DeviceIdError::NotAllowed { .. } => "device.id_refused",
            DeviceIdError::BadRule(_) | DeviceIdError::Allowlist { .. } => "station.device_id_rule",
        }
    }
}

/// Checks the protocol's rule (§6.1): 1 to 64 characters of `[A-Za-z0-9._-]`. This also keeps
/// every MQTT topic character (`/`, `+`, `#`, `$`), NUL and terminal escapes out of a CN.
pub fn check_syntax(id: &str) -> Result<(), DeviceIdError> {
    if id.is_empty() {
        return Err(DeviceIdError::Empty);
    }
    let len = id.chars().count();
    if len > MAX_DEVICE_ID_LEN {
        return Err(DeviceIdError::TooLong { len });
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(DeviceIdError::BadCharacter {
            found: describe(c),
            shown: id.escape_default().to_string(),
        });
    }
    Ok(())
}

fn describe(c: char) -> String {
    if c.is_control() || !c.is_ascii() {
        format!("the character U+{:04X}", c as u32)
    } else {
        format!("'{c}'")
    }
}

/// The station profile's `[device_ids]`: which of the ids the protocol allows this station
/// accepts. All fields optional; an absent section accepts every syntactically valid id that
/// is not reserved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceIdRule {
    /// A regular expression the whole id must match (anchored), e.g. `SIM-[0-9A-F]{8}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Further ids no unit may take (compared without regard to case), beyond
    /// [`ALWAYS_RESERVED`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reserved: Vec<String>,
    /// A file of allowed ids (one per line, `#` comments; a work order or MES export). When
    /// set, only ids listed there are commissioned. A relative path is taken from the station
    /// directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowlist: Option<PathBuf>,
}

impl DeviceIdRule {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Checks the rule itself (pattern compiles), so a broken profile is refused when loaded.
    pub fn validate(&self) -> Result<(), DeviceIdError> {
        self.compiled_pattern().map(drop)
    }

    fn compiled_pattern(&self) -> Result<Option<Regex>, DeviceIdError> {
        self.pattern
            .as_deref()
            .map(|p| {
                Regex::new(&format!("^(?:{p})$"))
                    .map_err(|e| DeviceIdError::BadRule(format!("pattern {p}: {e}")))
            })
            .transpose()
    }

    /// Checks `id` against the protocol's rule, the reserved names, the pattern and the
    /// allowlist, in that order. `station_dir` resolves a relative allowlist path.
    pub fn check(&self, id: &str, station_dir: &Path) -> Result<(), DeviceIdError> {
        check_syntax(id)?;
        let reserved = ALWAYS_RESERVED
            .iter()
            .copied()
            .chain(self.reserved.iter().map(String::as_str));
        if reserved.into_iter().any(|r| r.eq_ignore_ascii_case(id)) {
            return Err(DeviceIdError::Reserved(id.to_owned()));
        }
        if let Some(re) = self.compiled_pattern()? {
            if !re.is_match(id) {
                return Err(DeviceIdError::PatternMismatch {
                    id: id.to_owned(),
                    pattern: self.pattern.clone().unwrap_or_default(),
                });
            }
        }
        if let Some(list) = &self.allowlist {
            let path = station_dir.join(list);
            if !read_allowlist(&path)?.contains(id) {
                return Err(DeviceIdError::NotAllowed {
                    id: id.to_owned(),
                    list: path.display().to_string(),
                });
            }
        }
        Ok(())
    }
}

/// Read on every check, so that a work order's list can be replaced while the line runs.
fn read_allowlist(path: &Path) -> Result<HashSet<String>, DeviceIdError> {
    let text = std::fs::read_to_string(path).map_err(|e| DeviceIdError::Allowlist {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        // A CSV export: the id is its first column.
        .map(|l| l.split(',').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_rule_keeps_topic_characters_and_long_ids_out() {
        assert!(check_syntax("SIM-0123ABCD").is_ok());
        assert!(check_syntax("a.b_c-d").is_ok());
        assert!(check_syntax(&"x".repeat(64)).is_ok());
        for bad in [
            "",
            "a/b",
            "+",
            "#",
            "$SYS",
            "a b",
            "a\0b",
            "é",
            "a\u{1b}[31m",
        ] {
            assert_eq!(
                check_syntax(bad).map_err(|e| e.code()),
                Err("device.id_invalid"),
                "{bad:?}"
            );
        }
        assert_eq!(
            check_syntax(&"x".repeat(65)),
            Err(DeviceIdError::TooLong { len: 65 })
        );
    }

    #[test]
    fn reserved_names_pattern_and_allowlist_narrow_it() {
        let dir = tempfile::tempdir().expect("dir");
        let none = DeviceIdRule::default();
        assert_eq!(
            none.check("Commissioner-Backend", dir.path())
                .map_err(|e| e.code()),
            Err("device.id_refused")
        );
        let rule = DeviceIdRule {
            pattern: Some("SIM-[0-9A-F]{8}".into()),
            reserved: vec!["SIM-00000000".into()],
            allowlist: Some("wo.csv".into()),
        };
        std::fs::write(
            dir.path().join("wo.csv"),
            "# work order 17\nSIM-0000000A,CM-1\nSIM-0000000B\n",
        )
        .expect("write");
        assert!(rule.check("SIM-0000000A", dir.path()).is_ok());
        assert!(matches!(
            rule.check("SIM-00000000", dir.path()),
            Err(DeviceIdError::Reserved(_))
        ));
        // The pattern is anchored: a prefix match is not enough.
        assert!(matches!(
            rule.check("SIM-0000000AX", dir.path()),
            Err(DeviceIdError::PatternMismatch { .. })
        ));
        assert!(matches!(
            rule.check("SIM-0000000C", dir.path()),
            Err(DeviceIdError::NotAllowed { .. })
        ));
        let broken = DeviceIdRule {
            pattern: Some("(".into()),
            ..DeviceIdRule::default()
        };
        assert_eq!(
            broken.validate().map_err(|e| e.code()),
            Err("station.device_id_rule")
        );
    }
}
