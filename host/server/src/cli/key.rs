//! `prism key new|rotate`, `prism encrypt`, `prism decrypt`: the operator's
//! side of encryption at rest (docs/ENCRYPTION.md). The engine does the
//! work; this reads key files, shows progress on a terminal and says what
//! was done, naming keys by their public ids only.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::Context;
use prism_engine::crypto::convert::{self, Step};
use prism_engine::crypto::{key_file, rotate};

/// `prism key new FILE`.
pub fn new(file: &Path) -> anyhow::Result<()> {
    let id = key_file::write_new(file)?;
    println!("wrote {} (key id {id}, mode 0600)", file.display());
    eprintln!(
        "keep a copy somewhere safe and apart from the data: without it an encrypted directory cannot be read"
    );
    Ok(())
}

/// `prism key rotate`.
pub fn rotate(dir: &Path, old: &Path, new: &Path, reencrypt: bool) -> anyhow::Result<()> {
    let old_key = key_file::read(old)?;
    let new_key = key_file::read(new)?;
    anyhow::ensure!(
        old_key.id() != new_key.id(),
        "{} and {} hold the same key: make a new one with `prism key new FILE`",
        old.display(),
        new.display()
    );
    if reencrypt {
        let mut progress = Progress::new("re-encrypting");
        rotate::reencrypt(dir, &old_key, &new_key, Some(old), &mut |s| {
            progress.show(s)
        })
        .with_context(|| format!("cannot re-encrypt {}", dir.display()))?;
        progress.done();
        println!(
            "{}: new data key, everything re-encrypted; now opened by {} (key id {}) only",
            dir.display(),
            new.display(),
            new_key.id()
        );
    } else {
        rotate::rewrap(dir, &old_key, &new_key, Some(old))
            .with_context(|| format!("cannot rotate the key of {}", dir.display()))?;
        println!(
            "{}: data key rewrapped; now opened by {} (key id {}) only",
            dir.display(),
            new.display(),
            new_key.id()
        );
    }
    Ok(())
}

/// `prism encrypt`.
pub fn encrypt(dir: &Path, key: &Path) -> anyhow::Result<()> {
    let kek = key_file::read(key)?;
    let mut progress = Progress::new("encrypting");
    convert::encrypt(dir, &kek, &mut |s| progress.show(s))
        .with_context(|| format!("cannot encrypt {}", dir.display()))?;
    progress.done();
    println!(
        "{} is encrypted (key id {}); start it with --encryption-key-file {}",
        dir.display(),
        kek.id(),
        key.display()
    );
    Ok(())
}

/// `prism decrypt`.
pub fn decrypt(dir: &Path, key: &Path) -> anyhow::Result<()> {
    let kek = key_file::read(key)?;
    let mut progress = Progress::new("decrypting");
    convert::decrypt(dir, &kek, Some(key), &mut |s| progress.show(s))
        .with_context(|| format!("cannot decrypt {}", dir.display()))?;
    progress.done();
    println!(
        "{} is plain (not encrypted); start it without --encryption-key-file",
        dir.display()
    );
    Ok(())
}

/// A one-line progress display on stderr, when stderr is a terminal.
struct Progress {
    what: &'static str,
    shown: bool,
    tty: bool,
}

impl Progress {
    fn new(what: &'static str) -> Self {
        Self {
            what,
            shown: false,
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn show(&mut self, step: Step) {
        if !self.tty {
            return;
        }
        let line = match step {
            Step::Database { done, total } => {
                format!("{}: database {}%", self.what, done * 100 / total.max(1))
            }
            Step::Graphs { done, total } => format!("{}: graph files {done}/{total}", self.what),
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        self.shown = true;
    }

    fn done(&self) {
        if self.shown {
            eprintln!();
        }
    }
}
