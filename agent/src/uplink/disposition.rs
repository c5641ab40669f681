//! What to do after the stream fails: retry soon, set one batch aside, or retry slowly.
//!
//! Retried slowly (up to `uplink.backoff_max`, logged at ERROR each time), because retrying at
//! once cannot succeed and would hammer the collector, but giving up would leave the agent
//! silent until someone visits the ward (and anyone able to answer once on the collector's
//! address with a wrong certificate could silence every agent):
//! - the collector refuses this agent's identity (`unauthenticated`, `permission_denied`) or its
//!   certificate at the TLS layer (unknown CA, expired, revoked, missing);
//! - this agent refuses the collector's certificate (wrong CA, wrong name, expired);
//! - the collector refuses the Hello (`invalid_argument` without a batch number, in answer to
//!   the Hello), or later refuses a message it cannot name a batch for (the same, after its
//!   Welcome: an incompatible version), or does not speak `hygie.v1` (`unimplemented`).
//!
//! Each refusal is worded by the [`Step`] of the session it came at, so an operator is not sent
//! to look at the Hello for a refusal that came after it.
//!
//! A batch refused as `invalid_argument` with a batch number is set aside and the stream
//! resumes with the next one. Everything else (collector down, network cut, database busy) is
//! retried with the ordinary backoff. In no case is anything sent to a server whose certificate
//! fails verification: the TLS handshake fails before the stream opens.

use std::error::Error as StdError;

use tonic::{Code, Status};

/// The decision after a failed stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Transient: reconnect after a backoff delay.
    Retry(String),
    /// The collector refused this batch as invalid: keep it aside and carry on.
    SetAside { sequence: u64, reason: String },
    /// A certificate or identity problem an operator must fix: retried slowly, loudly.
    Refused(String),
}

/// Where a session was when its stream failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The collector's answer to the Hello: the stream's response, then its Welcome.
    Hello,
    /// After the Welcome: batches and heartbeats out, Acks and policies in.
    Stream,
}

/// Classifies a gRPC status (which may wrap a transport or TLS error) that ended the stream at
/// `step`.
pub fn classify_status(status: &Status, step: Step) -> Disposition {
    if let Some(reason) = tls_refusal(status) {
        return Disposition::Refused(reason);
    }
    let message = status.message().to_owned();
    match status.code() {
        Code::InvalidArgument => {
            let sequence = status
                .metadata()
                .get(hygie_proto::REJECTED_SEQUENCE_METADATA)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse().ok());
            match sequence {
                Some(sequence) => Disposition::SetAside {
                    sequence,
                    reason: message,
                },
                None => Disposition::Refused(match step {
                    Step::Hello => format!("the collector refused this agent's Hello: {message}"),
                    Step::Stream => format!(
                        "the collector refused a message this agent sent after the Welcome (not one batch it could set aside): {message}"
                    ),
                }),
            }
        }
        Code::Unauthenticated | Code::PermissionDenied => Disposition::Refused(match step {
            Step::Hello => format!("the collector refused this agent's identity: {message}"),
            Step::Stream => {
                format!("the collector refused this agent's identity during the session: {message}")
            }
        }),
        Code::Unimplemented => Disposition::Refused(format!(
            "the endpoint does not serve {} (wrong address or port?): {message}",
            hygie_proto::CONTRACT
        )),
        _ => Disposition::Retry(hygie_proto::error_chain(status)),
    }
}

/// Classifies a failure to connect at all.
pub fn classify_transport(error: &tonic::transport::Error) -> Disposition {
    match tls_refusal(error) {
        Some(reason) => Disposition::Refused(reason),
        None => Disposition::Retry(hygie_proto::error_chain(error)),
    }
}

/// TLS alerts by which a collector refuses a client certificate. `DecryptError` is what a
/// certificate signed by another CA with the same name earns (its signature does not verify).
const CERTIFICATE_ALERTS: &[&str] = &[
    "BadCertificate",
    "UnknownCA",
    "CertificateExpired",
    "CertificateRevoked",
    "CertificateRequired",
    "CertificateUnknown",
    "UnsupportedCertificate",
    "AccessDenied",
    "DecryptError",
];

/// A certificate problem somewhere in the error's causes, described for an operator.
fn tls_refusal(error: &(dyn StdError + 'static)) -> Option<String> {
    let refused_alert = |alert: &str| {
        format!(
            "the collector refused this agent's certificate (TLS alert {alert}); check agent.pem and agent.key, and that the collector's CA issued them and they have not expired"
        )
    };
    let untrusted = |problem: &str| {
        format!(
            "the collector's certificate is not trusted ({problem}); check `ca` and `server_name` in the [collector] section"
        )
    };
    if let Some(tls) = find_tls_error(error) {
        return match &tls {
            rustls::Error::AlertReceived(alert)
                if CERTIFICATE_ALERTS.contains(&format!("{alert:?}").as_str()) =>
            {
                Some(refused_alert(&format!("{alert:?}")))
            }
            rustls::Error::InvalidCertificate(problem) => Some(untrusted(&format!("{problem:?}"))),
            rustls::Error::NoCertificatesPresented => {
                Some("the collector presented no certificate".to_owned())
            }
            _ => None,
        };
    }
    // Some layers between rustls and tonic keep only the text of the TLS error; rustls words
    // these two cases stably ("received fatal alert: X", "invalid peer certificate: Y").
    let mut current = Some(error);
    while let Some(error) = current {
        let text = error.to_string();
        if let Some(alert) = after(&text, "received fatal alert: ")
            && CERTIFICATE_ALERTS.contains(&alert)
        {
            return Some(refused_alert(alert));
        }
        if let Some(problem) = after(&text, "invalid peer certificate: ") {
            return Some(untrusted(problem));
        }
        current = error.source().or_else(|| {
            error
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .map(|inner| inner as &(dyn StdError + 'static))
        });
    }
    None
}

/// The word following `marker` in `text`.
fn after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let rest = &text[text.find(marker)? + marker.len()..];
    rest.split(|c: char| !c.is_alphanumeric() && c != '_')
        .next()
        .filter(|word| !word.is_empty())
}

/// Walks an error's causes for a rustls error. `std::io::Error` hides the error it wraps from
/// `source()` (it reports that error's own source), so look inside it explicitly.
fn find_tls_error(error: &(dyn StdError + 'static)) -> Option<rustls::Error> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls.clone());
        }
        if let Some(inner) = error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            let inner: &(dyn StdError + 'static) = inner;
            if let Some(found) = find_tls_error(inner) {
                return Some(found);
            }
        }
        current = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use tonic::metadata::MetadataValue;

    use super::*;

    #[test]
    fn transient_codes_are_retried() {
        for code in [
            Code::Unavailable,
            Code::Unknown,
            Code::DeadlineExceeded,
            Code::Internal,
            Code::ResourceExhausted,
            Code::Aborted,
        ] {
            assert!(
                matches!(
                    classify_status(&Status::new(code, "x"), Step::Hello),
                    Disposition::Retry(_)
                ),
                "{code:?}"
            );
        }
    }

    #[test]
    fn identity_and_contract_refusals_are_retried_slowly() {
        for code in [
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::Unimplemented,
            Code::InvalidArgument,
        ] {
            assert!(
                matches!(
                    classify_status(&Status::new(code, "x"), Step::Hello),
                    Disposition::Refused(_)
                ),
                "{code:?}"
            );
        }
    }

    #[test]
    fn a_refusal_is_named_by_the_step_it_came_at() {
        let refusal = |status: &Status, step| match classify_status(status, step) {
            Disposition::Refused(reason) => reason,
            other => panic!("{other:?}"),
        };
        let bad_hello = Status::invalid_argument("hello refused: hostname: too long");
        assert_eq!(
            refusal(&bad_hello, Step::Hello),
            "the collector refused this agent's Hello: hello refused: hostname: too long"
        );
        let after =
            Status::invalid_argument("expected an ObservationBatch or a Heartbeat after the Hello");
        let reason = refusal(&after, Step::Stream);
        assert!(
            reason.starts_with("the collector refused a message this agent sent after the Welcome"),
            "{reason}"
        );
        assert!(!reason.contains("refused this agent's Hello"), "{reason}");
        let revoked = Status::permission_denied("revoked");
        assert_eq!(
            refusal(&revoked, Step::Stream),
            "the collector refused this agent's identity during the session: revoked"
        );
        assert_eq!(
            refusal(&revoked, Step::Hello),
            "the collector refused this agent's identity: revoked"
        );
    }

    #[test]
    fn a_refused_batch_is_set_aside() {
        let mut status = Status::invalid_argument("batch 7 refused: observations[0].mac: ...");
        status.metadata_mut().insert(
            hygie_proto::REJECTED_SEQUENCE_METADATA,
            MetadataValue::from(7u64),
        );
        assert_eq!(
            classify_status(&status, Step::Stream),
            Disposition::SetAside {
                sequence: 7,
                reason: "batch 7 refused: observations[0].mac: ...".into()
            }
        );
    }

    #[test]
    fn tls_errors_are_found_inside_io_errors() {
        let tls = rustls::Error::AlertReceived(rustls::AlertDescription::UnknownCA);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls.clone());
        let status = Status::from_error(Box::new(io));
        assert_eq!(find_tls_error(&status), Some(tls));
        assert!(
            matches!(classify_status(&status, Step::Stream), Disposition::Refused(reason) if reason.contains("UnknownCA"))
        );
    }

    #[test]
    fn tls_errors_kept_only_as_text_are_recognised() {
        let fatal = |text: &'static str| {
            let io = std::io::Error::new(std::io::ErrorKind::InvalidData, text);
            classify_status(&Status::from_error(Box::new(io)), Step::Hello)
        };
        assert!(
            matches!(fatal("received fatal alert: DecryptError"), Disposition::Refused(reason) if reason.contains("DecryptError"))
        );
        assert!(
            matches!(fatal("invalid peer certificate: UnknownIssuer"), Disposition::Refused(reason) if reason.contains("UnknownIssuer"))
        );
        assert!(matches!(fatal("connection refused"), Disposition::Retry(_)));
        assert!(matches!(
            fatal("received fatal alert: InternalError"),
            Disposition::Retry(_)
        ));
    }
}
