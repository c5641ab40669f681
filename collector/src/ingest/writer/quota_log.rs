//! Telling people what staging held back: agents over their asset quota, logged and recorded
//! at most so often.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::Writer;
use crate::audit::{EventKind, NewEvent};
use crate::ingest::core::Decision;
use crate::ingest::{BatchRequest, QuotaExceeded};
use crate::inventory::AgentId;
use crate::store::InventoryWriter;

/// How often one agent's quota refusals are logged at most.
const QUOTA_LOG_EVERY: Duration = Duration::from_secs(600);
/// How often one agent's quota refusals are recorded as an event at most.
const QUOTA_EVENT_EVERY: Duration = Duration::from_secs(3600);

/// The time a quota event was last recorded for an agent, and what was held back since.
#[derive(Debug, Clone, Copy)]
pub(super) struct QuotaNotice {
    logged: Instant,
    recorded: Option<Instant>,
    held: u64,
}

impl<S: InventoryWriter> Writer<S> {
    /// Logs what staging did that people must hear of; returns the events it records (an
    /// agent over its quota, at most once an hour each).
    pub(super) fn log_staging(
        &mut self,
        group: &[BatchRequest],
        decisions: &[Decision],
        refusals: &HashMap<AgentId, (u32, QuotaExceeded)>,
        at: jiff::Timestamp,
    ) -> Vec<NewEvent> {
        for (request, decision) in group.iter().zip(decisions) {
            if let Decision::Applied { clamped, .. } = decision
                && *clamped > 0
            {
                tracing::warn!(
                    agent_id = request.agent,
                    sequence = request.batch.sequence,
                    clamped,
                    "observations dated implausibly (agent clock wrong?) were stamped with their arrival time"
                );
            }
        }
        let now = Instant::now();
        let mut events = Vec::new();
        for (&agent, &(refused, reason)) in refusals {
            let site = self.agent_sites.get(&agent).map_or("?", String::as_str);
            let notice = self.quota_log.entry(agent).or_insert(QuotaNotice {
                logged: now.checked_sub(QUOTA_LOG_EVERY).unwrap_or(now),
                recorded: None,
                held: 0,
            });
            notice.held += u64::from(refused);
            let first = notice.recorded.is_none();
            if first || now.duration_since(notice.logged) >= QUOTA_LOG_EVERY {
                tracing::warn!(
                    agent_id = agent,
                    site,
                    refused = notice.held,
                    reason = %reason,
                    "agent over its quota of new assets: observations of devices not yet in the inventory were not applied"
                );
                notice.logged = now;
            }
            if notice
                .recorded
                .is_none_or(|recorded| now.duration_since(recorded) >= QUOTA_EVENT_EVERY)
            {
                events.push(NewEvent::new(
                    at,
                    None,
                    EventKind::AssetQuotaReached,
                    &serde_json::json!({
                        "agent_id": agent,
                        "site": site,
                        "refused": notice.held,
                        "reason": reason.to_string(),
                    }),
                ));
                notice.recorded = Some(now);
                notice.held = 0;
            }
        }
        events
    }
}
