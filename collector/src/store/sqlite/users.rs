//! The web console's local accounts. The store keeps what it is given: the console checks
//! names and roles and hashes passwords (`crate::console`); nothing here sees a password.
//!
//! Invariants:
//! 1. Every account change (add, password or role change, removal) appends exactly one event
//!    to the hash-chained log (`account_added`, `account_changed`, `account_removed`), in the
//!    same transaction: neither happens without the other, and a refused change appends none.
//! 2. An account event holds the name, the role (and the role before, when a change altered
//!    it) and who made the change (`by`); never the password or its hash.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use super::{SqliteStore, events, from_micros, micros};
use crate::audit::{EventKind, NewEvent};
use crate::store::StoreError;

/// One console account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Login name.
    pub name: String,
    /// Role name (`viewer`, `biomed`, `it`, `auditor`, `admin`).
    pub role: String,
    /// The argon2id hash, PHC string.
    pub password: String,
    /// When the account was created.
    pub created_at: Timestamp,
    /// When its password or role last changed: sessions opened before are over.
    pub changed_at: Timestamp,
}

const COLUMNS: &str = "name, role, password, created_at, changed_at";

fn decode(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, String, i64, i64)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

/// The role of the account `name`; refused if there is none.
fn role_of(
    connection: &Connection,
    name: &str,
    context: &'static str,
) -> Result<String, StoreError> {
    connection
        .query_row("SELECT role FROM users WHERE name = ?1", [name], |row| {
            row.get(0)
        })
        .optional()
        .map_err(StoreError::sqlite(context))?
        .ok_or_else(|| StoreError::UnknownUser(name.to_owned()))
}

fn record(
    (name, role, password, created, changed): (String, String, String, i64, i64),
) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        name,
        role,
        password,
        created_at: from_micros(created)?,
        changed_at: from_micros(changed)?,
    })
}

/// An account event's details: who the account is, its role, and who changed it. Never the
/// password or its hash (Invariant 2).
#[derive(Serialize)]
struct AccountDetails<'a> {
    name: &'a str,
    /// The role it has (after a change; when removed, the one it had).
    role: &'a str,
    /// The role before a change that altered it.
    #[serde(skip_serializing_if = "Option::is_none")]
    role_before: Option<&'a str>,
    /// On a change: whether the password was replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    password_changed: Option<bool>,
    by: &'a str,
}

impl SqliteStore {
    /// Runs one account change in an immediate transaction with its event (Invariant 1):
    /// `change` does the change and returns its event, or refuses.
    fn account_change(
        &mut self,
        context: &'static str,
        change: impl FnOnce(&Connection) -> Result<NewEvent, StoreError>,
    ) -> Result<(), StoreError> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::sqlite(context))?;
        let event = change(&transaction)?;
        events::append(&transaction, &[event], self.sealer.as_ref())?;
        transaction.commit().map_err(StoreError::sqlite(context))
    }

    /// Creates an account, with an `account_added` event naming `by`; refused if the name is
    /// taken.
    pub fn add_user(
        &mut self,
        name: &str,
        role: &str,
        password_hash: &str,
        by: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let context = "adding a console user";
        self.account_change(context, |connection| {
            let inserted = connection
                .execute(
                    "INSERT INTO users (name, role, password, created_at, changed_at)
                     VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (name) DO NOTHING",
                    params![name, role, password_hash, micros(now)],
                )
                .map_err(StoreError::sqlite(context))?;
            if inserted == 0 {
                return Err(StoreError::UserExists(name.to_owned()));
            }
            Ok(NewEvent::new(
                now,
                None,
                EventKind::AccountAdded,
                &AccountDetails {
                    name,
                    role,
                    role_before: None,
                    password_changed: None,
                    by,
                },
            ))
        })
    }

    /// Replaces an account's password hash and, if given, its role, with an `account_changed`
    /// event naming `by`; ends its sessions.
    pub fn change_user(
        &mut self,
        name: &str,
        password_hash: Option<&str>,
        role: Option<&str>,
        by: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let context = "changing a console user";
        self.account_change(context, |connection| {
            let before = role_of(connection, name, context)?;
            connection
                .execute(
                    "UPDATE users SET password = coalesce(?2, password), role = coalesce(?3, role),
                        changed_at = max(?4, changed_at + 1)
                     WHERE name = ?1",
                    params![name, password_hash, role, micros(now)],
                )
                .map_err(StoreError::sqlite(context))?;
            let after = role.unwrap_or(&before);
            Ok(NewEvent::new(
                now,
                None,
                EventKind::AccountChanged,
                &AccountDetails {
                    name,
                    role: after,
                    role_before: Some(before.as_str()).filter(|before| *before != after),
                    password_changed: Some(password_hash.is_some()),
                    by,
                },
            ))
        })
    }

    /// Deletes an account, with an `account_removed` event naming `by`; its sessions end with
    /// it.
    pub fn remove_user(&mut self, name: &str, by: &str, now: Timestamp) -> Result<(), StoreError> {
        let context = "removing a console user";
        self.account_change(context, |connection| {
            let role = role_of(connection, name, context)?;
            connection
                .execute("DELETE FROM users WHERE name = ?1", [name])
                .map_err(StoreError::sqlite(context))?;
            Ok(NewEvent::new(
                now,
                None,
                EventKind::AccountRemoved,
                &AccountDetails {
                    name,
                    role: &role,
                    role_before: None,
                    password_changed: None,
                    by,
                },
            ))
        })
    }

    /// Every account, by name.
    pub fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let context = "listing console users";
        let mut statement = self
            .connection
            .prepare(&format!("SELECT {COLUMNS} FROM users ORDER BY name"))
            .map_err(StoreError::sqlite(context))?;
        let rows = statement
            .query_map([], decode)
            .map_err(StoreError::sqlite(context))?;
        let mut users = Vec::new();
        for row in rows {
            users.push(record(row.map_err(StoreError::sqlite(context))?)?);
        }
        Ok(users)
    }

    /// One account (an indexed read: the console checks it on every request).
    pub fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = self
            .connection
            .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE name = ?1"))
            .and_then(|mut statement| statement.query_row([name], decode).optional())
            .map_err(StoreError::sqlite("reading a console user"))?;
        row.map(record).transpose()
    }
}

#[cfg(test)]
mod tests;
