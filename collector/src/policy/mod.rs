//! The clinical scan policy: what each site's agents must never probe actively.
//!
//! A site's policy lists every device whose category is protected (biomedical by default,
//! `[policy] protect_categories`) seen by the site's agents, unless an operator allowed probing
//! it; every registry entry marked do-not-probe; every device an operator denied; and the
//! site's configured exclusions (`[[policy.sites]]`). [`state`] holds the definition and keeps
//! it current, pure; the ingest writer drives it, persists what changed in the commit that
//! caused it, then publishes through [`PolicyChannels`] to the agents' streams.
//!
//! Invariants, each tested in `tests.rs` or the scenario files:
//! 1. After every update the policies equal those computed from scratch from the same inputs:
//!    classifying only changed assets, and rechecking only touched devices, misses nothing.
//! 2. An operator's `allow` lifts only a category's protection, never a registry entry's, a
//!    site exclusion's or a denial.
//! 3. Every device entering or leaving a site's policy is an event (`probing_forbidden`,
//!    `probing_permitted`), committed with the change that caused it.
//! 4. A site's version grows with every change of its policy, and across restarts: versions are
//!    persisted with the change, and the next one is above every version persisted.
//! 5. A policy too large for one message is sent as "probe nothing" (`passive_only`), never
//!    truncated.

mod channels;
mod overrides;
pub mod settings;
pub mod state;

pub use channels::PolicyChannels;
pub use overrides::{Decision, Override, OverrideSnapshot, UnknownDecision};
pub use settings::{Exclusion, ExclusionError, PolicySettings, SiteExclusions};
pub use state::{
    DeviceRow, Inputs, PolicyChanges, PolicyDevice, PolicyState, Reasons, SitePolicy, SiteRecord,
};

#[cfg(test)]
mod scenario_tests;
#[cfg(test)]
mod tests;
