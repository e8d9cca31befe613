//! Topic templates of the broker profile (`provisioning/{device_id}/request`) as the responder
//! needs them: a subscription filter, and the device id read back out of a topic.

use super::MqttError;

const PLACEHOLDER: &str = "{device_id}";

/// A topic template whose `{device_id}` is one whole topic level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicTemplate {
    levels: Vec<String>,
    /// Index of the `{device_id}` level.
    at: usize,
}

impl TopicTemplate {
    /// Refuses templates the responder cannot serve: no `{device_id}` level, more than one,
    /// a placeholder inside a level, or MQTT wildcards.
    pub fn parse(template: &str) -> Result<Self, MqttError> {
        let bad = |why: &str| {
            MqttError::Config(format!(
                "topic template '{template}' {why}: the responder needs {PLACEHOLDER} as one \
                 whole level, e.g. provisioning/{PLACEHOLDER}/request"
            ))
        };
        let levels: Vec<String> = template.split('/').map(str::to_owned).collect();
        if levels.iter().any(|l| l.contains('+') || l.contains('#')) {
            return Err(bad("has a wildcard"));
        }
        let places: Vec<usize> = levels
            .iter()
            .enumerate()
            .filter(|(_, l)| l.contains(PLACEHOLDER))
            .map(|(i, _)| i)
            .collect();
        match places.as_slice() {
            [at] if levels[*at] == PLACEHOLDER => Ok(Self { levels, at: *at }),
            [_] => Err(bad("has the placeholder inside a level")),
            [] => Err(bad("has no placeholder")),
            _ => Err(bad("has the placeholder more than once")),
        }
    }

    /// The subscription filter: the device id level as `+`.
    pub fn filter(&self) -> String {
        let mut levels = self.levels.clone();
        levels[self.at] = "+".into();
        levels.join("/")
    }

    /// The device id of `topic`, when it matches the template.
    pub fn device_id<'t>(&self, topic: &'t str) -> Option<&'t str> {
        let parts: Vec<&str> = topic.split('/').collect();
        if parts.len() != self.levels.len() {
            return None;
        }
        let fixed_match = parts
            .iter()
            .zip(&self.levels)
            .enumerate()
            .all(|(i, (p, l))| i == self.at || p == l);
        (fixed_match && !parts[self.at].is_empty()).then_some(parts[self.at])
    }

    pub fn expand(&self, device_id: &str) -> String {
        let mut levels = self.levels.clone();
        levels[self.at] = device_id.to_owned();
        levels.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_give_a_filter_and_read_the_device_id_back() {
        let t = TopicTemplate::parse("factory/line-1/{device_id}/prov/req").expect("valid");
        assert_eq!(t.filter(), "factory/line-1/+/prov/req");
        assert_eq!(t.device_id("factory/line-1/U-7/prov/req"), Some("U-7"));
        assert_eq!(t.device_id("factory/line-2/U-7/prov/req"), None);
        assert_eq!(t.device_id("factory/line-1/U-7/prov"), None);
        assert_eq!(t.expand("U-7"), "factory/line-1/U-7/prov/req");
        // The default templates: a response or a deeper topic is no request.
        let default = TopicTemplate::parse("provisioning/{device_id}/request").expect("valid");
        assert_eq!(
            default.device_id("provisioning/unit-7/request"),
            Some("unit-7")
        );
        assert_eq!(default.device_id("provisioning/unit-7/response"), None);
        assert_eq!(default.device_id("provisioning/a/b/request"), None);
        assert_eq!(default.device_id("other/unit-7/request"), None);
        let response = TopicTemplate::parse("provisioning/{device_id}/response").expect("valid");
        assert_eq!(response.expand("u1"), "provisioning/u1/response");
        for bad in [
            "a/b",
            "a/{device_id}x/b",
            "{device_id}/{device_id}",
            "a/+/{device_id}",
        ] {
            assert!(TopicTemplate::parse(bad).is_err(), "{bad}");
        }
    }
}
