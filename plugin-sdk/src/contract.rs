//! The contract this SDK builds plugins against: its version, read at compile
//! time from the `package` line of the WIT the bindings are generated from,
//! and the action names the host sends an authorizer.

/// The WIT the bindings are generated from (`bindings.rs` names the same
/// directory; a test keeps them together).
const WIT: &str = include_str!("../../wit/prism-auth@0.2.0/auth.wit");

/// The version of the WIT contract (`wit/prism-auth@<version>/`) this SDK
/// implements; every plugin built with it declares this `api-version`.
pub const API_VERSION: &str = match std::str::from_utf8(&VERSION_BYTES) {
    Ok(version) => version,
    Err(_) => panic!("the WIT package version is not UTF-8"),
};

// A copy of the version: a slice of `WIT` itself would make every plugin
// carry the whole WIT text.
const VERSION_BYTES: [u8; package_version(WIT).len()] = copy(package_version(WIT));

const fn copy<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0; N];
    let mut i = 0;
    while i < N {
        out[i] = text.as_bytes()[i];
        i += 1;
    }
    out
}

/// Every action name the host passes to
/// [`Authorizer::authorize`](crate::Authorizer::authorize), as the contract
/// documents them. Chroma's policy files may name a few more that no request
/// carries (`db:reset`, ...); an authorizer that validates its policy decides
/// whether to accept those.
pub const ACTIONS: &[&str] = &[
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
    "collection:search",
    "collection:fork_collection",
    "collection:count_forks",
    "collection:get_collection_by_crn",
    "collection:create_attached_function",
    "console:admin",
    "system:metrics",
];

/// The actions of [`ACTIONS`] that change nothing: what a read-only
/// identity may do. (The JavaScript and Python SDKs export the same list.)
pub const READ_ACTIONS: &[&str] = &[
    "tenant:get_tenant",
    "db:get_database",
    "db:list_databases",
    "db:list_collections",
    "db:count_collections",
    "collection:get_collection",
    "collection:get",
    "collection:query",
    "collection:count",
    "collection:search",
    "collection:count_forks",
    "collection:get_collection_by_crn",
];

/// The version in a WIT file's `package name@version;` line; a compile-time
/// error when there is none.
const fn package_version(wit: &str) -> &str {
    const KEYWORD: &[u8] = b"package ";
    let bytes = wit.as_bytes();
    let mut i = 0;
    while i + KEYWORD.len() <= bytes.len() {
        if (i == 0 || bytes[i - 1] == b'\n') && starts_with(bytes, i, KEYWORD) {
            let mut at = i + KEYWORD.len();
            while at < bytes.len() && bytes[at] != b'@' {
                at += 1;
            }
            let mut end = at;
            while end < bytes.len() && bytes[end] != b';' {
                end += 1;
            }
            if end == bytes.len() {
                panic!("the WIT package line has no `@version;`");
            }
            let (_, rest) = bytes.split_at(at + 1);
            let (version, _) = rest.split_at(end - at - 1);
            return match std::str::from_utf8(version) {
                Ok(version) => version,
                Err(_) => panic!("the WIT package line is not UTF-8"),
            };
        }
        i += 1;
    }
    panic!("the WIT file has no package line")
}

const fn starts_with(bytes: &[u8], at: usize, prefix: &[u8]) -> bool {
    let mut j = 0;
    while j < prefix.len() {
        if bytes[at + j] != prefix[j] {
            return false;
        }
        j += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_the_wit_package_version() {
        assert_eq!(package_version("package a:b@1.2.3;\n"), "1.2.3");
        assert!(WIT.contains(&format!("\npackage prism:auth@{API_VERSION};")));
    }

    /// The bindings, the `with` remapping and [`API_VERSION`] all name one
    /// contract directory (a stale remapping is also a compile error).
    #[test]
    fn the_bindings_use_the_same_contract() {
        let bindings = include_str!("bindings.rs");
        let dir = format!("\"../wit/prism-auth@{API_VERSION}\"");
        let paths: Vec<&str> = bindings
            .lines()
            .filter_map(|l| l.trim().strip_prefix("path: "))
            .collect();
        assert_eq!(paths, [format!("{dir},"), format!("{dir},")]);
        assert!(bindings.contains(&format!("\"prism:auth/types@{API_VERSION}\"")));
    }

    /// [`ACTIONS`] is the list in the doc comment of the contract's `authorize`.
    #[test]
    fn actions_are_the_documented_ones() {
        let lines: Vec<&str> = WIT.lines().collect();
        let func = lines
            .iter()
            .position(|l| l.trim_start().starts_with("authorize: func"))
            .expect("the contract declares authorize");
        let mut documented: Vec<&str> = lines[..func]
            .iter()
            .rev()
            .map(|l| l.trim())
            .take_while(|l| l.starts_with("///"))
            .filter_map(|l| {
                let item = l.trim_start_matches('/').trim().strip_prefix("- `")?;
                item.split_once('`').map(|(name, _)| name)
            })
            .collect();
        documented.reverse();
        assert_eq!(documented, ACTIONS);
    }

    #[test]
    fn read_actions_are_actions_and_every_sdk_lists_the_same() {
        for action in READ_ACTIONS {
            assert!(ACTIONS.contains(action), "{action}");
        }
        for (sdk, source) in [
            ("js/index.js", include_str!("../js/index.js")),
            (
                "python/src/prism_plugin_sdk/__init__.py",
                include_str!("../python/src/prism_plugin_sdk/__init__.py"),
            ),
        ] {
            let listed: Vec<&str> = source
                .split(['\'', '"'])
                .filter(|s| ACTIONS.contains(s))
                .collect();
            assert_eq!(listed, READ_ACTIONS, "{sdk}");
        }
    }

    /// The JavaScript and Python SDKs ship the contract in their packages
    /// (npm and pip do not follow a link out of the package): copies that
    /// must not drift from the one the host and this crate are built from.
    #[test]
    fn the_other_sdks_ship_this_contract() {
        for (sdk, copy) in [
            ("js/wit/auth.wit", include_str!("../js/wit/auth.wit")),
            (
                "python/src/prism_plugin_sdk/wit/auth.wit",
                include_str!("../python/src/prism_plugin_sdk/wit/auth.wit"),
            ),
        ] {
            assert!(
                copy == WIT,
                "plugin-sdk/{sdk} differs from wit/prism-auth@{API_VERSION}/auth.wit: copy it again"
            );
        }
    }
}
