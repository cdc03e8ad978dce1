//! Role-based authorization from Chroma's `authz.yaml` (`roles_mapping` and
//! `users` with a `role`), as Chroma's `SimpleRBACAuthorizationProvider`, plus
//! grants scoped to tenants, databases and collections by pattern:
//!
//! ```yaml
//! roles_mapping:
//!   reader:
//!     actions: [collection:get, collection:query, collection:count, collection:get_collection]
//! users:
//!   - id: admin
//!     role: admin                  # Chroma's form: the role everywhere
//!   - id: alice
//!     grants:                      # Prism's form: the role where it matches
//!       - role: reader
//!         tenant: acme
//!         database: "*"
//!         collection: "docs-*"
//! ```
//!
//! Action names may be patterns too (`collection:*`, `*`). A user the file
//! does not list gets the roles its identity carries in `role` attributes
//! (set by the token plugin from the users file, one per role by the jwt
//! plugin from a token's roles claim), those that exist.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use prism_plugin_sdk::config::ConfigText;
use prism_plugin_sdk::{
    ACTIONS, Authorizer, Config, ConfigError, Decision, Identity, Metadata, PluginError, Resource,
    SettingSpec, export_authorizer, pattern, yaml,
};
use serde::Deserialize;

/// Action names Chroma defines that no request to Prism carries; a policy
/// may still name them. With the contract's list ([`ACTIONS`]) these are
/// every action name Chroma's Python and Rust servers define.
pub const CHROMA_ONLY_ACTIONS: &[&str] = &[
    "db:get_or_create_collection",
    // Obsolete names that Chroma's example authz.yaml still lists; they
    // match no request today but must not stop the file from loading.
    "collection:peek",
    "db:reset",
    "collection:remove_attached_function",
];

/// Every action name a policy may use.
fn known_actions() -> impl Iterator<Item = &'static str> {
    ACTIONS.iter().chain(CHROMA_ONLY_ACTIONS).copied()
}

/// The parsed policy.
pub struct Rbac {
    roles: BTreeMap<String, Vec<String>>,
    users: BTreeMap<String, Vec<Grant>>,
}

#[derive(Deserialize)]
struct AuthzFile {
    roles_mapping: BTreeMap<String, RoleDef>,
    #[serde(default)]
    users: Vec<UserDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleDef {
    actions: Vec<String>,
    /// In Chroma's example file, marked "not yet supported" there; Prism's
    /// scoping is `grants` on users. Accepted and ignored.
    #[serde(default, rename = "resources")]
    _resources: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserDef {
    id: String,
    role: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    grants: Vec<Grant>,
    // Read by the token plugin when one file serves both; ignored here.
    #[serde(default, rename = "tokens")]
    _tokens: Vec<String>,
    #[serde(default, rename = "tenant")]
    _tenant: Option<String>,
    #[serde(default, rename = "databases")]
    _databases: Option<Vec<String>>,
}

/// A role held within a scope; an unset or `*` part matches anything.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
struct Grant {
    role: String,
    tenant: Option<String>,
    database: Option<String>,
    collection: Option<String>,
}

impl Grant {
    fn everywhere(role: &str) -> Self {
        Grant {
            role: role.to_string(),
            tenant: None,
            database: None,
            collection: None,
        }
    }

    fn covers(&self, resource: &Resource) -> bool {
        part_matches(self.tenant.as_deref(), resource.tenant.as_deref())
            && part_matches(self.database.as_deref(), resource.database.as_deref())
            && part_matches(self.collection.as_deref(), resource.collection.as_deref())
    }
}

/// An unset or `*` pattern matches anything, including an absent part; any
/// other pattern needs the part present and matching, so a grant on
/// `docs-*` does not cover database-wide actions such as listing collections.
fn part_matches(pattern: Option<&str>, value: Option<&str>) -> bool {
    match (pattern, value) {
        (None, _) | (Some("*"), _) => true,
        (Some(p), Some(v)) => pattern::matches(p, v),
        (Some(_), None) => false,
    }
}

impl Authorizer for Rbac {
    fn metadata() -> Metadata {
        Metadata::new("rbac", env!("CARGO_PKG_VERSION"))
            .alias("simple_rbac")
            .alias("chromadb.auth.simple_rbac_authz.SimpleRBACAuthorizationProvider")
            .description("roles from Chroma's authz.yaml, optionally scoped to tenants/databases/collections")
            .setting(SettingSpec::file("config-file", "the authz YAML file"))
            .setting(SettingSpec::value("config", "the authz YAML document, inline"))
    }

    fn configure(config: &Config) -> Result<Self, ConfigError> {
        let source = config.require_text("config", "config-file")?;
        parse(&source)
    }

    fn authorize(
        &self,
        identity: &Identity,
        action: &str,
        resource: &Resource,
    ) -> Result<Decision, PluginError> {
        let attribute_grants: Vec<Grant>;
        let grants: &[Grant] = match self.users.get(&identity.user_id) {
            Some(grants) => grants,
            None => {
                // Every `role` attribute counts: a JWT's roles claim gives
                // one attribute per role. Roles the policy does not define
                // grant nothing.
                attribute_grants = identity
                    .attributes
                    .iter()
                    .filter(|(key, role)| key == "role" && self.roles.contains_key(role))
                    .map(|(_, role)| Grant::everywhere(role))
                    .collect();
                if attribute_grants.is_empty() {
                    return Ok(Decision::Deny(format!(
                        "user `{}` has no role",
                        identity.user_id
                    )));
                }
                &attribute_grants
            }
        };
        let allowed = grants.iter().any(|g| {
            self.roles
                .get(&g.role)
                .is_some_and(|actions| actions.iter().any(|a| pattern::matches(a, action)))
                && g.covers(resource)
        });
        Ok(if allowed {
            Decision::Allow
        } else {
            Decision::Deny(format!(
                "no role of user `{}` allows {action} here",
                identity.user_id
            ))
        })
    }
}

fn parse(source: &ConfigText<'_>) -> Result<Rbac, ConfigError> {
    let file: AuthzFile = yaml::parse(source)?;
    let text = source.text;
    let mut roles = BTreeMap::new();
    for (name, def) in file.roles_mapping {
        let role_line = yaml::line_of(text, &format!("{name}:"), 1).unwrap_or(0);
        for action in &def.actions {
            if !known_actions().any(|known| pattern::matches(action, known)) {
                return Err(source.error_at(
                    yaml::line_of(text, action, role_line).unwrap_or(role_line),
                    format!("role `{name}`: `{action}` matches no action (actions look like collection:query)"),
                ));
            }
        }
        roles.insert(name, def.actions);
    }
    let mut users = BTreeMap::new();
    for user in file.users {
        let line = yaml::line_of_entry(text, "id", &user.id).unwrap_or(0);
        let mut grants: Vec<Grant> = user
            .role
            .iter()
            .chain(&user.roles)
            .map(|r| Grant::everywhere(r))
            .collect();
        grants.extend(user.grants);
        for g in &grants {
            if !roles.contains_key(&g.role) {
                return Err(source.error_at(
                    line,
                    format!(
                        "user `{}` has role `{}`, which roles_mapping does not define",
                        user.id, g.role
                    ),
                ));
            }
        }
        if users.insert(user.id.clone(), grants).is_some() {
            return Err(source.error_at(line, format!("user `{}` is defined twice", user.id)));
        }
    }
    Ok(Rbac { roles, users })
}

export_authorizer!(Rbac);

#[cfg(test)]
mod tests {
    use super::*;
    use prism_plugin_sdk::Setting;

    const POLICY: &str = r#"
roles_mapping:
  admin:
    actions: ["*"]
  reader:
    actions: [collection:get, collection:query, collection:get_collection]
  writer:
    actions: ["collection:*"]
users:
  - id: root
    role: admin
    tokens: [root-token]
  - id: alice
    grants:
      - role: reader
        tenant: acme
        collection: "docs-*"
  - id: bob
    roles: [reader]
"#;

    fn rbac(text: &str) -> Result<Rbac, ConfigError> {
        Rbac::configure(&Config {
            settings: vec![Setting {
                key: "config".into(),
                value: text.into(),
            }],
            files: vec![],
        })
    }

    fn res(t: Option<&str>, d: Option<&str>, c: Option<&str>) -> Resource {
        Resource {
            tenant: t.map(Into::into),
            database: d.map(Into::into),
            collection: c.map(Into::into),
            collection_id: None,
        }
    }

    fn allowed(p: &Rbac, who: &Identity, action: &str, r: &Resource) -> bool {
        matches!(p.authorize(who, action, r).unwrap(), Decision::Allow)
    }

    #[test]
    fn chroma_roles_ignore_the_resource() {
        let p = rbac(POLICY).unwrap();
        let bob = Identity::user("bob");
        assert!(allowed(
            &p,
            &bob,
            "collection:query",
            &res(Some("any"), Some("db"), Some("c"))
        ));
        assert!(!allowed(
            &p,
            &bob,
            "collection:add",
            &res(Some("any"), Some("db"), Some("c"))
        ));
        let root = Identity::user("root");
        assert!(allowed(&p, &root, "system:reset", &res(None, None, None)));
    }

    #[test]
    fn scoped_grants_need_a_matching_resource() {
        let p = rbac(POLICY).unwrap();
        let alice = Identity::user("alice");
        let q = "collection:query";
        assert!(allowed(
            &p,
            &alice,
            q,
            &res(Some("acme"), Some("db"), Some("docs-1"))
        ));
        assert!(!allowed(
            &p,
            &alice,
            q,
            &res(Some("acme"), Some("db"), Some("hr"))
        ));
        assert!(!allowed(
            &p,
            &alice,
            q,
            &res(Some("other"), Some("db"), Some("docs-1"))
        ));
        assert!(!allowed(
            &p,
            &alice,
            "db:list_collections",
            &res(Some("acme"), Some("db"), None)
        ));
    }

    #[test]
    fn unlisted_users_fall_back_to_their_role_attribute() {
        let p = rbac(POLICY).unwrap();
        let mut carol = Identity::user("carol");
        assert!(!allowed(
            &p,
            &carol,
            "collection:get",
            &res(None, None, None)
        ));
        carol.attributes.push(("role".into(), "writer".into()));
        assert!(allowed(
            &p,
            &carol,
            "collection:upsert",
            &res(None, None, None)
        ));
        assert!(!allowed(
            &p,
            &carol,
            "db:create_database",
            &res(None, None, None)
        ));
        carol.attributes[0].1 = "no-such-role".into();
        assert!(!allowed(
            &p,
            &carol,
            "collection:get",
            &res(None, None, None)
        ));
    }

    #[test]
    fn every_role_attribute_counts() {
        let p = rbac(POLICY).unwrap();
        let mut dave = Identity::user("dave");
        for role in ["offline_access", "reader", "writer"] {
            dave.attributes.push(("role".into(), role.into()));
        }
        let anywhere = res(Some("t"), Some("d"), Some("c"));
        assert!(allowed(&p, &dave, "collection:query", &anywhere));
        assert!(allowed(&p, &dave, "collection:upsert", &anywhere));
        assert!(!allowed(&p, &dave, "system:reset", &anywhere));
        dave.attributes.retain(|(_, r)| r == "offline_access");
        assert!(!allowed(&p, &dave, "collection:query", &anywhere));
    }

    #[test]
    fn chroma_example_fields_are_accepted() {
        let p = rbac("resource_type_action: [x]\nroles_mapping:\n  r:\n    actions: [db:reset, collection:peek, collection:get]\n    resources: [\"<UUID>\"]\nusers:\n  - id: u\n    role: r\n").unwrap();
        let u = Identity::user("u");
        assert!(allowed(&p, &u, "collection:get", &res(None, None, None)));
    }

    #[test]
    fn every_chroma_action_name_is_known() {
        let mut known: Vec<&str> = known_actions().collect();
        known.sort_unstable();
        let mut chroma = vec![
            "system:reset",
            "tenant:create_tenant",
            "tenant:get_tenant",
            "tenant:update_tenant",
            "db:create_database",
            "db:get_database",
            "db:delete_database",
            "db:list_databases",
            "db:list_collections",
            "db:count_collections",
            "db:create_collection",
            "db:get_or_create_collection",
            "collection:get_collection",
            "collection:delete_collection",
            "collection:update_collection",
            "collection:add",
            "collection:delete",
            "collection:get",
            "collection:query",
            "collection:count",
            "collection:update",
            "collection:upsert",
            "collection:peek",
            "db:reset",
            "collection:get_collection_by_crn",
            "collection:fork_collection",
            "collection:count_forks",
            "collection:search",
            "collection:create_attached_function",
            "collection:remove_attached_function",
        ];
        chroma.sort_unstable();
        assert_eq!(known, chroma);
    }

    #[test]
    fn config_errors_point_at_the_line() {
        let e = rbac("roles_mapping:\n  r:\n    actions: [collection:querry]\n")
            .err()
            .unwrap();
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("querry"));
        let e = rbac("roles_mapping:\n  r:\n    actions: []\nusers:\n  - id: u\n    role: nope\n")
            .err()
            .unwrap();
        assert_eq!(e.line, Some(5));
        assert!(rbac("roles_mapping: {}\nusers:\n  - id: u\n    rol: r\n").is_err());
        assert!(rbac("users: []\n").is_err());
    }
}
