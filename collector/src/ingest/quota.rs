//! Quotas on new assets per agent and per site, so an agent inventing MACs cannot grow the
//! collector without bound (each asset costs about a kilobyte of memory and several rows).
//!
//! An asset counts against the agent that first reported it (and that agent's site); on start
//! the counts are rebuilt from the inventory, attributing each asset to the agent with the
//! earliest sighting. The hourly window is kept in minute buckets and starts empty after a
//! restart. Observations of *known* assets are never refused: only the creation of new ones.
//! Pure: time is passed in.

use std::collections::{HashMap, VecDeque};

use jiff::Timestamp;

use crate::inventory::{AgentId, Inventory};

/// The bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaLimits {
    /// New assets one agent may create in any hour.
    pub new_assets_per_agent_per_hour: u32,
    /// Assets one agent may have created in all.
    pub assets_per_agent: u32,
    /// Assets the agents of one site may have created in all.
    pub assets_per_site: u32,
}

impl Default for QuotaLimits {
    fn default() -> Self {
        // A large hospital site has tens of thousands of devices; an agent on a /16 may find
        // ten thousand in its first hour. Set well above that, well below memory trouble.
        QuotaLimits {
            new_assets_per_agent_per_hour: 20_000,
            assets_per_agent: 100_000,
            assets_per_site: 250_000,
        }
    }
}

/// Which quota refused a new asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuotaExceeded {
    #[error("{0} new assets in the last hour, the most allowed per agent")]
    AgentHourly(u32),
    #[error("{0} assets reported first by this agent, the most allowed")]
    AgentTotal(u32),
    #[error("{0} assets on this site, the most allowed")]
    SiteTotal(u32),
}

#[derive(Debug, Default, Clone)]
struct AgentCounts {
    total: u32,
    /// (minute since the epoch, new assets in it), oldest first, within the last hour.
    minutes: VecDeque<(i64, u32)>,
}

impl AgentCounts {
    fn last_hour(&mut self, minute: i64) -> u32 {
        while self
            .minutes
            .front()
            .is_some_and(|&(bucket, _)| bucket <= minute - 60)
        {
            self.minutes.pop_front();
        }
        self.minutes.iter().map(|&(_, count)| count).sum()
    }

    fn add(&mut self, minute: i64) {
        self.total += 1;
        match self.minutes.back_mut() {
            Some((bucket, count)) if *bucket == minute => *count += 1,
            _ => self.minutes.push_back((minute, 1)),
        }
    }
}

/// The counts behind the quotas.
#[derive(Debug, Clone, Default)]
pub struct AssetQuotas {
    limits: QuotaLimits,
    agents: HashMap<AgentId, AgentCounts>,
    sites: HashMap<String, u32>,
    agent_sites: HashMap<AgentId, String>,
}

impl AssetQuotas {
    /// Counts rebuilt from `inventory`; `agent_sites` maps each known agent to its site.
    pub fn new(
        limits: QuotaLimits,
        inventory: &Inventory,
        agent_sites: HashMap<AgentId, String>,
    ) -> Self {
        let mut quotas = AssetQuotas {
            limits,
            agent_sites,
            ..AssetQuotas::default()
        };
        for asset in inventory.assets() {
            let first = asset
                .sightings
                .iter()
                .min_by_key(|(_, sighting)| sighting.seen.first())
                .map(|(&agent, _)| agent);
            if let Some(agent) = first {
                quotas.agents.entry(agent).or_default().total += 1;
                if let Some(site) = quotas.agent_sites.get(&agent) {
                    *quotas.sites.entry(site.clone()).or_insert(0) += 1;
                }
            }
        }
        quotas
    }

    /// Records the site of an agent (at registration).
    pub fn set_site(&mut self, agent: AgentId, site: &str) {
        if self
            .agent_sites
            .get(&agent)
            .is_none_or(|known| known != site)
        {
            self.agent_sites.insert(agent, site.to_owned());
        }
    }

    /// Whether `agent` may create one more asset at `now`; counts it if so.
    pub fn admit(&mut self, agent: AgentId, now: Timestamp) -> Result<(), QuotaExceeded> {
        let minute = now.as_second().div_euclid(60);
        let limits = self.limits;
        let counts = self.agents.entry(agent).or_default();
        if counts.total >= limits.assets_per_agent {
            return Err(QuotaExceeded::AgentTotal(counts.total));
        }
        let last_hour = counts.last_hour(minute);
        if last_hour >= limits.new_assets_per_agent_per_hour {
            return Err(QuotaExceeded::AgentHourly(last_hour));
        }
        if let Some(site) = self.agent_sites.get(&agent) {
            let on_site = self.sites.get(site).copied().unwrap_or(0);
            if on_site >= limits.assets_per_site {
                return Err(QuotaExceeded::SiteTotal(on_site));
            }
            *self.sites.entry(site.clone()).or_insert(0) += 1;
        }
        counts.add(minute);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::*;

    fn limits() -> QuotaLimits {
        QuotaLimits {
            new_assets_per_agent_per_hour: 3,
            assets_per_agent: 5,
            assets_per_site: 7,
        }
    }

    fn at(minutes: i64) -> Timestamp {
        Timestamp::from_second(1_795_000_000).unwrap() + SignedDuration::from_mins(minutes)
    }

    fn quotas() -> AssetQuotas {
        AssetQuotas::new(
            limits(),
            &Inventory::new(),
            HashMap::from([(1, "chu".to_owned()), (2, "chu".to_owned())]),
        )
    }

    #[test]
    fn the_hourly_quota_slides() {
        let mut quotas = quotas();
        for minute in 0..3 {
            assert_eq!(quotas.admit(1, at(minute)), Ok(()));
        }
        assert_eq!(quotas.admit(1, at(30)), Err(QuotaExceeded::AgentHourly(3)));
        // An hour after the first, one slot is free again.
        assert_eq!(quotas.admit(1, at(60)), Ok(()));
        assert!(quotas.admit(1, at(60)).is_err());
    }

    #[test]
    fn totals_bind_per_agent_and_per_site() {
        let mut quotas = quotas();
        for hour in 0..5 {
            assert_eq!(quotas.admit(1, at(hour * 60)), Ok(()));
        }
        assert_eq!(quotas.admit(1, at(600)), Err(QuotaExceeded::AgentTotal(5)));
        assert_eq!(quotas.admit(2, at(600)), Ok(()));
        assert_eq!(quotas.admit(2, at(600)), Ok(()));
        assert_eq!(quotas.admit(2, at(600)), Err(QuotaExceeded::SiteTotal(7)));
        // An agent of another site is not held back by this one.
        quotas.set_site(3, "other");
        assert_eq!(quotas.admit(3, at(600)), Ok(()));
    }
}
