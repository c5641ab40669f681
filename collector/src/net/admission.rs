//! Who may hold a connection: the counts behind the front door's decisions, without any I/O.
//!
//! Three bounds, checked in this order:
//! 1. Connections in total (handshaking or open) stay under `max_connections`, itself kept under
//!    the process's descriptor limit, so the collector can always accept an honest agent's
//!    reconnection once a hostile peer's connections time out.
//! 2. Handshakes in progress, in total and per remote address: a peer that opens TCP connections
//!    and never completes TLS holds at most `max_handshakes_per_address` of them, each for at most
//!    the handshake timeout.
//! 3. Open connections per agent identity: an agent needs one. Past the cap the *oldest*
//!    connection of that identity is closed, not the new one: an agent that reconnects after a
//!    network cut must not wait for its half-open old connections to time out. A peer holding a
//!    stolen key can then only displace itself.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use tokio_util::sync::CancellationToken;

use crate::ca::RevokedSerials;
use crate::identity::AgentIdentity;

/// The bounds of [`ConnectionTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Connections in total, handshaking or open.
    pub max_connections: usize,
    /// TLS handshakes in progress, in total.
    pub max_handshakes: usize,
    /// TLS handshakes in progress from one remote address.
    pub max_handshakes_per_address: usize,
    /// Open connections of one agent identity.
    pub max_connections_per_agent: usize,
}

impl Default for AdmissionLimits {
    fn default() -> Self {
        AdmissionLimits {
            max_connections: 1024,
            max_handshakes: 256,
            max_handshakes_per_address: 16,
            max_connections_per_agent: 4,
        }
    }
}

/// Why a new TCP connection is closed before its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0} connections are open, the most allowed")]
    TooManyConnections(usize),
    #[error("{0} TLS handshakes are in progress, the most allowed")]
    TooManyHandshakes(usize),
    #[error("{0} TLS handshakes from this address are in progress, the most allowed")]
    TooManyHandshakesFromAddress(usize),
}

impl Refusal {
    /// A short name for logs and counters.
    pub fn kind(self) -> &'static str {
        match self {
            Refusal::TooManyConnections(_) => "connections",
            Refusal::TooManyHandshakes(_) => "handshakes",
            Refusal::TooManyHandshakesFromAddress(_) => "handshakes_per_address",
        }
    }
}

/// Identifies one open connection; increases with age.
pub type ConnectionId = u64;

/// An open connection, as the table knows it.
#[derive(Debug, Clone)]
pub struct OpenConnection {
    /// Who it authenticated as.
    pub identity: AgentIdentity,
    /// Its certificate's serial, in [`crate::ca::normal_serial`]'s form.
    pub serial: String,
    /// The peer's address.
    pub remote: SocketAddr,
    /// Cancelled to close the connection.
    pub closing: CancellationToken,
}

/// A connection the table closed to make room or because its certificate was revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// The connection.
    pub id: ConnectionId,
    /// Whose it was.
    pub identity: AgentIdentity,
    /// Where from.
    pub remote: SocketAddr,
}

/// Counts of handshaking and open connections.
#[derive(Debug, Default)]
pub struct ConnectionTable {
    limits: AdmissionLimits,
    handshaking: HashMap<IpAddr, usize>,
    handshaking_total: usize,
    open: BTreeMap<ConnectionId, OpenConnection>,
    per_agent: HashMap<AgentIdentity, usize>,
    next_id: ConnectionId,
}

impl ConnectionTable {
    /// An empty table with these bounds.
    pub fn new(limits: AdmissionLimits) -> Self {
        ConnectionTable {
            limits,
            ..ConnectionTable::default()
        }
    }

    /// Connections handshaking or open.
    pub fn total(&self) -> usize {
        self.handshaking_total + self.open.len()
    }

    /// Open connections.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Open connections of `identity`.
    pub fn open_of(&self, identity: &AgentIdentity) -> usize {
        self.per_agent.get(identity).copied().unwrap_or(0)
    }

    /// A TCP connection from `address` wants to start TLS: admits it or says why not. An
    /// admitted handshake must be ended with [`ConnectionTable::end_handshake`].
    pub fn begin_handshake(&mut self, address: IpAddr) -> Result<(), Refusal> {
        if self.total() >= self.limits.max_connections {
            return Err(Refusal::TooManyConnections(self.total()));
        }
        if self.handshaking_total >= self.limits.max_handshakes {
            return Err(Refusal::TooManyHandshakes(self.handshaking_total));
        }
        let from_address = self.handshaking.entry(address).or_insert(0);
        if *from_address >= self.limits.max_handshakes_per_address {
            return Err(Refusal::TooManyHandshakesFromAddress(*from_address));
        }
        *from_address += 1;
        self.handshaking_total += 1;
        Ok(())
    }

    /// The handshake from `address` finished, successfully or not.
    pub fn end_handshake(&mut self, address: IpAddr) {
        if let Some(count) = self.handshaking.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                self.handshaking.remove(&address);
            }
            self.handshaking_total -= 1;
        }
    }

    /// Records an authenticated connection (its handshake already ended). Closes, and returns,
    /// the oldest connections of the same identity beyond the per-agent cap.
    pub fn open(&mut self, connection: OpenConnection) -> (ConnectionId, Vec<Closed>) {
        let mut closed = Vec::new();
        while self.open_of(&connection.identity) >= self.limits.max_connections_per_agent.max(1) {
            let oldest = self
                .open
                .iter()
                .find(|(_, open)| open.identity == connection.identity)
                .map(|(&id, _)| id);
            match oldest.and_then(|id| self.close_with(id)) {
                Some(gone) => closed.push(gone),
                None => break,
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        *self
            .per_agent
            .entry(connection.identity.clone())
            .or_insert(0) += 1;
        self.open.insert(id, connection);
        (id, closed)
    }

    /// Forgets a connection that ended (idempotent).
    pub fn close(&mut self, id: ConnectionId) {
        if let Some(open) = self.open.remove(&id) {
            self.forget_agent(&open.identity);
        }
    }

    /// Closes every open connection whose certificate serial is in `revoked`.
    pub fn close_revoked(&mut self, revoked: &RevokedSerials) -> Vec<Closed> {
        let ids: Vec<ConnectionId> = self
            .open
            .iter()
            .filter(|(_, open)| revoked.contains(&open.serial))
            .map(|(&id, _)| id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.close_with(id))
            .collect()
    }

    fn close_with(&mut self, id: ConnectionId) -> Option<Closed> {
        let open = self.open.remove(&id)?;
        open.closing.cancel();
        self.forget_agent(&open.identity);
        Some(Closed {
            id,
            identity: open.identity,
            remote: open.remote,
        })
    }

    fn forget_agent(&mut self, identity: &AgentIdentity) {
        if let Some(count) = self.per_agent.get_mut(identity) {
            *count -= 1;
            if *count == 0 {
                self.per_agent.remove(identity);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> AdmissionLimits {
        AdmissionLimits {
            max_connections: 6,
            max_handshakes: 4,
            max_handshakes_per_address: 2,
            max_connections_per_agent: 2,
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([198, 18, 0, last])
    }

    fn connection(name: &str, serial: &str, last: u8) -> OpenConnection {
        OpenConnection {
            identity: AgentIdentity::new(name, "chu").unwrap(),
            serial: serial.to_owned(),
            remote: SocketAddr::new(ip(last), 40_000),
            closing: CancellationToken::new(),
        }
    }

    #[test]
    fn handshakes_are_bounded_per_address_and_in_total() {
        let mut table = ConnectionTable::new(limits());
        assert!(table.begin_handshake(ip(1)).is_ok());
        assert!(table.begin_handshake(ip(1)).is_ok());
        assert_eq!(
            table.begin_handshake(ip(1)),
            Err(Refusal::TooManyHandshakesFromAddress(2))
        );
        assert!(table.begin_handshake(ip(2)).is_ok());
        assert!(table.begin_handshake(ip(3)).is_ok());
        assert_eq!(
            table.begin_handshake(ip(4)),
            Err(Refusal::TooManyHandshakes(4))
        );
        table.end_handshake(ip(1));
        assert!(table.begin_handshake(ip(1)).is_ok(), "room again");
        // Ending a handshake that was never begun changes nothing.
        table.end_handshake(ip(9));
        assert_eq!(table.total(), 4);
    }

    #[test]
    fn open_connections_count_against_the_total() {
        let mut table = ConnectionTable::new(limits());
        for (index, name) in ["a", "b", "c", "d", "e", "f"].iter().enumerate() {
            table.open(connection(name, &index.to_string(), 1));
        }
        assert_eq!(
            table.begin_handshake(ip(7)),
            Err(Refusal::TooManyConnections(6))
        );
    }

    #[test]
    fn the_oldest_connection_of_an_identity_gives_way() {
        let mut table = ConnectionTable::new(limits());
        let first = connection("ward-3", "1", 1);
        let first_closing = first.closing.clone();
        let (first_id, _) = table.open(first);
        let (second_id, closed) = table.open(connection("ward-3", "1", 1));
        assert!(closed.is_empty());
        table.open(connection("ward-4", "2", 2));
        let (_, closed) = table.open(connection("ward-3", "1", 1));
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].id, first_id);
        assert!(first_closing.is_cancelled());
        assert_eq!(
            table.open_of(&AgentIdentity::new("ward-3", "chu").unwrap()),
            2
        );
        // Closing an evicted connection again is harmless.
        table.close(first_id);
        table.close(second_id);
        assert_eq!(
            table.open_of(&AgentIdentity::new("ward-3", "chu").unwrap()),
            1
        );
        assert_eq!(table.open_count(), 2);
    }

    #[test]
    fn revoked_serials_close_their_connections_only() {
        let mut table = ConnectionTable::new(limits());
        let revoked = connection("ward-3", "1f", 1);
        let kept = connection("ward-4", "20", 2);
        let (revoked_closing, kept_closing) = (revoked.closing.clone(), kept.closing.clone());
        table.open(revoked);
        table.open(kept);
        let revoked = RevokedSerials::new(1, std::collections::HashSet::from(["1f".to_owned()]));
        let closed = table.close_revoked(&revoked);
        assert_eq!(closed.len(), 1);
        assert!(revoked_closing.is_cancelled());
        assert!(!kept_closing.is_cancelled());
        assert_eq!(table.open_count(), 1);
    }
}
