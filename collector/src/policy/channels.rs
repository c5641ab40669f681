//! Where the writer publishes each site's scan policy and agents' streams pick it up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use hygie_proto::ScanPolicy;
use tokio::sync::watch;

/// The current policy of every site, each behind a watch channel.
#[derive(Debug, Default)]
pub struct PolicyChannels {
    sites: Mutex<HashMap<String, watch::Sender<Arc<ScanPolicy>>>>,
}

impl PolicyChannels {
    /// Channels with no policy yet (sites get an empty version-0 policy until published).
    pub fn new() -> Arc<Self> {
        Arc::new(PolicyChannels::default())
    }

    /// A receiver of `site`'s policy: its current value, then every change.
    pub fn subscribe(&self, site: &str) -> watch::Receiver<Arc<ScanPolicy>> {
        let mut sites = self.sites.lock().unwrap_or_else(PoisonError::into_inner);
        sites
            .entry(site.to_owned())
            .or_insert_with(|| watch::Sender::new(Arc::new(ScanPolicy::default())))
            .subscribe()
    }

    /// Publishes `site`'s policy if it changed; returns whether it did.
    pub fn publish(&self, site: &str, policy: ScanPolicy) -> bool {
        let mut sites = self.sites.lock().unwrap_or_else(PoisonError::into_inner);
        let sender = sites
            .entry(site.to_owned())
            .or_insert_with(|| watch::Sender::new(Arc::new(ScanPolicy::default())));
        sender.send_if_modified(|current| {
            if **current == policy {
                false
            } else {
                *current = Arc::new(policy);
                true
            }
        })
    }

    /// The current policy of `site`.
    pub fn current(&self, site: &str) -> Arc<ScanPolicy> {
        Arc::clone(&self.subscribe(site).borrow())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_see_the_current_policy_then_changes() {
        let channels = PolicyChannels::new();
        let mut receiver = channels.subscribe("chu");
        assert_eq!(receiver.borrow_and_update().version, 0);
        let policy = ScanPolicy {
            version: 2,
            ..ScanPolicy::default()
        };
        assert!(channels.publish("chu", policy.clone()));
        assert!(
            !channels.publish("chu", policy),
            "unchanged: not sent again"
        );
        receiver.changed().await.unwrap();
        assert_eq!(receiver.borrow_and_update().version, 2);
        assert_eq!(channels.current("other").version, 0, "sites are separate");
    }
}
