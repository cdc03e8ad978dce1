//! htpasswd files (`user:hash` per line), as written by Apache's `htpasswd`.

use crate::ConfigError;
use crate::config::ConfigText;
use crate::password::{self, HashScheme};

/// One user of an htpasswd file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtpasswdEntry {
    /// The user id.
    pub user: String,
    /// The password hash.
    pub hash: String,
    /// Which scheme the hash uses.
    pub scheme: HashScheme,
    /// 1-based line the user was defined on.
    pub line: u32,
}

/// Parse an htpasswd file. Blank lines and `#` comments are skipped; a
/// malformed line, a duplicate user or an unsupported hash is an error naming
/// the file and line.
pub fn parse(source: &ConfigText<'_>) -> Result<Vec<HtpasswdEntry>, ConfigError> {
    let mut entries: Vec<HtpasswdEntry> = Vec::new();
    for (i, raw) in source.text.lines().enumerate() {
        let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let line = raw.trim_end_matches('\r').trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (user, hash) = line.split_once(':').ok_or_else(|| {
            source.error_at(line_no, "expected `user:hash` (no `:` on this line)")
        })?;
        if user.is_empty() {
            return Err(source.error_at(line_no, "the user name is empty"));
        }
        if user.chars().any(char::is_whitespace) {
            return Err(source.error_at(line_no, format!("the user name `{user}` contains spaces")));
        }
        let scheme = password::scheme(hash)
            .map_err(|e| source.error_at(line_no, format!("user `{user}`: {e}")))?;
        if let Some(first) = entries.iter().find(|e| e.user == user) {
            return Err(source.error_at(
                line_no,
                format!(
                    "user `{user}` is defined twice (first on line {})",
                    first.line
                ),
            ));
        }
        entries.push(HtpasswdEntry {
            user: user.to_string(),
            hash: hash.to_string(),
            scheme,
            line: line_no,
        });
    }
    if entries.is_empty() {
        return Err(ConfigError {
            file: Some(source.origin.clone()),
            line: None,
            message: "no users are defined".into(),
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$2y$04$7rK1kA2Axe92KRiE4oF2qeAQwfiTRsnKlEvJWV677mNbBns94lMhC";

    fn text(s: &str) -> ConfigText<'_> {
        ConfigText {
            origin: "/etc/prism/users.htpasswd".into(),
            from_file: true,
            text: s,
        }
    }

    #[test]
    fn parses_users_comments_and_crlf() {
        let f = format!("# users\nadmin:{HASH}\r\n\n  bob:{HASH}  \n");
        let users = parse(&text(&f)).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!((users[0].user.as_str(), users[0].line), ("admin", 2));
        assert_eq!((users[1].user.as_str(), users[1].line), ("bob", 4));
    }

    fn error(f: &str) -> ConfigError {
        parse(&text(f)).unwrap_err()
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = error(&format!("admin:{HASH}\nno colon here\n"));
        assert_eq!(e.file.as_deref(), Some("/etc/prism/users.htpasswd"));
        assert_eq!(e.line, Some(2));

        let e = error(&format!("admin:{HASH}\n\nadmin:{HASH}\n"));
        assert_eq!(e.line, Some(3));
        assert!(
            e.message.contains("twice") && e.message.contains("line 1"),
            "{}",
            e.message
        );

        let e = error("admin:$apr1$abc$def\n");
        assert_eq!(e.line, Some(1));
        assert!(e.message.contains("apr1"), "{}", e.message);

        let e = error(&format!(":{HASH}"));
        assert!(e.message.contains("empty"));
        let e = error("# nobody\n");
        assert!(e.message.contains("no users"));
    }
}
