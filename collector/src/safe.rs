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
}
