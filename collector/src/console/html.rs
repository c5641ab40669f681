//! What every page's text goes through: askama's escaping plus the defusing of control and
//! direction characters that [`crate::safe::html`] does (the escaper named in `askama.toml`),
//! masked CSRF tokens, and the ways pages write times.

use std::fmt::{self, Write};

use jiff::Timestamp;

/// The templates' escaper: `&<>"'` as entities, dangerous characters as U+FFFD.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Escaper;

impl askama::filters::Escaper for Escaper {
    fn write_escaped_str<W: Write>(&self, mut dest: W, string: &str) -> fmt::Result {
        for c in string.chars() {
            match c {
                '&' => dest.write_str("&amp;")?,
                '<' => dest.write_str("&lt;")?,
                '>' => dest.write_str("&gt;")?,
                '"' => dest.write_str("&quot;")?,
                '\'' => dest.write_str("&#39;")?,
                c if hygie_proto::is_unsafe_char(c) => dest.write_char('\u{fffd}')?,
                c => dest.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// A CSRF token as a page carries it: a fresh pad and the token XORed with it, so a compressed
/// page does not repeat the secret bytes from one response to the next (BREACH).
pub(crate) fn mask_token(token: &str, pad: [u8; 32]) -> String {
    let bytes = hex::decode(token).unwrap_or_default();
    let masked: Vec<u8> = bytes
        .iter()
        .zip(pad.iter().cycle())
        .map(|(byte, pad)| byte ^ pad)
        .collect();
    format!("{}{}", hex::encode(pad), hex::encode(masked))
}

/// The token a form carried, unmasked; `None` if it is not a masked token.
pub(crate) fn unmask_token(field: &str) -> Option<String> {
    if field.len() != 128 {
        return None;
    }
    let pad = hex::decode(&field[..64]).ok()?;
    let masked = hex::decode(&field[64..]).ok()?;
    let token: Vec<u8> = masked
        .iter()
        .zip(&pad)
        .map(|(byte, pad)| byte ^ pad)
        .collect();
    Some(hex::encode(token))
}

/// A time as pages show it: `2026-11-25 10:04 UTC`.
pub(crate) fn when(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// A time with seconds, for logs: `2026-11-25 10:04:07`.
pub(crate) fn when_exact(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// How long ago, roughly: `3 min`, `5 h`, `2 days`.
pub(crate) fn ago(now: Timestamp, then: Timestamp) -> String {
    let seconds = now.duration_since(then).as_secs().max(0);
    match seconds {
        0..60 => format!("{seconds} s"),
        60..7200 => format!("{} min", seconds / 60),
        7200..172_800 => format!("{} h", seconds / 3600),
        _ => format!("{} days", seconds / 86_400),
    }
}

/// Form and query values as a URL query (`a=1&b=x%20y`).
pub(crate) fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (key, value) in pairs.iter().filter(|(_, value)| !value.is_empty()) {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(key);
        out.push('=');
        for byte in value.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b':') {
                out.push(char::from(byte));
            } else {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use askama::filters::Escaper as _;

    #[test]
    fn hostile_text_is_inert() {
        let mut out = String::new();
        Escaper
            .write_escaped_str(
                &mut out,
                "<script>alert(1)</script>\"><img src=x onerror=y>\u{202e}",
            )
            .unwrap();
        assert_eq!(
            out,
            "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=y&gt;\u{fffd}"
        );
    }

    #[test]
    fn masked_tokens_differ_and_unmask() {
        let token = "ab".repeat(32);
        let one = mask_token(&token, [1; 32]);
        let two = mask_token(&token, [2; 32]);
        assert_ne!(one, two);
        assert_eq!(unmask_token(&one).as_deref(), Some(token.as_str()));
        assert_eq!(unmask_token(&two).as_deref(), Some(token.as_str()));
        assert_eq!(unmask_token("zz"), None);
        assert_eq!(unmask_token(&"g".repeat(128)), None);
    }

    #[test]
    fn queries_are_encoded() {
        assert_eq!(
            query_string(&[("search", "a b&c"), ("flag", ""), ("site", "chu-nord")]),
            "search=a%20b%26c&site=chu-nord"
        );
    }
}
