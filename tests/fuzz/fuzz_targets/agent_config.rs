//! Arbitrary text as the agent's configuration file: what `AgentConfig::from_toml` accepts
//! keeps every bound it documents, and every path it yields is resolved against the file's
//! directory (absolute).
#![no_main]

use std::path::Path;
use std::time::Duration;

use hygie_agent::config::{AgentConfig, MIN_OUTBOX_BYTES};
use hygie_domain::limits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = AgentConfig::from_toml(text, Path::new("/etc/hygie")) else {
        return;
    };
    let endpoint = &config.collector.endpoint;
    assert_eq!(endpoint.scheme_str(), Some("https"), "{endpoint}");
    assert!(endpoint.host().is_some(), "{endpoint}");
    let uplink = &config.uplink;
    assert!((1..=limits::MAX_BATCH_OBSERVATIONS).contains(&uplink.batch_max_observations));
    assert!((1..=1024).contains(&uplink.in_flight_batches));
    assert!(!uplink.backoff_initial.is_zero() && uplink.backoff_max >= uplink.backoff_initial);
    assert!(config.outbox.max_bytes >= MIN_OUTBOX_BYTES);
    for source in &config.file_sources {
        assert!(source.poll_interval >= Duration::from_millis(10));
        assert!(source.path.is_absolute(), "{}", source.path.display());
    }
    for path in [
        &config.collector.ca,
        &config.collector.cert,
        &config.collector.key,
        &config.outbox.path,
    ] {
        assert!(path.is_absolute(), "{}", path.display());
    }
    if let Some(discovery) = &config.discovery {
        if let Err(error) = discovery.validate() {
            panic!("accepted discovery settings fail validation: {error}");
        }
    }
});
