//! Example authorization plugin: every authenticated user may read; only the
//! users listed in `writers` may change anything.
//!
//! Pair it with any authentication provider, e.g. the built-in htpasswd:
//!
//! ```sh
//! CHROMA_SERVER_AUTHN_PROVIDER=htpasswd CHROMA_SERVER_AUTHN_CREDENTIALS_FILE=users.htpasswd \
//! CHROMA_SERVER_AUTHZ_PROVIDER=read-only PRISM_AUTHZ_OPT_WRITERS=alice,ci-bot \
//! PRISM_PLUGIN_DIR=./plugins prism run
//! ```

#![forbid(unsafe_code)]

use prism_plugin_sdk::{
    Authorizer, Config, ConfigError, Decision, Identity, Metadata, PluginError, READ_ACTIONS,
    Resource, SettingSpec, export_authorizer,
};

/// Who may write.
pub struct ReadOnly {
    writers: Vec<String>,
}

impl Authorizer for ReadOnly {
    fn metadata() -> Metadata {
        Metadata::new("read-only", env!("CARGO_PKG_VERSION"))
            .description("everyone may read; the users in `writers` may also write")
            .setting(SettingSpec::value(
                "writers",
                "comma-separated user ids allowed to write",
            ))
    }

    fn configure(config: &Config) -> Result<Self, ConfigError> {
        let writers = config
            .setting("writers")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|user| !user.is_empty())
            .map(String::from)
            .collect();
        Ok(ReadOnly { writers })
    }

    fn authorize(
        &self,
        identity: &Identity,
        action: &str,
        _resource: &Resource,
    ) -> Result<Decision, PluginError> {
        if READ_ACTIONS.contains(&action) || self.writers.contains(&identity.user_id) {
            return Ok(Decision::Allow);
        }
        Ok(Decision::Deny(format!(
            "{} may only read ({action} changes data)",
            identity.user_id
        )))
    }
}

export_authorizer!(ReadOnly);

#[cfg(test)]
mod tests {
    use super::*;
    use prism_plugin_sdk::Setting;

    #[test]
    fn readers_read_and_writers_write() {
        let plugin = ReadOnly::configure(&Config {
            settings: vec![Setting {
                key: "writers".into(),
                value: " alice , ci-bot ".into(),
            }],
            files: vec![],
        })
        .unwrap();
        let resource = Resource {
            tenant: Some("default_tenant".into()),
            database: Some("default_database".into()),
            collection: None,
            collection_id: None,
        };
        let bob = Identity::user("bob");
        let alice = Identity::user("alice");
        let allowed = |who: &Identity, action: &str| {
            matches!(
                plugin.authorize(who, action, &resource).unwrap(),
                Decision::Allow
            )
        };
        assert!(allowed(&bob, "collection:query"));
        assert!(!allowed(&bob, "collection:add"));
        assert!(!allowed(&bob, "system:reset"));
        assert!(allowed(&alice, "collection:add"));
        assert!(allowed(&alice, "db:create_collection"));
    }
}
