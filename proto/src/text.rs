//! Characters that must not reach a person's screen from a device-supplied string.

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

#[cfg(test)]
mod tests {
    use super::*;

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
