//! The plugin end to end: tokens minted here with fixed keys, checked
//! through `authenticate` as the host calls it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use prism_plugin_sdk::{ConfigFile, Setting};
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use sha2::{Sha256, Sha384};

use super::*;

const ISSUER: &str = "https://idp.example/realms/prism";
const NOW: u64 = 1_700_000_000;
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-shared";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_key() -> rsa::RsaPrivateKey {
    rsa::RsaPrivateKey::from_pkcs8_pem(include_str!("testdata/rsa-2048.pem")).unwrap()
}

fn p256_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).unwrap()
}

fn p384_key() -> p384::ecdsa::SigningKey {
    p384::ecdsa::SigningKey::from_slice(&[0x22; 48]).unwrap()
}

fn ed_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[0x33; 32])
}

fn jwks() -> Value {
    let rsa = rsa_key().to_public_key();
    let p256 = p256_key().verifying_key().to_encoded_point(false);
    let p384 = p384_key().verifying_key().to_encoded_point(false);
    json!({"keys": [
        {"kty": "RSA", "kid": "rsa", "use": "sig", "n": b64(&rsa.n().to_bytes_be()), "e": b64(&rsa.e().to_bytes_be())},
        {"kty": "EC", "kid": "p256", "crv": "P-256", "alg": "ES256", "x": b64(p256.x().unwrap()), "y": b64(p256.y().unwrap())},
        {"kty": "EC", "kid": "p384", "crv": "P-384", "x": b64(p384.x().unwrap()), "y": b64(p384.y().unwrap())},
        {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(ed_key().verifying_key().as_bytes())},
        // Keycloak publishes an encryption key beside its signing keys.
        {"kty": "RSA", "kid": "enc", "use": "enc", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"},
        {"kty": "EC", "kid": "p521", "crv": "P-521", "x": "AA", "y": "AA"},
    ]})
}

fn config(settings: &[(&str, &str)], jwks: Option<&Value>, secret: Option<&[u8]>) -> Config {
    let mut all = vec![("issuer", ISSUER), ("audience", "prism")];
    all.extend_from_slice(settings);
    let mut files = Vec::new();
    if let Some(jwks) = jwks {
        files.push(ConfigFile {
            key: "jwks-file".into(),
            path: "/etc/prism/jwks.json".into(),
            contents: serde_json::to_vec_pretty(jwks).unwrap(),
        });
    }
    if let Some(secret) = secret {
        files.push(ConfigFile {
            key: "secret-file".into(),
            path: "/etc/prism/jwt.secret".into(),
            contents: secret.to_vec(),
        });
    }
    Config {
        settings: all
            .into_iter()
            .map(|(k, v)| Setting {
                key: k.into(),
                value: v.into(),
            })
            .collect(),
        files,
    }
}

fn plugin() -> Jwt {
    Jwt::configure(&config(
        &[("roles-claim", "realm_access.roles")],
        Some(&jwks()),
        Some(SECRET),
    ))
    .unwrap()
}

fn claims() -> Value {
    json!({
        "iss": ISSUER, "aud": ["account", "prism"], "sub": "alice",
        "exp": NOW + 300, "iat": NOW, "realm_access": {"roles": ["reader", "writer"]},
    })
}

/// A token signed by `sign` over `header.payload`.
fn mint(header: Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    format!("{input}.{}", b64(&sign(input.as_bytes())))
}

fn hs256(input: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SECRET).unwrap();
    mac.update(input);
    mac.finalize().into_bytes().to_vec()
}

fn rs256(input: &[u8]) -> Vec<u8> {
    rsa::pkcs1v15::SigningKey::<Sha256>::new(rsa_key())
        .sign(input)
        .to_vec()
}

fn es256(input: &[u8]) -> Vec<u8> {
    let sig: p256::ecdsa::Signature = p256_key().sign(input);
    sig.to_bytes().to_vec()
}

/// A token for each supported algorithm family.
fn signed(alg: &str, claims: &Value) -> String {
    match alg {
        "HS256" => mint(json!({"alg": "HS256", "typ": "JWT"}), claims, hs256),
        "HS384" => mint(json!({"alg": "HS384"}), claims, |i| {
            let mut mac = <Hmac<Sha384> as Mac>::new_from_slice(SECRET).unwrap();
            mac.update(i);
            mac.finalize().into_bytes().to_vec()
        }),
        "RS256" => mint(json!({"alg": "RS256", "kid": "rsa"}), claims, rs256),
        "RS512" => mint(json!({"alg": "RS512", "kid": "rsa"}), claims, |i| {
            rsa::pkcs1v15::SigningKey::<sha2::Sha512>::new(rsa_key())
                .sign(i)
                .to_vec()
        }),
        "PS256" => mint(json!({"alg": "PS256", "kid": "rsa"}), claims, |i| {
            rsa::pss::SigningKey::<Sha256>::new(rsa_key())
                .sign_with_rng(&mut rand_core::OsRng, i)
                .to_vec()
        }),
        "ES256" => mint(json!({"alg": "ES256", "kid": "p256"}), claims, es256),
        "ES384" => mint(json!({"alg": "ES384", "kid": "p384"}), claims, |i| {
            let sig: p384::ecdsa::Signature = p384_key().sign(i);
            sig.to_bytes().to_vec()
        }),
        "EdDSA" => mint(json!({"alg": "EdDSA", "kid": "ed"}), claims, |i| {
            ed_key().sign(i).to_bytes().to_vec()
        }),
        other => panic!("no minter for {other}"),
    }
}

fn bearer(token: &str) -> HttpRequest {
    HttpRequest::new("GET", "/api/v2/auth/identity")
        .with_header("authorization", &format!("Bearer {token}"))
        .received_at(NOW)
}

fn refusal(p: &Jwt, token: &str) -> String {
    match p.authenticate(&bearer(token)) {
        Err(
            AuthnError::Malformed(reason)
            | AuthnError::Refused(reason)
            | AuthnError::UnknownKey(reason),
        ) => {
            assert!(!reason.contains(token), "the token leaked into {reason}");
            reason
        }
        other => panic!("expected a refusal with a reason, got {other:?}"),
    }
}

#[test]
fn every_algorithm_verifies_and_maps_roles() {
    let p = plugin();
    for alg in [
        "HS256", "HS384", "RS256", "RS512", "PS256", "ES256", "ES384", "EdDSA",
    ] {
        let who = p
            .authenticate(&bearer(&signed(alg, &claims())))
            .unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        assert_eq!(who.user_id, "alice", "{alg}");
        let roles: Vec<&str> = who
            .attributes
            .iter()
            .filter(|(k, _)| k == "role")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(roles, ["reader", "writer"], "{alg}");
    }
}

#[test]
fn no_bearer_header_is_no_credentials() {
    let p = plugin();
    let basic = HttpRequest::new("GET", "/").with_header("authorization", "Basic YTpi");
    for request in [HttpRequest::new("GET", "/"), basic] {
        assert!(matches!(
            p.authenticate(&request),
            Err(AuthnError::NoCredentials)
        ));
    }
}

#[test]
fn each_refusal_says_why() {
    let p = plugin();
    let with = |extra: Value| {
        let mut c = claims();
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let expired = signed("RS256", &with(json!({"exp": NOW - 100})));
    assert_eq!(
        refusal(&p, &expired),
        format!("token expired at {} (now {NOW}, leeway 60 s)", NOW - 100)
    );
    let early = signed("ES256", &with(json!({"nbf": NOW + 100})));
    assert!(refusal(&p, &early).starts_with("token not valid before"));
    let issuer = signed("EdDSA", &with(json!({"iss": "https://evil.example"})));
    assert!(refusal(&p, &issuer).starts_with("wrong issuer"));
    let audience = signed("HS256", &with(json!({"aud": "someone-else"})));
    assert!(refusal(&p, &audience).starts_with("wrong audience"));

    let good = signed("RS256", &claims());
    let (input, sig) = good.rsplit_once('.').unwrap();
    let mut forged = with(json!({"sub": "admin"}));
    forged["sub"] = json!("admin");
    let tampered = format!(
        "{}.{}.{sig}",
        input.split('.').next().unwrap(),
        b64(forged.to_string().as_bytes())
    );
    assert!(refusal(&p, &tampered).starts_with("bad signature"));

    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(claims().to_string().as_bytes())
    );
    assert!(refusal(&p, &none).contains("alg: none"));
    let none_sig = format!("{none}c2ln");
    assert!(refusal(&p, &none_sig).contains("alg: none"));

    // An RS256 token naming the EC key, and the classic confusion: HS256
    // "signed" with the RSA public key as the secret.
    let mismatch = mint(json!({"alg": "RS256", "kid": "p256"}), &claims(), rs256);
    assert!(
        refusal(&p, &mismatch).contains("does not match key `p256`"),
        "{}",
        refusal(&p, &mismatch)
    );
    let confused = mint(json!({"alg": "HS256", "kid": "rsa"}), &claims(), hs256);
    assert!(refusal(&p, &confused).contains("does not match key `rsa`"));

    let unknown = mint(json!({"alg": "ES256", "kid": "gone"}), &claims(), es256);
    assert_eq!(
        refusal(&p, &unknown),
        "the token's kid `gone` is not in the JWKS"
    );
    let unusable = mint(json!({"alg": "ES256", "kid": "p521"}), &claims(), es256);
    assert!(refusal(&p, &unusable).contains("cannot use"));
    assert!(refusal(&p, "not-a-jwt").contains("not a JWT"));
}

/// Unreadable tokens are `malformed`, a kid missing from the JWKS is
/// `unknown-key` (the host fetches jwks-url again), everything else that
/// reads but fails is `refused` (401).
#[test]
fn refusals_say_which_kind_they_are() {
    let p = plugin();
    let kind = |token: &str| match p.authenticate(&bearer(token)) {
        Err(AuthnError::Malformed(_)) => "malformed",
        Err(AuthnError::Refused(_)) => "refused",
        Err(AuthnError::UnknownKey(_)) => "unknown-key",
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(kind("not-a-jwt"), "malformed");
    let unsigned = mint(json!({"alg": "none"}), &claims(), |_| Vec::new());
    assert_eq!(kind(&unsigned), "refused");
    let es256 = |i: &[u8]| {
        let sig: p256::ecdsa::Signature = p256_key().sign(i);
        sig.to_bytes().to_vec()
    };
    let unknown = mint(json!({"alg": "ES256", "kid": "gone"}), &claims(), es256);
    assert_eq!(kind(&unknown), "unknown-key");
    let mut expired = claims();
    expired["exp"] = json!(NOW - 3600);
    assert_eq!(kind(&signed("ES256", &expired)), "refused");
    let mut foreign = claims();
    foreign["iss"] = json!("https://elsewhere");
    assert_eq!(kind(&signed("RS256", &foreign)), "refused");
    let mut tampered = signed("EdDSA", &claims()).into_bytes();
    let at = tampered.len() - 10;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    assert_eq!(kind(&String::from_utf8(tampered).unwrap()), "refused");
}

#[test]
fn a_token_without_kid_needs_exactly_one_fitting_key() {
    let p = plugin();
    // One key fits ES256: fine without a kid.
    let es = mint(json!({"alg": "ES256"}), &claims(), es256);
    assert!(p.authenticate(&bearer(&es)).is_ok());
    // Two RSA keys: a kid is needed to choose.
    let mut two = jwks();
    let mut copy = two["keys"][0].clone();
    copy["kid"] = json!("rsa-2");
    two["keys"].as_array_mut().unwrap().push(copy);
    let p = Jwt::configure(&config(&[], Some(&two), None)).unwrap();
    let rs = mint(json!({"alg": "RS256"}), &claims(), rs256);
    assert_eq!(
        refusal(&p, &rs),
        "the token names no kid and 2 configured keys could verify RS256"
    );
    // A lone key of another type is a mismatch, named.
    let only_ec = json!({"keys": [jwks()["keys"][1].clone()]});
    let p = Jwt::configure(&config(&[], Some(&only_ec), None)).unwrap();
    assert!(refusal(&p, &rs).contains("does not match key `p256`"));
}

#[test]
fn the_secret_file_may_end_with_a_newline() {
    let mut with_newline = SECRET.to_vec();
    with_newline.extend_from_slice(b"\r\n");
    let p = Jwt::configure(&config(&[], None, Some(&with_newline))).unwrap();
    assert!(p.authenticate(&bearer(&signed("HS256", &claims()))).is_ok());
    // A kid on an HMAC token does not stop the unnamed secret from verifying it.
    let kid = mint(json!({"alg": "HS256", "kid": "v1"}), &claims(), hs256);
    assert!(p.authenticate(&bearer(&kid)).is_ok());
}

#[test]
fn leeway_and_claim_settings_apply() {
    let p = Jwt::configure(&config(
        &[
            ("leeway-secs", "0"),
            ("user-claim", "preferred_username"),
            ("tenant-claim", "tenant"),
            ("databases-claim", "dbs"),
        ],
        Some(&jwks()),
        None,
    ))
    .unwrap();
    let mut c = claims();
    c["exp"] = json!(NOW - 1);
    c["preferred_username"] = json!("alice@example.com");
    c["tenant"] = json!("acme");
    c["dbs"] = json!("docs");
    assert!(refusal(&p, &signed("ES256", &c)).contains("leeway 0 s"));
    c["exp"] = json!(NOW + 1);
    let who = p.authenticate(&bearer(&signed("ES256", &c))).unwrap();
    assert_eq!(who.user_id, "alice@example.com");
    assert_eq!(who.tenant.as_deref(), Some("acme"));
    assert_eq!(who.databases, Some(vec!["docs".to_string()]));
    assert_eq!(who.attribute("sub"), Some("alice"));
    assert_eq!(who.attribute("role"), None, "roles-claim is not set");
}

#[test]
fn configuration_errors_name_the_problem() {
    let err = |settings: &[(&str, &str)], jwks: Option<&Value>, secret: Option<&[u8]>| {
        Jwt::configure(&config(settings, jwks, secret))
            .err()
            .expect("refused")
    };
    assert!(err(&[], None, None).message.contains("no key"));
    assert!(err(&[], None, Some(b"short\n")).message.contains("32"));
    assert!(
        err(&[("leeway-secs", "soon")], Some(&jwks()), None)
            .message
            .contains("leeway-secs `soon`")
    );
    assert!(
        err(&[("roles-claim", "a..b")], Some(&jwks()), None)
            .message
            .contains("roles-claim")
    );
    let no_issuer = Config {
        settings: vec![],
        ..config(&[], Some(&jwks()), None)
    };
    assert!(
        Jwt::configure(&no_issuer)
            .err()
            .unwrap()
            .message
            .contains("issuer")
    );

    let file = |text: &str| Config {
        files: vec![ConfigFile {
            key: "jwks-file".into(),
            path: "/etc/prism/jwks.json".into(),
            contents: text.as_bytes().to_vec(),
        }],
        ..config(&[], None, None)
    };
    let e = Jwt::configure(&file("{\n  \"keys\": [\n    {\"kty\": \"RSA\",}\n  ]\n}"))
        .err()
        .unwrap();
    assert_eq!(
        (e.file.as_deref(), e.line),
        (Some("/etc/prism/jwks.json"), Some(3))
    );
    let e = Jwt::configure(&file(
        "{\"keys\": [\n{\"kty\": \"OKP\", \"crv\": \"Ed25519\", \"x\": \"AA\"},\n{\"kty\": \"EC\", \"crv\": \"P-256\", \"kid\": \"k\", \"x\": \"AA\", \"y\": \"AA\"}\n]}",
    ))
    .err()
    .unwrap();
    assert_eq!(e.line, Some(2), "{}", e.message);
    assert!(e.message.contains("32 bytes"), "{}", e.message);
    let e = Jwt::configure(&file(
        r#"{"keys": [{"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}]}"#,
    ))
    .err()
    .unwrap();
    assert!(e.message.contains("no signing key"), "{}", e.message);
    let mut dup = jwks();
    dup["keys"][1]["kid"] = json!("rsa");
    assert!(
        err(&[], Some(&dup), None)
            .message
            .contains("share the kid `rsa`")
    );
    let mut pinned = jwks();
    pinned["keys"][0]["alg"] = json!("ES256");
    assert!(
        err(&[], Some(&pinned), None)
            .message
            .contains("does not fit")
    );
}

#[test]
fn metadata_names_and_cache_headers() {
    let m = Jwt::metadata().into_wit(prism_plugin_sdk::PluginKind::Authn);
    assert_eq!(m.names, ["jwt", "oidc"]);
    assert_eq!(m.cache_key_headers, ["authorization"]);
    let files: Vec<&str> = m
        .settings
        .iter()
        .filter(|s| s.source == prism_plugin_sdk::SettingSource::File)
        .map(|s| s.key.as_str())
        .collect();
    assert_eq!(files, ["jwks-file", "secret-file"]);
}
