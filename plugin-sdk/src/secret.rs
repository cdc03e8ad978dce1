//! Comparing secrets without leaking them through timing.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Whether two secrets are equal, in time that depends on neither's contents
/// nor length (both are hashed to 32 bytes first, then compared in constant
/// time).
pub fn equal(a: &[u8], b: &[u8]) -> bool {
    digest(a).ct_eq(&digest(b)).into()
}

/// A secret's SHA-256 digest: store this instead of the secret and compare
/// with [`digest_equal`].
pub fn digest(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

/// Constant-time comparison of two digests.
pub fn digest_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

/// The index of the entry of `digests` equal to `secret`'s digest. Every
/// entry is compared, so the time taken does not say which one matched.
pub fn find(digests: &[[u8; 32]], secret: &[u8]) -> Option<usize> {
    let wanted = digest(secret);
    let mut found = None;
    for (i, d) in digests.iter().enumerate() {
        if digest_equal(d, &wanted) && found.is_none() {
            found = Some(i);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality() {
        assert!(equal(b"abc", b"abc"));
        assert!(!equal(b"abc", b"abd"));
        assert!(!equal(b"abc", b"abcd"));
        assert!(equal(b"", b""));
    }

    #[test]
    fn find_returns_the_matching_index() {
        let ds = [digest(b"one"), digest(b"two"), digest(b"three")];
        assert_eq!(find(&ds, b"two"), Some(1));
        assert_eq!(find(&ds, b"four"), None);
    }
}
