//! Facts about the host both daemons run on.

/// The longest DNS name: a longer kernel host name is not one either side may send.
const MAX_HOSTNAME_LEN: usize = 253;

/// This host's name as the kernel holds it, trimmed; `None` when unreadable, empty or longer
/// than a DNS name. Callers clean it for their own limits (the Hello, a certificate).
pub fn kernel_hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty() && name.len() <= MAX_HOSTNAME_LEN).then(|| name.to_owned())
}
