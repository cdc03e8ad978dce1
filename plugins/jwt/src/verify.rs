//! Checking a token's signature with a key that fits its algorithm.

use hmac::{Hmac, Mac};
use rsa::signature::Verifier;
use rsa::{RsaPublicKey, pkcs1v15, pss};
use sha2::digest::const_oid::AssociatedOid;
use sha2::digest::{Digest, FixedOutputReset};
use sha2::{Sha256, Sha384, Sha512};

use crate::alg::{Alg, Hash};
use crate::keys::{Key, Material};

/// Why a signature was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("bad signature: the token's {alg} signature does not verify with {key}")]
    Bad { alg: Alg, key: String },
    #[error("the token's alg {alg} does not match {key}")]
    Mismatch { alg: Alg, key: String },
}

/// Verify `signature` over `input` with `key` under `alg`.
pub fn verify(key: &Key, alg: Alg, input: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
    let ok = match (&key.material, alg) {
        (Material::Hmac(secret), _) if matches!(alg, Alg::Hs256 | Alg::Hs384 | Alg::Hs512) => {
            hmac(secret, alg.hash(), input, signature)
        }
        (Material::Rsa(public), Alg::Rs256 | Alg::Rs384 | Alg::Rs512) => {
            rsa_with_hash(public, alg.hash(), Padding::Pkcs1v15, input, signature)
        }
        // RFC 7518 3.5: the salt is as long as the hash, which is what
        // `pss::VerifyingKey::new` expects.
        (Material::Rsa(public), Alg::Ps256 | Alg::Ps384 | Alg::Ps512) => {
            rsa_with_hash(public, alg.hash(), Padding::Pss, input, signature)
        }
        // JWS carries ECDSA signatures as r || s (RFC 7518 3.4), not DER.
        (Material::P256(public), Alg::Es256) => p256::ecdsa::Signature::from_slice(signature)
            .is_ok_and(|sig| public.verify(input, &sig).is_ok()),
        (Material::P384(public), Alg::Es384) => p384::ecdsa::Signature::from_slice(signature)
            .is_ok_and(|sig| public.verify(input, &sig).is_ok()),
        (Material::Ed25519(public), Alg::EdDsa) => ed25519_dalek::Signature::from_slice(signature)
            .is_ok_and(|sig| public.verify_strict(input, &sig).is_ok()),
        // `KeySet::select` never pairs these; checked again so that this
        // function is safe on its own.
        _ => {
            return Err(SignatureError::Mismatch {
                alg,
                key: key.to_string(),
            });
        }
    };
    if ok { Ok(()) } else { Err(bad(key, alg)) }
}

#[derive(Clone, Copy)]
enum Padding {
    Pkcs1v15,
    Pss,
}

fn rsa_with_hash(
    public: &RsaPublicKey,
    hash: Hash,
    padding: Padding,
    input: &[u8],
    signature: &[u8],
) -> bool {
    match hash {
        Hash::Sha256 => rsa::<Sha256>(public, padding, input, signature),
        Hash::Sha384 => rsa::<Sha384>(public, padding, input, signature),
        Hash::Sha512 => rsa::<Sha512>(public, padding, input, signature),
    }
}

fn rsa<D>(public: &RsaPublicKey, padding: Padding, input: &[u8], signature: &[u8]) -> bool
where
    D: Digest + AssociatedOid + FixedOutputReset,
{
    let public = public.clone();
    match padding {
        Padding::Pkcs1v15 => pkcs1v15::Signature::try_from(signature).is_ok_and(|sig| {
            pkcs1v15::VerifyingKey::<D>::new(public)
                .verify(input, &sig)
                .is_ok()
        }),
        Padding::Pss => pss::Signature::try_from(signature).is_ok_and(|sig| {
            pss::VerifyingKey::<D>::new(public)
                .verify(input, &sig)
                .is_ok()
        }),
    }
}

fn bad(key: &Key, alg: Alg) -> SignatureError {
    SignatureError::Bad {
        alg,
        key: key.to_string(),
    }
}

/// Compare the tag in constant time (`verify_slice` does).
fn hmac(secret: &[u8], hash: Hash, input: &[u8], tag: &[u8]) -> bool {
    fn check<M: Mac + hmac::digest::KeyInit>(secret: &[u8], input: &[u8], tag: &[u8]) -> bool {
        match <M as Mac>::new_from_slice(secret) {
            Ok(mut mac) => {
                mac.update(input);
                mac.verify_slice(tag).is_ok()
            }
            Err(_) => false,
        }
    }
    match hash {
        Hash::Sha256 => check::<Hmac<Sha256>>(secret, input, tag),
        Hash::Sha384 => check::<Hmac<Sha384>>(secret, input, tag),
        Hash::Sha512 => check::<Hmac<Sha512>>(secret, input, tag),
    }
}
