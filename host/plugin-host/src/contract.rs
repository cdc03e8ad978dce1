//! Which contract versions this host speaks. Every version string comes from
//! one place: the `package` line of that version's WIT file
//! (`wit/prism-auth@X.Y.Z/auth.wit`), read at compile time.

use crate::{since_v0_1_0, since_v0_2_0};

/// The newest contract version this host implements.
pub const API_VERSION: &str = since_v0_2_0::VERSION;

/// The WIT package every plugin's exports live under (`prism:auth`).
pub(crate) const PACKAGE: &str = package_line(since_v0_2_0::WIT).0;

/// A contract version this host serves: one per `since_v*` module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Contract {
    /// `since_v0_1_0`.
    V0_1,
    /// `since_v0_2_0`.
    V0_2,
}

impl Contract {
    /// The contract a plugin built against `version` speaks, if this host
    /// serves it.
    pub(crate) fn of(version: &str) -> Option<Self> {
        if since_v0_2_0::serves(version) {
            Some(Contract::V0_2)
        } else if since_v0_1_0::serves(version) {
            Some(Contract::V0_1)
        } else {
            None
        }
    }
}

/// Whether a plugin built against `version` can be served.
pub(crate) fn supported(version: &str) -> bool {
    Contract::of(version).is_some()
}

/// The versions [`supported`] accepts, for messages (`0.1.x, 0.2.x`).
pub(crate) fn supported_range() -> String {
    [since_v0_1_0::VERSION, since_v0_2_0::VERSION]
        .iter()
        .map(|version| match parse(version) {
            Some((0, minor)) => format!("0.{minor}.x"),
            Some((major, _)) => format!("{major}.x"),
            None => version.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Semver for a contract: 0.x versions are compatible within a minor version,
/// later ones within a major version.
pub(crate) fn compatible(version: &str, with: &str) -> bool {
    match (parse(version), parse(with)) {
        (Some((0, minor)), Some((0, ours))) => minor == ours,
        (Some((major, _)), Some((ours, _))) => major == ours && major != 0,
        _ => false,
    }
}

fn parse(version: &str) -> Option<(u64, u64)> {
    let mut parts = version.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The package name and version of a WIT file's `package name@version;`
/// line. A compile-time error when there is none, so the version cannot be
/// read from anywhere else.
pub(crate) const fn package_line(wit: &str) -> (&str, &str) {
    const KEYWORD: &[u8] = b"package ";
    let bytes = wit.as_bytes();
    let mut i = 0;
    while i + KEYWORD.len() <= bytes.len() {
        let at_line_start = i == 0 || bytes[i - 1] == b'\n';
        if at_line_start && starts_with(bytes, i, KEYWORD) {
            let start = i + KEYWORD.len();
            let mut at = start;
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
            return (slice(bytes, start, at), slice(bytes, at + 1, end));
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

const fn slice(bytes: &[u8], start: usize, end: usize) -> &str {
    let (_, rest) = bytes.split_at(start);
    let (part, _) = rest.split_at(end - start);
    match std::str::from_utf8(part) {
        Ok(s) => s,
        Err(_) => panic!("the WIT package line is not UTF-8"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(supported("0.1.0"));
        assert!(supported("0.1.7"));
        assert_eq!(Contract::of("0.1.2"), Some(Contract::V0_1));
        assert_eq!(Contract::of("0.2.0"), Some(Contract::V0_2));
        assert!(!supported("0.3.0"));
        assert!(!supported("1.0.0"));
        assert!(!supported("9.0.0"));
        assert!(!supported(""));
        assert!(compatible("2.3.0", "2.0.1"));
        assert!(!compatible("1.0.0", "0.1.0"));
        assert_eq!(supported_range(), "0.1.x, 0.2.x");
    }

    #[test]
    fn package_lines_are_read() {
        let wit = "/// docs\n/// package not:this@9;\npackage prism:auth@0.1.0;\n";
        assert_eq!(package_line(wit), ("prism:auth", "0.1.0"));
        assert_eq!(PACKAGE, "prism:auth");
    }

    /// Every contract directory is `wit/<package>@<version>/`, holds the
    /// package of that version, and is served by a module of that version's
    /// name; the newest is [`API_VERSION`].
    #[test]
    fn the_versioned_directories_agree_with_their_packages() {
        let wit = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit");
        let mut versions = Vec::new();
        for entry in std::fs::read_dir(&wit).unwrap() {
            let path = entry.unwrap().path();
            if !path.is_dir() {
                continue;
            }
            let dir = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(path.join("auth.wit"))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let (package, version) = package_line(&text);
            assert_eq!(dir, format!("{}@{version}", package.replace(':', "-")));
            versions.push(version.to_string());
        }
        versions.sort();
        let modules = [
            (
                since_v0_1_0::VERSION,
                include_str!("since_v0_1_0.rs"),
                "since_v0_1_0.rs",
            ),
            (
                since_v0_2_0::VERSION,
                include_str!("since_v0_2_0.rs"),
                "since_v0_2_0.rs",
            ),
        ];
        assert_eq!(
            versions,
            modules.map(|(version, _, _)| version),
            "one since_v* module per contract directory"
        );
        assert_eq!(API_VERSION, *versions.last().unwrap());
        for (version, source, file) in modules {
            assert_eq!(file, format!("since_v{}.rs", version.replace('.', "_")));
            // The bindings are generated from the directory the version is read from.
            let dir = format!("../../wit/prism-auth@{version}");
            let paths: Vec<&str> = source
                .lines()
                .filter_map(|l| l.trim().strip_prefix("path: \""))
                .collect();
            assert_eq!(paths, [format!("{dir}\","), format!("{dir}\",")], "{file}");
            assert!(
                source.contains(&format!("include_str!(\"../{dir}/auth.wit\")")),
                "{file}"
            );
        }
    }
}
