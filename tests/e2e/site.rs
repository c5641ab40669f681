//! The collector-and-agents fixture the spine and audit tests share: real processes, real
//! SQLite, mutual TLS with a test PKI.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hygie_tests::pki::TestPki;
use hygie_tests::process::{Agent, AgentSpec, Collector};
use hygie_tests::{free_port, wait_until};
use tempfile::TempDir;

/// A collector with its own directory, test PKI and port, and the agents pointed at it.
pub(crate) struct Site {
    pub(crate) dir: TempDir,
    pub(crate) pki: TestPki,
    pub(crate) collector: Collector,
}

impl Site {
    /// A collector configured (not started) with `extra_collector_toml` appended.
    pub(crate) fn new(extra_collector_toml: &str) -> Site {
        Site::build(None, extra_collector_toml)
    }

    /// Like [`Site::new`], with the collector's data directory in `data` (its configuration and
    /// log stay in the site's directory).
    pub(crate) fn with_data_in(data: &Path, extra_collector_toml: &str) -> Site {
        Site::build(Some(data), extra_collector_toml)
    }

    fn build(data: Option<&Path>, extra_collector_toml: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::create(&dir.path().join("pki")).unwrap();
        let config_dir = dir.path().join("collector");
        let collector = Collector::configure_data_in(
            &config_dir,
            data.unwrap_or(&config_dir),
            &pki.paths,
            free_port().unwrap(),
            extra_collector_toml,
        )
        .unwrap();
        Site {
            dir,
            pki,
            collector,
        }
    }

    /// A path in the site's directory.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts agent `name` of site `chu-test` reading `files` (path, follow).
    pub(crate) fn agent(&self, name: &str, files: Vec<(PathBuf, bool)>) -> Agent {
        let certs = self.pki.agent(name, "chu-test").unwrap();
        Agent::start(
            &self.path(name),
            &AgentSpec::new(certs, self.collector.port, files),
        )
        .unwrap()
    }

    /// Waits until the history holds `count` observations; on timeout, shows the logs.
    pub(crate) fn wait_for_history(&self, count: u64, timeout: Duration, agent: &Agent) {
        let reached = wait_until(timeout, Duration::from_millis(100), || {
            self.collector.history_len() >= count
        });
        assert!(
            reached,
            "history has {} of {count} observations\n--- collector log ---\n{}\n--- agent log ---\n{}",
            self.collector.history_len(),
            self.collector.log(),
            agent.log()
        );
    }
}
