//! Each refusal of `ClientTls::load`, on certificates made here with rcgen.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::*;

/// A CA able to issue agent certificates.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// (certificate PEM, key PEM) for a client, valid `days_from_now` days either side.
    fn issue(&self, purpose: ExtendedKeyUsagePurpose, days: (i64, i64)) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, "ward-3");
        params.extended_key_usages = vec![purpose];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(days.0);
        params.not_after = now + time::Duration::days(days.1);
        params.use_authority_key_identifier_extension = true;
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        (certificate.pem(), key.serialize_pem())
    }

    fn client(&self) -> (String, String) {
        self.issue(ExtendedKeyUsagePurpose::ClientAuth, (-1, 30))
    }
}

/// Collector settings pointing at `ca.pem`, `agent.pem` and `agent.key` in `dir`, written
/// with the given contents.
fn settings(dir: &Path, ca: &[u8], cert: &[u8], key: &[u8]) -> CollectorSettings {
    let paths = [
        dir.join("ca.pem"),
        dir.join("agent.pem"),
        dir.join("agent.key"),
    ];
    for (path, contents) in paths.iter().zip([ca, cert, key]) {
        std::fs::write(path, contents).unwrap();
    }
    let [ca, cert, key] = paths;
    CollectorSettings {
        endpoint: "https://127.0.0.1:7443".parse().unwrap(),
        server_name: None,
        ca,
        cert,
        key,
        connect_timeout: std::time::Duration::from_secs(1),
    }
}

/// Loads as `validate` does: any refusal is an error.
fn refusal(ca: &str, cert: &str, key: &str) -> (TlsError, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let collector = settings(dir.path(), ca.as_bytes(), cert.as_bytes(), key.as_bytes());
    let error = ClientTls::load(&collector)
        .and_then(ClientTls::require_accepted)
        .unwrap_err();
    (error, dir)
}

#[test]
fn a_certificate_issued_by_the_ca_with_its_key_is_accepted() {
    let ca = Ca::new("Hygie test CA");
    let (cert, key) = ca.client();
    let dir = tempfile::tempdir().unwrap();
    let collector = settings(
        dir.path(),
        ca.pem.as_bytes(),
        cert.as_bytes(),
        key.as_bytes(),
    );
    let tls = ClientTls::load(&collector).unwrap();
    assert!(tls.refusal().is_none());
    // What tonic gets is what was checked.
    assert_eq!(tls.require_accepted().unwrap().cert_pem, cert.as_bytes());
}

#[test]
fn a_certificate_that_is_not_pem_is_refused() {
    let ca = Ca::new("Hygie test CA");
    let (_, key) = ca.client();
    let (error, dir) = refusal(&ca.pem, "MIIB...base64 without its PEM lines\n", &key);
    assert!(
        matches!(
            error,
            TlsError::NotPem {
                kind: "certificate",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "the certificate (collector.cert) {} is not a PEM certificate: it holds no PEM block; \
             expected a file with a \"-----BEGIN CERTIFICATE-----\" block (as `hygie-collector ca \
             issue-agent` writes)",
            dir.path().join("agent.pem").display()
        )
    );
}

#[test]
fn a_key_that_is_not_a_key_is_refused() {
    let ca = Ca::new("Hygie test CA");
    let (cert, _) = ca.client();
    // A second copy of the certificate where the key should be.
    let (error, _dir) = refusal(&ca.pem, &cert, &cert);
    assert!(
        matches!(
            error,
            TlsError::NotPem {
                kind: "private key",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("it holds a CERTIFICATE block"),
        "{error}"
    );
    let (error, _dir) = refusal(&ca.pem, &cert, "not a key at all");
    assert!(
        error.to_string().contains("is not a PEM private key"),
        "{error}"
    );
}

#[test]
fn swapped_certificate_and_key_are_named_as_such() {
    let ca = Ca::new("Hygie test CA");
    let (cert, key) = ca.client();
    let (error, _dir) = refusal(&ca.pem, &key, &cert);
    assert!(matches!(error, TlsError::Swapped { .. }), "{error:?}");
    assert!(error.to_string().ends_with("the two settings are swapped"));
}

#[test]
fn a_key_of_another_pair_is_refused() {
    let ca = Ca::new("Hygie test CA");
    let (cert, _) = ca.client();
    let (_, other_key) = ca.client();
    let (error, _dir) = refusal(&ca.pem, &cert, &other_key);
    assert!(matches!(error, TlsError::KeyMismatch { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("does not belong to the certificate")
    );
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let ca = Ca::new("Hygie test CA");
    let other = Ca::new("Someone else's CA");
    let (cert, key) = other.client();
    let (error, _dir) = refusal(&ca.pem, &cert, &key);
    assert!(matches!(error, TlsError::NotIssuedByCa { .. }), "{error:?}");
    assert!(error.to_string().contains("the collector would refuse it"));
    // `run` loads it (to keep collecting) and knows the collector will refuse it.
    let dir = tempfile::tempdir().unwrap();
    let collector = settings(
        dir.path(),
        ca.pem.as_bytes(),
        cert.as_bytes(),
        key.as_bytes(),
    );
    let loaded = ClientTls::load(&collector).unwrap();
    assert!(matches!(
        loaded.refusal(),
        Some(TlsError::NotIssuedByCa { .. })
    ));
    // A CA file that holds no certificate is named too.
    let (error, _dir) = refusal("garbage", &cert, &key);
    assert!(
        error.to_string().contains("CA certificate (collector.ca)"),
        "{error}"
    );
}

#[test]
fn expired_and_server_certificates_are_refused() {
    let ca = Ca::new("Hygie test CA");
    let (cert, key) = ca.issue(ExtendedKeyUsagePurpose::ClientAuth, (-30, -1));
    let (error, _dir) = refusal(&ca.pem, &cert, &key);
    assert!(error.to_string().contains("is expired"), "{error}");
    let (cert, key) = ca.issue(ExtendedKeyUsagePurpose::ServerAuth, (-1, 30));
    let (error, _dir) = refusal(&ca.pem, &cert, &key);
    assert!(matches!(error, TlsError::Refused { .. }), "{error:?}");
}

#[test]
fn a_missing_file_is_named_with_the_enrol_command() {
    let dir = tempfile::tempdir().unwrap();
    let mut collector = settings(dir.path(), b"", b"", b"");
    collector.key = dir.path().join("absent.key");
    let error = ClientTls::load(&collector).unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with("the private key (collector.key) "),
        "{text}"
    );
    assert!(
        text.contains("absent.key does not exist: this agent is not enrolled yet"),
        "{text}"
    );
    assert!(text.contains("hygie-collector ca issue-agent"), "{text}");
}

#[test]
fn an_unreadable_file_is_named_with_its_system_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut collector = settings(dir.path(), b"", b"", b"");
    // A directory where the key should be: it exists, but cannot be read as a file.
    collector.key = dir.path().to_owned();
    let error = ClientTls::load(&collector).unwrap_err();
    assert!(
        matches!(
            &error,
            TlsError::Read {
                what: "private key (collector.key)",
                ..
            }
        ),
        "{error:?}"
    );
}
