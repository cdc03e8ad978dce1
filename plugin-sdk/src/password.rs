//! Password hashes.

/// The hash schemes Prism understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashScheme {
    /// bcrypt (`$2a$`, `$2b$`, `$2y$`, `$2x$`), any cost.
    Bcrypt,
}

/// Why a stored hash cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedHash(pub String);

impl std::fmt::Display for UnsupportedHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Check that `hash` is a hash this module can verify, and say which.
pub fn scheme(hash: &str) -> Result<HashScheme, UnsupportedHash> {
    let prefix = hash.split('$').nth(1).unwrap_or("");
    match prefix {
        "2a" | "2b" | "2y" | "2x" => {
            let cost = hash.split('$').nth(2).unwrap_or("");
            let cost: u32 = cost
                .parse()
                .map_err(|_| UnsupportedHash("the bcrypt hash has no valid cost".into()))?;
            if !(4..=31).contains(&cost) {
                return Err(UnsupportedHash(format!(
                    "bcrypt cost {cost} is outside 4..=31"
                )));
            }
            if hash.len() != 60 {
                return Err(UnsupportedHash(
                    "the bcrypt hash is not 60 characters long".into(),
                ));
            }
            Ok(HashScheme::Bcrypt)
        }
        "apr1" => Err(UnsupportedHash(
            "MD5 (apr1) hashes are not supported; make bcrypt ones with `htpasswd -B`".into(),
        )),
        "1" | "5" | "6" => Err(UnsupportedHash(
            "crypt(3) MD5/SHA hashes are not supported; use bcrypt (`htpasswd -B`)".into(),
        )),
        _ if hash.starts_with("{SHA}") => Err(UnsupportedHash(
            "{SHA} hashes are not supported; use bcrypt (`htpasswd -B`)".into(),
        )),
        _ => Err(UnsupportedHash(
            "not a bcrypt hash; make one with `htpasswd -B` or Python's bcrypt".into(),
        )),
    }
}

/// Whether `password` matches `hash` (checked with [`scheme`] beforehand).
/// Passwords longer than bcrypt's 72 bytes are compared on their first 72
/// bytes, as Apache and Python's bcrypt do.
pub fn verify(password: &str, hash: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with Apache's `htpasswd -nbB -C 4 admin secret` and Python's
    // `bcrypt.hashpw(b"secret", bcrypt.gensalt(4))`.
    const APACHE: &str = "$2y$04$7rK1kA2Axe92KRiE4oF2qeAQwfiTRsnKlEvJWV677mNbBns94lMhC";
    const PYTHON: &str = "$2b$04$yX2pY.AN4MB2twXJx0iCvOfWzbLx2vNwW4caNTgBkCGyANfNB6iK.";

    #[test]
    fn verifies_2y_and_2b() {
        assert_eq!(scheme(APACHE), Ok(HashScheme::Bcrypt));
        assert!(verify("secret", APACHE));
        assert!(!verify("secreT", APACHE));
        assert!(verify("secret", PYTHON));
        assert!(!verify("", PYTHON));
    }

    #[test]
    fn refuses_other_schemes() {
        for h in [
            "$apr1$abc$def",
            "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
            "plain",
            "$6$salt$hash",
            "$2y$99$7rK1kA2Axe92KRiE4oF2qeAQwfiTRsnKlEvJWV677mNbBns94lMhC",
            "$2y$04$short",
        ] {
            assert!(scheme(h).is_err(), "{h}");
        }
    }
}
