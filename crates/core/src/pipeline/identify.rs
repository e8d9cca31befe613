//! What the station requires of a unit before it generates a key: a protocol it speaks, the
//! capabilities the pipeline uses, a lifecycle that allows commissioning, and a sane clock.

use time::OffsetDateTime;

use super::PipelineError;
use crate::device::protocol::{Hello, Lifecycle, PROTOCOL_VERSION, REQUIRED_CAPS};

/// Largest difference between the unit's clock and the station's that is still accepted. A
/// unit further off will think its new certificate (and the broker's) not yet valid or expired.
pub const MAX_CLOCK_SKEW: time::Duration = time::Duration::days(1);

/// The capability a unit needs to make its own key.
const KEYGEN_CAP: &str = "keygen:ecdsa-p256";
/// The capability a unit needs to take a key the station made.
const INJECT_CAP: &str = "inject_key";

/// Where a unit's new key is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// On the unit (`keygen`); the private key never leaves it.
    Device,
    /// On the station, then sent with `inject_key`: only for a unit without a key generator,
    /// and only where the profile allows host-generated keys.
    Host,
}

/// What the station allows a unit beyond plain commissioning.
#[derive(Debug, Clone, Copy, Default)]
pub struct HelloPolicy {
    /// Accept a certified or locked unit, which the authorised unlock then brings back to
    /// factory mode.
    pub recommission: bool,
    /// Accept a unit without a key generator if it takes an injected key.
    pub allow_host_key: bool,
}

/// Checks a unit's `hello` against what commissioning needs.
pub fn check_hello(hello: &Hello, now: OffsetDateTime) -> Result<(), PipelineError> {
    check_hello_for(hello, now, HelloPolicy::default()).map(|_| ())
}

/// [`check_hello`] under the station's policy; says where the unit's key will be made.
pub fn check_hello_for(
    hello: &Hello,
    now: OffsetDateTime,
    policy: HelloPolicy,
) -> Result<KeySource, PipelineError> {
    if hello.protocol != PROTOCOL_VERSION {
        return Err(PipelineError::ProtocolVersion(hello.protocol));
    }
    let has = |cap: &str| hello.caps.iter().any(|c| c == cap);
    let source = if has(KEYGEN_CAP) {
        KeySource::Device
    } else if policy.allow_host_key && has(INJECT_CAP) {
        KeySource::Host
    } else {
        return Err(PipelineError::MissingCapability(KEYGEN_CAP.to_owned()));
    };
    if let Some(missing) = REQUIRED_CAPS
        .iter()
        .filter(|cap| **cap != KEYGEN_CAP)
        .find(|cap| !has(cap))
    {
        return Err(PipelineError::MissingCapability((*missing).to_owned()));
    }
    match hello.state {
        Lifecycle::Locked | Lifecycle::Certified if policy.recommission => {}
        Lifecycle::Locked => return Err(PipelineError::Locked),
        Lifecycle::Certified => return Err(PipelineError::AlreadyCommissioned(hello.state)),
        Lifecycle::Blank | Lifecycle::Keyed => {}
    }
    if let Some(unix) = hello.time {
        // Saturating: the unit's clock is whatever it sends, i64::MIN included.
        let skew = unix.saturating_sub(now.unix_timestamp()).saturating_abs();
        if skew > MAX_CLOCK_SKEW.whole_seconds() {
            let device = OffsetDateTime::from_unix_timestamp(unix)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_else(|| format!("{unix} s after 1970"));
            return Err(PipelineError::DeviceClock {
                device,
                days: skew / 86_400,
            });
        }
    }
    Ok(source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Coded;

    fn hello() -> Hello {
        Hello {
            protocol: 1,
            device_id: "U-1".into(),
            model: "M".into(),
            hw_rev: "A".into(),
            fw_version: "1".into(),
            max_frame: 512,
            caps: REQUIRED_CAPS.iter().map(|c| (*c).to_owned()).collect(),
            state: Lifecycle::Blank,
            time: None,
        }
    }

    #[test]
    fn each_refusal_has_its_code() {
        let now = OffsetDateTime::from_unix_timestamp(1_767_225_600).expect("time");
        assert!(check_hello(&hello(), now).is_ok());
        let code = |h: Hello| check_hello(&h, now).map_err(|e| e.code()).err();
        assert_eq!(
            code(Hello {
                protocol: 2,
                ..hello()
            }),
            Some("device.protocol_version")
        );
        assert_eq!(
            code(Hello {
                caps: vec!["challenge".into()],
                ..hello()
            }),
            Some("device.missing_capability")
        );
        assert_eq!(
            code(Hello {
                state: Lifecycle::Locked,
                ..hello()
            }),
            Some("device.locked")
        );
        assert_eq!(
            code(Hello {
                time: Some(12),
                ..hello()
            }),
            Some("device.clock_invalid")
        );
        assert_eq!(
            code(Hello {
                time: Some(now.unix_timestamp() + 60),
                ..hello()
            }),
            None
        );
    }

    #[test]
    fn a_unit_without_a_key_generator_gets_a_host_key_only_where_allowed() {
        let now = OffsetDateTime::from_unix_timestamp(1_767_225_600).expect("time");
        let without = |extra: &[&str]| Hello {
            caps: ["challenge", "sign_tls13"]
                .iter()
                .chain(extra)
                .map(|c| (*c).to_owned())
                .collect(),
            ..hello()
        };
        let allowed = HelloPolicy {
            allow_host_key: true,
            ..HelloPolicy::default()
        };
        let check = |h: &Hello, p| check_hello_for(h, now, p).map_err(|e| e.code());
        assert_eq!(check(&hello(), allowed), Ok(KeySource::Device));
        assert_eq!(
            check(&without(&["inject_key"]), allowed),
            Ok(KeySource::Host)
        );
        assert_eq!(
            check(&without(&["inject_key"]), HelloPolicy::default()),
            Err("device.missing_capability")
        );
        assert_eq!(
            check(&without(&[]), allowed),
            Err("device.missing_capability")
        );
    }
}
