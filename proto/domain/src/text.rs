//! Device-supplied text: which characters must never reach a person's screen, and how
//! decoders clean host names, labels and values before they become observations. Control
//! characters and invisible formatting characters (direction overrides, zero-width characters;
//! see [`is_unsafe_char`]) never pass, and lengths are clamped to the contract's limits on a
//! character boundary, so a hostile device can neither get a batch refused nor rewrite an
//! operator's terminal.

use crate::limits;

/// True for control characters and for invisible formatting characters that can make text read
/// differently from what it is: direction overrides and isolates, zero-width characters, the
/// byte-order mark, soft hyphens and line/paragraph separators.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// Text for a terminal cell: unsafe characters become U+FFFD (an escape sequence could rewrite
/// the operator's screen), and the text is cut at `max` characters with an ellipsis.
pub fn terminal_safe(text: &str, max: usize) -> String {
    let mut safe: String = text
        .chars()
        .map(|c| if is_unsafe_char(c) { '\u{fffd}' } else { c })
        .take(max)
        .collect();
    if text.chars().count() > max {
        safe.pop();
        safe.push('…');
    }
    safe
}

/// Truncates to at most `max` bytes without splitting a character.
pub fn clamp(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// A host name in its normal form (lower case, no trailing dot), without control characters;
/// `None` if nothing is left.
pub fn clean_hostname(name: &str) -> Option<String> {
    let name = name.trim_end_matches('.');
    if printable_ascii(name) {
        let cleaned = clamp(name.to_ascii_lowercase(), limits::MAX_HOSTNAME_LEN);
        return (!cleaned.is_empty()).then_some(cleaned);
    }
    let cleaned: String = name
        .trim_end_matches('.')
        .chars()
        .filter(|c| !is_unsafe_char(*c))
        .flat_map(char::to_lowercase)
        .collect();
    let cleaned = clamp(cleaned, limits::MAX_HOSTNAME_LEN);
    (!cleaned.is_empty()).then_some(cleaned)
}

/// A name or key without control characters, at most `max` bytes; `None` if nothing is left.
pub fn clean_label(text: &str, max: usize) -> Option<String> {
    if printable_ascii(text) {
        let cleaned = clamp(text.to_owned(), max);
        return (!cleaned.is_empty()).then_some(cleaned);
    }
    let cleaned: String = text.chars().filter(|c| !is_unsafe_char(*c)).collect();
    let cleaned = clamp(cleaned, max);
    (!cleaned.is_empty()).then_some(cleaned)
}

/// Whether `text` is printable ASCII, which holds no unsafe character: the common case, kept
/// from decoding every character.
fn printable_ascii(text: &str) -> bool {
    text.bytes().all(|byte| (0x20..0x7f).contains(&byte))
}

/// A free-text value with control characters shown as U+FFFD, at most `max` bytes.
pub fn clean_value(text: &str, max: usize) -> String {
    if printable_ascii(text) {
        return clamp(text.to_owned(), max);
    }
    let cleaned: String = text
        .chars()
        .map(|c| if is_unsafe_char(c) { '\u{fffd}' } else { c })
        .collect();
    clamp(cleaned, max)
}

/// A compact UTC time for tables: `2026-11-25 10:00:00Z`.
pub fn short_time(timestamp: jiff::Timestamp) -> String {
    timestamp.strftime("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// Joins items into one terminal-safe cell of at most `max` characters.
pub fn joined_cell(items: impl IntoIterator<Item = impl AsRef<str>>, max: usize) -> String {
    let joined: Vec<String> = items
        .into_iter()
        .map(|item| item.as_ref().to_owned())
        .collect();
    terminal_safe(&joined.join(", "), max)
}

/// Renders rows as an aligned text table, columns two spaces apart. Cells must already be
/// terminal-safe ([`terminal_safe`], [`joined_cell`]).
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (cell, width) in cells.zip(&widths) {
            let pad = width.saturating_sub(cell.chars().count());
            text.push_str(cell);
            text.push_str(&" ".repeat(pad + 2));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let table = render_table(
            &["MAC", "NAME"],
            &[vec!["00:09:5c:11:22:01".into(), "mon".into()]],
        );
        assert_eq!(table, "MAC                NAME\n00:09:5c:11:22:01  mon\n");
        assert_eq!(joined_cell(["a", "b\u{1b}"], 10), "a, b\u{fffd}");
    }

    #[test]
    fn hostnames_are_normalised_and_defanged() {
        assert_eq!(
            clean_hostname("MON-ICU-01.local."),
            Some("mon-icu-01.local".into())
        );
        assert_eq!(
            clean_hostname("evil\u{1b}[2J.local"),
            Some("evil[2j.local".into())
        );
        assert_eq!(clean_hostname("\u{7}\u{7}."), None);
        let long = "é".repeat(200);
        let clamped = clean_hostname(&long).unwrap();
        assert!(clamped.len() <= limits::MAX_HOSTNAME_LEN);
        assert!(clamped.chars().all(|c| c == 'é'));
    }

    #[test]
    fn values_keep_their_length_budget() {
        assert_eq!(clean_value("a\nb", 10), "a\u{fffd}b");
        assert_eq!(clean_value("abcdef", 3), "abc");
        assert_eq!(clean_label("\u{0}", 5), None);
        assert_eq!(clean_label("ty", 5), Some("ty".into()));
        assert_eq!(
            clean_hostname("printer\u{202e}txt.local"),
            Some("printertxt.local".into())
        );
    }

    #[test]
    fn invisible_and_control_characters_are_unsafe() {
        for c in [
            '\u{1b}', '\u{7}', '\u{202e}', '\u{2066}', '\u{200b}', '\u{feff}', '\u{2028}',
        ] {
            assert!(is_unsafe_char(c), "{c:?}");
        }
        for c in ['a', 'é', '-', ' ', '’', '中'] {
            assert!(!is_unsafe_char(c), "{c:?}");
        }
    }

    #[test]
    fn terminal_cells_are_defused_and_bounded() {
        assert_eq!(
            terminal_safe("pump\u{1b}[2J\u{7}", 40),
            "pump\u{fffd}[2J\u{fffd}"
        );
        assert_eq!(terminal_safe("abc\u{202e}fed", 40), "abc\u{fffd}fed");
        assert_eq!(terminal_safe("abcdef", 4), "abc…");
        assert_eq!(terminal_safe("abcd", 4), "abcd");
    }
}
