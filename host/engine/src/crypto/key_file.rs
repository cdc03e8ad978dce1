//! The operator's key file: one line, `prism-kek-v1:` and 64 hex digits (a
//! 256-bit key-encryption key). Like ssh with a private key, a file that
//! its group or others may access is refused before it is read.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use thiserror::Error;
use zeroize::Zeroizing;

use super::SecretKey;

/// What every key file starts with: names the format, and tells a key file
/// from any other 64 hex digits lying around.
pub const PREFIX: &str = "prism-kek-v1:";
const HEX_DIGITS: usize = 64;

/// Why a key file cannot be used. Never holds the file's contents.
#[derive(Debug, Error)]
pub enum KeyFileError {
    #[error("cannot read the key file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the key file {path} is accessible by its group or others (mode {mode:04o}): run `chmod 600 {path}` (and keep it owned by the user Prism runs as)"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error(
        "the key file {path} is not a Prism key file: {reason}. Make one with `prism key new FILE`"
    )]
    Format { path: PathBuf, reason: String },
    #[error(
        "{path} already exists: refusing to overwrite a key file (losing a key loses the data it protects). Choose another name"
    )]
    Exists { path: PathBuf },
    #[error("cannot write the key file {path}: {source}")]
    Unwritable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Random(#[from] Box<super::CryptoError>),
}

/// Read and check the key file at `path`.
pub fn read(path: &Path) -> Result<SecretKey, KeyFileError> {
    let unreadable = |source| KeyFileError::Unreadable {
        path: path.into(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions {
            path: path.into(),
            mode,
        });
    }
    let bytes = Zeroizing::new(std::fs::read(path).map_err(unreadable)?);
    parse(&bytes).map_err(|reason| KeyFileError::Format {
        path: path.into(),
        reason,
    })
}

/// The key in a key file's contents; the error says what is wrong with
/// them without repeating them.
pub fn parse(contents: &[u8]) -> Result<SecretKey, String> {
    let text = std::str::from_utf8(contents).map_err(|_| "it is not text".to_string())?;
    let text = text.trim_end_matches(['\n', '\r']);
    if text.is_empty() {
        return Err("it is empty".into());
    }
    let Some(digits) = text.strip_prefix(PREFIX) else {
        return Err(format!("it does not start with `{PREFIX}`"));
    };
    if let Some(at) = digits.find(|c: char| !c.is_ascii_hexdigit()) {
        return Err(format!(
            "character {} after the prefix is not a hex digit",
            at + 1
        ));
    }
    match digits.len() {
        HEX_DIGITS => {}
        n if n < HEX_DIGITS => {
            return Err(format!(
                "it is truncated: {n} of {HEX_DIGITS} hex digits (a 256-bit key)"
            ));
        }
        n => return Err(format!("it holds {n} hex digits, not {HEX_DIGITS}")),
    }
    let mut key = Zeroizing::new([0u8; 32]);
    for (i, pair) in digits.as_bytes().chunks_exact(2).enumerate() {
        let nibble = |c: u8| (c as char).to_digit(16).expect("checked hex") as u8;
        key[i] = nibble(pair[0]) << 4 | nibble(pair[1]);
    }
    Ok(SecretKey::from_bytes(key))
}

/// The contents of a key file holding `key`.
pub(crate) fn format(key: &SecretKey) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(PREFIX.len() + HEX_DIGITS + 1));
    out.push_str(PREFIX);
    out.push_str(&super::hex(key.bytes()));
    out.push('\n');
    out
}

/// Write a new random key to `path` (mode 0600, never over an existing
/// file) and return its public id.
pub fn write_new(path: &Path) -> Result<String, KeyFileError> {
    let key = SecretKey::random().map_err(|e| KeyFileError::Random(Box::new(e)))?;
    let unwritable = |source| KeyFileError::Unwritable {
        path: path.into(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => KeyFileError::Exists { path: path.into() },
            _ => unwritable(e),
        })?;
    file.write_all(format(&key).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(unwritable)?;
    Ok(key.id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_file_reads_back_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let id = write_new(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read(&path).unwrap().id(), id);
        let before = std::fs::read(&path).unwrap();
        assert!(matches!(write_new(&path), Err(KeyFileError::Exists { .. })));
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_ne!(write_new(&dir.path().join("k2")).unwrap(), id, "random");
    }

    #[test]
    fn group_or_other_access_is_refused_with_chmod_600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        write_new(&path).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = read(&path).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(read(&path).is_ok());
    }

    #[test]
    fn malformed_contents_are_refused_without_being_repeated() {
        let good = format!("{PREFIX}{}\n", "ab".repeat(32));
        assert!(parse(good.as_bytes()).is_ok());
        assert!(parse(good.trim_end().as_bytes()).is_ok(), "no newline");
        let cases: [(&str, &str); 6] = [
            ("", "empty"),
            ("\n", "empty"),
            (&good[..40], "truncated"),
            ("ab", "does not start"),
            (&format!("{PREFIX}{}", "zz".repeat(32)), "not a hex digit"),
            (&format!("{PREFIX}{}", "ab".repeat(33)), "66 hex digits"),
        ];
        for (contents, want) in cases {
            let Err(err) = parse(contents.as_bytes()) else {
                panic!("{contents:?} parsed")
            };
            assert!(err.contains(want), "{contents:?}: {err}");
            assert!(!err.contains("abab"), "{err}");
        }
        assert!(parse(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let key = parse(format!("{PREFIX}{}", "ab".repeat(32)).as_bytes()).unwrap();
        assert_eq!(format!("{key:?}"), "SecretKey(redacted)");
    }
}
