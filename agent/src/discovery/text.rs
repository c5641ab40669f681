//! Cleaning device-supplied text (host names, service names, TXT values) before it becomes an
//! observation: control characters and invisible formatting characters (direction overrides,
//! zero-width characters; see [`hygie_proto::is_unsafe_char`]) never pass, and lengths are clamped to the contract's limits
//! on a character boundary, so a hostile device cannot get a batch refused or an operator's
//! terminal rewritten.

use hygie_proto::{is_unsafe_char, limits};

/// Truncates to at most `max` bytes without splitting a character.
fn clamp(mut text: String, max: usize) -> String {
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
    let cleaned: String = text.chars().filter(|c| !is_unsafe_char(*c)).collect();
    let cleaned = clamp(cleaned, max);
    (!cleaned.is_empty()).then_some(cleaned)
}

/// A free-text value with control characters shown as U+FFFD, at most `max` bytes.
pub fn clean_value(text: &str, max: usize) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if is_unsafe_char(c) { '\u{fffd}' } else { c })
        .collect();
    clamp(cleaned, max)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
