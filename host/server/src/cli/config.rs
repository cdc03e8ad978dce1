//! `prism config check`: what `prism run` would start with — flags,
//! environment, config file, data directory, listen address, TLS files, auth
//! plugins and their files — prepared by the same code ([`crate::startup`])
//! and printed instead of served.

use crate::startup::Prepared;

/// Print a checked configuration.
pub fn print(prepared: &Prepared) {
    let Prepared {
        warnings,
        settings,
        listen,
        ignored_config_keys,
        tls,
        auth,
        gate,
        encryption: _,
        encryption_status,
        upstream,
    } = prepared;
    match upstream {
        Some(upstream) => println!("gateway to:     {} (no data directory)", upstream.shown()),
        None => println!("data directory: {}", settings.persist_path.display()),
    }
    println!("encryption:     {encryption_status}");
    println!("listen address: {listen}");
    println!("allow reset:    {}", settings.allow_reset);
    if !ignored_config_keys.is_empty() {
        println!("ignored keys:   {}", ignored_config_keys.join(", "));
    }
    match tls {
        None => println!("TLS:            off (plain HTTP)"),
        Some(tls) => {
            println!("TLS:            {}", tls.files.cert.display());
            if let Some(ca) = &tls.files.client_ca {
                println!(
                    "client certs:   {:?}, verified against {}",
                    tls.files.client_auth,
                    ca.display()
                );
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
    match &settings.otlp {
        None => println!("traces:         off"),
        Some(otlp) => println!(
            "traces:         OTLP {:?} to {} as {}",
            otlp.protocol, otlp.endpoint, otlp.service_name
        ),
    }
    println!(
        "metrics:        {}",
        if settings.metrics {
            "GET /metrics"
        } else {
            "off"
        }
    );
    for warning in warnings {
        println!("warning:        {warning}");
    }
    println!("configuration OK");
}
