//! The collector's Ed25519 signing key: created with `ca init` (or on first start), used to sign
//! snapshots; its public half is all an auditor needs to verify them offline.

use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::ca::{self, CaError};

/// Failures of key handling, with the file involved.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an Ed25519 {what} key in PEM")]
    Parse { path: PathBuf, what: &'static str },
    #[error("cannot encode the key")]
    Encode,
    #[error(transparent)]
    Write(#[from] CaError),
    #[error(
        "{path} already exists; refusing to replace the signing key (snapshots signed with it could no longer be verified with the new one). Move it away yourself only if no snapshot signed with it will need verifying"
    )]
    Exists { path: PathBuf },
}

/// A snapshot signer (cloned for the threads that sign an export's rows).
#[derive(Debug, Clone)]
pub struct Signer25519 {
    key: SigningKey,
}

/// A snapshot verifier: the public half.
#[derive(Debug, Clone)]
pub struct Verifier25519 {
    key: VerifyingKey,
}

/// The public key file that goes with the private key at `private`: same name, `.pub`.
pub fn public_key_path(private: &Path) -> PathBuf {
    private.with_extension("pub")
}

impl Signer25519 {
    /// A new random key.
    pub fn generate() -> Self {
        Signer25519 {
            key: SigningKey::from_bytes(&rand::random()),
        }
    }

    /// Writes the private key (0600) and the public key, refusing to replace an existing key
    /// unless `force`.
    pub fn save(&self, private: &Path, public: &Path, force: bool) -> Result<(), KeyError> {
        if private.exists() && !force {
            return Err(KeyError::Exists {
                path: private.to_owned(),
            });
        }
        let pem = self
            .key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| KeyError::Encode)?;
        ca::write_secret(private, &pem)?;
        let public_pem = self.verifier().to_pem()?;
        crate::files::write_atomic(public, crate::files::PUBLIC, public_pem.as_bytes())
            .map_err(|error| KeyError::Write(CaError::File(error)))
    }

    /// Loads the private key.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        let key = SigningKey::from_pkcs8_pem(&text).map_err(|_| KeyError::Parse {
            path: path.to_owned(),
            what: "private",
        })?;
        Ok(Signer25519 { key })
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// The public half.
    pub fn verifier(&self) -> Verifier25519 {
        Verifier25519 {
            key: self.key.verifying_key(),
        }
    }
}

impl Verifier25519 {
    /// Loads a public key (PEM, as `ca init` writes it).
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        let key = VerifyingKey::from_public_key_pem(&text).map_err(|_| KeyError::Parse {
            path: path.to_owned(),
            what: "public",
        })?;
        Ok(Verifier25519 { key })
    }

    /// From the 32 raw bytes, in hex (as snapshots carry it).
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes: [u8; 32] = hex::decode(text).ok()?.try_into().ok()?;
        VerifyingKey::from_bytes(&bytes)
            .ok()
            .map(|key| Verifier25519 { key })
    }

    /// PEM text.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| KeyError::Encode)
    }

    /// The 32 raw bytes, in hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.key.to_bytes())
    }

    /// A short name for the key: the first 16 hex digits of the SHA-256 of its raw bytes.
    pub fn key_id(&self) -> String {
        hex::encode(&Sha256::digest(self.key.to_bytes())[..8])
    }

    /// Whether `signature` (hex) signs `message`.
    pub fn verify(&self, message: &[u8], signature: &str) -> bool {
        signature_from_hex(signature).is_some_and(|bytes| self.verify_bytes(message, &bytes))
    }

    /// Whether `signature` (64 raw bytes) signs `message`: the check every other one (batches
    /// included) must agree with.
    pub fn verify_bytes(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        self.key
            .verify(message, &Signature::from_bytes(signature))
            .is_ok()
    }

    /// The key itself, for checking many signatures at once.
    pub(crate) fn key(&self) -> &VerifyingKey {
        &self.key
    }
}

/// The 64 bytes of a signature written in hex, if it is that.
pub(crate) fn signature_from_hex(text: &str) -> Option<[u8; 64]> {
    let mut bytes = [0u8; 64];
    hex::decode_to_slice(text, &mut bytes).ok()?;
    Some(bytes)
}

/// Creates the signing key pair at `private` (and its `.pub`) if there is none yet; true if
/// it did. An existing key is never replaced: snapshots signed with it must stay verifiable.
pub fn ensure_key(private: &Path) -> Result<bool, KeyError> {
    if private.exists() {
        return Ok(false);
    }
    Signer25519::generate().save(private, &public_key_path(private), false)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_sign() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("signing.key");
        let public = public_key_path(&private);
        assert_eq!(public, dir.path().join("signing.pub"));
        let signer = Signer25519::generate();
        signer.save(&private, &public, false).unwrap();
        assert!(matches!(
            signer.save(&private, &public, false),
            Err(KeyError::Exists { .. })
        ));
        let loaded = Signer25519::load(&private).unwrap();
        let verifier = Verifier25519::load(&public).unwrap();
        let signature = hex::encode(loaded.sign(b"snapshot"));
        assert!(verifier.verify(b"snapshot", &signature));
        assert!(!verifier.verify(b"snapshot!", &signature));
        assert!(!verifier.verify(b"snapshot", "zz"));
        assert_eq!(verifier.key_id().len(), 16);
        assert_eq!(
            Verifier25519::from_hex(&verifier.to_hex())
                .unwrap()
                .key_id(),
            verifier.key_id()
        );
    }
}
