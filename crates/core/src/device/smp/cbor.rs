//! CBOR bodies (ciborium's `Value`), and the two shapes of an SMP error: version 1's bare
//! `rc`, version 2's `err: {group, rc}`.

use ciborium::Value;

/// A CBOR map with text keys.
pub fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::Text(k.to_owned()), v))
            .collect(),
    )
}

pub fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = ciborium::into_writer(v, &mut out);
    out
}

/// Nesting a hostile unit may use before the body is refused (ciborium's own limit is 256).
const MAX_DEPTH: usize = 16;

pub fn decode(body: &[u8]) -> Result<Value, String> {
    if body.is_empty() {
        return Ok(Value::Map(Vec::new()));
    }
    ciborium::de::from_reader_with_recursion_limit(body, MAX_DEPTH).map_err(|e| e.to_string())
}

pub fn get<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.as_map()?
        .iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
}

pub fn int(v: &Value, key: &str) -> Option<i128> {
    get(v, key)?.as_integer().map(i128::from)
}

pub fn text<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    get(v, key)?.as_text()
}

pub fn bytes<'v>(v: &'v Value, key: &str) -> Option<&'v [u8]> {
    get(v, key)?.as_bytes().map(Vec::as_slice)
}

/// An error a unit answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The group the code belongs to (version 2); `None` for version 1's management code.
    pub group: Option<u16>,
    pub rc: i128,
}

/// The error in a response body, if it carries one (`rc` 0 is success in either shape).
pub fn refusal(body: &Value) -> Option<Refusal> {
    if let Some(err) = get(body, "err") {
        let rc = int(err, "rc").unwrap_or(1);
        let group = int(err, "group").and_then(|g| u16::try_from(g).ok());
        return (rc != 0).then_some(Refusal { group, rc });
    }
    match int(body, "rc") {
        Some(0) | None => None,
        Some(rc) => Some(Refusal { group: None, rc }),
    }
}

/// MCUmgr's management codes (version 1 `rc`, and version 2 for the base groups).
pub const MGMT_ERR_ENOMEM: i128 = 2;
pub const MGMT_ERR_EINVAL: i128 = 3;
pub const MGMT_ERR_ENOENT: i128 = 5;
pub const MGMT_ERR_EBADSTATE: i128 = 6;
pub const MGMT_ERR_EMSGSIZE: i128 = 7;
pub const MGMT_ERR_ENOTSUP: i128 = 8;
pub const MGMT_ERR_EACCESSDENIED: i128 = 11;

/// fs_mgmt's group codes (version 2, group 8).
pub const FS_ERR_FILE_NOT_FOUND: i128 = 3;
pub const FS_ERR_FILE_WRITE_FAILED: i128 = 10;
pub const FS_ERR_OFFSET_NOT_VALID: i128 = 11;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_error_shapes() {
        let v1 = map(vec![("rc", Value::from(8))]);
        assert_eq!(refusal(&v1), Some(Refusal { group: None, rc: 8 }));
        let v2 = map(vec![(
            "err",
            map(vec![("group", Value::from(8)), ("rc", Value::from(10))]),
        )]);
        assert_eq!(
            refusal(&v2),
            Some(Refusal {
                group: Some(8),
                rc: 10
            })
        );
        assert_eq!(refusal(&map(vec![("rc", Value::from(0))])), None);
        assert_eq!(refusal(&map(vec![("r", Value::from("hi"))])), None);
        let back = decode(&encode(&v2)).expect("round trip");
        assert_eq!(back, v2);
    }

    #[test]
    fn deep_nesting_is_refused_not_followed() {
        let deep = [0x81u8; 10_000];
        assert!(decode(&deep).is_err());
    }
}
