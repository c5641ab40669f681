//! SQLite stores integers as `i64`; the outbox's sequences, counts, offsets and inodes are
//! `u64` that never come near `i64::MAX`. Converted checked both ways, so a corrupt value
//! saturates instead of wrapping.

/// A value to bind.
pub(super) fn sql<T: TryInto<i64>>(value: T) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

/// A value read back; a negative one (never written by the outbox) reads as 0.
pub(super) fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}
