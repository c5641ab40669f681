//! Who runs a command, as the event log names them: every change made on the command line
//! (registry, `approve`, scan policy decisions, console accounts) records it as `by`.

/// The OS user, and the one behind sudo (`alice (sudo)`).
pub(crate) fn operator() -> String {
    let uid = nix::unistd::getuid();
    let name = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| format!("uid {uid}"), |user| user.name);
    behind_sudo(
        uid.is_root(),
        &name,
        std::env::var("SUDO_USER").ok().as_deref(),
    )
}

/// Names the user who ran sudo when root runs on their behalf.
fn behind_sudo(root: bool, name: &str, sudo_user: Option<&str>) -> String {
    match sudo_user {
        Some(sudo) if root && !sudo.is_empty() && sudo != name => format!("{sudo} (sudo)"),
        _ => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sudo_names_who_ran_it() {
        assert_eq!(behind_sudo(true, "root", Some("alice")), "alice (sudo)");
        assert_eq!(behind_sudo(true, "root", None), "root");
        assert_eq!(behind_sudo(true, "root", Some("")), "root");
        assert_eq!(behind_sudo(true, "root", Some("root")), "root");
        // SUDO_USER means nothing when the command does not run as root.
        assert_eq!(behind_sudo(false, "bob", Some("alice")), "bob");
    }

    #[test]
    fn the_operator_is_never_empty() {
        assert!(!operator().is_empty());
    }
}
