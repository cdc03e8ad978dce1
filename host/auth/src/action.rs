//! Chroma's authorization actions: the names the host sends an authorizer.
//! The contract documents the same list (`wit/prism-auth@<version>/auth.wit`
//! and `wit/README.md`); a test keeps them equal.

/// Declares [`Action`], its names and [`Action::ALL`] from one list, so a
/// variant cannot lack a name or be left out of `ALL`.
macro_rules! actions {
    ($($(#[doc = $doc:literal])* $variant:ident => $name:literal,)*) => {
        /// What a request does, by Chroma's `AuthzAction` names.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $(
                #[doc = concat!("`", $name, "`")]
                $(#[doc = $doc])*
                $variant,
            )*
        }

        impl Action {
            /// Every action, in the order the contract documents them.
            pub const ALL: &[Action] = &[$(Action::$variant,)*];

            /// Chroma's name for the action.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }
        }
    };
}

actions! {
    Reset => "system:reset",
    CreateTenant => "tenant:create_tenant",
    GetTenant => "tenant:get_tenant",
    UpdateTenant => "tenant:update_tenant",
    CreateDatabase => "db:create_database",
    GetDatabase => "db:get_database",
    DeleteDatabase => "db:delete_database",
    ListDatabases => "db:list_databases",
    ListCollections => "db:list_collections",
    CountCollections => "db:count_collections",
    /// (also for get-or-create, as Chroma)
    CreateCollection => "db:create_collection",
    GetCollection => "collection:get_collection",
    DeleteCollection => "collection:delete_collection",
    UpdateCollection => "collection:update_collection",
    Add => "collection:add",
    Delete => "collection:delete",
    Get => "collection:get",
    Query => "collection:query",
    Count => "collection:count",
    Update => "collection:update",
    Upsert => "collection:upsert",
    Search => "collection:search",
    ForkCollection => "collection:fork_collection",
    CountForks => "collection:count_forks",
    GetCollectionByCrn => "collection:get_collection_by_crn",
    CreateAttachedFunction => "collection:create_attached_function",
    /// Prism's own: the web console's admin page (plugins and their
    /// settings, the latest audit events).
    ConsoleAdmin => "console:admin",
    /// Prism's own: scraping `GET /metrics`.
    Metrics => "system:metrics",
}

impl Action {
    /// Whether the action reads or writes a collection's records, the
    /// actions a row filter from authorization restricts. Chroma's search
    /// and forks would too; Prism answers both as unsupported.
    pub fn acts_on_records(self) -> bool {
        matches!(
            self,
            Action::Add
                | Action::Delete
                | Action::Get
                | Action::Query
                | Action::Count
                | Action::Update
                | Action::Upsert
                | Action::Search
                | Action::ForkCollection
        )
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::Action;

    fn names() -> Vec<&'static str> {
        Action::ALL.iter().map(|a| a.as_str()).collect()
    }

    fn wit_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit")
    }

    /// The items of the bulleted list in the doc comment right above
    /// `authorize: func` in the contract.
    fn documented_in_wit() -> Vec<String> {
        let path = wit_dir()
            .join(format!("prism-auth@{}", prism_plugin_host::API_VERSION))
            .join("auth.wit");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let lines: Vec<&str> = text.lines().collect();
        let func = lines
            .iter()
            .position(|l| l.trim_start().starts_with("authorize: func"))
            .expect("the contract declares authorize");
        let mut names: Vec<String> = lines[..func]
            .iter()
            .rev()
            .map(|l| l.trim())
            .take_while(|l| l.starts_with("///"))
            .filter_map(|l| backticked(l.trim_start_matches('/').trim().strip_prefix("- ")?))
            .collect();
        names.reverse();
        names
    }

    /// The first column of the table under `## Action names` in wit/README.md.
    fn documented_in_readme() -> Vec<String> {
        let text = std::fs::read_to_string(wit_dir().join("README.md")).unwrap();
        text.lines()
            .skip_while(|l| *l != "## Action names")
            .skip(1)
            .take_while(|l| !l.starts_with("## "))
            .filter_map(|l| backticked(l.strip_prefix("| ")?))
            .collect()
    }

    /// The text between the first pair of backticks, if `s` starts with one.
    fn backticked(s: &str) -> Option<String> {
        let rest = s.strip_prefix('`')?;
        rest.split_once('`').map(|(name, _)| name.to_string())
    }

    #[test]
    fn the_contract_documents_exactly_the_actions_the_host_sends() {
        assert_eq!(
            documented_in_wit(),
            names(),
            "the doc comment of `authorize`"
        );
        assert_eq!(
            documented_in_readme(),
            names(),
            "the table in wit/README.md"
        );
    }

    #[test]
    fn names_are_unique() {
        let mut sorted = names();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), Action::ALL.len());
    }
}
