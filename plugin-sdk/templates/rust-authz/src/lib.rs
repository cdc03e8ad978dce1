//! A Prism authorization plugin: everyone may read; a team may change only
//! the collections named `<team>-...` (the team is the identity's `team`
//! attribute, as the authn template sets it, else the user id); the users in
//! `admins` may do anything. Replace the rules with your own.
//!
//! Build it with one command, `prism plugin build . -o plugins/my-authz-plugin.wasm`,
//! and start Prism with `PRISM_PLUGIN_DIR=plugins
//! CHROMA_SERVER_AUTHZ_PROVIDER=my-authz-plugin PRISM_AUTHZ_OPT_ADMINS=alice`
//! beside any authentication provider. README.md beside Cargo.toml walks
//! through it.

#![forbid(unsafe_code)]

use prism_plugin_sdk::{
    Authorizer, Config, ConfigError, Decision, Identity, Metadata, PluginError, READ_ACTIONS,
    Resource, SettingSpec, export_authorizer,
};

pub struct TeamCollections {
    admins: Vec<String>,
}

impl Authorizer for TeamCollections {
    fn metadata() -> Metadata {
        Metadata::new("my-authz-plugin", env!("CARGO_PKG_VERSION"))
            .description(
                "everyone reads; a team writes to <team>-* collections; admins do anything",
            )
            .setting(SettingSpec::value(
                "admins",
                "comma-separated user ids that may do anything",
            ))
    }

    fn configure(config: &Config) -> Result<Self, ConfigError> {
        let admins = config
            .setting("admins")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|user| !user.is_empty())
            .map(String::from)
            .collect();
        Ok(TeamCollections { admins })
    }

    fn authorize(
        &self,
        identity: &Identity,
        action: &str,
        resource: &Resource,
    ) -> Result<Decision, PluginError> {
        if self.admins.contains(&identity.user_id) || READ_ACTIONS.contains(&action) {
            return Ok(Decision::Allow);
        }
        let team = identity.attribute("team").unwrap_or(&identity.user_id);
        let prefix = format!("{team}-");
        let owned = resource
            .collection
            .as_deref()
            .is_some_and(|name| name.starts_with(&prefix));
        if owned && (action.starts_with("collection:") || action == "db:create_collection") {
            return Ok(Decision::Allow);
        }
        Ok(Decision::Deny(format!(
            "{team} may change only collections named {prefix}* ({action})"
        )))
    }
}

export_authorizer!(TeamCollections);

#[cfg(test)]
mod tests {
    use super::*;
    use prism_plugin_sdk::Setting;

    fn plugin() -> TeamCollections {
        TeamCollections::configure(&Config {
            settings: vec![Setting {
                key: "admins".into(),
                value: "root".into(),
            }],
            files: vec![],
        })
        .unwrap()
    }

    fn on(collection: &str) -> Resource {
        Resource {
            tenant: None,
            database: None,
            collection: Some(collection.into()),
            collection_id: None,
        }
    }

    #[test]
    fn teams_write_their_own_collections_and_read_all() {
        let mut search = Identity::user("alice");
        search.attributes.push(("team".into(), "search".into()));
        let p = plugin();
        let decide =
            |who: &Identity, action: &str, c: &str| p.authorize(who, action, &on(c)).unwrap();
        assert!(matches!(
            decide(&search, "collection:add", "search-docs"),
            Decision::Allow
        ));
        assert!(matches!(
            decide(&search, "collection:query", "ads-docs"),
            Decision::Allow
        ));
        assert!(matches!(
            decide(&search, "collection:add", "ads-docs"),
            Decision::Deny(_)
        ));
        assert!(matches!(
            decide(&Identity::user("root"), "collection:delete", "ads-docs"),
            Decision::Allow
        ));
    }
}
