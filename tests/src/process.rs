//! Collector and agent processes, started from the real binaries with generated configuration.

use std::fs::{File, OpenOptions};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hygie_collector::inventory::Inventory;
use hygie_collector::store::{AgentRecord, InventoryReader, SqliteStore};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::bins::binary;
use crate::pki::AgentCerts;
use crate::wait_until;

/// Failures of the harness itself.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(transparent)]
    Binary(#[from] crate::bins::MissingBinary),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Timeout(String),
    #[error(transparent)]
    Store(#[from] hygie_collector::store::StoreError),
    #[error(transparent)]
    Netns(Box<crate::netns::NetnsError>),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
    let what = what.into();
    move |source| HarnessError::Io { what, source }
}

fn log_file(path: &Path) -> Result<(File, File), HarnessError> {
    let open = || {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io(format!("opening {}", path.display())))
    };
    Ok((open()?, open()?))
}

/// Sends SIGTERM and waits up to `grace` for the process to exit, then SIGKILLs it.
fn terminate(child: &mut Child, grace: Duration) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    let exited = wait_until(grace, Duration::from_millis(20), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Everything the collector's database holds, read through its own read path.
#[derive(Debug)]
pub struct Snapshot {
    /// The assets.
    pub inventory: Inventory,
    /// Registered agents.
    pub agents: Vec<AgentRecord>,
    /// Rows in the observation history.
    pub history: u64,
}

/// A `hygie-collector serve` process on 127.0.0.1.
#[derive(Debug)]
pub struct Collector {
    /// Its data directory.
    pub dir: PathBuf,
    /// Its port.
    pub port: u16,
    config: PathBuf,
    log: PathBuf,
    nofile: Option<u64>,
    child: Option<Child>,
}

impl Collector {
    /// Writes the configuration (PKI from `pki_dir`, data in `dir`) without starting anything.
    /// `extra` is appended to the TOML, e.g. a `[history]` section.
    pub fn configure(
        dir: &Path,
        pki: &hygie_collector::ca::PkiPaths,
        port: u16,
        extra: &str,
    ) -> Result<Self, HarnessError> {
        Self::configure_data_in(dir, dir, pki, port, extra)
    }

    /// Like [`Collector::configure`], with the data directory in `data` while the configuration
    /// and log stay in `dir`: a full-disk test fills `data` and still reads the log.
    pub fn configure_data_in(
        dir: &Path,
        data: &Path,
        pki: &hygie_collector::ca::PkiPaths,
        port: u16,
        extra: &str,
    ) -> Result<Self, HarnessError> {
        std::fs::create_dir_all(dir).map_err(io("creating the collector directory"))?;
        std::fs::create_dir_all(data).map_err(io("creating the data directory"))?;
        let config = dir.join("collector.toml");
        let text = format!(
            "listen = \"127.0.0.1:{port}\"\n\
             data_dir = \"{data}\"\n\
             [tls]\n\
             ca_cert = \"{ca}\"\nca_key = \"{ca_key}\"\n\
             server_cert = \"{cert}\"\nserver_key = \"{key}\"\n\
             {extra}\n",
            data = data.display(),
            ca = pki.ca_cert.display(),
            ca_key = pki.ca_key.display(),
            cert = pki.server_cert.display(),
            key = pki.server_key.display(),
        );
        // Every test collector serves metrics, on a port of its own: the default 9464 would be
        // shared by collectors running in parallel.
        let text = if extra.contains("[metrics]") {
            text
        } else {
            format!("{text}[metrics]\nlisten = \"127.0.0.1:0\"\n")
        };
        std::fs::write(&config, text).map_err(io("writing collector.toml"))?;
        Ok(Collector {
            dir: data.to_owned(),
            port,
            config,
            log: dir.join("collector.log"),
            nofile: None,
            child: None,
        })
    }

    /// The arguments of `hygie-collector` that serve this configuration.
    pub fn serve_args(&self) -> [&std::ffi::OsStr; 3] {
        [
            "--config".as_ref(),
            self.config.as_os_str(),
            "serve".as_ref(),
        ]
    }

    /// Two handles on the log file (for stdout and stderr), appending.
    pub fn log_files(&self) -> Result<(File, File), HarnessError> {
        log_file(&self.log)
    }

    /// Runs the process (from the next start on) with at most `limit` open descriptors, soft
    /// and hard, as a service manager would (systemd's default soft limit is 1024).
    pub fn limit_descriptors(&mut self, limit: u64) {
        self.nofile = Some(limit);
    }

    /// Starts the process and waits up to 20 s until its port accepts connections.
    pub fn start(&mut self) -> Result<(), HarnessError> {
        self.start_within(Duration::from_secs(20))
    }

    /// Starts the process and waits up to `ready` until its port accepts connections (it
    /// listens once it has loaded the inventory: long for a large one).
    pub fn start_within(&mut self, ready: Duration) -> Result<(), HarnessError> {
        let (stdout, stderr) = log_file(&self.log)?;
        let program = binary("hygie-collector")?;
        let mut command = match self.nofile {
            // The shell sets the limit and execs the collector, which keeps its pid; setrlimit in
            // a pre_exec hook would need unsafe code.
            Some(limit) => {
                let mut command = Command::new("/bin/sh");
                command
                    .arg("-c")
                    .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                    .arg(program);
                command
            }
            None => Command::new(program),
        };
        let child = command
            .args(self.serve_args())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(io("starting hygie-collector"))?;
        self.child = Some(child);
        let address = format!("127.0.0.1:{}", self.port);
        let ready = wait_until(ready, Duration::from_millis(20), || {
            TcpStream::connect(&address).is_ok()
        });
        if !ready {
            return Err(HarnessError::Timeout(format!(
                "the collector did not listen on {address}; log:\n{}",
                self.log()
            )));
        }
        Ok(())
    }

    /// SIGKILL: no chance to flush or finish anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait: a graceful stop.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child, Duration::from_secs(30));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The process's peak resident memory so far (VmHWM), in KiB, while running.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let value = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))?;
        value.trim().trim_end_matches("kB").trim().parse().ok()
    }

    /// The inventory database file.
    pub fn database(&self) -> PathBuf {
        self.dir.join("inventory.sqlite")
    }

    /// Reads the database through the collector's read path.
    pub fn snapshot(&self) -> Result<Snapshot, HarnessError> {
        let store = SqliteStore::open_reader(&self.database())?;
        Ok(Snapshot {
            inventory: store.inventory()?,
            agents: store.agents()?,
            history: store.history_len()?,
        })
    }

    /// Rows in the observation history, or 0 if there is no database yet.
    pub fn history_len(&self) -> u64 {
        SqliteStore::open_reader(&self.database())
            .and_then(|store| store.history_len())
            .unwrap_or(0)
    }

    /// The process's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `hygie-collector` with this configuration, for one-shot commands such as `assets`.
    pub fn command(&self) -> Result<Command, HarnessError> {
        let mut command = Command::new(binary("hygie-collector")?);
        command.arg("--config").arg(&self.config);
        Ok(command)
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The configuration of a test agent.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// Certificates to present.
    pub certs: AgentCerts,
    /// Collector port on 127.0.0.1.
    pub port: u16,
    /// JSON-lines files to read, and whether to follow each.
    pub files: Vec<(PathBuf, bool)>,
    /// Extra TOML for the `[uplink]` section (e.g. fast backoff for tests).
    pub uplink: String,
    /// Where the outbox is (default: `outbox.sqlite` in the agent's directory).
    pub outbox_path: Option<PathBuf>,
    /// Extra TOML for the `[outbox]` section (e.g. `max_size`).
    pub outbox: String,
}

impl AgentSpec {
    /// An agent reading `files` with test-friendly backoff (100 ms to 500 ms).
    pub fn new(certs: AgentCerts, port: u16, files: Vec<(PathBuf, bool)>) -> Self {
        AgentSpec {
            certs,
            port,
            files,
            uplink:
                "backoff_initial = \"100ms\"\nbackoff_max = \"500ms\"\nbatch_max_delay = \"50ms\"\n"
                    .into(),
            outbox_path: None,
            outbox: String::new(),
        }
    }

    /// The TOML text of this configuration, with the outbox at `outbox`.
    pub fn toml(&self, outbox: &Path) -> String {
        let mut text = format!(
            "[collector]\n\
             endpoint = \"https://127.0.0.1:{port}\"\n\
             ca = \"{ca}\"\ncert = \"{cert}\"\nkey = \"{key}\"\n\
             connect_timeout = \"2s\"\n\
             [uplink]\n{uplink}\n\
             [outbox]\npath = \"{outbox}\"\n{outbox_extra}\n",
            port = self.port,
            ca = self.certs.ca.display(),
            cert = self.certs.cert.display(),
            key = self.certs.key.display(),
            uplink = self.uplink,
            outbox = outbox.display(),
            outbox_extra = self.outbox,
        );
        for (path, follow) in &self.files {
            text.push_str(&format!(
                "[[sources.file]]\npath = \"{}\"\nfollow = {follow}\npoll_interval = \"20ms\"\n",
                path.display()
            ));
        }
        text
    }
}

/// A `hygie-agent run` process.
#[derive(Debug)]
pub struct Agent {
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Agent {
    /// Writes the configuration into `dir` and starts the agent.
    pub fn start(dir: &Path, spec: &AgentSpec) -> Result<Self, HarnessError> {
        std::fs::create_dir_all(dir).map_err(io("creating the agent directory"))?;
        let config = dir.join("agent.toml");
        let outbox = spec
            .outbox_path
            .clone()
            .unwrap_or_else(|| dir.join("outbox.sqlite"));
        std::fs::write(&config, spec.toml(&outbox)).map_err(io("writing agent.toml"))?;
        let log = dir.join("agent.log");
        let mut agent = Agent {
            config,
            log,
            child: None,
        };
        agent.restart()?;
        Ok(agent)
    }

    /// Starts the process (again) with the same configuration and outbox.
    pub fn restart(&mut self) -> Result<(), HarnessError> {
        let (stdout, stderr) = log_file(&self.log)?;
        let child = Command::new(binary("hygie-agent")?)
            .arg("run")
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(io("starting hygie-agent"))?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGTERM and wait.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child, Duration::from_secs(15));
        }
    }

    /// SIGKILL: no chance to finish a write, an upload or an acknowledgement.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// The process's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its configuration file, for one-shot commands such as `outbox` and `validate`.
    pub fn config(&self) -> &Path {
        &self.config
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}
