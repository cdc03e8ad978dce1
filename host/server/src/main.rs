//! The `prism` binary: command line, logging, and serving the HTTP API.

mod api;
mod builtin;
mod settings;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use prism_engine::{Engine, EngineOptions};
use tokio::net::TcpListener;

use crate::settings::{FileConfig, FlagValues, ProcessEnv, Settings};

const ENV_HELP: &str = "\
Environment variables (Chroma's names; flags win over them, they win over the config file):
  PERSIST_DIRECTORY                 data directory (same as --path)
  IS_PERSISTENT                     accepted for compatibility; Prism always persists
  ALLOW_RESET                       true to allow POST /api/v2/reset (wipes everything)
  CHROMA_SERVER_HOST                listen host (same as --host)
  CHROMA_SERVER_HTTP_PORT           listen port (same as --port)
  CHROMA_SERVER_CORS_ALLOW_ORIGINS  JSON list (or comma list) of allowed CORS origins, [\"*\"] for any
  CHROMA_MAX_PAYLOAD_SIZE_BYTES     largest request body (default 40 MiB)
  RUST_LOG                          log filter, e.g. info or prism=debug

Config file keys (as in `chroma run config.yaml`):
  persist_path, port, listen_address, allow_reset, cors_allow_origins, max_payload_size_bytes";

/// Prism: a Chroma-compatible embedding database server.
#[derive(Debug, Parser)]
#[command(name = "prism", version, about, after_help = ENV_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the Chroma v2 HTTP API (like `chroma run`).
    #[command(after_help = ENV_HELP)]
    Run(RunArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Optional YAML config file with Chroma's `chroma run` keys.
    config: Option<PathBuf>,
    /// Host to listen on [default: localhost].
    #[arg(long)]
    host: Option<String>,
    /// Port to listen on [default: 8000].
    #[arg(long)]
    port: Option<u16>,
    /// Data directory [default: ./prism-data].
    #[arg(long)]
    path: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum, default_value = "human")]
    log_format: LogFormat,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,hnsw_rs=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn listen_address(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    // "localhost" may resolve to ::1 first; Chroma's clients and tests use IPv4.
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .with_context(|| format!("cannot resolve listen host {host}"))?
        .next()
        .with_context(|| format!("listen host {host} resolves to no address"))
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

/// How often changed HNSW graphs are written to disk. A crash loses at most
/// this much graph work: the graph is then caught up from SQLite at load.
const INDEX_SAVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

async fn save_indexes_periodically(engine: Arc<Engine>) {
    let mut tick = tokio::time::interval(INDEX_SAVE_INTERVAL);
    tick.tick().await;
    loop {
        tick.tick().await;
        let engine = engine.clone();
        match tokio::task::spawn_blocking(move || engine.save_indexes()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "saving vector indexes failed"),
            Err(e) => tracing::warn!(error = %e, "saving vector indexes panicked"),
        }
    }
}

async fn run(args: RunArgs, gate: prism_auth::AuthGate) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => settings::load_file(path)?,
        None => FileConfig::default(),
    };
    if !file.ignored.is_empty() {
        let keys: Vec<String> = file
            .ignored
            .keys()
            .filter_map(|k| k.as_str().map(String::from))
            .collect();
        tracing::info!(
            ?keys,
            "config file keys without meaning for Prism are ignored"
        );
    }
    let flags = FlagValues {
        host: args.host,
        port: args.port,
        path: args.path,
    };
    let settings = Settings::resolve(&flags, &ProcessEnv, &file)?;
    let gate = Arc::new(gate);
    let mut options = EngineOptions::new(&settings.persist_path);
    options.allow_reset = settings.allow_reset;
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
    let saver = tokio::spawn(save_indexes_periodically(engine.clone()));
    let state = api::AppState::new(engine.clone(), gate);
    let http = api::HttpOptions {
        max_payload_bytes: settings.max_payload_bytes,
        cors_allow_origins: settings.cors_allow_origins.clone(),
    };
    let app = api::router(state, &http);
    let addr = listen_address(&settings.host, settings.port)?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        data = %data_dir.display(),
        allow_reset = settings.allow_reset,
        "Prism listening on http://{addr} (data in {})",
        data_dir.display()
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    saver.abort();
    tokio::task::spawn_blocking(move || engine.flush()).await??;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// The auth gate the environment asks for; refuses to start on any problem,
/// saying what is available and what is wrong. Built before the async
/// runtime starts: configuring a plugin may block (WASI's stdio does).
fn auth_gate() -> anyhow::Result<prism_auth::AuthGate> {
    let vars: std::collections::BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let settings = prism_auth::AuthSettings::from_env(&vars)?;
    let started = std::time::Instant::now();
    let gate = prism_auth::AuthGate::from_settings(&settings, builtin::BUILTIN_PLUGINS)
        .context("cannot set up authentication")?;
    if gate.authenticates() {
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "auth plugins ready"
        );
    }
    Ok(gate)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => {
            init_logging(args.log_format);
            let gate = auth_gate().inspect_err(|e| tracing::error!("{e:#}"))?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime
                .block_on(run(args, gate))
                .inspect_err(|e| tracing::error!("{e:#}"))
        }
    }
}
