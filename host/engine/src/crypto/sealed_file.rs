//! Files Prism writes beside the database (saved graphs), encrypted with
//! AES-256-GCM under a key derived from the data key. A sealed file is
//! `PRISMSF1`, the data key's id (16 hex digits), a random 96-bit nonce,
//! then the ciphertext and its tag. The header and the file's purpose (its
//! name) are authenticated, so a file cannot be truncated, altered or put in
//! another file's place without failing to open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};

use super::{CryptoError, SecretKey};

const MAGIC: &[u8; 8] = b"PRISMSF1";
const ID_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = MAGIC.len() + ID_LEN + NONCE_LEN;
const FILE_PURPOSE: &str = "sealed file";

/// Seals with the first data key it was given, opens with any of them (a
/// re-encryption holds the old and the new key for a while).
pub struct Sealer {
    keys: Vec<(String, Aes256Gcm)>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Sealer")
            .field("data_key_ids", &ids)
            .finish()
    }
}

impl Sealer {
    /// `data_keys`: the one to seal with first. At least one.
    pub fn new(data_keys: &[&SecretKey]) -> Self {
        assert!(!data_keys.is_empty(), "a sealer needs a key");
        Self {
            keys: data_keys
                .iter()
                .map(|k| {
                    let derived = k.derive(FILE_PURPOSE);
                    (
                        k.id(),
                        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(derived.bytes())),
                    )
                })
                .collect(),
        }
    }

    /// How many leading bytes [`Sealer::is_sealed`] needs.
    pub const MAGIC_LEN: usize = MAGIC.len();

    /// Whether `bytes` are a sealed file (of any key).
    pub fn is_sealed(bytes: &[u8]) -> bool {
        bytes.starts_with(MAGIC)
    }

    /// `plain` sealed as the file `purpose`.
    pub fn seal(&self, purpose: &str, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (id, cipher) = &self.keys[0];
        let mut out = Vec::with_capacity(HEADER_LEN + plain.len() + 16);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(id.as_bytes());
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| CryptoError::Random(e.to_string()))?;
        out.extend_from_slice(&nonce);
        let aad = [&out[..], purpose.as_bytes()].concat();
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Sealed {
                path: purpose.into(),
                detail: "encryption failed".into(),
            })?;
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The contents of the sealed file `purpose`; the error says why not.
    pub fn open(&self, purpose: &str, bytes: &[u8]) -> Result<Vec<u8>, String> {
        if !Self::is_sealed(bytes) {
            return Err("it is not encrypted (a plain file in an encrypted directory)".into());
        }
        if bytes.len() < HEADER_LEN + 16 {
            return Err("it is truncated".into());
        }
        let id = std::str::from_utf8(&bytes[MAGIC.len()..MAGIC.len() + ID_LEN])
            .map_err(|_| "its header is damaged")?;
        let Some((_, cipher)) = self.keys.iter().find(|(k, _)| k == id) else {
            return Err(format!(
                "it is encrypted with data key {id}, which this directory's envelope does not hold"
            ));
        };
        let nonce = &bytes[MAGIC.len() + ID_LEN..HEADER_LEN];
        let aad = [&bytes[..HEADER_LEN], purpose.as_bytes()].concat();
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: &bytes[HEADER_LEN..],
                    aad: &aad,
                },
            )
            .map_err(|_| "it does not authenticate: damaged, truncated or altered".to_string())
    }

    /// The id of the data key new files are sealed with.
    pub fn sealing_key_id(&self) -> &str {
        &self.keys[0].0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_bytes_open_with_the_key_and_purpose_only() {
        let (k1, k2) = (SecretKey::random().unwrap(), SecretKey::random().unwrap());
        let sealer = Sealer::new(&[&k1]);
        let plain = b"marker-plaintext ".repeat(100);
        let sealed = sealer.seal("graph.bin", &plain).unwrap();
        assert!(Sealer::is_sealed(&sealed));
        assert!(
            !sealed.windows(16).any(|w| w == b"marker-plaintext"),
            "no plaintext in the file"
        );
        assert_eq!(sealer.open("graph.bin", &sealed).unwrap(), plain);
        assert!(sealer.open("graph.json", &sealed).is_err(), "purpose bound");
        let other = Sealer::new(&[&k2]);
        let err = other.open("graph.bin", &sealed).unwrap_err();
        assert!(err.contains(&k1.id()), "{err}");
        // Both keys (a re-encryption): seals with the first, opens either.
        let both = Sealer::new(&[&k2, &k1]);
        assert_eq!(both.open("graph.bin", &sealed).unwrap(), plain);
        assert_eq!(both.sealing_key_id(), k2.id());
        assert!(
            other
                .open("graph.bin", &both.seal("graph.bin", b"x").unwrap())
                .is_ok()
        );
        assert_ne!(
            sealer.seal("graph.bin", &plain).unwrap(),
            sealed,
            "fresh nonce"
        );
    }

    #[test]
    fn tampered_truncated_or_plain_files_are_refused() {
        let sealer = Sealer::new(&[&SecretKey::random().unwrap()]);
        let sealed = sealer.seal("f", b"some graph bytes").unwrap();
        for at in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[at] ^= 0x20;
            assert!(sealer.open("f", &bad).is_err(), "byte {at}");
        }
        for len in 0..sealed.len() {
            assert!(sealer.open("f", &sealed[..len]).is_err(), "length {len}");
        }
        let err = sealer.open("f", b"{\"format\":3}").unwrap_err();
        assert!(err.contains("not encrypted"), "{err}");
    }
}
