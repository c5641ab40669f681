//! Device-supplied strings (host names, TXT values, service names) are hostile. Every output
//! format defuses them its own way (terminals: [`hygie_proto::terminal_safe`]).

fn dangerous(c: char) -> bool {
    hygie_proto::is_unsafe_char(c)
}

/// First characters that make a spreadsheet read a cell as a formula.
pub const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A CSV cell that a spreadsheet must not run as a formula: cells starting with `=`, `+`, `-`,
/// `@`, tab or carriage return get a leading apostrophe (OWASP's advice). Control characters
/// and direction overrides are replaced as for terminals.
pub fn csv_cell(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if dangerous(c) && c != '\t' && c != '\r' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect();
    if cleaned.starts_with(FORMULA_STARTS) {
        format!("'{cleaned}")
    } else {
        cleaned
    }
}

/// A value written into another tool's records (a GLPI inventory, a NetBox import): people read
/// it in that tool's pages and export it to spreadsheets, so it gets both defences. Control
/// characters (tab, carriage return and line feed included) and direction overrides become
/// U+FFFD, a leading `=`, `+`, `-` or `@` gets an apostrophe as in [`csv_cell`], and the value is
/// cut to `max` characters (the apostrophe counted) so it fits the tool's column.
pub fn record_field(text: &str, max: usize) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if dangerous(c) { '\u{fffd}' } else { c })
        .collect();
    let defused = if cleaned.starts_with(FORMULA_STARTS) {
        format!("'{cleaned}")
    } else {
        cleaned
    };
    defused.chars().take(max).collect()
}

/// HTML text or attribute content.
pub fn html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c if dangerous(c) => escaped.push('\u{fffd}'),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Text on one line for a log collector (syslog MSG, webhook JSON strings): control
/// characters (newlines included) and direction overrides are replaced, as for terminals.
pub fn line(text: &str) -> String {
    text.chars()
        .map(|c| if dangerous(c) { '\u{fffd}' } else { c })
        .collect()
}

/// An RFC 5424 SD-PARAM value (the text between its quotes): unsafe characters replaced as
/// in [`line`], then `"`, `\` and `]` escaped with a backslash (RFC 5424 section 6.3.3).
pub fn syslog_param(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' | '\\' | ']' => {
                escaped.push('\\');
                escaped.push(c);
            }
            c if dangerous(c) => escaped.push('\u{fffd}'),
            c => escaped.push(c),
        }
    }
    escaped
}

/// An RFC 5424 header field (HOSTNAME, APP-NAME, MSGID): printable US-ASCII only (`!` to
/// `~`), anything else becomes `_`, at most `max` characters; `-` (the nil value) if empty.
pub fn syslog_header(text: &str, max: usize) -> String {
    let cleaned: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect();
    if cleaned.is_empty() {
        "-".to_owned()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_formulas_are_neutralised() {
        for (input, expected) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tcmd", "'\tcmd"),
            ("\rcmd", "'\rcmd"),
            ("printer", "printer"),
            ("a\u{1b}b", "a\u{fffd}b"),
        ] {
            assert_eq!(csv_cell(input), expected);
        }
    }

    #[test]
    fn record_fields_lose_controls_and_formulas_and_fit_their_column() {
        for (input, expected) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("-1", "'-1"),
            ("@cmd", "'@cmd"),
            ("a\tb\r\nc", "a\u{fffd}b\u{fffd}\u{fffd}c"),
            ("\tcmd", "\u{fffd}cmd"),
            ("x\u{202e}gpj.exe", "x\u{fffd}gpj.exe"),
            ("infusion-pump-3", "infusion-pump-3"),
        ] {
            assert_eq!(record_field(input, 64), expected);
        }
        assert_eq!(record_field("=abcdef", 4), "'=ab");
        assert_eq!(record_field("éééé", 2), "éé");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            html("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }

    #[test]
    fn syslog_params_escape_quotes_backslashes_and_brackets() {
        assert_eq!(syslog_param(r#"a"b\c]d"#), r#"a\"b\\c\]d"#);
        assert_eq!(
            syslog_param("x\n\u{1b}[2Jy\u{202e}"),
            "x\u{fffd}\u{fffd}[2Jy\u{fffd}"
        );
        assert_eq!(syslog_param("Drägerwerk"), "Drägerwerk");
    }

    #[test]
    fn syslog_headers_are_printable_ascii() {
        assert_eq!(syslog_header("ward 3\u{e9}", 48), "ward_3_");
        assert_eq!(syslog_header("", 48), "-");
        assert_eq!(syslog_header("abcdef", 3), "abc");
        assert_eq!(line("a\r\nb"), "a\u{fffd}\u{fffd}b");
    }
}
