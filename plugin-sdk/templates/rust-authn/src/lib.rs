//! A Prism authentication plugin: callers send `X-Team-Key: <key>` and are
//! the team the key belongs to. Replace the logic with your own.
//!
//! Build it with one command, `prism plugin build . -o plugins/my-authn-plugin.wasm`
//! (whichever wasm toolchain the machine has: Prism's docs/TOOLCHAIN.md), and
//! start Prism with `PRISM_PLUGIN_DIR=plugins
//! CHROMA_SERVER_AUTHN_PROVIDER=my-authn-plugin
//! PRISM_AUTHN_OPT_KEYS_FILE=/path/to/keys.txt`. README.md beside Cargo.toml
//! walks through it.

#![forbid(unsafe_code)]

use prism_plugin_sdk::{
    Authenticator, AuthnError, Config, ConfigError, HttpRequest, Identity, Metadata, SettingSpec,
    export_authenticator, secret, token,
};

/// `team:key` pairs, one per line.
pub struct TeamKeys {
    digests: Vec<[u8; 32]>,
    teams: Vec<String>,
}

impl Authenticator for TeamKeys {
    fn metadata() -> Metadata {
        Metadata::new("my-authn-plugin", env!("CARGO_PKG_VERSION"))
            .description("one shared key per team, in the X-Team-Key header")
            .setting(SettingSpec::file("keys-file", "lines of team:key"))
            // The answer depends on this header only, so Prism may cache it.
            .cache_key_headers(&["x-team-key"])
    }

    fn configure(config: &Config) -> Result<Self, ConfigError> {
        let source = config.require_text("keys", "keys-file")?;
        let mut plugin = TeamKeys {
            digests: Vec::new(),
            teams: Vec::new(),
        };
        for (i, line) in source.text.lines().enumerate() {
            let line_no = (i + 1) as u32;
            if line.trim().is_empty() {
                continue;
            }
            let (team, key) = line
                .split_once(':')
                .ok_or_else(|| source.error_at(line_no, "expected team:key"))?;
            plugin.digests.push(secret::digest(key.trim().as_bytes()));
            plugin.teams.push(team.trim().to_string());
        }
        Ok(plugin)
    }

    fn authenticate(&self, request: &HttpRequest) -> Result<Identity, AuthnError> {
        let key = token::from_header(request, "x-team-key")?;
        let index =
            secret::find(&self.digests, key.as_bytes()).ok_or(AuthnError::BadCredentials)?;
        let mut identity = Identity::user(&self.teams[index]);
        identity
            .attributes
            .push(("team".into(), self.teams[index].clone()));
        Ok(identity)
    }
}

export_authenticator!(TeamKeys);

#[cfg(test)]
mod tests {
    use super::*;
    use prism_plugin_sdk::Setting;

    #[test]
    fn keys_map_to_teams() {
        let config = Config {
            settings: vec![Setting {
                key: "keys".into(),
                value: "search:k1\nads:k2\n".into(),
            }],
            files: vec![],
        };
        let plugin = TeamKeys::configure(&config).unwrap();
        let request = HttpRequest::new("GET", "/").with_header("x-team-key", "k2");
        assert_eq!(plugin.authenticate(&request).unwrap().user_id, "ads");
    }
}
