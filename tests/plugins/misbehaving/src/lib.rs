//! Test fixture: an authenticator that misbehaves when asked, to prove the
//! host contains it. The `x-misbehave` request header picks the failure:
//! `trap` (a panic, which aborts the instance), `loop` (never returns),
//! `oom` (allocates without bound); without the header every request is
//! user `fixture`. The `configure` setting `fail-configure` makes
//! configuration fail, and `trap-configure` makes it trap.

#![forbid(unsafe_code)]

use prism_plugin_sdk::{
    Authenticator, AuthnError, Config, ConfigError, HttpRequest, Identity, Metadata, SettingSpec,
    export_authenticator,
};

/// The fixture; stateless.
pub struct Misbehaving;

impl Authenticator for Misbehaving {
    fn metadata() -> Metadata {
        Metadata::new("misbehaving", env!("CARGO_PKG_VERSION"))
            .description("test fixture that traps, loops or eats memory on request")
            .setting(SettingSpec::value(
                "fail-configure",
                "refuse the configuration",
            ))
            .setting(SettingSpec::value(
                "trap-configure",
                "trap while configuring",
            ))
    }

    fn configure(config: &Config) -> Result<Self, ConfigError> {
        if config.setting("trap-configure").is_some() {
            panic!("asked to trap in configure");
        }
        if let Some(why) = config.setting("fail-configure") {
            return Err(ConfigError::new(format!("asked to fail: {why}")));
        }
        Ok(Misbehaving)
    }

    fn authenticate(&self, request: &HttpRequest) -> Result<Identity, AuthnError> {
        match request.header("x-misbehave")? {
            None => Ok(Identity::user("fixture")),
            Some("trap") => panic!("asked to trap"),
            Some("loop") => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Some("oom") => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Some(other) => Err(AuthnError::Malformed(format!(
                "unknown x-misbehave `{other}`"
            ))),
        }
    }
}

export_authenticator!(Misbehaving);
