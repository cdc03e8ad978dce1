//! `prism.keys`: the data key, wrapped (AES-256-GCM) by the key-encryption
//! key of the operator's key file. JSON, replaced atomically (temporary
//! file, fsync, rename, fsync of the directory), so a crash leaves the old
//! or the new envelope, never a torn one.
//!
//! An envelope may list several wraps: the same data key under two
//! key-encryption keys, or two data keys, while a rotation or re-encryption
//! is under way. Whoever opens the directory unwraps every entry its key
//! can and tries those data keys; that is what makes those operations
//! crash-safe (see [`super::rotate`]).

use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{CryptoError, SecretKey};

/// The envelope's file name in the data directory.
pub const ENVELOPE_FILE: &str = "prism.keys";
const FORMAT: u32 = 1;
const WRAP_PURPOSE: &str = "wrap data key";

/// Whether the directory is settled, or half way through turning plain or
/// encrypted (see [`super::convert`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DirState {
    #[default]
    Encrypted,
    /// `prism encrypt` started: until the encrypted database replaces the
    /// plain one, the directory is still plain.
    Encrypting,
    /// `prism decrypt` started: once a plain database replaced the
    /// encrypted one, the directory is plain.
    Decrypting,
}

/// The contents of `prism.keys`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    pub format: u32,
    #[serde(default)]
    pub state: DirState,
    /// Data keys wrapped by key-encryption keys, the preferred data key's
    /// entries first.
    pub keys: Vec<Wrapped>,
}

/// One data key wrapped by one key-encryption key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Wrapped {
    /// [`SecretKey::id`] of the key-encryption key (not the key).
    pub kek_id: String,
    /// [`SecretKey::id`] of the data key it holds.
    pub data_key_id: String,
    /// Base64 of AES-256-GCM's 96-bit nonce.
    pub nonce: String,
    /// Base64 of the encrypted data key and its tag.
    pub ciphertext: String,
}

/// The authenticated data of a wrap: the format and both ids, so an entry
/// cannot be moved to claim another key.
fn associated_data(kek_id: &str, data_key_id: &str) -> Vec<u8> {
    format!("prism.keys v{FORMAT} kek={kek_id} data={data_key_id}").into_bytes()
}

impl Envelope {
    pub fn new(state: DirState) -> Self {
        Self {
            format: FORMAT,
            state,
            keys: Vec::new(),
        }
    }

    /// Add `data_key` wrapped by `kek` (once per pair).
    pub fn wrap(&mut self, kek: &SecretKey, data_key: &SecretKey) -> Result<(), CryptoError> {
        let (kek_id, data_key_id) = (kek.id(), data_key.id());
        if self
            .keys
            .iter()
            .any(|w| w.kek_id == kek_id && w.data_key_id == data_key_id)
        {
            return Ok(());
        }
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(
            kek.derive(WRAP_PURPOSE).bytes(),
        ));
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| CryptoError::Random(e.to_string()))?;
        let aad = associated_data(&kek_id, &data_key_id);
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: data_key.bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Envelope("wrapping the data key failed".into()))?;
        self.keys.push(Wrapped {
            kek_id,
            data_key_id,
            nonce: B64.encode(nonce),
            ciphertext: B64.encode(ciphertext),
        });
        Ok(())
    }

    /// Every data key `kek` unwraps, in the envelope's order. `Err(None)`
    /// when no entry is wrapped for `kek` (a wrong key); an entry that is
    /// wrapped for it but does not authenticate is an error of its own.
    pub fn unwrap_all(&self, kek: &SecretKey) -> Result<Vec<SecretKey>, Option<CryptoError>> {
        let kek_id = kek.id();
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(
            kek.derive(WRAP_PURPOSE).bytes(),
        ));
        let mut out = Vec::new();
        for w in self.keys.iter().filter(|w| w.kek_id == kek_id) {
            let damaged = |what: &str| {
                Some(CryptoError::Envelope(format!(
                    "{ENVELOPE_FILE}: the entry of data key {} for key id {kek_id} {what}: the file was damaged or altered. Restore it from a backup",
                    w.data_key_id
                )))
            };
            let nonce = B64
                .decode(&w.nonce)
                .ok()
                .filter(|n| n.len() == 12)
                .ok_or_else(|| damaged("has a malformed nonce"))?;
            let ciphertext = B64
                .decode(&w.ciphertext)
                .map_err(|_| damaged("is not base64"))?;
            let plain = Zeroizing::new(
                cipher
                    .decrypt(
                        Nonce::from_slice(&nonce),
                        Payload {
                            msg: &ciphertext,
                            aad: &associated_data(&w.kek_id, &w.data_key_id),
                        },
                    )
                    .map_err(|_| damaged("does not authenticate"))?,
            );
            let bytes: [u8; 32] = plain
                .as_slice()
                .try_into()
                .map_err(|_| damaged("is not a 256-bit key"))?;
            let key = SecretKey::from_bytes(Zeroizing::new(bytes));
            if key.id() != w.data_key_id {
                return Err(damaged("holds a different key than it names"));
            }
            if !out.iter().any(|k: &SecretKey| k.id() == w.data_key_id) {
                out.push(key);
            }
        }
        if out.is_empty() {
            return Err(None);
        }
        Ok(out)
    }

    /// The key-encryption key ids this envelope is wrapped for.
    pub fn kek_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for w in &self.keys {
            if !ids.contains(&w.kek_id) {
                ids.push(w.kek_id.clone());
            }
        }
        ids
    }

    /// The envelope of `dir`, if it has one.
    pub fn read(dir: &Path) -> Result<Option<Self>, CryptoError> {
        let path = dir.join(ENVELOPE_FILE);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(CryptoError::Envelope(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
        };
        Self::parse(&text, &path).map(Some)
    }

    /// An envelope from the contents of the file `path` (named in errors).
    pub fn parse(text: &[u8], path: &Path) -> Result<Self, CryptoError> {
        let envelope: Self = serde_json::from_slice(text).map_err(|e| {
            CryptoError::Envelope(format!(
                "{} is damaged ({e}): restore it from a backup",
                path.display()
            ))
        })?;
        if envelope.format != FORMAT {
            return Err(CryptoError::Envelope(format!(
                "{} is of format {}; this build reads format {FORMAT}: use a newer Prism",
                path.display(),
                envelope.format
            )));
        }
        Ok(envelope)
    }

    /// Replace `dir`'s envelope with this one, atomically and durably.
    pub fn write(&self, dir: &Path) -> Result<(), CryptoError> {
        let json = serde_json::to_vec_pretty(self).expect("an envelope serializes");
        replace_file(&dir.join(ENVELOPE_FILE), &json).map_err(|e| {
            CryptoError::Envelope(format!(
                "cannot write {ENVELOPE_FILE} in {}: {e}",
                dir.display()
            ))
        })
    }

    /// Remove `dir`'s envelope, durably.
    pub fn remove(dir: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(dir.join(ENVELOPE_FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        sync_dir(dir)
    }
}

/// Write `bytes` to `path` through a temporary file: after a crash `path`
/// holds its old contents or these, whole.
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = tmp_path(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Make renames and removals in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_key_unwraps_with_its_key_only() {
        let (kek, other, data) = (
            SecretKey::random().unwrap(),
            SecretKey::random().unwrap(),
            SecretKey::random().unwrap(),
        );
        let mut env = Envelope::new(DirState::Encrypted);
        env.wrap(&kek, &data).unwrap();
        env.wrap(&kek, &data).unwrap();
        assert_eq!(env.keys.len(), 1, "one entry per pair");
        let keys = env.unwrap_all(&kek).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].bytes(), data.bytes());
        assert!(matches!(env.unwrap_all(&other), Err(None)));
        assert_eq!(env.kek_ids(), vec![kek.id()]);
        let json = serde_json::to_string(&env).unwrap();
        assert!(!json.contains(&crate::crypto::hex(data.bytes())));
        assert!(!json.contains(&crate::crypto::hex(kek.bytes())));
    }

    #[test]
    fn a_tampered_entry_is_refused() {
        let (kek, data) = (SecretKey::random().unwrap(), SecretKey::random().unwrap());
        let mut env = Envelope::new(DirState::Encrypted);
        env.wrap(&kek, &data).unwrap();
        let good = env.keys[0].clone();
        let mut bytes = B64.decode(&good.ciphertext).unwrap();
        bytes[3] ^= 1;
        env.keys[0].ciphertext = B64.encode(&bytes);
        assert!(matches!(env.unwrap_all(&kek), Err(Some(_))));
        // Authenticated data: renaming the data key breaks the wrap.
        env.keys[0] = Wrapped {
            data_key_id: "0011223344556677".into(),
            ..good.clone()
        };
        let err = env.unwrap_all(&kek).err().unwrap().unwrap().to_string();
        assert!(err.contains("does not authenticate"), "{err}");
        env.keys[0] = Wrapped {
            nonce: "AAAA".into(),
            ..good
        };
        assert!(matches!(env.unwrap_all(&kek), Err(Some(_))));
    }

    #[test]
    fn two_data_keys_under_two_keks_unwrap_in_order() {
        let (old, new) = (SecretKey::random().unwrap(), SecretKey::random().unwrap());
        let (d1, d2) = (SecretKey::random().unwrap(), SecretKey::random().unwrap());
        let mut env = Envelope::new(DirState::Encrypted);
        for data in [&d2, &d1] {
            for kek in [&old, &new] {
                env.wrap(kek, data).unwrap();
            }
        }
        for kek in [&old, &new] {
            let ids: Vec<String> = env
                .unwrap_all(kek)
                .unwrap()
                .iter()
                .map(|k| k.id())
                .collect();
            assert_eq!(ids, vec![d2.id(), d1.id()]);
        }
    }

    #[test]
    fn the_file_round_trips_and_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Envelope::read(dir.path()).unwrap().is_none());
        let (kek, data) = (SecretKey::random().unwrap(), SecretKey::random().unwrap());
        let mut env = Envelope::new(DirState::Encrypting);
        env.wrap(&kek, &data).unwrap();
        env.write(dir.path()).unwrap();
        let back = Envelope::read(dir.path()).unwrap().unwrap();
        assert_eq!(
            (back.state, back.keys.clone()),
            (DirState::Encrypting, env.keys)
        );
        assert!(!dir.path().join("prism.keys.tmp").exists());
        std::fs::write(dir.path().join(ENVELOPE_FILE), b"{").unwrap();
        assert!(Envelope::read(dir.path()).is_err());
        Envelope::remove(dir.path()).unwrap();
        assert!(Envelope::read(dir.path()).unwrap().is_none());
    }
}
