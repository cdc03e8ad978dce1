//! Encryption at rest (docs/ENCRYPTION.md). A random *data key* encrypts
//! everything in the data directory: the SQLite database through SQLCipher
//! and every other file through [`sealed_file`]. The operator's key file
//! ([`key_file`]) holds a *key-encryption key* that only wraps the data key
//! ([`envelope`], `prism.keys`), so changing the key file rewrites one small
//! file. [`unlock`] works out what a directory is and which keys open it;
//! [`rotate`] and [`convert`] change keys and turn directories plain or
//! encrypted, each crash-safe.

pub mod convert;
pub mod envelope;
pub mod key_file;
pub mod rotate;
pub mod sealed_file;
pub mod unlock;

use hkdf::Hkdf;
use sha2::Sha256;
use thiserror::Error;
use zeroize::Zeroizing;

/// 256 bits of key material. No `Debug`, `Display` or `Clone` that could
/// print or scatter it; zeroed when dropped.
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(redacted)")
    }
}

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn random() -> Result<Self, CryptoError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|e| CryptoError::Random(e.to_string()))?;
        Ok(Self(bytes))
    }

    pub(crate) fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> Self {
        Self(bytes)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A key for one purpose, derived with HKDF-SHA256 so that no two uses
    /// (SQLCipher, sealed files, key ids) share key material.
    pub(crate) fn derive(&self, purpose: &str) -> SecretKey {
        let hk = Hkdf::<Sha256>::new(Some(&b"prism-v1"[..]), self.0.as_ref());
        let mut out = Zeroizing::new([0u8; 32]);
        hk.expand(purpose.as_bytes(), out.as_mut())
            .expect("32 bytes is a valid HKDF-SHA256 length");
        SecretKey(out)
    }

    /// A public name of this key: 16 hex digits derived one-way, so a
    /// message or file can say which key it needs without revealing it.
    pub fn id(&self) -> String {
        let derived = self.derive("key id");
        hex(&derived.bytes()[..8])
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What can go wrong with keys and encrypted files. Messages never hold key
/// material, and each says what to do.
#[derive(Debug, Error)]
pub enum CryptoError {
    #[error("the operating system's random source failed: {0}")]
    Random(String),
    #[error(transparent)]
    KeyFile(#[from] key_file::KeyFileError),
    #[error("{0}")]
    Envelope(String),
    #[error(
        "{dir} is encrypted (it holds prism.keys): start with --encryption-key-file FILE (or PRISM_ENCRYPTION_KEY_FILE) naming its key file"
    )]
    KeyRequired { dir: String },
    #[error(
        "the key file {key_file} (key id {given}) does not open {dir}: its data key is wrapped for key id {wanted}. Use the key file this directory was encrypted or last rotated with"
    )]
    WrongKey {
        dir: String,
        key_file: String,
        given: String,
        wanted: String,
    },
    #[error(
        "{dir} holds a plain (unencrypted) database, but a key file was given: Prism never mixes the two. To encrypt it, stop the server and run `prism encrypt --path {dir} --key-file FILE`; to serve it plain, start without --encryption-key-file"
    )]
    PlainDirectoryGivenKey { dir: String },
    #[error(
        "the database in {dir} is encrypted but prism.keys is missing beside it: without the wrapped data key nothing can open it. Restore prism.keys (or the whole directory) from a backup"
    )]
    EnvelopeMissing { dir: String },
    #[error(
        "the key unwrapped {dir}'s data key, but the database does not decrypt with it ({detail}): the database or prism.keys was replaced or damaged. Restore the directory from a backup"
    )]
    DatabaseKeyMismatch { dir: String, detail: String },
    #[error("{path} is not an encrypted Prism file or was damaged or altered: {detail}")]
    Sealed { path: String, detail: String },
    #[error("{0}")]
    Busy(String),
}
