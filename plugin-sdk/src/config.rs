//! Reading a plugin's [`Config`].

use crate::{Config, ConfigError, ConfigFile};

/// Text a plugin was configured with: inline, or the contents of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigText<'a> {
    /// The file's path as configured, or the setting's key for inline text;
    /// use it to name the source in errors.
    pub origin: String,
    /// True when the text came from a file.
    pub from_file: bool,
    /// The text.
    pub text: &'a str,
}

impl ConfigText<'_> {
    /// An error at `line` of this text.
    pub fn error_at(&self, line: u32, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.origin.clone(), line, message)
    }
}

impl ConfigFile {
    /// The file's contents as text (a fetched document's too).
    pub fn text(&self) -> Result<ConfigText<'_>, ConfigError> {
        let text = std::str::from_utf8(&self.contents).map_err(|e| ConfigError {
            file: Some(self.path.clone()),
            line: None,
            message: format!("the file is not UTF-8 text ({e})"),
        })?;
        Ok(ConfigText {
            origin: self.path.clone(),
            from_file: true,
            text,
        })
    }
}

impl Config {
    /// A setting's value.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .rev()
            .find(|s| s.key == key)
            .map(|s| s.value.as_str())
    }

    /// A setting's value, or an error naming the missing key.
    pub fn require(&self, key: &str) -> Result<&str, ConfigError> {
        self.setting(key)
            .ok_or_else(|| ConfigError::new(format!("the setting `{key}` is required")))
    }

    /// A file the host read for the setting `key`.
    pub fn file(&self, key: &str) -> Option<&ConfigFile> {
        self.files.iter().rev().find(|f| f.key == key)
    }

    /// Text given either inline (`inline_key`) or as a file (`file_key`):
    /// exactly one of the two, as Chroma requires for its credentials and
    /// authz configuration. `Ok(None)` when neither is set.
    pub fn text_from(
        &self,
        inline_key: &str,
        file_key: &str,
    ) -> Result<Option<ConfigText<'_>>, ConfigError> {
        match (self.setting(inline_key), self.file(file_key)) {
            (Some(_), Some(_)) => Err(ConfigError::new(format!(
                "set either `{inline_key}` or `{file_key}`, not both"
            ))),
            (Some(text), None) => Ok(Some(ConfigText {
                origin: format!("setting `{inline_key}`"),
                from_file: false,
                text,
            })),
            (None, Some(file)) => file.text().map(Some),
            (None, None) => Ok(None),
        }
    }

    /// Like [`text_from`](Self::text_from) but one of the two must be set.
    pub fn require_text(
        &self,
        inline_key: &str,
        file_key: &str,
    ) -> Result<ConfigText<'_>, ConfigError> {
        self.text_from(inline_key, file_key)?
            .ok_or_else(|| ConfigError::new(format!("set `{inline_key}` or `{file_key}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Setting;

    fn config(settings: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> Config {
        Config {
            settings: settings
                .iter()
                .map(|(k, v)| Setting {
                    key: k.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            files: files
                .iter()
                .map(|(k, p, c)| ConfigFile {
                    key: k.to_string(),
                    path: p.to_string(),
                    contents: c.to_vec(),
                })
                .collect(),
        }
    }

    #[test]
    fn text_comes_from_exactly_one_place() {
        let c = config(&[("credentials", "abc")], &[]);
        let t = c.require_text("credentials", "credentials-file").unwrap();
        assert_eq!((t.text, t.from_file), ("abc", false));

        let c = config(&[], &[("credentials-file", "/etc/users", b"x: y")]);
        let t = c.require_text("credentials", "credentials-file").unwrap();
        assert_eq!((t.text, t.origin.as_str()), ("x: y", "/etc/users"));

        let both = config(
            &[("credentials", "abc")],
            &[("credentials-file", "/f", b"x")],
        );
        assert!(
            both.require_text("credentials", "credentials-file")
                .is_err()
        );
        let neither = config(&[], &[]);
        assert!(
            neither
                .require_text("credentials", "credentials-file")
                .is_err()
        );
        assert_eq!(neither.text_from("a", "b").unwrap(), None);
    }

    #[test]
    fn a_file_that_is_not_text_is_refused_with_its_path() {
        let c = config(&[], &[("f", "/bin/ls", &[0xff, 0xfe])]);
        let err = c.require_text("x", "f").unwrap_err();
        assert_eq!(err.file.as_deref(), Some("/bin/ls"));
    }
}
