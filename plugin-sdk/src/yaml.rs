//! YAML configuration with errors that name the file and line.

use serde::de::DeserializeOwned;

use crate::ConfigError;
use crate::config::ConfigText;

/// Deserialize `source` as YAML into `T`; errors carry the line serde_yaml
/// reports.
pub fn parse<T: DeserializeOwned>(source: &ConfigText<'_>) -> Result<T, ConfigError> {
    serde_yaml::from_str(source.text).map_err(|e| {
        let line = e
            .location()
            .map(|l| u32::try_from(l.line()).unwrap_or(u32::MAX));
        ConfigError {
            file: Some(source.origin.clone()),
            line,
            message: format!("invalid YAML: {e}"),
        }
    })
}

/// The 1-based line of the first occurrence of `needle` at or after line
/// `from`, to point errors found after parsing (a duplicate token, an unknown
/// role) at the right place.
pub fn line_of(text: &str, needle: &str, from: u32) -> Option<u32> {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1) as usize)
        .find(|(_, l)| l.contains(needle))
        .map(|(i, _)| u32::try_from(i + 1).unwrap_or(u32::MAX))
}

/// The 1-based line of the first `key: value` entry (also `- key: value`,
/// with the value quoted or not); better than [`line_of`] for short values.
pub fn line_of_entry(text: &str, key: &str, value: &str) -> Option<u32> {
    text.lines()
        .position(|l| {
            let l = l.trim().trim_start_matches("- ").trim_start();
            l.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix(':'))
                .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\''))
                == Some(value)
        })
        .map(|i| u32::try_from(i + 1).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        users: Vec<String>,
    }

    fn text(s: &str) -> ConfigText<'_> {
        ConfigText {
            origin: "authz.yaml".into(),
            from_file: true,
            text: s,
        }
    }

    #[test]
    fn errors_carry_the_line() {
        let e = parse::<Doc>(&text("users:\n  - a\n  - [b\n")).unwrap_err();
        assert_eq!(e.file.as_deref(), Some("authz.yaml"));
        assert!(e.line.is_some_and(|l| l >= 3), "{:?}", e.line);
        let e = parse::<Doc>(&text("users: []\nextra: 1\n")).unwrap_err();
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn line_of_finds_later_occurrences() {
        let t = "a: x\nb: y\nc: x\n";
        assert_eq!(line_of(t, "x", 1), Some(1));
        assert_eq!(line_of(t, "x", 2), Some(3));
        assert_eq!(line_of(t, "z", 1), None);
    }

    #[test]
    fn line_of_entry_matches_whole_values() {
        let t = "users:\n  - id: u\n  - id: \"user\"\n";
        assert_eq!(line_of_entry(t, "id", "u"), Some(2));
        assert_eq!(line_of_entry(t, "id", "user"), Some(3));
        assert_eq!(line_of_entry(t, "id", "us"), None);
    }
}
