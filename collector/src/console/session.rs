//! Console sessions, kept in memory. Pure: time and randomness are passed in.
//!
//! Invariants (tests below are named after them):
//! 1. A session id is 256 random bits, given to the browser once (the cookie) and kept only as
//!    its SHA-256: reading the table (a memory dump, a log) does not give a usable cookie.
//! 2. A session ends after `idle` without a request, after `lifetime` whatever its use, on
//!    logout, and when its account's password or role changed or the account was removed
//!    (checked against the store on every request: [`Session::user_changed_at`]).
//! 3. Every session has its own CSRF token; a change is accepted only with it, compared in
//!    constant time.
//! 4. The table is bounded: when full, expired sessions go first, then the least recently used.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::accounts::Role;

/// Most sessions held at once.
pub(crate) const MAX_SESSIONS: usize = 10_000;

/// One signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    /// The account.
    pub(crate) user: String,
    /// Its role when the session opened.
    pub(crate) role: Role,
    /// The token every form of this session carries.
    pub(crate) csrf: String,
    /// The account's `changed_at` when the session opened: a later one ends the session.
    pub(crate) user_changed_at: Timestamp,
    opened: Timestamp,
    last_used: Timestamp,
}

/// The sessions in force.
#[derive(Debug)]
pub(crate) struct Sessions {
    by_hash: HashMap<[u8; 32], Session>,
    idle: SignedDuration,
    lifetime: SignedDuration,
    max: usize,
}

fn digest(cookie: &str) -> [u8; 32] {
    Sha256::digest(cookie.as_bytes()).into()
}

/// Whether a form's token is the session's (Invariant 3).
pub(crate) fn csrf_matches(expected: &str, given: &str) -> bool {
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

impl Sessions {
    /// An empty table; sessions last `idle` without use and `lifetime` at most.
    pub(crate) fn new(idle: SignedDuration, lifetime: SignedDuration, max: usize) -> Self {
        Sessions {
            by_hash: HashMap::new(),
            idle,
            lifetime,
            max: max.max(1),
        }
    }

    fn alive(&self, session: &Session, now: Timestamp) -> bool {
        now.duration_since(session.last_used) < self.idle
            && now.duration_since(session.opened) < self.lifetime
    }

    /// Opens a session; returns the cookie value (Invariant 1) and the session.
    pub(crate) fn open(
        &mut self,
        now: Timestamp,
        user: &str,
        role: Role,
        user_changed_at: Timestamp,
        id: [u8; 32],
        csrf: [u8; 32],
    ) -> (String, Session) {
        if self.by_hash.len() >= self.max {
            self.by_hash.retain(|_, session| {
                now.duration_since(session.last_used) < self.idle
                    && now.duration_since(session.opened) < self.lifetime
            });
        }
        if self.by_hash.len() >= self.max
            && let Some(oldest) = self
                .by_hash
                .iter()
                .min_by_key(|(_, session)| session.last_used)
                .map(|(key, _)| *key)
        {
            self.by_hash.remove(&oldest);
        }
        let cookie = hex::encode(id);
        let session = Session {
            user: user.to_owned(),
            role,
            csrf: hex::encode(csrf),
            user_changed_at,
            opened: now,
            last_used: now,
        };
        self.by_hash.insert(digest(&cookie), session.clone());
        (cookie, session)
    }

    /// The session of `cookie` if it is alive (Invariant 2), marked used at `now`.
    pub(crate) fn get(&mut self, now: Timestamp, cookie: &str) -> Option<Session> {
        let key = digest(cookie);
        let session = self.by_hash.get(&key)?;
        if !self.alive(session, now) {
            self.by_hash.remove(&key);
            return None;
        }
        let session = self.by_hash.get_mut(&key)?;
        session.last_used = now;
        Some(session.clone())
    }

    /// Ends the session of `cookie` (logout, or its account changed).
    pub(crate) fn close(&mut self, cookie: &str) {
        self.by_hash.remove(&digest(cookie));
    }

    /// How many are held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_hash.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn table() -> Sessions {
        Sessions::new(
            SignedDuration::from_mins(30),
            SignedDuration::from_hours(12),
            3,
        )
    }

    #[test]
    fn invariant_1_only_the_hash_of_the_id_is_kept() {
        let mut sessions = table();
        let (cookie, session) =
            sessions.open(at(0), "alice", Role::Biomed, at(-5), [7; 32], [9; 32]);
        assert_eq!(cookie, "07".repeat(32));
        assert!(!format!("{sessions:?}").contains(&cookie));
        assert_eq!(
            sessions.get(at(1), &cookie),
            Some(Session {
                last_used: at(1),
                ..session
            })
        );
        assert_eq!(sessions.get(at(1), &"08".repeat(32)), None);
    }

    #[test]
    fn invariant_2_sessions_end_idle_old_or_closed() {
        let mut sessions = table();
        let (cookie, _) = sessions.open(at(0), "alice", Role::Viewer, at(0), [1; 32], [2; 32]);
        // Used every 29 minutes it lives on, until its lifetime.
        let mut now = 0;
        while now + 29 * 60 < 12 * 3600 {
            now += 29 * 60;
            assert!(sessions.get(at(now), &cookie).is_some(), "at {now}");
        }
        assert!(sessions.get(at(12 * 3600), &cookie).is_none(), "lifetime");
        let (cookie, _) = sessions.open(at(0), "bob", Role::Viewer, at(0), [3; 32], [4; 32]);
        assert!(sessions.get(at(30 * 60), &cookie).is_none(), "idle");
        let (cookie, _) = sessions.open(at(0), "carol", Role::Viewer, at(0), [5; 32], [6; 32]);
        sessions.close(&cookie);
        assert!(sessions.get(at(1), &cookie).is_none(), "logout");
    }

    #[test]
    fn invariant_3_csrf_tokens_are_per_session_and_compared_whole() {
        let mut sessions = table();
        let (_, a) = sessions.open(at(0), "alice", Role::Viewer, at(0), [1; 32], [2; 32]);
        let (_, b) = sessions.open(at(0), "alice", Role::Viewer, at(0), [3; 32], [4; 32]);
        assert_ne!(a.csrf, b.csrf);
        assert!(csrf_matches(&a.csrf, &a.csrf));
        assert!(!csrf_matches(&a.csrf, &b.csrf));
        assert!(!csrf_matches(&a.csrf, &a.csrf[..63]));
        assert!(!csrf_matches(&a.csrf, ""));
    }

    #[test]
    fn invariant_4_the_table_is_bounded() {
        let mut sessions = table();
        let (first, _) = sessions.open(at(0), "a", Role::Viewer, at(0), [1; 32], [0; 32]);
        let (second, _) = sessions.open(at(1), "b", Role::Viewer, at(0), [2; 32], [0; 32]);
        let (third, _) = sessions.open(at(2), "c", Role::Viewer, at(0), [3; 32], [0; 32]);
        assert!(sessions.get(at(3), &first).is_some());
        let (fourth, _) = sessions.open(at(4), "d", Role::Viewer, at(0), [4; 32], [0; 32]);
        assert_eq!(sessions.len(), 3);
        assert!(
            sessions.get(at(5), &second).is_none(),
            "least recently used"
        );
        for cookie in [&first, &third, &fourth] {
            assert!(sessions.get(at(5), cookie).is_some());
        }
    }
}
