//! Arbitrary text as the collector's configuration file: what `CollectorConfig::from_toml`
//! accepts keeps every bound it documents, and every path it yields is resolved against the
//! data directory (absolute).
#![no_main]

use std::path::Path;

use hygie_collector::config::CollectorConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = CollectorConfig::from_toml(text, Path::new("/etc/hygie")) else {
        return;
    };
    let writer = &config.writer;
    assert!(writer.retention.max_rows >= 1);
    assert!(writer.queue_batches >= 1);
    assert!(writer.max_group_observations >= 1);
    let flags = &writer.flag_rules;
    for window in [
        flags.stale_after,
        flags.new_window,
        flags.ip_change_window,
        flags.conflict_window,
        flags.conflict_hold,
    ] {
        assert!(window.is_positive(), "a flag window of {window:?}");
    }
    for gateway in &flags.gateways {
        assert!(!gateway.ip.is_unspecified() && !gateway.ip.is_multicast());
    }
    let pki = &config.pki;
    for path in [
        Some(&config.data_dir),
        Some(&config.database),
        Some(&config.signing_key),
        Some(&pki.ca_cert),
        Some(&pki.ca_key),
        Some(&pki.server_cert),
        Some(&pki.server_key),
        config.rules.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        assert!(path.is_absolute(), "{}", path.display());
    }
});
