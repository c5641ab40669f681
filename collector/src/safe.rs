//! Device-supplied strings (host names, TXT values, service names) are hostile. Every output
//! format defuses them its own way.

/// Terminal output: control characters and Unicode direction overrides (which can make text
/// read differently from what it is) become U+FFFD; a cell is cut at `max` characters.
pub fn terminal(text: &str, max: usize) -> String {
    let mut safe: String = text
        .chars()
        .map(|c| if dangerous(c) { '\u{fffd}' } else { c })
        .take(max)
        .collect();
    if text.chars().count() > max {
        safe.pop();
        safe.push('…');
    }
    safe
}

fn dangerous(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

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
    if cleaned.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cleaned}")
    } else {
        cleaned
    }
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
    fn terminal_strips_escapes_and_direction_overrides() {
        assert_eq!(
            terminal("pump\u{1b}[2J\u{7}", 40),
            "pump\u{fffd}[2J\u{fffd}"
        );
        assert_eq!(terminal("abc\u{202e}fed", 40), "abc\u{fffd}fed");
        assert_eq!(terminal("abcdef", 4), "abc…");
    }

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
    fn html_is_escaped() {
        assert_eq!(
            html("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }
}
