//! Room on disk while writing: transactions, the full-disk mode and the reserve (Invariant 9),
//! and the checkpoints that keep the WAL within its allowance (Invariant 8).

use rusqlite::Transaction;

use super::error::{OutboxError, sqlite};
use super::space::{self, Disk, sibling};
use super::store::{Context, Outbox};

impl Outbox {
    /// Runs `operation` in one transaction, committed if it returns `Ok`.
    pub(super) fn transact<T>(
        &mut self,
        context: &'static str,
        operation: impl FnOnce(&Transaction<'_>, Context) -> Result<T, OutboxError>,
    ) -> Result<T, OutboxError> {
        let now = self.context();
        let transaction = self.connection.transaction().map_err(sqlite(context))?;
        let value = operation(&transaction, now)?;
        transaction.commit().map_err(sqlite(context))?;
        Ok(value)
    }

    /// A write that drains the outbox or keeps it going (forming, acknowledging, setting
    /// aside, reopening): it must work on a full filesystem (Invariant 9). If it fails for
    /// lack of space, the reserve is released and it runs once more.
    pub(super) fn drain_write<T>(
        &mut self,
        context: &'static str,
        mut operation: impl FnMut(&Transaction<'_>, Context) -> Result<T, OutboxError>,
    ) -> Result<T, OutboxError> {
        if self.disk_full {
            // Let the WAL start again from its beginning: its allocated bytes are reused.
            self.checkpoint(Checkpoint::Passive);
        }
        let result = match self.transact(context, &mut operation) {
            Err(error) if self.is_full(&error) => {
                self.note_disk_full(true);
                self.checkpoint(Checkpoint::Passive);
                self.transact(context, &mut operation).map_err(|error| {
                    if self.is_full(&error) {
                        self.disk_full_error()
                    } else {
                        error
                    }
                })
            }
            other => other,
        };
        self.after_write();
        result
    }

    pub(super) fn is_full(&self, error: &OutboxError) -> bool {
        matches!(error, OutboxError::DiskFull { .. })
            || error
                .sqlite_source()
                .is_some_and(|source| space::is_disk_full(source, &self.dir))
    }

    pub(super) fn disk_full_error(&self) -> OutboxError {
        OutboxError::DiskFull {
            path: self.path.clone(),
            disk: Disk::of(&self.dir),
            free: space::free_bytes(&self.dir).unwrap_or(0),
        }
    }

    /// Enters the full-disk mode (Invariant 9), saying so once; a drain write also releases
    /// the reserve, which appends never do, so what it frees is left to drain writes.
    pub(super) fn note_disk_full(&mut self, release_reserve: bool) {
        if !self.disk_full {
            tracing::error!(
                error = %self.disk_full_error(),
                "the outbox's filesystem is full"
            );
            self.disk_full = true;
        }
        if release_reserve
            && let Some(reserve) = self.reserve.as_mut().filter(|reserve| reserve.held())
        {
            match reserve.release() {
                Ok(()) => tracing::warn!(
                    bytes = reserve.bytes(),
                    disk = %Disk::of(&self.dir),
                    "the outbox's reserve was released so sending and acknowledging go on"
                ),
                Err(error) => tracing::error!(%error, "cannot delete the outbox's reserve"),
            }
        }
    }

    /// Writes the reserve again once the filesystem has room for it twice over, leaving the
    /// full-disk mode.
    pub(super) fn restore_reserve(&mut self) {
        let Some(reserve) = self.reserve.as_mut() else {
            return;
        };
        if reserve.held() {
            return;
        }
        match reserve.ensure(&self.dir) {
            Ok(true) if self.disk_full => {
                self.disk_full = false;
                tracing::info!(disk = %Disk::of(&self.dir), "room again on the outbox's filesystem: reserve restored");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot write the outbox's reserve"),
        }
    }

    /// Keeps the WAL within its allowance (Invariant 8): past half of it the WAL is
    /// checkpointed so the next write starts it again (and `journal_size_limit` trims it);
    /// past all of it, truncated at once, unless the disk is full (its bytes are then kept to
    /// be reused).
    pub(super) fn after_write(&mut self) {
        let wal =
            std::fs::metadata(sibling(&self.path, "-wal")).map_or(0, |metadata| metadata.len());
        if wal > self.budget.wal_bytes {
            self.checkpoint(if self.disk_full {
                Checkpoint::Passive
            } else {
                Checkpoint::Truncate
            });
        } else if wal > self.budget.wal_bytes / 2 {
            self.checkpoint(Checkpoint::Passive);
        }
        self.restore_reserve();
    }

    /// A checkpoint; its failure is not the operation's (the next one tries again).
    pub(super) fn checkpoint(&mut self, mode: Checkpoint) {
        let sql = match mode {
            Checkpoint::Passive => "PRAGMA wal_checkpoint(PASSIVE)",
            Checkpoint::Truncate => "PRAGMA wal_checkpoint(TRUNCATE)",
        };
        if let Err(error) = self.connection.query_row(sql, [], |_| Ok(())) {
            if space::is_disk_full(&error, &self.dir) {
                self.note_disk_full(false);
            }
            tracing::debug!(%error, "checkpoint failed");
        }
    }

    /// The pages the database file holds now.
    pub(super) fn file_pages(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |metadata| metadata.len()) / self.budget.page_size
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Checkpoint {
    Passive,
    Truncate,
}
