//! `prism config check`: everything `prism run` would validate — flags,
//! environment, config file, data directory, listen address, auth plugins and
//! their files — without serving.

use std::collections::BTreeMap;

use anyhow::Context;
use prism_auth::{AuthGate, AuthSettings};

use crate::settings::{FileConfig, FlagValues, ProcessEnv, Settings};

/// Check the configuration `prism run` would start with; print a summary.
pub fn check(
    file: FileConfig,
    flags: FlagValues,
    tls: Option<crate::tls::TlsFiles>,
    builtins: &[(&str, &[u8])],
) -> anyhow::Result<()> {
    let settings = Settings::resolve(&flags, &ProcessEnv, &file)?;
    prism_engine::check_data_dir(&settings.persist_path)
        .with_context(|| format!("data directory {}", settings.persist_path.display()))?;
    let addr = crate::settings::listen_address(&settings.host, settings.port)?;
    if let Some(files) = &tls {
        files.server_config()?;
    }
    let vars: BTreeMap<String, String> = std::env::vars().collect();
    let auth = AuthSettings::from_env(&vars)?;
    let gate = AuthGate::from_settings(&auth, builtins).context("authentication")?;
    println!("data directory: {}", settings.persist_path.display());
    println!("listen address: {addr}");
    println!("allow reset:    {}", settings.allow_reset);
    match &tls {
        None => println!("TLS:            off (plain HTTP)"),
        Some(files) => {
            println!("TLS:            {}", files.cert.display());
            if let Some(ca) = &files.client_ca {
                println!(
                    "client certs:   {:?}, verified against {}",
                    files.client_auth,
                    ca.display()
                );
            }
            if let Some(warning) = files.certificate_warning() {
                println!("warning:        {warning}");
            }
        }
    }
    match (gate.authn_name(), gate.authz_name()) {
        (None, _) => println!("auth:           off (every request allowed)"),
        (Some(authn), authz) => {
            println!("authentication: {authn}");
            println!(
                "authorization:  {}",
                authz.unwrap_or("none (authenticated = allowed)")
            );
            println!("plugin dir:     {}", auth.plugin_dir.display());
        }
    }
    println!("configuration OK");
    Ok(())
}
