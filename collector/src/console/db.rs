//! The console's database connections: a few read-only ones, reused, each read on a blocking
//! thread; and, for registry changes, a connection of its own per change, as the command line
//! opens one (see the module docs of [`super`] for why that is the single writer's route).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::export::signing::Signer25519;
use crate::query::Query;
use crate::store::{Durability, SqliteStore, StoreError};

/// Reads at once: enough for a few people, never enough to starve the ingest writer's I/O.
const CONCURRENT_READS: usize = 4;

/// Why a database step failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Query(#[from] crate::query::QueryError),
    #[error("a database thread stopped")]
    Join,
}

/// Read-only connections to the inventory, reused.
#[derive(Debug)]
pub(crate) struct Readers {
    path: PathBuf,
    rules: Option<PathBuf>,
    idle: Mutex<Vec<Query<SqliteStore>>>,
    permits: Semaphore,
}

impl Readers {
    pub(crate) fn new(path: PathBuf, rules: Option<PathBuf>) -> Self {
        Readers {
            path,
            rules,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(CONCURRENT_READS),
        }
    }

    fn take(&self) -> Result<Query<SqliteStore>, StoreError> {
        let reused = match self.idle.lock() {
            Ok(mut idle) => idle.pop(),
            Err(poisoned) => poisoned.into_inner().pop(),
        };
        match reused {
            Some(query) => Ok(query),
            None => Ok(Query::new(
                SqliteStore::open_reader(&self.path)?,
                self.rules.clone(),
            )),
        }
    }

    fn give_back(&self, query: Query<SqliteStore>) {
        let mut idle = match self.idle.lock() {
            Ok(idle) => idle,
            Err(poisoned) => poisoned.into_inner(),
        };
        if idle.len() < CONCURRENT_READS {
            idle.push(query);
        }
    }

    /// Runs `read` on a read-only connection, on a blocking thread.
    pub(crate) async fn read<T, E>(
        self: &Arc<Self>,
        read: impl FnOnce(&Query<SqliteStore>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| E::from(DbError::Join))?;
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let query = readers
                .take()
                .map_err(|error| E::from(DbError::from(error)))?;
            let result = read(&query);
            readers.give_back(query);
            result
        })
        .await
        .map_err(|_| E::from(DbError::Join))?
    }
}

/// Opens the writer's side for one change, sealed with the collector's key.
#[derive(Debug)]
pub(crate) struct Changes {
    path: PathBuf,
    durability: Durability,
    signing_key: PathBuf,
    /// One console change at a time: they would only wait for each other's lock.
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl Changes {
    pub(crate) fn new(path: PathBuf, durability: Durability, signing_key: PathBuf) -> Self {
        Changes {
            path,
            durability,
            signing_key,
            one_at_a_time: tokio::sync::Mutex::new(()),
        }
    }

    /// Runs `change` on a writer connection, on a blocking thread.
    pub(crate) async fn write<T, E>(
        self: &Arc<Self>,
        change: impl FnOnce(&mut SqliteStore) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + From<crate::export::signing::KeyError> + Send + 'static,
    {
        let _turn = self.one_at_a_time.lock().await;
        let changes = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let signer = Signer25519::load(&changes.signing_key)?;
            let mut store = SqliteStore::open_writer(&changes.path, changes.durability)
                .map_err(|error| E::from(DbError::from(error)))?
                .with_sealer(signer);
            change(&mut store)
        })
        .await
        .map_err(|_| E::from(DbError::Join))?
    }
}
