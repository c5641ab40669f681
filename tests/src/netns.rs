//! A simulated care-facility LAN built from Linux network namespaces, for end-to-end tests and
//! benchmarks of discovery (ARP, mDNS).
//!
//! A [`Lan`] is a bridge `br0` living in its own namespace; every host is another namespace
//! joined to the bridge by a veth pair, and [`Lan::add_macvlan_hosts`] packs hundreds of hosts
//! into one namespace as macvlan interfaces stacked on a single veth. Nothing is ever created,
//! changed or sent in the namespace the tests run in: every `ip` command names a namespace this
//! module created (`ip -n NS`, `ip netns exec NS`), host addresses must lie in the RFC 2544
//! benchmarking range 198.18.0.0/15, and the bridge namespace has IPv6 disabled and no address,
//! so the switch itself never speaks on the LAN.
//!
//! Namespace names are `hygie-<pid>-<lan seq>-<label>` for the bridge and
//! `hygie-<pid>-<lan seq>-<label>.<host>` for hosts. Dropping the [`Lan`] (also while a test
//! panics) kills every process spawned in it, then every other process still inside one of its
//! namespaces, then deletes the namespaces. A run killed with SIGKILL leaves its namespaces
//! behind; [`cleanup_stale`], which the first [`Lan::new`] of each process also runs, deletes
//! those whose creating process is gone, and never touches any other namespace.
//!
//! Everything here needs root ([`is_root`]) and iproute2's `ip`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{ErrorKind, Write as _};
use std::net::{Ipv4Addr, UdpSocket};
use std::ops::{Deref, DerefMut};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{
    Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Output, Stdio,
};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use hygie_proto::MacAddr;
use ipnet::Ipv4Net;
use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::{Pid, geteuid};

/// Where `ip netns` keeps its named namespaces.
pub const NETNS_DIR: &str = "/var/run/netns";
/// The prefix of every namespace this module creates.
pub const NAMESPACE_PREFIX: &str = "hygie-";
/// The bridge inside a [`Lan`]'s bridge namespace.
pub const BRIDGE: &str = "br0";
/// The LAN interface of a host made by [`Lan::add_host`].
pub const HOST_INTERFACE: &str = "eth0";
/// The veth end, inside a macvlan group's namespace, that carries its macvlan interfaces.
pub const TRUNK_INTERFACE: &str = "trunk";
/// The range every address handed to this module must lie in (RFC 2544, benchmarking).
pub const TEST_NETWORK: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(198, 18, 0, 0), 15);
/// The broadcast/multicast queue requested for macvlan groups (the kernel default is 1,000
/// frames, shared by all the macvlans of one trunk).
pub const MACVLAN_BROADCAST_QUEUE: u32 = 4096;

/// The longest interface name Linux accepts (IFNAMSIZ - 1).
const MAX_INTERFACE_NAME: usize = 15;
/// The longest LAN label or host name, to keep namespace names readable.
const MAX_NAME: usize = 32;
/// The most hosts in one macvlan group (interfaces are named `mv0`..`mv99999`).
const MAX_GROUP: usize = 100_000;

/// Sequence number of the next [`Lan`] of this process.
static LAN_SEQ: AtomicU32 = AtomicU32::new(0);
/// Namespaces owned by live [`Lan`]s of this process; registered before they are created.
static LIVE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
/// Serialises `ip netns add`: its first use sets up the shared mount of [`NETNS_DIR`], which
/// races when several run at once.
static NETNS_ADD: Mutex<()> = Mutex::new(());
/// The stale-namespace sweep run once per process by the first [`Lan::new`].
static STARTUP_SWEEP: OnceLock<()> = OnceLock::new();

/// Failures of the namespace harness. Command failures carry the command line and its stderr.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// Not running as root.
    #[error("network namespaces need root (effective uid is {uid})")]
    NotRoot {
        /// The effective uid.
        uid: u32,
    },
    /// A name, address or argument was refused before anything was run.
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        /// What was being checked ("host name", "address", ...).
        what: &'static str,
        /// The value refused.
        value: String,
        /// Why.
        reason: String,
    },
    /// A namespace that this [`Lan`] did not create (or not of the required kind).
    #[error("namespace {namespace:?} is not {expected} of this Lan")]
    ForeignNamespace {
        /// The namespace named.
        namespace: String,
        /// What it had to be.
        expected: &'static str,
    },
    /// A command could not be started.
    #[error("could not run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The error from the operating system.
        #[source]
        source: std::io::Error,
    },
    /// A command ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line (for `ip -batch`, with the failing batch line).
        command: String,
        /// Its exit status.
        status: ExitStatus,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// Another I/O failure (reading `/proc`, writing a sysctl, waiting for a child, ...).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A system call failed (`setns`, `kill`, ...).
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: nix::Error,
    },
    /// A thread that entered a namespace did not end up in it; nothing was done there.
    #[error("entering namespace {namespace:?} did not take effect")]
    NotEntered {
        /// The namespace.
        namespace: String,
    },
}

type Result<T, E = NetnsError> = std::result::Result<T, E>;

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> NetnsError {
    let what = what.into();
    move |source| NetnsError::Io { what, source }
}

fn sys_error(what: impl Into<String>) -> impl FnOnce(nix::Error) -> NetnsError {
    let what = what.into();
    move |source| NetnsError::Sys { what, source }
}

fn invalid(what: &'static str, value: impl Into<String>, reason: impl Into<String>) -> NetnsError {
    NetnsError::Invalid {
        what,
        value: value.into(),
        reason: reason.into(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// True when running as root (namespaces need it).
pub fn is_root() -> bool {
    geteuid().is_root()
}

fn require_root() -> Result<()> {
    if is_root() {
        Ok(())
    } else {
        Err(NetnsError::NotRoot {
            uid: geteuid().as_raw(),
        })
    }
}

/// The names of all namespaces in [`NETNS_DIR`] (any owner), sorted.
pub fn list_namespaces() -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(NETNS_DIR) {
        Ok(entries) => entries,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(io_error(format!("listing {NETNS_DIR}"))(error)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_error(format!("listing {NETNS_DIR}")))?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// The pid encoded in a namespace name made by this module (`hygie-<pid>-<seq>-<rest>`).
fn owner_of(namespace: &str) -> Option<u32> {
    let rest = namespace.strip_prefix(NAMESPACE_PREFIX)?;
    let mut parts = rest.splitn(3, '-');
    let pid = parts.next()?;
    let seq = parts.next()?;
    let tail = parts.next()?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(seq) || tail.is_empty() {
        return None;
    }
    pid.parse().ok()
}

/// Whether process `pid` exists and is not a zombie (a SIGKILLed owner can stay one for a
/// while, until its parent reaps it).
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ...": the state follows the last ')', as comm may contain one.
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next()),
            Some("Z" | "X" | "x")
        ),
        Err(error) => error.kind() != ErrorKind::NotFound,
    }
}

/// Deletes the namespaces left by runs of this harness whose creating process is dead (for
/// instance SIGKILLed), after killing any process still inside them, and returns their names.
///
/// Only names of the form `hygie-<pid>-<seq>-...` are considered. A namespace is stale when no
/// process `<pid>` exists (or only its zombie), or when `<pid>` is this process but no live [`Lan`] of it owns the
/// namespace (a leftover of an earlier process that had the same pid). A reused pid makes a
/// stale namespace look alive: such a namespace is kept, never a live one deleted.
pub fn cleanup_stale() -> Result<Vec<String>> {
    require_root()?;
    let own = std::process::id();
    let stale: Vec<String> = {
        // Held while listing, so a Lan of this process cannot register and create a namespace
        // between the snapshot and the listing.
        let live = lock(&LIVE);
        list_namespaces()?
            .into_iter()
            .filter(|name| match owner_of(name) {
                Some(pid) if pid == own => !live.contains(name),
                Some(pid) => !process_alive(pid),
                None => false,
            })
            .collect()
    };
    if !stale.is_empty() {
        delete_namespaces(&stale)?;
    }
    Ok(stale)
}

fn namespace_path(namespace: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(namespace)
}

/// (device, inode) of a namespace file, which identifies the namespace.
fn namespace_id(path: &Path) -> std::io::Result<(u64, u64)> {
    let metadata = std::fs::metadata(path)?;
    Ok((metadata.dev(), metadata.ino()))
}

/// Processes (other than this one) whose network namespace is one of `namespaces`.
fn processes_in(namespaces: &[String]) -> Result<Vec<i32>> {
    let ids: HashSet<(u64, u64)> = namespaces
        .iter()
        .filter_map(|ns| namespace_id(&namespace_path(ns)).ok())
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let own = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").map_err(io_error("listing /proc"))? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        // Processes come and go while we look: errors just mean "not in there".
        if pid != own
            && namespace_id(&entry.path().join("ns/net")).is_ok_and(|id| ids.contains(&id))
        {
            pids.push(pid);
        }
    }
    Ok(pids)
}

/// SIGKILLs every process inside `namespaces` and waits (up to 2 s) until none is left.
fn kill_processes_in(namespaces: &[String]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let pids = processes_in(namespaces)?;
        if pids.is_empty() {
            return Ok(());
        }
        for pid in &pids {
            // ESRCH: it died meanwhile.
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        if Instant::now() >= deadline {
            // Unkillable (uninterruptible sleep) or zombies of ours: deleting the names is all
            // that is left; the namespaces go when those processes do.
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Kills what runs inside `namespaces` and deletes those of them that exist.
fn delete_namespaces(namespaces: &[String]) -> Result<()> {
    let existing: Vec<String> = namespaces
        .iter()
        .filter(|ns| namespace_path(ns).exists())
        .cloned()
        .collect();
    if existing.is_empty() {
        return Ok(());
    }
    kill_processes_in(&existing)?;
    let lines: Vec<String> = existing
        .iter()
        .map(|ns| format!("netns del {ns}"))
        .collect();
    // -force: try every line even if one fails.
    ip_batch(None, &lines, true)
}

// ----------------------------------------------------------------------------------------
// Running commands.

fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        let arg = arg.to_string_lossy();
        text.push(' ');
        if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
            let _ = write!(text, "{arg:?}");
        } else {
            text.push_str(&arg);
        }
    }
    text
}

/// Runs `command` with stdin closed, returns its output whatever its exit status.
fn output(mut command: Command) -> Result<Output> {
    command.stdin(Stdio::null());
    command.output().map_err(|source| NetnsError::Spawn {
        command: describe(&command),
        source,
    })
}

/// Runs `command`; fails unless it exits with status 0.
fn checked(command: Command) -> Result<Output> {
    let line = describe(&command);
    let output = output(command)?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(NetnsError::Command {
            command: line,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

fn ip(args: &[&str]) -> Result<Output> {
    let mut command = Command::new("ip");
    command.args(args);
    checked(command)
}

/// Runs `lines` through one `ip [-n NAMESPACE] -batch -` process. Without `force`, ip stops at
/// the first failing line, which the error names.
fn ip_batch(namespace: Option<&str>, lines: &[String], force: bool) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut command = Command::new("ip");
    if let Some(namespace) = namespace {
        command.args(["-n", namespace]);
    }
    if force {
        command.arg("-force");
    }
    command.args(["-batch", "-"]);
    let line = format!("{} ({} lines)", describe(&command), lines.len());
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|source| NetnsError::Spawn {
        command: line.clone(),
        source,
    })?;
    let mut script = lines.join("\n");
    script.push('\n');
    let stdin = child.stdin.take();
    // Written from another thread: ip may fill its stderr pipe before reading all its input.
    // A failed write (ip quit at a failing line) shows in ip's status and stderr.
    let output = std::thread::scope(|scope| {
        let writer = scope.spawn(move || match stdin {
            Some(mut stdin) => stdin.write_all(script.as_bytes()),
            None => Ok(()),
        });
        let output = child.wait_with_output();
        let _written = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        output
    });
    let output = output.map_err(io_error(format!("waiting for {line}")))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    // "Command failed -:N" names the (1-based) failing line.
    let failing = stderr
        .rsplit_once("Command failed -:")
        .and_then(|(_, n)| n.trim().parse::<usize>().ok())
        .and_then(|n| lines.get(n.wrapping_sub(1)));
    let command = match failing {
        Some(failing) => format!("{line}, at line `{failing}`"),
        None => line,
    };
    Err(NetnsError::Command {
        command,
        status: output.status,
        stderr,
    })
}

/// Runs `f` on a new thread that has entered `namespace` (network namespace only) and returns
/// its result. Refuses to run `f` unless the thread is verifiably in that namespace and it is
/// not the namespace this process runs in. Sockets opened by `f` stay in the namespace.
fn enter<T, F>(namespace: &str, f: F) -> Result<T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    let path = namespace_path(namespace);
    let file = File::open(&path).map_err(io_error(format!("opening {}", path.display())))?;
    let target = namespace_id(&path).map_err(io_error(format!("inspecting {}", path.display())))?;
    let own = namespace_id(Path::new("/proc/self/ns/net"))
        .map_err(io_error("inspecting this process's network namespace"))?;
    if target == own {
        return Err(invalid(
            "namespace",
            namespace,
            "is the network namespace of the test process itself",
        ));
    }
    let result = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                setns(&file, CloneFlags::CLONE_NEWNET)
                    .map_err(sys_error(format!("entering namespace {namespace:?}")))?;
                let here = namespace_id(Path::new("/proc/thread-self/ns/net"))
                    .map_err(io_error("inspecting the thread's network namespace"))?;
                if here != target {
                    return Err(NetnsError::NotEntered {
                        namespace: namespace.to_owned(),
                    });
                }
                Ok(f())
            })
            .join()
    });
    result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Writes sysctls (keys like `net.ipv4.conf.all.arp_ignore`) inside `namespace`.
fn write_sysctls(namespace: &str, settings: &[(String, &str)]) -> Result<()> {
    enter(namespace, || {
        for (key, value) in settings {
            let path = sysctl_path(key);
            std::fs::write(&path, value).map_err(io_error(format!(
                "setting {key}={value} in namespace {namespace:?}"
            )))?;
        }
        Ok(())
    })?
}

fn sysctl_path(key: &str) -> PathBuf {
    Path::new("/proc/sys").join(key.replace('.', "/"))
}

fn sysctl(key: impl Into<String>, value: &str) -> (String, &str) {
    (key.into(), value)
}

// ----------------------------------------------------------------------------------------
// Validation.

fn validate_name(what: &'static str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(invalid(
            what,
            name,
            format!("must be 1 to {MAX_NAME} characters"),
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(invalid(
            what,
            name,
            "only ASCII letters, digits, '-' and '_'",
        ));
    }
    Ok(())
}

fn validate_interface(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_INTERFACE_NAME {
        return Err(invalid(
            "interface name",
            name,
            format!("must be 1 to {MAX_INTERFACE_NAME} characters"),
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(invalid(
            "interface name",
            name,
            "only ASCII letters, digits, '-' and '_'",
        ));
    }
    if name == "lo" {
        return Err(invalid("interface name", name, "is the loopback's"));
    }
    Ok(())
}

fn validate_mac(mac: &MacAddr) -> Result<()> {
    if mac.is_multicast() {
        return Err(invalid(
            "MAC address",
            mac.to_string(),
            "is a multicast address",
        ));
    }
    if mac.is_zero() {
        return Err(invalid("MAC address", mac.to_string(), "is all zeros"));
    }
    Ok(())
}

/// Parses `198.18.0.11/24`: a host address with its prefix, inside [`TEST_NETWORK`].
fn parse_address(text: &str) -> Result<Ipv4Net> {
    let address: Ipv4Net = text.trim().parse().map_err(|_| {
        invalid(
            "address",
            text,
            "expected an IPv4 address with its prefix length, like 198.18.0.11/24",
        )
    })?;
    if !TEST_NETWORK.contains(&address) {
        return Err(invalid(
            "address",
            text,
            format!("the address and its whole network must lie in {TEST_NETWORK}"),
        ));
    }
    if address.prefix_len() < 31
        && (address.addr() == address.network() || address.addr() == address.broadcast())
    {
        return Err(invalid(
            "address",
            text,
            "is the network or broadcast address of its prefix",
        ));
    }
    Ok(address)
}

// ----------------------------------------------------------------------------------------
// Hosts.

/// A simulated host: one interface with one MAC and one IPv4 address in some namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The name given to [`Lan::add_host`] (`<group>-<index>` for a macvlan group member).
    pub name: String,
    /// The network namespace it lives in.
    pub namespace: String,
    /// Its interface there (`eth0`, or `mv<index>` in a macvlan group).
    pub interface: String,
    /// The interface's MAC address.
    pub mac: MacAddr,
    /// Its IPv4 address with prefix length.
    pub address: Ipv4Net,
}

impl Host {
    /// The IPv4 address without prefix.
    pub fn ip(&self) -> Ipv4Addr {
        self.address.addr()
    }

    /// The MAC as `aa:bb:cc:dd:ee:ff`.
    pub fn mac_string(&self) -> String {
        self.mac.to_string()
    }
}

/// Many hosts sharing one namespace, made by [`Lan::add_macvlan_hosts`]: each is a macvlan
/// interface (mode bridge) on the namespace's trunk veth.
///
/// Each member answers ARP for its own address only, with its own MAC (`arp_ignore=1`,
/// `arp_announce=2`, `rp_filter=0`). ICMP rate limiting is off in the namespace
/// (`icmp_ratemask=0`, IPv6 `icmp.ratelimit=0`): shared by all members, it would answer a
/// sweep for only the first few of them. Anything sent with a socket bound to a member's
/// interface leaves with that member's MAC. Unicast IP that the namespace originates without
/// such binding (kernel replies such as ICMP, unbound sockets) is routed through the first
/// member of its subnet and so carries that member's MAC: per-member source routing would
/// need one policy rule per member, which makes every broadcast cost a linear scan of all
/// rules for each member and slowed an ARP sweep of 1,000 members about twentyfold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacvlanGroup {
    /// The name given to [`Lan::add_macvlan_hosts`].
    pub name: String,
    /// The namespace holding every member.
    pub namespace: String,
    /// The veth end (inside `namespace`) that the macvlans are stacked on.
    pub trunk: String,
    /// The members, in the order given.
    pub hosts: Vec<Host>,
}

// ----------------------------------------------------------------------------------------
// Processes.

#[derive(Debug)]
struct Slot {
    child: Child,
    status: Option<ExitStatus>,
}

impl Slot {
    fn poll(&mut self) -> std::io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait()?;
        }
        Ok(self.status)
    }

    /// Sends `signal` to the child's process group (falling back to the child alone), unless
    /// it has been reaped already.
    fn signal(&mut self, signal: Signal) -> std::io::Result<bool> {
        if self.poll()?.is_some() {
            return Ok(false);
        }
        // Not reaped yet, so its pid (and group id) cannot have been reused.
        let Ok(pid) = i32::try_from(self.child.id()) else {
            return Ok(false);
        };
        let pid = Pid::from_raw(pid);
        Ok(killpg(pid, signal).is_ok() || kill(pid, signal).is_ok())
    }

    fn kill(&mut self) -> std::io::Result<ExitStatus> {
        if let Some(status) = self.poll()? {
            return Ok(status);
        }
        if !self.signal(Signal::SIGKILL)? {
            self.child.kill()?;
        }
        let status = self.child.wait()?;
        self.status = Some(status);
        Ok(status)
    }
}

/// A command about to run inside one of a [`Lan`]'s namespaces, made by [`Lan::command`].
///
/// It dereferences to the underlying [`Command`] (`ip netns exec NS PROGRAM`), so arguments,
/// environment, working directory and stdio are set as usual, then [`Lan::spawn`] starts it.
/// It runs in a process group of its own, so that killing it also kills its children.
#[derive(Debug)]
pub struct NsCommand {
    namespace: String,
    program: OsString,
    command: Command,
}

impl NsCommand {
    /// The namespace it will run in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

impl Deref for NsCommand {
    type Target = Command;

    fn deref(&self) -> &Command {
        &self.command
    }
}

impl DerefMut for NsCommand {
    fn deref_mut(&mut self) -> &mut Command {
        &mut self.command
    }
}

/// A process started by [`Lan::spawn`]. Dropping the handle, or the [`Lan`], SIGKILLs its
/// whole process group if it still runs.
#[derive(Debug)]
pub struct NsChild {
    slot: Arc<Mutex<Slot>>,
    pid: u32,
    namespace: String,
    command: String,
}

impl NsChild {
    /// Its process id (the program's own: `ip netns exec` execs it without forking).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The namespace it runs in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The command line it was started with.
    pub fn command_line(&self) -> &str {
        &self.command
    }

    /// Its exit status if it has exited, without waiting.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        lock(&self.slot)
            .poll()
            .map_err(io_error(format!("checking on `{}`", self.command)))
    }

    /// Whether it still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.try_wait(), Ok(None))
    }

    /// Waits up to `timeout` for it to exit; `None` if it still runs.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(10)));
        }
    }

    /// Waits for it to exit, however long that takes.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        loop {
            if let Some(status) = self.wait_timeout(Duration::from_secs(3600))? {
                return Ok(status);
            }
        }
    }

    /// Sends `signal` to its process group; does nothing if it has exited.
    pub fn signal(&mut self, signal: Signal) -> Result<()> {
        lock(&self.slot)
            .signal(signal)
            .map(drop)
            .map_err(io_error(format!("signalling `{}`", self.command)))
    }

    /// SIGKILLs its process group and reaps it; returns the exit status.
    pub fn kill(&mut self) -> Result<ExitStatus> {
        lock(&self.slot)
            .kill()
            .map_err(io_error(format!("killing `{}`", self.command)))
    }

    /// SIGTERMs its process group, waits up to `grace` for it to exit, then SIGKILLs it.
    pub fn terminate(&mut self, grace: Duration) -> Result<ExitStatus> {
        self.signal(Signal::SIGTERM)?;
        match self.wait_timeout(grace)? {
            Some(status) => Ok(status),
            None => self.kill(),
        }
    }

    /// Takes its stdin pipe, if it was created with `Stdio::piped()`.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        lock(&self.slot).child.stdin.take()
    }

    /// Takes its stdout pipe, if it was created with `Stdio::piped()`.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        lock(&self.slot).child.stdout.take()
    }

    /// Takes its stderr pipe, if it was created with `Stdio::piped()`.
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        lock(&self.slot).child.stderr.take()
    }
}

impl Drop for NsChild {
    fn drop(&mut self) {
        let _ = lock(&self.slot).kill();
    }
}

/// Whether `program` can be found the way `execvp` will look for it.
fn program_exists(program: &OsStr, command: &Command) -> bool {
    if program.as_encoded_bytes().contains(&b'/') {
        return Path::new(program).is_file();
    }
    let path_override = command
        .get_envs()
        .find(|(key, _)| *key == OsStr::new("PATH"))
        .map(|(_, value)| value.map(OsStr::to_os_string));
    let search = match path_override {
        Some(Some(path)) => path,
        // Cleared or removed: execvp falls back to a default path.
        Some(None) => OsString::from("/bin:/usr/bin"),
        None => std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/bin:/usr/bin")),
    };
    std::env::split_paths(&search).any(|dir| dir.join(program).is_file())
}

// ----------------------------------------------------------------------------------------
// The LAN.

/// A simulated LAN: a bridge `br0` inside its own namespace; every host is a namespace joined
/// to the bridge by a veth pair. Dropping the Lan kills every process spawned in it (and any
/// other process inside its namespaces) and deletes every namespace it created, also when a
/// test panics. [`Lan::close`] does the same and reports failures.
#[derive(Debug)]
pub struct Lan {
    label: String,
    prefix: String,
    bridge_namespace: String,
    /// Host and group namespaces, in creation order.
    hosts: Vec<String>,
    /// Host or group namespace → bridge port.
    ports: BTreeMap<String, String>,
    next_port: u32,
    children: Vec<Arc<Mutex<Slot>>>,
    closed: bool,
}

impl Lan {
    /// Creates the bridge namespace `hygie-<pid>-<seq>-<label>` holding `br0` (up, STP off,
    /// forward delay 0, multicast snooping off so that mDNS floods to every port), with IPv6
    /// disabled so that the bridge itself never sends anything.
    ///
    /// The first call in a process also runs [`cleanup_stale`].
    pub fn new(label: &str) -> Result<Lan> {
        validate_name("LAN label", label)?;
        require_root()?;
        STARTUP_SWEEP.get_or_init(|| {
            if let Err(error) = cleanup_stale() {
                eprintln!("hygie netns: could not clean up stale namespaces: {error}");
            }
        });
        let seq = LAN_SEQ.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("{NAMESPACE_PREFIX}{}-{seq}-", std::process::id());
        let bridge_namespace = format!("{prefix}{label}");
        let lan = Lan {
            label: label.to_owned(),
            prefix,
            bridge_namespace: bridge_namespace.clone(),
            hosts: Vec::new(),
            ports: BTreeMap::new(),
            next_port: 0,
            children: Vec::new(),
            closed: false,
        };
        // From here on, an error drops `lan`, which deletes whatever was made.
        create_namespace(&bridge_namespace)?;
        write_sysctls(
            &bridge_namespace,
            &[
                sysctl("net.ipv6.conf.default.disable_ipv6", "1"),
                sysctl("net.ipv6.conf.all.disable_ipv6", "1"),
            ],
        )?;
        // group_fwd_mask 0x4000 forwards LLDP (01:80:c2:00:00:0e), which an 802.1D bridge
        // consumes: the simulated LAN behaves as a hub (or the agent as on a mirror port), so
        // the agent hears its neighbours' LLDP, as it would there and not on a switch port.
        ip_batch(
            Some(&bridge_namespace),
            &[
                "link set lo up".to_owned(),
                format!(
                    "link add {BRIDGE} type bridge stp_state 0 forward_delay 0 mcast_snooping 0 \
                     group_fwd_mask 0x4000"
                ),
                format!("link set {BRIDGE} up"),
            ],
            false,
        )?;
        Ok(lan)
    }

    /// The label given to [`Lan::new`].
    pub fn label(&self) -> &str {
        &self.label
    }

    /// `hygie-<pid>-<seq>-`: every namespace of this Lan starts with it.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The namespace holding the bridge `br0`. To capture what a host sends and receives, run
    /// `tcpdump -i <port>` there, with the port from [`Lan::port_of`], through [`Lan::command`]
    /// and [`Lan::spawn`].
    pub fn bridge_namespace(&self) -> &str {
        &self.bridge_namespace
    }

    /// Every namespace of this Lan: the bridge's first, then hosts and groups in creation order.
    pub fn namespaces(&self) -> Vec<&str> {
        std::iter::once(self.bridge_namespace.as_str())
            .chain(self.hosts.iter().map(String::as_str))
            .collect()
    }

    /// The bridge-side port (in [`Lan::bridge_namespace`]) of the veth of the host or macvlan
    /// group living in `namespace`; `None` for a namespace that is not one of this Lan's hosts.
    pub fn port_of(&self, namespace: &str) -> Option<&str> {
        self.ports.get(namespace).map(String::as_str)
    }

    fn owns(&self, namespace: &str) -> bool {
        namespace == self.bridge_namespace || self.ports.contains_key(namespace)
    }

    fn check_owned(&self, namespace: &str) -> Result<()> {
        if self.owns(namespace) {
            Ok(())
        } else {
            Err(NetnsError::ForeignNamespace {
                namespace: namespace.to_owned(),
                expected: "a namespace",
            })
        }
    }

    fn check_host(&self, namespace: &str) -> Result<()> {
        if self.ports.contains_key(namespace) {
            Ok(())
        } else {
            Err(NetnsError::ForeignNamespace {
                namespace: namespace.to_owned(),
                expected: "a host namespace",
            })
        }
    }

    /// Registers a new host namespace (so that it is deleted whatever happens next), creates
    /// it and its veth to the bridge, whose inside end is named `inside`. Returns the namespace.
    fn add_port(&mut self, name: &str, inside: &str, mac: Option<&MacAddr>) -> Result<String> {
        validate_name("host name", name)?;
        let namespace = format!("{}{}.{name}", self.prefix, self.label);
        if self.ports.contains_key(&namespace) {
            return Err(invalid("host name", name, "is already used in this LAN"));
        }
        let index = self.next_port;
        self.next_port += 1;
        let mut port = format!("p{index}-{name}");
        port.truncate(MAX_INTERFACE_NAME);
        self.hosts.push(namespace.clone());
        self.ports.insert(namespace.clone(), port.clone());
        create_namespace(&namespace)?;
        // Before the interface exists, so that it inherits them: IPv6 addresses usable at once.
        write_sysctls(
            &namespace,
            &[
                sysctl("net.ipv6.conf.all.accept_dad", "0"),
                sysctl("net.ipv6.conf.default.accept_dad", "0"),
            ],
        )?;
        let address = mac
            .map(|mac| format!(" address {}", mac))
            .unwrap_or_default();
        ip_batch(
            Some(&self.bridge_namespace),
            &[
                // The peer is created directly inside the host namespace, under its final name.
                format!("link add {port} type veth peer name {inside}{address} netns {namespace}"),
                format!("link set {port} master {BRIDGE}"),
                format!("link set {port} up"),
            ],
            false,
        )?;
        Ok(namespace)
    }

    /// Adds a host namespace `hygie-<pid>-<seq>-<label>.<name>` whose interface `eth0` has the
    /// given MAC and IPv4 address/prefix (e.g. `"198.18.0.11/24"`, within 198.18.0.0/15).
    ///
    /// `eth0` and `lo` are up with multicast enabled, a route sends 224.0.0.0/4 out of `eth0`
    /// (so mDNS works without choosing an interface), IPv6 stays on with `accept_dad=0` so the
    /// link-local address is usable at once.
    pub fn add_host(&mut self, name: &str, mac: MacAddr, address: &str) -> Result<Host> {
        validate_mac(&mac)?;
        let address = parse_address(address)?;
        let namespace = self.add_port(name, HOST_INTERFACE, Some(&mac))?;
        write_sysctls(
            &namespace,
            &[sysctl(
                format!("net.ipv6.conf.{HOST_INTERFACE}.accept_dad"),
                "0",
            )],
        )?;
        ip_batch(
            Some(&namespace),
            &[
                "link set lo multicast on".to_owned(),
                "link set lo up".to_owned(),
                format!("addr add {address} brd + dev {HOST_INTERFACE}"),
                format!("link set {HOST_INTERFACE} multicast on"),
                format!("link set {HOST_INTERFACE} up"),
                format!("route add 224.0.0.0/4 dev {HOST_INTERFACE}"),
            ],
            false,
        )?;
        Ok(Host {
            name: name.to_owned(),
            namespace,
            interface: HOST_INTERFACE.to_owned(),
            mac,
            address,
        })
    }

    /// Adds one namespace holding many hosts cheaply: a veth to the bridge whose inside end
    /// ([`TRUNK_INTERFACE`], IPv6 off so it never speaks) carries one macvlan interface
    /// `mv<i>` (mode bridge) per `(mac, address)` pair. See [`MacvlanGroup`] for how members
    /// behave. Everything is created by one `ip -batch` process, so 1,000 members take well
    /// under a second.
    pub fn add_macvlan_hosts<S: AsRef<str>>(
        &mut self,
        name: &str,
        hosts: &[(MacAddr, S)],
    ) -> Result<MacvlanGroup> {
        if hosts.is_empty() || hosts.len() > MAX_GROUP {
            return Err(invalid(
                "macvlan group",
                name,
                format!("must have 1 to {MAX_GROUP} hosts"),
            ));
        }
        let mut macs = HashSet::new();
        let mut addresses = HashSet::new();
        let mut members = Vec::with_capacity(hosts.len());
        for (mac, address) in hosts {
            validate_mac(mac)?;
            let address = parse_address(address.as_ref())?;
            if !macs.insert(*mac) {
                return Err(invalid("MAC address", mac.to_string(), "appears twice"));
            }
            if !addresses.insert(address.addr()) {
                return Err(invalid("address", address.to_string(), "appears twice"));
            }
            members.push((*mac, address));
        }
        let namespace = self.add_port(name, TRUNK_INTERFACE, None)?;

        // Inherited by every macvlan created afterwards ("all" also caps per-interface values).
        let mut settings = vec![sysctl(
            format!("net.ipv6.conf.{TRUNK_INTERFACE}.disable_ipv6"),
            "1",
        )];
        // One ICMP limiter for the whole namespace would throttle replies from the 7th member
        // on (the per-peer burst is 6); real hosts each have their own.
        settings.push(sysctl("net.ipv4.icmp_ratemask", "0"));
        settings.push(sysctl("net.ipv6.icmp.ratelimit", "0"));
        for scope in ["all", "default"] {
            settings.push(sysctl(format!("net.ipv4.conf.{scope}.arp_ignore"), "1"));
            settings.push(sysctl(format!("net.ipv4.conf.{scope}.arp_announce"), "2"));
            settings.push(sysctl(format!("net.ipv4.conf.{scope}.rp_filter"), "0"));
        }
        write_sysctls(&namespace, &settings)?;

        let mut lines = Vec::with_capacity(3 * members.len() + 8);
        lines.push("link set lo multicast on".to_owned());
        lines.push("link set lo up".to_owned());
        lines.push(format!("link set {TRUNK_INTERFACE} up"));
        // One route per subnet, through its first member: no per-member prefix routes (1,000
        // identical prefixes on 1,000 devices make every received broadcast several times
        // slower to process).
        let mut subnets: BTreeMap<Ipv4Net, usize> = BTreeMap::new();
        for (i, (mac, address)) in members.iter().enumerate() {
            let queue = if i == 0 {
                format!(" bcqueuelen {MACVLAN_BROADCAST_QUEUE}")
            } else {
                String::new()
            };
            lines.push(format!(
                "link add mv{i} link {TRUNK_INTERFACE} address {mac} type macvlan mode bridge{queue}"
            ));
            lines.push(format!("addr add {address} brd + dev mv{i} noprefixroute"));
            lines.push(format!("link set mv{i} up"));
            subnets.entry(address.trunc()).or_insert(i);
        }
        for (subnet, first) in &subnets {
            lines.push(format!("route add {subnet} dev mv{first}"));
        }
        ip_batch(Some(&namespace), &lines, false)?;

        // Explicitly per interface too, as documented, even though they were inherited.
        let mut settings = Vec::with_capacity(3 * members.len());
        for i in 0..members.len() {
            settings.push(sysctl(format!("net.ipv4.conf.mv{i}.arp_ignore"), "1"));
            settings.push(sysctl(format!("net.ipv4.conf.mv{i}.arp_announce"), "2"));
            settings.push(sysctl(format!("net.ipv4.conf.mv{i}.rp_filter"), "0"));
        }
        write_sysctls(&namespace, &settings)?;

        let hosts = members
            .into_iter()
            .enumerate()
            .map(|(i, (mac, address))| Host {
                name: format!("{name}-{i}"),
                namespace: namespace.clone(),
                interface: format!("mv{i}"),
                mac,
                address,
            })
            .collect();
        Ok(MacvlanGroup {
            name: name.to_owned(),
            namespace,
            trunk: TRUNK_INTERFACE.to_owned(),
            hosts,
        })
    }

    /// Connects two host (or group) namespaces of this Lan by an extra veth pair outside the
    /// bridge (a management link, e.g. agent ↔ collector): interface `a_if` with `a_address`
    /// in `a`, `b_if` with `b_address` in `b`, both up, with IPv6 `accept_dad=0`.
    pub fn link(
        &mut self,
        a: &str,
        a_if: &str,
        a_address: &str,
        b: &str,
        b_if: &str,
        b_address: &str,
    ) -> Result<()> {
        self.check_host(a)?;
        self.check_host(b)?;
        if a == b {
            return Err(invalid("link", a, "both ends are in the same namespace"));
        }
        validate_interface(a_if)?;
        validate_interface(b_if)?;
        let a_address = parse_address(a_address)?;
        let b_address = parse_address(b_address)?;
        ip_batch(
            Some(a),
            &[format!(
                "link add {a_if} type veth peer name {b_if} netns {b}"
            )],
            false,
        )?;
        for (namespace, interface, address) in [(a, a_if, a_address), (b, b_if, b_address)] {
            write_sysctls(
                namespace,
                &[sysctl(format!("net.ipv6.conf.{interface}.accept_dad"), "0")],
            )?;
            ip_batch(
                Some(namespace),
                &[
                    format!("addr add {address} brd + dev {interface}"),
                    format!("link set {interface} multicast on"),
                    format!("link set {interface} up"),
                ],
                false,
            )?;
        }
        Ok(())
    }

    /// A command running `program` inside `namespace` (one of this Lan's) through
    /// `ip netns exec`, to be completed (args, env, stdio) and given to [`Lan::spawn`].
    pub fn command(&self, namespace: &str, program: impl AsRef<OsStr>) -> Result<NsCommand> {
        self.check_owned(namespace)?;
        let program = program.as_ref().to_os_string();
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", namespace])
            .arg(&program)
            .process_group(0);
        Ok(NsCommand {
            namespace: namespace.to_owned(),
            program,
            command,
        })
    }

    /// Starts a command made by [`Lan::command`]. The Lan kills it (its whole process group)
    /// when dropped if it still runs; the returned handle can kill, terminate or wait for it.
    pub fn spawn(&mut self, mut command: NsCommand) -> Result<NsChild> {
        self.check_owned(&command.namespace)?;
        let line = describe(&command.command);
        if !program_exists(&command.program, &command.command) {
            return Err(NetnsError::Spawn {
                command: line,
                source: std::io::Error::new(ErrorKind::NotFound, "program not found"),
            });
        }
        let child = command
            .command
            .spawn()
            .map_err(|source| NetnsError::Spawn {
                command: line.clone(),
                source,
            })?;
        let pid = child.id();
        let slot = Arc::new(Mutex::new(Slot {
            child,
            status: None,
        }));
        // Forget children that have been reaped and whose handle is gone.
        self.children
            .retain(|slot| Arc::strong_count(slot) > 1 || lock(slot).status.is_none());
        self.children.push(Arc::clone(&slot));
        Ok(NsChild {
            slot,
            pid,
            namespace: command.namespace,
            command: line,
        })
    }

    /// Runs `program args` to completion inside `namespace` (one of this Lan's) with stdin
    /// closed, and returns its output whatever its exit status (e.g. `arping` reporting no
    /// reply). Fails only if it cannot be run.
    pub fn run(&self, namespace: &str, program: &str, args: &[&str]) -> Result<Output> {
        self.check_owned(namespace)?;
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", namespace, program])
            .args(args);
        output(command)
    }

    /// Like [`Lan::run`], but fails unless the command exits with status 0; returns its stdout.
    pub fn run_ok(&self, namespace: &str, program: &str, args: &[&str]) -> Result<String> {
        self.check_owned(namespace)?;
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", namespace, program])
            .args(args);
        let output = checked(command)?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs `f` on a fresh thread inside `namespace` (one of this Lan's) and returns its result:
    /// sockets it opens belong to that namespace and keep working from any thread afterwards.
    /// Nothing runs unless the thread is verifiably inside the namespace. A panic in `f` is
    /// propagated.
    pub fn in_namespace<T, F>(&self, namespace: &str, f: F) -> Result<T>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        self.check_owned(namespace)?;
        enter(namespace, f)
    }

    /// Reads a sysctl (e.g. `net.ipv4.conf.mv3.arp_ignore`) inside `namespace`.
    pub fn read_sysctl(&self, namespace: &str, key: &str) -> Result<String> {
        self.check_owned(namespace)?;
        let path = sysctl_path(key);
        enter(namespace, || std::fs::read_to_string(&path))?
            .map(|value| value.trim().to_owned())
            .map_err(io_error(format!(
                "reading {key} in namespace {namespace:?}"
            )))
    }

    /// Writes a sysctl inside `namespace` (one of this Lan's).
    pub fn write_sysctl(&self, namespace: &str, key: &str, value: &str) -> Result<()> {
        self.check_owned(namespace)?;
        write_sysctls(namespace, &[sysctl(key, value)])
    }

    /// A ping without ICMP sockets or external tools: from `namespace`, sends one UDP datagram
    /// to port 9 (discard) of `to` and reports whether its IP stack answered within `timeout`
    /// (normally with ICMP port unreachable, or with any reply). ARP resolution happens on the
    /// way, so afterwards `ip neigh` in `namespace` shows the MAC that answered.
    pub fn udp_probe(&self, namespace: &str, to: Ipv4Addr, timeout: Duration) -> Result<bool> {
        let unreachable = |error: &std::io::Error| {
            matches!(
                error.kind(),
                ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable
            )
        };
        let socket = self.in_namespace(namespace, || -> std::io::Result<UdpSocket> {
            let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
            socket.connect((to, 9))?;
            Ok(socket)
        })?;
        let socket = match socket {
            Ok(socket) => socket,
            // No route to it from there.
            Err(error) if unreachable(&error) => return Ok(false),
            Err(error) => {
                return Err(io_error(format!(
                    "opening a UDP socket in {namespace:?} to {to}"
                ))(error));
            }
        };
        socket
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .map_err(io_error("setting a read timeout"))?;
        match socket.send(b"hygie-probe") {
            Ok(_) => {}
            Err(error) if error.kind() == ErrorKind::ConnectionRefused => return Ok(true),
            Err(error) if unreachable(&error) => return Ok(false),
            Err(error) => return Err(io_error(format!("probing {to}"))(error)),
        }
        let mut buffer = [0u8; 64];
        match socket.recv(&mut buffer) {
            Ok(_) => Ok(true),
            Err(error) if error.kind() == ErrorKind::ConnectionRefused => Ok(true),
            Err(error)
                if unreachable(&error)
                    || matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                Ok(false)
            }
            Err(error) => Err(io_error(format!("probing {to}"))(error)),
        }
    }

    /// Tears the LAN down now, reporting the first failure: kills spawned processes, then
    /// whatever else runs in its namespaces, then deletes the namespaces (the veths, the bridge
    /// and the macvlans go with them; the kernel frees them asynchronously).
    pub fn close(mut self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let mut first_error = None;
        for slot in self.children.drain(..) {
            if let Err(source) = lock(&slot).kill() {
                first_error.get_or_insert(NetnsError::Io {
                    what: "killing a process of the LAN".to_owned(),
                    source,
                });
            }
        }
        let mut namespaces = std::mem::take(&mut self.hosts);
        namespaces.push(self.bridge_namespace.clone());
        if let Err(error) = delete_namespaces(&namespaces) {
            first_error.get_or_insert(error);
        }
        {
            let mut live = lock(&LIVE);
            for namespace in &namespaces {
                live.remove(namespace);
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        if let Err(error) = self.teardown() {
            eprintln!(
                "hygie netns: tearing down LAN {:?} ({}*): {error}",
                self.label, self.prefix
            );
        }
    }
}

/// Registers `namespace` as owned by a live Lan of this process, then creates it.
fn create_namespace(namespace: &str) -> Result<()> {
    lock(&LIVE).insert(namespace.to_owned());
    let _serial = lock(&NETNS_ADD);
    ip(&["netns", "add", namespace]).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_parsed_only_from_our_names() {
        assert_eq!(owner_of("hygie-123-4-smoke"), Some(123));
        assert_eq!(owner_of("hygie-123-4-smoke.h1"), Some(123));
        assert_eq!(owner_of("hygie-123-4-"), None);
        assert_eq!(owner_of("hygie-12a-4-x"), None);
        assert_eq!(owner_of("hygie-123-x"), None);
        assert_eq!(owner_of("other-123-4-x"), None);
        assert_eq!(owner_of("hygie--4-x"), None);
    }

    #[test]
    fn addresses_must_be_in_the_benchmark_range() {
        assert!(parse_address("198.18.0.11/24").is_ok());
        assert!(parse_address("198.19.255.1/16").is_ok());
        assert!(parse_address("198.18.0.11").is_err());
        assert!(parse_address("10.0.0.1/24").is_err());
        assert!(parse_address("198.18.0.11/8").is_err());
        assert!(parse_address("198.18.0.0/24").is_err());
        assert!(parse_address("198.18.0.255/24").is_err());
        assert!(parse_address("198.18.0.1/31").is_ok());
    }

    #[test]
    fn names_and_macs_are_checked() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(u32::MAX));
        assert!(validate_name("host name", "agent-1_a").is_ok());
        assert!(validate_name("host name", "").is_err());
        assert!(validate_name("host name", "a.b").is_err());
        assert!(validate_name("host name", "a/b").is_err());
        assert!(validate_interface("mgmt0").is_ok());
        assert!(validate_interface("0123456789abcdef").is_err());
        assert!(validate_interface("lo").is_err());
        assert!(validate_mac(&MacAddr::new([2, 0, 0, 0, 0, 1])).is_ok());
        assert!(validate_mac(&MacAddr::new([1, 0, 0x5e, 0, 0, 1])).is_err());
        assert!(validate_mac(&MacAddr::ZERO).is_err());
        assert_eq!(
            MacAddr::new([2, 0xab, 0, 1, 0x10, 0xff]).to_string(),
            "02:ab:00:01:10:ff"
        );
    }
}
