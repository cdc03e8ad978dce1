//! `prism token new`: a strong random token.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// A token of `bytes` random bytes, URL-safe base64 (letters, digits, `-`,
/// `_`: all in Chroma's token alphabet), and its SHA-256 for plugins that
/// store digests instead of tokens.
pub fn new(bytes: usize) -> anyhow::Result<(String, String)> {
    anyhow::ensure!((16..=256).contains(&bytes), "--bytes must be 16 to 256");
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let token = URL_SAFE_NO_PAD.encode(&buf);
    let digest: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((token, digest))
}
