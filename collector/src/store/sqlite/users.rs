//! The web console's local accounts. The store keeps what it is given: the console checks
//! names and roles and hashes passwords (`crate::console`); nothing here sees a password.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, from_micros, micros};
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

impl SqliteStore {
    /// Creates an account; refused if the name is taken.
    pub fn add_user(
        &mut self,
        name: &str,
        role: &str,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let inserted = self
            .connection
            .execute(
                "INSERT INTO users (name, role, password, created_at, changed_at)
                 VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (name) DO NOTHING",
                params![name, role, password_hash, micros(now)],
            )
            .map_err(StoreError::sqlite("adding a console user"))?;
        if inserted == 0 {
            return Err(StoreError::UserExists(name.to_owned()));
        }
        Ok(())
    }

    /// Replaces an account's password hash and, if given, its role; ends its sessions.
    pub fn change_user(
        &mut self,
        name: &str,
        password_hash: Option<&str>,
        role: Option<&str>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let changed = self
            .connection
            .execute(
                "UPDATE users SET password = coalesce(?2, password), role = coalesce(?3, role),
                    changed_at = max(?4, changed_at + 1)
                 WHERE name = ?1",
                params![name, password_hash, role, micros(now)],
            )
            .map_err(StoreError::sqlite("changing a console user"))?;
        if changed == 0 {
            return Err(StoreError::UnknownUser(name.to_owned()));
        }
        Ok(())
    }

    /// Deletes an account; its sessions end with it.
    pub fn remove_user(&mut self, name: &str) -> Result<(), StoreError> {
        let removed = self
            .connection
            .execute("DELETE FROM users WHERE name = ?1", [name])
            .map_err(StoreError::sqlite("removing a console user"))?;
        if removed == 0 {
            return Err(StoreError::UnknownUser(name.to_owned()));
        }
        Ok(())
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
mod tests {
    use super::*;

    #[test]
    fn accounts_are_added_changed_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inventory.sqlite");
        let mut store = SqliteStore::open_writer(&path, crate::store::Durability::Normal).unwrap();
        let t0: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
        store
            .add_user("alice", "biomed", "$argon2id$x", t0)
            .unwrap();
        assert!(matches!(
            store.add_user("alice", "viewer", "$argon2id$y", t0),
            Err(StoreError::UserExists(_))
        ));
        // The same instant still moves changed_at: a session of that instant ends.
        store
            .change_user("alice", Some("$argon2id$z"), None, t0)
            .unwrap();
        let reader = SqliteStore::open_reader(&path).unwrap();
        let alice = reader.user("alice").unwrap().unwrap();
        assert_eq!(alice.password, "$argon2id$z");
        assert_eq!(alice.role, "biomed");
        assert!(alice.changed_at > t0);
        assert_eq!(reader.users().unwrap().len(), 1);
        store.remove_user("alice").unwrap();
        assert!(reader.user("alice").unwrap().is_none());
        assert!(matches!(
            store.remove_user("alice"),
            Err(StoreError::UnknownUser(_))
        ));
    }
}
