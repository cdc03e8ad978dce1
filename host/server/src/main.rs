//! The `prism` binary: command line, logging, and serving the HTTP API.

use prism_server::settings::{self, FileConfig, FlagValues, ProcessEnv, Settings, listen_address};
use prism_server::{api, audit, builtin, cli, listen, reload, tls};

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use prism_engine::{Engine, EngineOptions};
use tokio::net::TcpListener;

const ENV_HELP: &str = "\
Environment variables (Chroma's names; flags win over them, they win over the config file):
  PERSIST_DIRECTORY                 data directory (same as --path)
  IS_PERSISTENT                     accepted for compatibility; Prism always persists
  ALLOW_RESET                       true to allow POST /api/v2/reset (wipes everything)
  CHROMA_SERVER_HOST                listen host (same as --host)
  CHROMA_SERVER_HTTP_PORT           listen port (same as --port)
  CHROMA_SERVER_CORS_ALLOW_ORIGINS  JSON list (or comma list) of allowed CORS origins, [\"*\"] for any
  CHROMA_MAX_PAYLOAD_SIZE_BYTES     largest request body (default 40 MiB)
  PRISM_MAX_QUERY_RESULTS           most results one query request returns (query embeddings
                                    x n_results, default 1000000)
  PRISM_TLS_CERT, PRISM_TLS_KEY     serve HTTPS (same as --tls-cert, --tls-key)
  PRISM_TLS_CLIENT_CA               verify client certificates (same as --tls-client-ca)
  PRISM_TLS_CLIENT_AUTH             required (default) or optional
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
    /// Make and check bcrypt htpasswd files (as Apache's `htpasswd -B`).
    #[command(subcommand)]
    Htpasswd(HtpasswdCommand),
    /// Make tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// See the plugins the server would load.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Check a configuration without serving.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Exit 0 if the server this configuration describes answers its
    /// heartbeat on this machine (a container HEALTHCHECK).
    Healthcheck(ServerArgs),
}

#[derive(Debug, Subcommand)]
enum HtpasswdCommand {
    /// Add a user, or change their password. The password is asked for
    /// (twice, not echoed) on a terminal, else read from stdin's first line.
    Add {
        /// The htpasswd file (created if missing).
        file: PathBuf,
        /// The user name.
        user: String,
        /// bcrypt cost (work factor), 4 to 31.
        #[arg(long, default_value_t = 12)]
        cost: u32,
    },
    /// Check a user's password (exit 0 if it matches).
    Verify {
        /// The htpasswd file.
        file: PathBuf,
        /// The user name.
        user: String,
    },
    /// Remove a user.
    Delete {
        /// The htpasswd file.
        file: PathBuf,
        /// The user name.
        user: String,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Print a new random token (stdout) and its SHA-256 (stderr).
    New {
        /// Random bytes in the token.
        #[arg(long, default_value_t = 32)]
        bytes: usize,
    },
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// The built-in plugins and those in PRISM_PLUGIN_DIR, and whether the
    /// server would accept each.
    List,
    /// What a plugin file declares: names, kind, API version, WIT world, settings.
    Inspect {
        /// The plugin (.wasm component).
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate flags, environment, config file, data directory and auth
    /// plugins as `prism run` would, without serving.
    Check(ServerArgs),
}

/// Where and from what a server runs; shared by `run` and `config check`.
#[derive(Debug, Args)]
struct ServerArgs {
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
    #[command(flatten)]
    tls: TlsArgs,
}

impl ServerArgs {
    /// The config file's settings (none without a file).
    fn file_config(&self) -> Result<FileConfig, settings::SettingsError> {
        match &self.config {
            Some(path) => settings::load_file(path),
            None => Ok(FileConfig::default()),
        }
    }

    fn flags(&self) -> FlagValues {
        FlagValues {
            host: self.host.clone(),
            port: self.port,
            path: self.path.clone(),
        }
    }
}

/// HTTPS (off unless a certificate and key are given).
#[derive(Debug, Args)]
struct TlsArgs {
    /// Serve HTTPS with this PEM certificate chain (leaf first).
    #[arg(long, env = "PRISM_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "PRISM_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Verify client certificates against these PEM CA certificates; the
    /// verified subject reaches the auth plugins.
    #[arg(long, env = "PRISM_TLS_CLIENT_CA", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// With --tls-client-ca: refuse clients without a valid certificate
    /// (required), or let them on without a subject (optional).
    #[arg(
        long,
        value_enum,
        env = "PRISM_TLS_CLIENT_AUTH",
        default_value = "required"
    )]
    tls_client_auth: tls::ClientAuth,
}

impl TlsArgs {
    fn files(&self) -> Option<tls::TlsFiles> {
        Some(tls::TlsFiles {
            cert: self.tls_cert.clone()?,
            key: self.tls_key.clone()?,
            client_ca: self.tls_client_ca.clone(),
            client_auth: self.tls_client_auth,
        })
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Log format.
    #[arg(long, value_enum, default_value = "human")]
    log_format: LogFormat,
    /// Write auth audit events (JSON lines) to this file instead of stderr.
    #[arg(long, env = "PRISM_AUDIT_LOG")]
    audit_log: Option<PathBuf>,
    /// Which auth decisions to audit.
    #[arg(long, value_enum, env = "PRISM_AUDIT", default_value = "all")]
    audit: audit::AuditMode,
}

fn init_logging(format: LogFormat) {
    init_logging_with_audit(format, None);
}

/// The ordinary log (human or JSON, `RUST_LOG`) on stderr, and audit events
/// as JSON lines on their own: in `audit_file`, or on stderr.
fn init_logging_with_audit(format: LogFormat, audit_file: Option<std::fs::File>) {
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer, filter, fmt};

    let env_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let not_audit = filter::filter_fn(|meta| meta.target() != audit::TARGET);
    let main = match format {
        LogFormat::Human => fmt::layer()
            .with_writer(std::io::stderr)
            // No colour codes in files and container logs.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed(),
        LogFormat::Json => fmt::layer().json().with_writer(std::io::stderr).boxed(),
    }
    .with_filter(not_audit)
    .with_filter(env_filter);
    let writer = match audit_file {
        Some(file) => BoxMakeWriter::new(std::sync::Mutex::new(file)),
        None => BoxMakeWriter::new(std::io::stderr),
    };
    let audit_layer = fmt::layer()
        .json()
        .with_writer(writer)
        .with_filter(filter::Targets::new().with_target(audit::TARGET, tracing::Level::INFO));
    tracing_subscriber::registry()
        .with(main)
        .with(audit_layer)
        .init();
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

async fn run(
    args: RunArgs,
    auth: prism_auth::AuthSettings,
    gate: prism_auth::AuthGate,
) -> anyhow::Result<()> {
    let file = args.server.file_config()?;
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
    let settings = Settings::resolve(&args.server.flags(), &ProcessEnv, &file)?;
    let tls = args.server.tls.files();
    let tls_config = match &tls {
        Some(files) => {
            if let Some(warning) = files.certificate_warning() {
                tracing::warn!("{warning}");
            }
            Some(files.server_config()?)
        }
        None => None,
    };
    let gates = Arc::new(prism_auth::SharedGate::new(gate));
    let _reload = reload::watch(auth, builtin::BUILTIN_PLUGINS, gates.clone())
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
    let saver = tokio::spawn(save_indexes_periodically(engine.clone()));
    let state = api::AppState::new(engine.clone(), gates);
    let http = api::HttpOptions {
        max_payload_bytes: settings.max_payload_bytes,
        cors_allow_origins: settings.cors_allow_origins.clone(),
    };
    let app = api::router(state, &http);
    let addr = listen_address(&settings.host, settings.port)?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        data = %data_dir.display(),
        allow_reset = settings.allow_reset,
        tls = tls.is_some(),
        client_certificates = ?tls.as_ref().and_then(|t| t.client_ca.as_ref().map(|_| t.client_auth)),
        "Prism listening on {scheme}://{addr} (data in {})",
        data_dir.display()
    );
    let app = app.into_make_service_with_connect_info::<listen::Peer>();
    match tls_config {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown_signal())
                .await?
        }
        Some(config) => {
            axum::serve(listen::TlsListener::new(listener, config)?, app)
                .with_graceful_shutdown(shutdown_signal())
                .await?
        }
    }
    saver.abort();
    tokio::task::spawn_blocking(move || engine.flush()).await??;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// The auth gate the environment asks for; refuses to start on any problem,
/// saying what is available and what is wrong. Built before the async
/// runtime starts: configuring a plugin may block (WASI's stdio does).
fn auth_gate() -> anyhow::Result<(prism_auth::AuthSettings, prism_auth::AuthGate)> {
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
    Ok((settings, gate))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => {
            let audit_file = match &args.audit_log {
                None => None,
                Some(path) => match std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                {
                    Ok(file) => Some(file),
                    Err(e) => {
                        eprintln!("prism: cannot open the audit log {}: {e}", path.display());
                        return std::process::ExitCode::FAILURE;
                    }
                },
            };
            init_logging_with_audit(args.log_format, audit_file);
            audit::set_mode(args.audit);
            // Serving errors go to the log, in the log's format.
            return match serve(args) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
        command => operate(command),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("prism: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `prism run`.
fn serve(args: RunArgs) -> anyhow::Result<()> {
    let (auth, gate) = auth_gate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args, auth, gate))
}

/// The subcommands besides `run`.
fn operate(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run(args) => serve(args),
        Command::Htpasswd(command) => match command {
            HtpasswdCommand::Add { file, user, cost } => {
                cli::htpasswd::add(&file, &user, cost, &cli::read_password(true)?)
            }
            HtpasswdCommand::Verify { file, user } => {
                cli::htpasswd::verify(&file, &user, &cli::read_password(false)?)
            }
            HtpasswdCommand::Delete { file, user } => cli::htpasswd::delete(&file, &user),
        },
        Command::Token(TokenCommand::New { bytes }) => {
            let (token, digest) = cli::token::new(bytes)?;
            println!("{token}");
            eprintln!("sha256: {digest}");
            Ok(())
        }
        Command::Plugin(PluginCommand::List) => {
            init_logging(LogFormat::Human);
            cli::plugin::list(builtin::BUILTIN_PLUGINS)
        }
        Command::Plugin(PluginCommand::Inspect { file }) => cli::plugin::inspect(&file),
        Command::Healthcheck(server) => {
            let settings = Settings::resolve(&server.flags(), &ProcessEnv, &server.file_config()?)?;
            let addr = listen_address(&settings.host, settings.port)?;
            cli::healthcheck::check(addr, server.tls.files().as_ref())
        }
        Command::Config(ConfigCommand::Check(server)) => {
            init_logging(LogFormat::Human);
            cli::config::check(
                server.file_config()?,
                server.flags(),
                server.tls.files(),
                builtin::BUILTIN_PLUGINS,
            )
        }
    }
}
