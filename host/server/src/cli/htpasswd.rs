//! `prism htpasswd add|verify|delete FILE USER`: bcrypt htpasswd files that
//! Apache's `htpasswd` and Prism's htpasswd plugin both read.

use std::path::Path;

use anyhow::{Context, bail, ensure};

/// Lines of an htpasswd file, kept as they are except the one being changed.
struct HtpasswdFile {
    lines: Vec<String>,
}

impl HtpasswdFile {
    fn read(path: &Path, must_exist: bool) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(HtpasswdFile {
                lines: text.lines().map(String::from).collect(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
                Ok(HtpasswdFile { lines: Vec::new() })
            }
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    fn position(&self, user: &str) -> Option<usize> {
        self.lines
            .iter()
            .position(|l| l.split_once(':').is_some_and(|(u, _)| u == user))
    }

    /// Write through a temporary file and a rename, so a crash leaves the old
    /// file or the new one, never half of one. New files are private (0600);
    /// a replaced file keeps its mode and owner (a file handed to the image's
    /// user stays readable by it), unless `owner` gives another.
    fn write(&self, path: &Path, owner: Option<Owner>) -> anyhow::Result<()> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = dir.join(format!(
            ".{}.prism-tmp",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("htpasswd")
        ));
        let mut text = self.lines.join("\n");
        text.push('\n');
        std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            let old = std::fs::metadata(path).ok();
            let mode = old.as_ref().map_or(0o600, |m| m.permissions().mode());
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
            let chown = |o: Owner| std::os::unix::fs::chown(&tmp, Some(o.uid), Some(o.gid));
            if let Some(o) = owner {
                chown(o).map_err(|e| {
                    let _ = std::fs::remove_file(&tmp);
                    anyhow::anyhow!(
                        "cannot give {} to {}:{} ({e}); setting another owner needs root",
                        path.display(),
                        o.uid,
                        o.gid
                    )
                })?;
            } else if let Some(m) = old {
                let keep = Owner {
                    uid: m.uid(),
                    gid: m.gid(),
                };
                if let Err(e) = chown(keep) {
                    eprintln!(
                        "warning: {} now belongs to you: its owner {}:{} could not be kept ({e})",
                        path.display(),
                        keep.uid,
                        keep.gid
                    );
                }
            }
        }
        std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
    }
}

/// The user and group a written file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl std::str::FromStr for Owner {
    type Err = String;

    /// `UID` or `UID:GID` (numeric, as the image's `10001:10001`); the
    /// group defaults to the user's number.
    fn from_str(s: &str) -> Result<Self, String> {
        let number = |n: &str| {
            n.parse::<u32>()
                .map_err(|_| format!("`{s}` is not UID or UID:GID (numbers)"))
        };
        let (uid, gid) = match s.split_once(':') {
            Some((u, g)) => (number(u)?, number(g)?),
            None => (number(s)?, number(s)?),
        };
        Ok(Owner { uid, gid })
    }
}

fn check_user(user: &str) -> anyhow::Result<()> {
    ensure!(!user.is_empty(), "the user name is empty");
    ensure!(
        !user.contains(':') && !user.chars().any(char::is_whitespace),
        "the user name may not contain `:` or spaces"
    );
    Ok(())
}

/// Add `user` or change their password; bcrypt `$2y$`, as `htpasswd -B`.
pub fn add(
    path: &Path,
    user: &str,
    cost: u32,
    password: &str,
    owner: Option<Owner>,
) -> anyhow::Result<()> {
    check_user(user)?;
    ensure!((4..=31).contains(&cost), "the bcrypt cost must be 4 to 31");
    ensure!(!password.is_empty(), "the password is empty");
    ensure!(
        password.len() <= 72,
        "bcrypt uses only the first 72 bytes of a password; use a shorter one"
    );
    let hash = bcrypt::hash_with_result(password, cost)?.format_for_version(bcrypt::Version::TwoY);
    let mut file = HtpasswdFile::read(path, false)?;
    let line = format!("{user}:{hash}");
    let verb = match file.position(user) {
        Some(i) => {
            file.lines[i] = line;
            "Updating"
        }
        None => {
            file.lines.push(line);
            "Adding"
        }
    };
    file.write(path, owner)?;
    eprintln!("{verb} password for user {user}");
    Ok(())
}

/// Whether `password` is `user`'s.
pub fn verify(path: &Path, user: &str, password: &str) -> anyhow::Result<()> {
    let file = HtpasswdFile::read(path, true)?;
    let Some(i) = file.position(user) else {
        bail!("user {user} not found in {}", path.display());
    };
    let hash = file.lines[i].split_once(':').map_or("", |(_, h)| h.trim());
    if bcrypt::verify(password, hash).unwrap_or(false) {
        eprintln!("Password for user {user} correct.");
        Ok(())
    } else {
        bail!("password verification failed for user {user}")
    }
}

/// Remove `user`.
pub fn delete(path: &Path, user: &str) -> anyhow::Result<()> {
    let mut file = HtpasswdFile::read(path, true)?;
    let Some(i) = file.position(user) else {
        bail!("user {user} not found in {}", path.display());
    };
    file.lines.remove(i);
    file.write(path, None)?;
    eprintln!("Deleting password for user {user}");
    Ok(())
}
