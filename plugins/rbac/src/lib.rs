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
//!
//! Row-level security: a role or a grant may carry `where:`, a clause in
//! Chroma's filter language with `${user}` (the user id) and `${attr.NAME}`
//! (an identity attribute, a JWT claim say) substituted. Where it applies,
//! the role reaches only the records that match:
//!
//! ```yaml
//! roles_mapping:
//!   member:
//!     actions: [collection:get, collection:query, collection:count, collection:add]
//!     where: {owner: "${user}"}      # wherever the role is held
//! users:
//!   - id: carol
//!     grants:
//!       - role: reader
//!         collection: notes
//!         where: {team: {$in: ["${attr.team}", "everyone"]}}   # this grant only
//! ```
//!
//! Of the grants that allow an action, one without `where` (on the grant or
//! its role) sees every record; otherwise the clauses combine with `$or`.
//! An identity that lacks an attribute a clause names gets nothing from that
//! grant. An unknown substitution or operator is a configuration error with
//! its file and line.

#![forbid(unsafe_code)]

mod rows;

use std::collections::BTreeMap;

use prism_plugin_sdk::config::ConfigText;
use prism_plugin_sdk::{
    ACTIONS, Authorizer, Config, ConfigError, Decision, Identity, Metadata, PluginError, Resource,
    SettingSpec, export_authorizer, pattern, yaml,
};
use serde::Deserialize;

use crate::rows::{RowTemplate, any_of};

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
    roles: BTreeMap<String, Role>,
    users: BTreeMap<String, Vec<Grant>>,
}

/// A role: the actions it allows, on the records it may see.
struct Role {
    actions: Vec<String>,
    rows: Option<RowTemplate>,
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
    #[serde(default, rename = "where")]
    rows: Option<serde_json::Value>,
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
    grants: Vec<GrantDef>,
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
struct GrantDef {
    role: String,
    tenant: Option<String>,
    database: Option<String>,
    collection: Option<String>,
    #[serde(default, rename = "where")]
    rows: Option<serde_json::Value>,
}

/// A [`GrantDef`], its `where` checked.
#[derive(Clone, Debug)]
struct Grant {
    role: String,
    tenant: Option<String>,
    database: Option<String>,
    collection: Option<String>,
    rows: Option<RowTemplate>,
}

impl Grant {
    fn everywhere(role: &str) -> Self {
        Grant {
            role: role.to_string(),
            tenant: None,
            database: None,
            collection: None,
            rows: None,
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
            .description("roles from Chroma's authz.yaml, optionally scoped to tenants/databases/collections and to records (where)")
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
        let mut clauses = Vec::new();
        let mut allowed = false;
        for grant in grants {
            let Some(role) = self.roles.get(&grant.role) else {
                continue;
            };
            if !(role.actions.iter().any(|a| pattern::matches(a, action)) && grant.covers(resource))
            {
                continue;
            }
            match grant.rows.as_ref().or(role.rows.as_ref()) {
                // One grant that sees every record is enough.
                None => return Ok(Decision::Allow),
                Some(rows) => {
                    allowed = true;
                    clauses.extend(rows.resolve(identity));
                }
            }
        }
        Ok(if !clauses.is_empty() {
            Decision::AllowWhere(any_of(clauses).to_string())
        } else if allowed {
            Decision::Deny(format!(
                "the row filters of user `{}` for {action} name attributes the identity lacks",
                identity.user_id
            ))
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
        let rows = def
            .rows
            .map(|clause| row_template(source, clause, role_line, &format!("role `{name}`")))
            .transpose()?;
        roles.insert(
            name,
            Role {
                actions: def.actions,
                rows,
            },
        );
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
        for g in user.grants {
            let rows = g
                .rows
                .map(|clause| row_template(source, clause, line, &format!("user `{}`", user.id)))
                .transpose()?;
            grants.push(Grant {
                role: g.role,
                tenant: g.tenant,
                database: g.database,
                collection: g.collection,
                rows,
            });
        }
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

/// A `where` of the policy, checked; a mistake points at its line (the
/// first line from `from` that holds the offending text).
fn row_template(
    source: &ConfigText<'_>,
    clause: serde_json::Value,
    from: u32,
    owner: &str,
) -> Result<RowTemplate, ConfigError> {
    RowTemplate::new(clause).map_err(|e| {
        source.error_at(
            yaml::line_of(source.text, &e.needle, from).unwrap_or(from),
            format!("{owner}: {}", e.message),
        )
    })
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
            // Prism's own.
            "console:admin",
            "system:metrics",
        ];
        chroma.sort_unstable();
        assert_eq!(known, chroma);
    }

    const ROWS: &str = r#"
roles_mapping:
  admin:
    actions: ["*"]
  member:
    actions: [collection:get, collection:add, db:list_collections]
    where: {owner: "${user}"}
  teammate:
    actions: [collection:get]
users:
  - id: root
    role: admin
  - id: carol
    grants:
      - role: member
        collection: notes
      - role: teammate
        collection: notes
        where: {team: {$in: ["${attr.team}", "everyone"]}}
"#;

    /// `allow`, `deny: REASON`, or the row filter.
    fn decision(p: &Rbac, who: &Identity, action: &str, collection: &str) -> String {
        match p
            .authorize(who, action, &res(Some("t"), Some("d"), Some(collection)))
            .unwrap()
        {
            Decision::Allow => "allow".into(),
            Decision::AllowWhere(rows) => rows,
            Decision::Deny(reason) => format!("deny: {reason}"),
        }
    }

    #[test]
    fn grants_with_where_restrict_rows_and_combine_as_or() {
        let p = rbac(ROWS).unwrap();
        let mut carol = Identity::user("carol");
        assert_eq!(
            decision(&p, &carol, "collection:add", "notes"),
            r#"{"owner":"carol"}"#
        );
        // Without a team attribute the teammate grant covers nothing.
        assert_eq!(
            decision(&p, &carol, "collection:get", "notes"),
            r#"{"owner":"carol"}"#
        );
        carol.attributes.push(("team".into(), "blue".into()));
        assert_eq!(
            decision(&p, &carol, "collection:get", "notes"),
            r#"{"$or":[{"owner":"carol"},{"team":{"$in":["blue","everyone"]}}]}"#
        );
        assert!(decision(&p, &carol, "collection:get", "other").starts_with("deny"));
        // A grant without where sees everything.
        let root = Identity::user("root");
        assert_eq!(decision(&p, &root, "collection:get", "notes"), "allow");
        // Role-wide where reaches identities the file does not list.
        let mut dave = Identity::user("dave");
        dave.attributes.push(("role".into(), "member".into()));
        assert_eq!(
            decision(&p, &dave, "collection:get", "anything"),
            r#"{"owner":"dave"}"#
        );
    }

    #[test]
    fn a_where_naming_only_missing_attributes_denies() {
        let p = rbac("roles_mapping:\n  r:\n    actions: [collection:get]\n    where: {dept: \"${attr.dept}\"}\nusers:\n  - id: u\n    role: r\n").unwrap();
        let d = decision(&p, &Identity::user("u"), "collection:get", "c");
        assert!(d.starts_with("deny") && d.contains("attributes"), "{d}");
    }

    #[test]
    fn where_mistakes_point_at_their_line() {
        let e = rbac(
            "roles_mapping:\n  r:\n    actions: [collection:get]\n    where: {owner: \"${usr}\"}\n",
        )
        .err()
        .unwrap();
        assert_eq!(e.line, Some(4), "{}", e.message);
        assert!(e.message.contains("${usr}"), "{}", e.message);
        let e = rbac("roles_mapping:\n  r:\n    actions: [collection:get]\nusers:\n  - id: u\n    grants:\n      - role: r\n        where:\n          owner: {$eqq: x}\n")
            .err()
            .unwrap();
        assert_eq!(e.line, Some(9), "{}", e.message);
        assert!(e.message.contains("user `u`"), "{}", e.message);
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
