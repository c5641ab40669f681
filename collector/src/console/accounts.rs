//! Who may do what, account names, and password hashing (argon2id).

use std::fmt;
use std::str::FromStr;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

/// A console account's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads the inventory.
    Viewer,
    /// Biomedical engineering: reads, approves and edits the registry.
    Biomed,
    /// Hospital IT: reads, approves and edits the registry.
    It,
    /// Reads, and checks the audit trail: the event log, its chain, signed snapshots.
    Auditor,
    /// Everything, including the accounts.
    Admin,
}

/// What a request needs its user to be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Read the inventory: overview, assets, asset pages, downloads of a listing.
    Read,
    /// Approve, edit or remove registry entries, import a CMMS file.
    ChangeRegistry,
    /// The event log and its chain check, signed snapshots and the public key.
    Audit,
}

impl Role {
    /// Every role, least powerful first.
    pub const ALL: [Role; 5] = [
        Role::Viewer,
        Role::Biomed,
        Role::It,
        Role::Auditor,
        Role::Admin,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Biomed => "biomed",
            Role::It => "it",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may do `capability`.
    pub fn may(self, capability: Capability) -> bool {
        match capability {
            Capability::Read => true,
            Capability::ChangeRegistry => matches!(self, Role::Biomed | Role::It | Role::Admin),
            Capability::Audit => matches!(self, Role::Auditor | Role::Admin),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a role (viewer, biomed, it, auditor, admin)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        Role::ALL
            .into_iter()
            .find(|role| role.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| UnknownRole(text.chars().take(32).collect()))
    }
}

/// An account name or password that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error(
        "user name {0:?} is not allowed: use 1 to 64 letters, digits, '.', '_', '-' or '@', starting with a letter or digit"
    )]
    BadName(String),
    #[error("the password is too short: use at least {MIN_PASSWORD_CHARS} characters")]
    ShortPassword,
    #[error("the password is too long: at most {MAX_PASSWORD_BYTES} bytes")]
    LongPassword,
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted (hashing cost grows with it).
pub(crate) const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks a user name: what it may be is narrow, so it is safe in logs, events and pages.
pub fn check_name(name: &str) -> Result<&str, AccountError> {
    let bad = || AccountError::BadName(name.chars().take(64).collect());
    let first = name.chars().next().ok_or_else(bad)?;
    if name.len() > 64
        || !first.is_ascii_alphanumeric()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(bad());
    }
    Ok(name)
}

/// Checks a new password's length.
pub fn check_password(password: &str) -> Result<(), AccountError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AccountError::LongPassword);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccountError::ShortPassword);
    }
    Ok(())
}

/// Argon2id with OWASP's first recommended setting (19 MiB, 2 passes, 1 lane).
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The argon2id hash of `password`, as a PHC string with a random salt.
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    check_password(password)?;
    hasher()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|error| AccountError::Hash(error.to_string()))
}

/// Whether `password` matches the stored PHC `hash` (false for a hash that does not parse).
pub fn verify_password(password: &str, hash: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    PasswordHash::new(hash).is_ok_and(|parsed| {
        hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash that matches no password, verified for unknown names so that a login for an
/// account that does not exist costs the same time as one with a wrong password.
pub(crate) fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password never used").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_what_they_may_do() {
        use Capability::*;
        let table = [
            (Role::Viewer, [true, false, false]),
            (Role::Biomed, [true, true, false]),
            (Role::It, [true, true, false]),
            (Role::Auditor, [true, false, true]),
            (Role::Admin, [true, true, true]),
        ];
        for (role, expected) in table {
            let got = [Read, ChangeRegistry, Audit].map(|capability| role.may(capability));
            assert_eq!(got, expected, "{role}");
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn names_are_narrow() {
        for good in ["alice", "j.dupont", "bio-med_2", "a@chu.example"] {
            assert_eq!(check_name(good), Ok(good));
        }
        for bad in ["", "-x", "<script>", "a b", "é", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("anything", "not a hash"));
        assert!(!verify_password("correct horse battery", decoy_hash()));
        assert_eq!(hash_password("short"), Err(AccountError::ShortPassword));
        assert_ne!(
            hash,
            hash_password("correct horse battery").unwrap(),
            "salted"
        );
    }
}
