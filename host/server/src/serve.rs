//! `prism run` once prepared: open the engine, watch the auth files, serve
//! HTTP or HTTPS until SIGTERM or Ctrl-C, then finish in-flight requests and
//! flush the engine.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use hyper_util::server::graceful::GracefulShutdown;
use prism_engine::{Engine, EngineOptions};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::builtin::BUILTIN_PLUGINS;
use crate::connection::{self, Timeouts};
use crate::gateway::{self, Gateway};
use crate::listen::{self, Listener, Peer};
use crate::settings::Settings;
use crate::startup::{Prepared, PreparedTls};
use crate::tls_reload::{self, LiveTlsConfig};
use crate::{api, console, watchdog};

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
        encryption,
        encryption_status: _,
        upstream,
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
    let auth_summary = auth.clone();
    let _reload = prism_auth::reload::watch(auth, BUILTIN_PLUGINS, gates.clone())
        .context("cannot watch the auth configuration files")?;
    if let Some(otlp) = settings.otlp.clone() {
        crate::otlp::start(otlp).context("cannot set up the OTLP trace exporter")?;
    }
    let http = api::HttpOptions {
        max_payload_bytes: settings.max_payload_bytes,
        cors_allow_origins: settings.cors_allow_origins.clone(),
        metrics: settings.metrics,
    };
    if let Some(upstream) = upstream {
        let shown = upstream.shown().to_string();
        let gateway = Arc::new(Gateway::new(
            upstream,
            credential_headers(&auth_summary),
            settings.max_payload_bytes,
        ));
        let state = api::AppState::gateway(gateway, gates);
        let console = settings.console.enabled.then(|| {
            console::router(console::Console::new(
                state.clone(),
                settings.console.clone(),
                tls.is_some(),
                console::provider_summaries(&auth_summary),
            ))
        });
        let app = gateway::router(state, &http, console);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            upstream = %shown,
            tls = tls.is_some(),
            "Prism gateway listening on {scheme}://{addr}, forwarding to {shown}"
        );
        serve_listener(listener, &settings, tls, app).await?;
        crate::otlp::flush(Duration::from_secs(5)).await;
        tracing::info!("stopped cleanly");
        return Ok(());
    }
    let mut options = EngineOptions::new(&settings.persist_path);
    options.allow_reset = settings.allow_reset;
    options.max_query_results = settings.max_query_results;
    options.tuning.max_unindexed = settings.max_unindexed_vectors;
    options.write_limits = settings.write_limits;
    options.encryption = encryption;
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
    let providers = console::provider_summaries(&auth_summary);
    let state = api::AppState::new(engine.clone(), gates);
    let console = settings.console.enabled.then(|| {
        console::router(console::Console::new(
            state.clone(),
            settings.console.clone(),
            tls.is_some(),
            providers,
        ))
    });
    let app = api::router(state, &http, console);
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let limit = max_connections(&settings);
    let timeouts = timeouts(&settings);
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        max_connections = limit,
        data = %data_dir.display(),
        allow_reset = settings.allow_reset,
        tls = tls.is_some(),
        client_certificates = ?tls.as_ref().and_then(|t| t.files.client_ca.as_ref().map(|_| t.files.client_auth)),
        "Prism listening on {scheme}://{addr} (data in {})",
        data_dir.display()
    );
    serve_listener_with(listener, limit, timeouts, tls, app).await?;
    tokio::task::spawn_blocking(move || engine.flush()).await??;
    crate::otlp::flush(Duration::from_secs(5)).await;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Serve `app` on `listener` with the settings' connection limit and
/// timeouts, over TLS when configured, until asked to stop.
async fn serve_listener(
    listener: TcpListener,
    settings: &Settings,
    tls: Option<PreparedTls>,
    app: Router,
) -> anyhow::Result<()> {
    serve_listener_with(
        listener,
        max_connections(settings),
        timeouts(settings),
        tls,
        app,
    )
    .await
}

async fn serve_listener_with(
    listener: TcpListener,
    limit: usize,
    timeouts: Timeouts,
    tls: Option<PreparedTls>,
    app: Router,
) -> anyhow::Result<()> {
    let listener = Listener::new(listener, limit);
    match tls {
        None => serve_connections(listener, None, app, timeouts).await,
        Some(tls) => {
            let live = LiveTlsConfig::new(tls.config);
            let _renewals = tls_reload::watch(tls.files, live.clone())
                .context("cannot watch the TLS certificate files")?;
            serve_connections(listener, Some(live), app, timeouts).await
        }
    }
    Ok(())
}

/// The header the token provider reads credentials from, when it is not a
/// standard one: the gateway never forwards it.
fn credential_headers(auth: &prism_auth::AuthSettings) -> Vec<axum::http::HeaderName> {
    auth.token_transport_header()
        .and_then(|name| axum::http::HeaderName::from_bytes(name.as_bytes()).ok())
        .into_iter()
        .collect()
}

/// Accept and serve connections until asked to stop, then let each finish
/// the request it is handling.
async fn serve_connections(
    mut listener: Listener,
    tls: Option<Arc<LiveTlsConfig>>,
    app: Router,
    timeouts: Timeouts,
) {
    let graceful = GracefulShutdown::new();
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let app = app.clone();
        let shutdown = graceful.watcher();
        // Each handshake with the certificates current when it began.
        let acceptor = tls.as_ref().map(|live| TlsAcceptor::from(live.current()));
        tokio::spawn(async move {
            let _slot = accepted.slot;
            let address = accepted.address;
            match acceptor {
                None => {
                    let peer = Peer {
                        address,
                        certificate_subject: None,
                    };
                    connection::serve(accepted.stream, peer, app, timeouts, shutdown).await
                }
                Some(acceptor) => {
                    if let Some((stream, peer)) =
                        listen::handshake(acceptor, accepted.stream, address).await
                    {
                        connection::serve(stream, peer, app, timeouts, shutdown).await
                    }
                }
            }
        });
    }
    // Stop accepting before waiting for the connections to finish.
    drop(listener);
    graceful.shutdown().await;
}

fn timeouts(settings: &Settings) -> Timeouts {
    Timeouts {
        between_requests: watchdog::Timeouts {
            header: settings.header_timeout,
            idle: settings.idle_timeout,
        },
        body: settings.body_timeout,
    }
}

/// The configured connection limit, or one the open-file limit allows.
fn max_connections(settings: &Settings) -> usize {
    let files = listen::soft_file_limit();
    match settings.max_connections {
        Some(limit) => {
            if files.is_some_and(|files| limit as u64 >= files) {
                tracing::warn!(
                    limit,
                    open_file_limit = files,
                    "PRISM_MAX_CONNECTIONS is above the open-file limit (ulimit -n): \
                     connections past it will fail to be accepted"
                );
            }
            limit
        }
        None => listen::default_max_connections(files),
    }
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
