//! Exit statuses of the command line (a module of the binary, not of the library).
//!
//! - 0: done (also when the reader of standard output closed it early, `| head`);
//! - 1: failed, and trying again later may work (the outbox's disk, a port in use, an
//!   interface not up yet);
//! - 78 (`EX_CONFIG` of sysexits.h): a configuration an operator must fix first: a file that
//!   is missing or wrong (the configuration, the certificates of an agent not enrolled yet), a
//!   capability the unit does not grant. The unit says `RestartPreventExitStatus=78`, so
//!   systemd reports the failure once instead of restarting into it every few seconds.

use std::process::ExitCode;

use hygie_agent::config::ConfigError;
use hygie_agent::run::RunError;
use hygie_agent::tls::TlsError;
use hygie_agent::uplink::UplinkError;

/// The status of a configuration error.
pub(crate) const CONFIGURATION: u8 = 78;

/// The exit status for `error`.
pub(crate) fn status(error: &anyhow::Error) -> ExitCode {
    let configuration = error.chain().any(|cause| {
        cause.is::<ConfigError>()
            || cause.is::<TlsError>()
            || cause.is::<UplinkError>()
            || cause
                .downcast_ref::<RunError>()
                .is_some_and(RunError::is_configuration)
    });
    if configuration {
        ExitCode::from(CONFIGURATION)
    } else {
        ExitCode::FAILURE
    }
}
