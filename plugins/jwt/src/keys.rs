//! Verification keys: a JWKS document (RFC 7517) and a shared HMAC secret,
//! and which of them verifies a given token.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use prism_plugin_sdk::ConfigError;
use prism_plugin_sdk::config::ConfigText;
use rsa::{BigUint, RsaPublicKey, traits::PublicKeyParts};
use serde_json::{Map, Value};

use crate::alg::Alg;
use crate::jose::printable;

/// RSA moduli shorter than this are refused (RFC 7518 3.3 requires 2048).
const MIN_RSA_BITS: usize = 2048;
/// Longest RSA modulus accepted; verifying with longer ones costs more
/// than a plugin call's deadline should have to absorb.
const MAX_RSA_BITS: usize = 8192;
/// Shortest HMAC secret (RFC 7518 3.2: at least the hash size; HS256's).
pub const MIN_SECRET_BYTES: usize = 32;

/// The public (or, for HMAC, secret) part of a key.
pub enum Material {
    Hmac(Vec<u8>),
    Rsa(RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl Material {
    /// Whether this key type can verify `alg`; a token naming another
    /// algorithm is refused, so that, say, an RSA public key is never used
    /// as an HMAC secret.
    fn fits(&self, alg: Alg) -> bool {
        use Alg::*;
        matches!(
            (self, alg),
            (Material::Hmac(_), Hs256 | Hs384 | Hs512)
                | (
                    Material::Rsa(_),
                    Rs256 | Rs384 | Rs512 | Ps256 | Ps384 | Ps512
                )
                | (Material::P256(_), Es256)
                | (Material::P384(_), Es384)
                | (Material::Ed25519(_), EdDsa)
        )
    }

    fn kind(&self) -> &'static str {
        match self {
            Material::Hmac(_) => "an HMAC secret, for HS256/384/512",
            Material::Rsa(_) => "RSA, for RS256/384/512 and PS256/384/512",
            Material::P256(_) => "EC P-256, for ES256",
            Material::P384(_) => "EC P-384, for ES384",
            Material::Ed25519(_) => "OKP Ed25519, for EdDSA",
        }
    }
}

/// One usable key.
pub struct Key {
    /// The JWK's `kid`; none for the secret file.
    pub kid: Option<String>,
    /// The JWK's `alg`, when it pins one.
    pub alg: Option<Alg>,
    pub material: Material,
}

impl Key {
    fn fits(&self, alg: Alg) -> bool {
        self.material.fits(alg) && self.alg.is_none_or(|pinned| pinned == alg)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kid {
            Some(kid) => write!(f, "key `{}`", printable(kid))?,
            None => f.write_str("the unnamed key")?,
        }
        match self.alg {
            Some(alg) => write!(f, " ({}, pinned to {alg})", self.material.kind()),
            None => write!(f, " ({})", self.material.kind()),
        }
    }
}

/// Why no key verifies a token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the token's kid `{0}` is not in the JWKS")]
    UnknownKid(String),
    #[error("the token's kid `{kid}` names a JWKS key this plugin cannot use: {why}")]
    UnusableKid { kid: String, why: String },
    #[error("the token's alg {alg} does not match {key}")]
    Mismatch { alg: Alg, key: String },
    #[error("the token names no kid and {count} configured keys could verify {alg}")]
    Ambiguous { alg: Alg, count: usize },
    #[error("no configured key verifies {0}")]
    NoKeyFor(Alg),
}

/// A JWKS entry that was skipped, kept to explain a token that names it.
struct Skipped {
    kid: Option<String>,
    why: String,
}

/// Every configured key.
#[derive(Default)]
pub struct KeySet {
    keys: Vec<Key>,
    skipped: Vec<Skipped>,
}

impl KeySet {
    /// How many keys can verify tokens.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Add the shared HMAC secret: the bytes of the file at `path` (a
    /// trailing newline, as editors and `echo` leave, is not part of it).
    pub fn add_secret(&mut self, path: &str, contents: &[u8]) -> Result<(), ConfigError> {
        let secret = contents
            .strip_suffix(b"\n")
            .map(|s| s.strip_suffix(b"\r").unwrap_or(s))
            .unwrap_or(contents);
        if secret.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::at(
                path,
                1,
                format!(
                    "the secret is {} bytes; HMAC keys must be at least {MIN_SECRET_BYTES} (RFC 7518 section 3.2)",
                    secret.len()
                ),
            ));
        }
        self.keys.push(Key {
            kid: None,
            alg: None,
            material: Material::Hmac(secret.to_vec()),
        });
        Ok(())
    }

    /// Add the keys of a JWKS document (`{"keys": [...]}`, or one JWK).
    /// Keys for encryption (`use: enc`) and of types this plugin does not
    /// verify (P-521, X25519, ...) are skipped rather than refused: identity
    /// providers publish them beside their signing keys. A key it should
    /// use but cannot read is refused with its line.
    pub fn add_jwks(&mut self, source: &ConfigText<'_>) -> Result<(), ConfigError> {
        let doc: Value = serde_json::from_str(source.text).map_err(|e| {
            source.error_at(
                u32::try_from(e.line()).unwrap_or(0),
                format!("not a JWKS: {e}"),
            )
        })?;
        let entries: Vec<&Value> = match &doc {
            Value::Object(o) if o.contains_key("kty") => vec![&doc],
            Value::Object(o) => match o.get("keys") {
                Some(Value::Array(keys)) => keys.iter().collect(),
                _ => {
                    return Err(source.error_at(1, "a JWKS is an object with a `keys` array"));
                }
            },
            _ => return Err(source.error_at(1, "a JWKS is an object with a `keys` array")),
        };
        let before = self.keys.len();
        for (n, entry) in entries.into_iter().enumerate() {
            let line = nth_line_of(source.text, "\"kty\"", n).unwrap_or(1);
            let Value::Object(jwk) = entry else {
                return Err(source.error_at(line, format!("key {} is not an object", n + 1)));
            };
            let kid = match jwk.get("kid") {
                None => None,
                Some(Value::String(kid)) => Some(kid.clone()),
                Some(_) => return Err(source.error_at(line, "`kid` must be a string")),
            };
            let named = |why: String| match &kid {
                Some(kid) => format!("key `{}`: {why}", printable(kid)),
                None => format!("key {}: {why}", n + 1),
            };
            match read_jwk(jwk) {
                Ok(Some(key)) => {
                    if let Some(kid) = &kid
                        && self.keys.iter().any(|k| k.kid.as_ref() == Some(kid))
                    {
                        return Err(source.error_at(
                            line,
                            format!("two keys share the kid `{}`", printable(kid)),
                        ));
                    }
                    self.keys.push(Key {
                        kid,
                        alg: key.1,
                        material: key.0,
                    });
                }
                Ok(None) => {}
                Err(JwkError::Skip(why)) => self.skipped.push(Skipped { kid, why }),
                Err(JwkError::Bad(why)) => return Err(source.error_at(line, named(why))),
            }
        }
        if self.keys.len() == before {
            let why = match self.skipped.first() {
                Some(s) => format!(" (skipped: {})", s.why),
                None => String::new(),
            };
            return Err(ConfigError {
                file: Some(source.origin.clone()),
                line: None,
                message: format!("the JWKS holds no signing key this plugin can use{why}"),
            });
        }
        Ok(())
    }

    /// The key to verify a token signed with `alg` that names `kid`.
    ///
    /// A token that names a kid is verified with that key only; the key must
    /// fit the algorithm. Keys without a kid (the secret file) serve tokens
    /// whose kid no JWKS key carries. A token without a kid is verified with
    /// the one key that fits its algorithm, and refused when several do.
    pub fn select(&self, alg: Alg, kid: Option<&str>) -> Result<&Key, KeyError> {
        if let Some(kid) = kid {
            if let Some(key) = self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)) {
                return if key.fits(alg) {
                    Ok(key)
                } else {
                    Err(KeyError::Mismatch {
                        alg,
                        key: key.to_string(),
                    })
                };
            }
            if let Some(s) = self.skipped.iter().find(|s| s.kid.as_deref() == Some(kid)) {
                return Err(KeyError::UnusableKid {
                    kid: printable(kid),
                    why: s.why.clone(),
                });
            }
            let unnamed: Vec<&Key> = self
                .keys
                .iter()
                .filter(|k| k.kid.is_none() && k.fits(alg))
                .collect();
            return match unnamed[..] {
                [key] => Ok(key),
                [] => Err(KeyError::UnknownKid(printable(kid))),
                _ => Err(KeyError::Ambiguous {
                    alg,
                    count: unnamed.len(),
                }),
            };
        }
        let fitting: Vec<&Key> = self.keys.iter().filter(|k| k.fits(alg)).collect();
        match (&fitting[..], &self.keys[..]) {
            ([key], _) => Ok(key),
            ([], [only]) => Err(KeyError::Mismatch {
                alg,
                key: only.to_string(),
            }),
            ([], _) => Err(KeyError::NoKeyFor(alg)),
            (many, _) => Err(KeyError::Ambiguous {
                alg,
                count: many.len(),
            }),
        }
    }
}

enum JwkError {
    /// Not a signing key this plugin verifies with; skipped.
    Skip(String),
    /// A signing key that cannot be read; the configuration is refused.
    Bad(String),
}

/// A JWK's key and pinned algorithm; `Ok(None)` for an encryption key.
fn read_jwk(jwk: &Map<String, Value>) -> Result<Option<(Material, Option<Alg>)>, JwkError> {
    let text = |name: &str| -> Result<Option<&str>, JwkError> {
        match jwk.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(JwkError::Bad(format!("`{name}` must be a string"))),
        }
    };
    if text("use")?.is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    let alg = match text("alg")? {
        None => None,
        Some(name) => Some(Alg::from_name(name).ok_or_else(|| {
            JwkError::Skip(format!("its alg `{}` is not supported", printable(name)))
        })?),
    };
    let field = |name: &str| -> Result<Vec<u8>, JwkError> {
        let value = text(name)?.ok_or_else(|| JwkError::Bad(format!("`{name}` is missing")))?;
        URL_SAFE_NO_PAD
            .decode(value.trim_end_matches('='))
            .map_err(|_| JwkError::Bad(format!("`{name}` is not base64url")))
    };
    let kty = text("kty")?.ok_or_else(|| JwkError::Bad("`kty` is missing".into()))?;
    let crv = text("crv")?;
    let material = match (kty, crv) {
        ("RSA", _) => {
            let n = BigUint::from_bytes_be(&field("n")?);
            let e = BigUint::from_bytes_be(&field("e")?);
            let key = RsaPublicKey::new_with_max_size(n, e, MAX_RSA_BITS)
                .map_err(|e| JwkError::Bad(format!("not a usable RSA key ({e})")))?;
            let bits = key.n().bits();
            if bits < MIN_RSA_BITS {
                return Err(JwkError::Bad(format!(
                    "an RSA key of {bits} bits is too short (at least {MIN_RSA_BITS})"
                )));
            }
            Material::Rsa(key)
        }
        ("EC", Some("P-256")) => {
            let point = ec_point(&field("x")?, &field("y")?, 32)?;
            Material::P256(
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                    .map_err(|_| JwkError::Bad("x and y are not a point on P-256".into()))?,
            )
        }
        ("EC", Some("P-384")) => {
            let point = ec_point(&field("x")?, &field("y")?, 48)?;
            Material::P384(
                p384::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                    .map_err(|_| JwkError::Bad("x and y are not a point on P-384".into()))?,
            )
        }
        ("OKP", Some("Ed25519")) => {
            let x: [u8; 32] = field("x")?
                .try_into()
                .map_err(|_| JwkError::Bad("an Ed25519 `x` is 32 bytes".into()))?;
            Material::Ed25519(
                ed25519_dalek::VerifyingKey::from_bytes(&x)
                    .map_err(|_| JwkError::Bad("`x` is not an Ed25519 public key".into()))?,
            )
        }
        ("oct", _) => {
            let k = field("k")?;
            if k.len() < MIN_SECRET_BYTES {
                return Err(JwkError::Bad(format!(
                    "an HMAC key of {} bytes is too short (at least {MIN_SECRET_BYTES})",
                    k.len()
                )));
            }
            Material::Hmac(k)
        }
        (kty, crv) => {
            let crv = crv
                .map(|c| format!(" curve {}", printable(c)))
                .unwrap_or_default();
            return Err(JwkError::Skip(format!(
                "key type {}{crv} is not supported",
                printable(kty)
            )));
        }
    };
    if let Some(alg) = alg
        && !material.fits(alg)
    {
        return Err(JwkError::Bad(format!(
            "its alg {alg} does not fit its key ({})",
            material.kind()
        )));
    }
    Ok(Some((material, alg)))
}

/// An uncompressed SEC1 point from JWK coordinates of `size` bytes each.
fn ec_point(x: &[u8], y: &[u8], size: usize) -> Result<Vec<u8>, JwkError> {
    if x.len() != size || y.len() != size {
        return Err(JwkError::Bad(format!(
            "EC coordinates must be {size} bytes each"
        )));
    }
    let mut point = Vec::with_capacity(1 + 2 * size);
    point.push(0x04);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    Ok(point)
}

/// The 1-based line of the `n`-th (0-based) occurrence of `needle`: JWKS
/// errors point at the key's `kty` line.
fn nth_line_of(text: &str, needle: &str, n: usize) -> Option<u32> {
    let (at, _) = text.match_indices(needle).nth(n)?;
    u32::try_from(text[..at].matches('\n').count() + 1).ok()
}
