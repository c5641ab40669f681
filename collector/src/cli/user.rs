//! `user`: the web console's local accounts. Passwords are read from the terminal without echo
//! (twice), or as the first line of standard input when it is not a terminal (scripts).

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use hygie_collector::config::CollectorConfig;
use hygie_collector::console::{self, Role};
use jiff::Timestamp;

use super::open::{DatabaseArg, open_reader, open_writer};
use super::operator::operator;
use super::output::print;

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Create a console account; the password is asked for (or read from standard input).
    Add {
        /// Login name (letters, digits, '.', '_', '-', '@').
        name: String,
        /// What it may do: viewer (read), biomed or it (read, approve and edit the registry),
        /// auditor (read, events, snapshots), admin (everything).
        #[arg(long)]
        role: Role,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Set an account's password (and role); its open sessions end.
    Passwd {
        /// Login name.
        name: String,
        /// A new role as well.
        #[arg(long)]
        role: Option<Role>,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Delete an account; its open sessions end.
    Remove {
        /// Login name.
        name: String,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// List the accounts.
    List {
        #[command(flatten)]
        database: DatabaseArg,
    },
}

pub(crate) fn user(command: UserCommand, config: &CollectorConfig, now: Timestamp) -> Result<()> {
    run(command, config, now, read_password)
}

/// `user`, with the new password asked for by `password` (the terminal, or a test's).
fn run(
    command: UserCommand,
    config: &CollectorConfig,
    now: Timestamp,
    password: impl Fn(&str) -> Result<String>,
) -> Result<()> {
    match command {
        UserCommand::Add {
            name,
            role,
            database,
        } => {
            let name = console::check_name(&name)?.to_owned();
            let hash = console::hash_password(&password(&name)?)?;
            let mut store = open_writer(config, &database)?;
            store.add_user(&name, role.as_str(), &hash, &operator(), now)?;
            println!("{name} added ({role}).");
            if config.console.is_none() {
                eprintln!(
                    "note: the console is off: add a [console] section to the configuration."
                );
            }
            Ok(())
        }
        UserCommand::Passwd {
            name,
            role,
            database,
        } => {
            let mut store = open_writer(config, &database)?;
            if store.user(&name)?.is_none() {
                bail!("no console user is named {name} (see `user list`)");
            }
            let hash = console::hash_password(&password(&name)?)?;
            store.change_user(&name, Some(&hash), role.map(Role::as_str), &operator(), now)?;
            println!("{name}: password changed; open sessions ended.");
            Ok(())
        }
        UserCommand::Remove { name, database } => {
            let mut store = open_writer(config, &database)?;
            store.remove_user(&name, &operator(), now)?;
            println!("{name} removed; open sessions ended.");
            Ok(())
        }
        UserCommand::List { database } => {
            let store = open_reader(config, &database)?;
            let mut out = String::from("NAME                              ROLE     CHANGED\n");
            for user in store.users()? {
                out.push_str(&format!(
                    "{:<33} {:<8} {}\n",
                    user.name,
                    user.role,
                    user.changed_at.strftime("%Y-%m-%d %H:%M")
                ));
            }
            print(&out)
        }
    }
}

/// The new password: asked twice without echo on a terminal, else the first line of stdin.
fn read_password(name: &str) -> Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        console::check_password(&password)?;
        return Ok(password);
    }
    let first = prompt(&format!("Password for {name}: "))?;
    console::check_password(&first)?;
    let second = prompt("Again: ")?;
    if first != second {
        bail!("the two passwords differ: nothing changed");
    }
    Ok(first)
}

fn prompt(text: &str) -> Result<String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    eprint!("{text}");
    std::io::stderr().flush()?;
    let saved = tcgetattr(&stdin).context("cannot read the terminal settings")?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).context("cannot turn off the echo")?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    eprintln!();
    read.context("cannot read the password")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

#[cfg(test)]
mod tests {
    use hygie_collector::store::{EventFilter, InventoryReader};

    use super::*;
    use crate::cli::operator::operator;
    use crate::cli::test_support::config_in;

    const PASSWORD: &str = "correct horse battery";

    fn now() -> Timestamp {
        "2026-11-25T10:00:00Z".parse().unwrap()
    }

    fn user_command(config: &CollectorConfig, command: UserCommand) -> Result<()> {
        run(command, config, now(), |_| Ok(PASSWORD.to_owned()))
    }

    #[test]
    fn account_commands_append_sealed_events_naming_the_operator() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path());
        let database = DatabaseArg::default;
        user_command(
            &config,
            UserCommand::Add {
                name: "bruno".into(),
                role: Role::Biomed,
                database: database(),
            },
        )
        .unwrap();
        user_command(
            &config,
            UserCommand::Passwd {
                name: "bruno".into(),
                role: Some(Role::Admin),
                database: database(),
            },
        )
        .unwrap();
        user_command(
            &config,
            UserCommand::Remove {
                name: "bruno".into(),
                database: database(),
            },
        )
        .unwrap();
        // Refused: nothing appended.
        assert!(
            user_command(
                &config,
                UserCommand::Remove {
                    name: "bruno".into(),
                    database: database(),
                },
            )
            .is_err()
        );
        let store = open_reader(&config, &database()).unwrap();
        let events = store.events(&EventFilter::default()).unwrap();
        let found: Vec<(String, serde_json::Value)> = events
            .iter()
            .map(|event| {
                assert!(!event.details.contains("argon2"), "{}", event.details);
                (
                    event.kind.clone(),
                    serde_json::from_str(&event.details).unwrap(),
                )
            })
            .collect();
        let by = operator();
        assert_eq!(
            found,
            [
                (
                    "account_added".into(),
                    serde_json::json!({"name": "bruno", "role": "biomed", "by": by})
                ),
                (
                    "account_changed".into(),
                    serde_json::json!({"name": "bruno", "role": "admin", "role_before": "biomed",
                        "password_changed": true, "by": by})
                ),
                (
                    "account_removed".into(),
                    serde_json::json!({"name": "bruno", "role": "admin", "by": by})
                ),
            ]
        );
        // `verify --events`: the chain and its seal.
        crate::cli::snapshot::verify_events(&config, &database(), None, None).unwrap();
    }
}
