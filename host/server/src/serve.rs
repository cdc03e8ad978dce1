//! `prism run` once prepared: open the engine, watch the auth files, serve
//! HTTP or HTTPS until SIGTERM or Ctrl-C, then finish in-flight requests and
//! flush the engine.

use std::sync::Arc;

use anyhow::Context;
use prism_engine::{Engine, EngineOptions};
use tokio::net::TcpListener;

use crate::builtin::BUILTIN_PLUGINS;
use crate::startup::Prepared;
use crate::tls_reload::{self, LiveTlsConfig};
use crate::{api, listen};

/// Serve until asked to stop.
pub async fn serve(prepared: Prepared) -> anyhow::Result<()> {
    let Prepared {
        warnings,
        settings,
        listen: addr,
        ignored_config_keys,
        tls,
        auth,
        gate,
    } = prepared;
    if !ignored_config_keys.is_empty() {
        tracing::info!(
            keys = ?ignored_config_keys,
            "config file keys without meaning for Prism are ignored"
        );
    }
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    let gates = Arc::new(prism_auth::SharedGate::new(gate));
    let _reload = prism_auth::reload::watch(auth, BUILTIN_PLUGINS, gates.clone())
        .context("cannot watch the auth configuration files")?;
    let mut options = EngineOptions::new(&settings.persist_path);
    options.allow_reset = settings.allow_reset;
    options.max_query_results = settings.max_query_results;
    let engine = tokio::task::spawn_blocking(move || Engine::open(options))
        .await?
        .with_context(|| {
            format!(
                "cannot open data directory {}",
                settings.persist_path.display()
            )
        })?;
    let engine = Arc::new(engine);
    let data_dir = std::fs::canonicalize(engine.data_dir())
        .unwrap_or_else(|_| engine.data_dir().to_path_buf());
    let state = api::AppState::new(engine.clone(), gates);
    let http = api::HttpOptions {
        max_payload_bytes: settings.max_payload_bytes,
        cors_allow_origins: settings.cors_allow_origins.clone(),
    };
    let app = api::router(state, &http);
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        data = %data_dir.display(),
        allow_reset = settings.allow_reset,
        tls = tls.is_some(),
        client_certificates = ?tls.as_ref().and_then(|t| t.files.client_ca.as_ref().map(|_| t.files.client_auth)),
        "Prism listening on {scheme}://{addr} (data in {})",
        data_dir.display()
    );
    let app = app.into_make_service_with_connect_info::<listen::Peer>();
    match tls {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown_signal())
                .await?
        }
        Some(tls) => {
            let live = LiveTlsConfig::new(tls.config);
            let _renewals = tls_reload::watch(tls.files, live.clone())
                .context("cannot watch the TLS certificate files")?;
            axum::serve(listen::TlsListener::new(listener, live)?, app)
                .with_graceful_shutdown(shutdown_signal())
                .await?
        }
    }
    tokio::task::spawn_blocking(move || engine.flush()).await??;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
