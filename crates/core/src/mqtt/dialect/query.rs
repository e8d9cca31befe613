//! The `?$rid=...&operationId=...` tail of DPS topics: percent-encoded `key=value` pairs, as the
//! Azure SDKs write them (`urllib.parse.quote(value, safe="")`).

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub(crate) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; `None` for a broken escape or a result that is not UTF-8.
pub(crate) fn decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses `?key=value&key=value` (the leading `?` required). Duplicate keys are refused, as the
/// Azure SDK refuses them: which of two `$rid`s would the reply belong to?
pub(crate) fn parse(level: &str) -> Option<Vec<(String, String)>> {
    let pairs = level.strip_prefix('?')?;
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in pairs.split('&') {
        let (key, value) = pair.split_once('=')?;
        let key = decode(key)?;
        if out.iter().any(|(k, _)| *k == key) {
            return None;
        }
        out.push((key, decode(value)?));
    }
    Some(out)
}

/// The value of `key` in parsed pairs.
pub(crate) fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_and_decode_round_trip_reserved_characters() {
        let raw = "4.a b/c&d=e?f$g%h";
        let encoded = encode(raw);
        assert_eq!(encoded, "4.a%20b%2Fc%26d%3De%3Ff%24g%25h");
        assert_eq!(decode(&encoded).as_deref(), Some(raw));
    }

    #[test]
    fn broken_escapes_are_refused() {
        assert_eq!(decode("%4"), None);
        assert_eq!(decode("%zz"), None);
        assert_eq!(decode("%FF"), None, "not UTF-8");
    }

    #[test]
    fn parse_reads_pairs_and_refuses_duplicates_and_missing_question_mark() {
        let pairs = parse("?$rid=7&operationId=4.abc%2Fdef").expect("test input");
        assert_eq!(get(&pairs, "$rid"), Some("7"));
        assert_eq!(get(&pairs, "operationId"), Some("4.abc/def"));
        assert_eq!(get(&pairs, "retry-after"), None);
        assert_eq!(parse("?$rid=1&$rid=2"), None);
        assert_eq!(parse("$rid=1"), None);
        assert_eq!(parse("?$rid"), None);
    }
}
