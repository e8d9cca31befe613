//! Device-provided text made safe for where it is shown. A unit controls every byte it sends:
//! its id, model and firmware strings and its log end up in terminals, CSV files opened in
//! spreadsheets and the UI. The journal keeps them as sent; each output escapes them.

use std::borrow::Cow;

/// For a terminal: control characters (ESC sequences that move the cursor, rewrite the title or
/// fake a PASS, CR that overwrites a line, BEL, NUL) and Unicode bidirectional overrides are
/// shown as `\u{..}` escapes. Newlines are kept where `keep_newlines` says so (a multi-line
/// report), and escaped otherwise (one field).
pub fn terminal_safe(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && !(keep_newlines && c == '\n'))
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// For a CSV cell: spreadsheets run a cell that starts with `=`, `+`, `-`, `@`, a tab or a CR
/// as a formula; such a cell gets a leading `'`, as OWASP advises.
pub fn spreadsheet_safe(s: String) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_would_obey() {
        assert_eq!(terminal_safe("SIM-1", false), "SIM-1");
        let fake = "X\u{1b}[2K\rPASS\u{7}";
        let shown = terminal_safe(fake, false);
        assert!(!shown.contains('\u{1b}') && !shown.contains('\r') && !shown.contains('\u{7}'));
        assert!(shown.contains("\\u{1b}"), "{shown}");
        assert_eq!(terminal_safe("a\nb", true), "a\nb");
        assert_eq!(terminal_safe("a\nb", false), "a\\u{a}b");
        assert_eq!(terminal_safe("\u{202e}gnp.exe", false), "\\u{202e}gnp.exe");
    }

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(
            spreadsheet_safe("=HYPERLINK(\"x\")".into()),
            "'=HYPERLINK(\"x\")"
        );
        assert_eq!(spreadsheet_safe("@SUM(A1)".into()), "'@SUM(A1)");
        assert_eq!(spreadsheet_safe("CM-SENSOR-1".into()), "CM-SENSOR-1");
    }
}
