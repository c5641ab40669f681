//! Where a sink's events come from: the event log through the read port (and, in tests, a
//! script). Reads are blocking SQLite calls: the runner makes them on the blocking pool.

use std::sync::Arc;

use super::alert::Alert;
use super::core::Candidate;
use super::rules::Rules;
use crate::store::{InventoryReader, StoreError};

/// Where a sink's events come from: the read port in production, a script in tests.
pub trait EventSource: Send {
    /// The last event's id (0 for none).
    fn head(&mut self) -> Result<i64, StoreError>;
    /// The events with ids in `first..=last`, in order; those `rules` may select come with
    /// their alert (the asset read through the port).
    fn read(&mut self, first: i64, last: i64, rules: &Rules) -> Result<Vec<Candidate>, StoreError>;
}

/// Opens a source (again after a failure).
pub type SourceFactory =
    Arc<dyn Fn() -> Result<Box<dyn EventSource>, StoreError> + Send + Sync + 'static>;

/// The event log read through [`InventoryReader`].
#[derive(Debug)]
pub struct StoreSource<R>(pub R);

impl<R: InventoryReader + Send> EventSource for StoreSource<R> {
    fn head(&mut self) -> Result<i64, StoreError> {
        Ok(self.0.event_head()?.0)
    }

    fn read(&mut self, first: i64, last: i64, rules: &Rules) -> Result<Vec<Candidate>, StoreError> {
        let mut events = Vec::new();
        self.0
            .events_range(first, last, &mut |event| events.push(event))?;
        events
            .into_iter()
            .map(|event| {
                let wanted = event.known_kind().is_some_and(|kind| rules.wants(kind));
                let alert = if wanted {
                    let view = match event.mac {
                        Some(mac) => self.0.asset(mac)?,
                        None => None,
                    };
                    Alert::build(&event, view.as_ref()).map(Box::new)
                } else {
                    None
                };
                Ok(Candidate {
                    id: event.id,
                    alert,
                })
            })
            .collect()
    }
}
