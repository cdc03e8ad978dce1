//! The operator subcommands besides `run`: htpasswd files, tokens, plugins
//! (list, inspect, new, build, bench), configuration checks, the container healthcheck,
//! backups, and moving data in and out (import, export). Each prints what it did or why not, and exits non-zero on
//! failure.

pub mod args;
pub mod backup;
pub mod config;
pub mod healthcheck;
pub mod htpasswd;
pub mod key;
pub mod plugin;
pub mod plugin_bench;
pub mod plugin_build;
pub mod plugin_new;
pub mod progress;
pub mod token;
pub mod transfer;

use std::io::{BufRead, IsTerminal};

/// A password from the terminal (asked twice when `confirm`, not echoed) or,
/// when stdin is not a terminal, its first line.
pub fn read_password(confirm: bool) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        if confirm {
            let again = rpassword::prompt_password("Again: ")?;
            anyhow::ensure!(first == again, "the passwords do not match");
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
