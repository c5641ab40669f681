//! Facts about the host both daemons run on.

/// The longest DNS name: a longer kernel host name is not one either side may send.
const MAX_HOSTNAME_LEN: usize = 253;

/// This host's name as the kernel holds it, trimmed; `None` when not UTF-8, empty or longer
/// than a DNS name. Callers clean it for their own limits (the Hello, a certificate).
///
/// Asked with gethostname(2), not read from `/proc/sys/kernel/hostname`: the collector's
/// systemd unit (`ProcSubset=pid`) hides /proc/sys, and its first start names the host in the
/// server certificate.
pub fn kernel_hostname() -> Option<String> {
    let name = nix::unistd::gethostname().ok()?.into_string().ok()?;
    let name = name.trim();
    (!name.is_empty() && name.len() <= MAX_HOSTNAME_LEN).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_kernel_hostname_is_the_one_proc_shows() {
        let proc = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(super::kernel_hostname().as_deref(), Some(proc.trim()));
    }
}
