//! What `hygie-agent` and `hygie-collector` do alike as programs: read their TOML
//! configuration (one error type, whose messages the troubleshooting guide lists once) and set
//! up logging (structured, to standard error, colours only for a person at a terminal).
//!
//! Each daemon validates its own sections into its own typed settings; this crate only knows
//! files, TOML and keys.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A configuration that cannot be used, with the offending file or key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML, or not of the expected shape (an unknown key, a wrong type). The
    /// parser's message (line, column, a caret under the fault) follows as the source.
    #[error("{path} is not valid TOML")]
    Parse {
        /// The file (empty for text not read from a file).
        path: PathBuf,
        /// The parser's message.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A value the daemon cannot use.
    #[error("{key}: {reason}")]
    Invalid {
        /// Its key, dotted (`console.proxy.from`).
        key: String,
        /// What is wrong and what to give instead.
        reason: String,
    },
}

impl ConfigError {
    /// A value of `key` that cannot be used, and why.
    pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// This error, as found in the file at `path` (text parsed before its path was known).
    #[must_use]
    pub fn in_file(self, path: &Path) -> Self {
        match self {
            ConfigError::Parse { source, .. } => ConfigError::Parse {
                path: path.to_owned(),
                source,
            },
            other => other,
        }
    }
}

/// The document `text` as `T` (`T` denies unknown fields, as every section does).
///
/// # Errors
/// [`ConfigError::Parse`], without a path (see [`ConfigError::in_file`]).
pub fn parse_toml<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|source| ConfigError::Parse {
        path: PathBuf::new(),
        source: Box::new(source),
    })
}

/// The text of the configuration file at `path`.
///
/// # Errors
/// [`ConfigError::Read`].
pub fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Logs to standard error at `default_level` unless `RUST_LOG` says otherwise; colours only
/// for a person at a terminal, none in the journal or a log file.
pub fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Section {
        listen: String,
    }

    #[test]
    fn a_parse_error_names_its_file_once_and_keeps_the_parsers_words() {
        let error = parse_toml::<Section>("listen = 3\n")
            .unwrap_err()
            .in_file(Path::new("/etc/hygie/agent.toml"));
        assert_eq!(error.to_string(), "/etc/hygie/agent.toml is not valid TOML");
        let source = std::error::Error::source(&error).unwrap().to_string();
        assert!(source.contains("line 1"), "{source}");
        let unknown = parse_toml::<Section>("listen = \"x\"\nlisen = 1\n").unwrap_err();
        assert!(
            std::error::Error::source(&unknown)
                .unwrap()
                .to_string()
                .contains("unknown field")
        );
    }

    #[test]
    fn invalid_values_name_their_key() {
        let error = ConfigError::invalid("console.listen", "must be an address:port");
        assert_eq!(error.to_string(), "console.listen: must be an address:port");
        assert!(matches!(
            read_file(Path::new("/nonexistent/hygie.toml")),
            Err(ConfigError::Read { .. })
        ));
    }
}
