//! The command line: every subcommand and flag of `prism`, and the help
//! text listing the environment variables and config keys it reads.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::settings::{self, FileConfig, FlagValues};
use crate::{audit, tls};

/// The environment variables and config keys, for `--help`.
pub const ENV_HELP: &str = "\
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
  PRISM_MAX_UNINDEXED_VECTORS       most vectors of a collection not yet in its graph (each
                                    query scans them exactly); past it, writes wait for the
                                    indexer (default 10000)
  PRISM_MAX_BATCH_SIZE              most records one add, update or upsert holds (default 5461)
  PRISM_MAX_DOCUMENT_BYTES          largest document, in bytes (default 1048576)
  PRISM_MAX_METADATA_KEYS           most metadata keys of one record (default 4096)
  PRISM_MAX_METADATA_ARRAY_LENGTH   most elements of one metadata array (default 10000)
  PRISM_MAX_BATCH_METADATA_VALUES   most metadata values one write indexes, array elements
                                    counted one by one (default 500000)
  PRISM_HEADER_TIMEOUT_SECS         seconds a client has to send a request's headers, from
                                    connecting or from its first byte (default 30)
  PRISM_IDLE_TIMEOUT_SECS           seconds a keep-alive connection may sit idle between
                                    requests before it is closed (default 120)
  PRISM_BODY_TIMEOUT_SECS           seconds a client has to send a whole request body; later
                                    is a 408 (default 300)
  PRISM_MAX_CONNECTIONS             most connections open at once; more wait to be accepted
                                    (default 10000, fewer if `ulimit -n` is lower)
  PRISM_TLS_CERT, PRISM_TLS_KEY     serve HTTPS (same as --tls-cert, --tls-key)
  PRISM_TLS_CLIENT_CA               verify client certificates (same as --tls-client-ca)
  PRISM_TLS_CLIENT_AUTH             required (default) or optional
  PRISM_ENCRYPTION_KEY_FILE         key file of an encrypted data directory (same as
                                    --encryption-key-file; see `prism key new`)
  PRISM_METRICS                     serve GET /metrics (default true; authorized as
                                    system:metrics when auth is on; docs/METRICS.md)
  PRISM_UPSTREAM                    gateway mode: forward authorized requests to this Chroma
                                    (same as --upstream; docs/GATEWAY.md)
  PRISM_UPSTREAM_CA_FILE            CAs to trust for an https upstream (PEM; default: the system's)
  PRISM_UPSTREAM_CERT_FILE, PRISM_UPSTREAM_KEY_FILE
                                    client certificate and key for the upstream (PEM)
  PRISM_UPSTREAM_TIMEOUT_SECS       deadline of one forwarded request (default 60)
  RUST_LOG                          log filter, e.g. info or prism=debug

Config file keys (as in `chroma run config.yaml`):
  persist_path, port, listen_address, allow_reset, cors_allow_origins, max_payload_size_bytes,
  encryption_key_file, upstream";

/// Prism: a Chroma-compatible embedding database server.
#[derive(Debug, Parser)]
#[command(name = "prism", version, about, after_help = ENV_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the Chroma v2 HTTP API (like `chroma run`).
    #[command(after_help = ENV_HELP)]
    Run(RunArgs),
    /// Make and check bcrypt htpasswd files (as Apache's `htpasswd -B`).
    #[command(subcommand)]
    Htpasswd(HtpasswdCommand),
    /// Make tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// See the plugins the server would load; build one.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Check a configuration without serving.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Exit 0 if the server this configuration describes answers its
    /// heartbeat on this machine (a container HEALTHCHECK).
    Healthcheck(ServerArgs),
    /// Write a consistent snapshot of a data directory to one file, while a
    /// server may be serving writes on it.
    #[command(after_help = crate::cli::backup::BACKUP_HELP)]
    Backup(BackupArgs),
    /// Restore a backup into an empty or new data directory.
    #[command(after_help = crate::cli::backup::RESTORE_HELP)]
    Restore(RestoreArgs),
    /// Make and rotate encryption keys (docs/ENCRYPTION.md).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Turn a plain data directory into an encrypted one (server stopped).
    Encrypt(ConvertArgs),
    /// Turn an encrypted data directory into a plain one (server stopped).
    Decrypt(ConvertArgs),
    /// Copy tenants, databases, collections and records into Prism from a
    /// running Chroma or Prism (--from) or an export (--file).
    #[command(after_help = crate::cli::transfer::IMPORT_HELP)]
    Import(ImportArgs),
    /// Write a portable dump (one compressed JSON Lines file per
    /// collection) of a server or a data directory.
    #[command(after_help = crate::cli::transfer::EXPORT_HELP)]
    Export(ExportArgs),
}

/// What an import or export copies, and how it reaches its source.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// A header sent to --from, as `Name: value` (repeat for more); a last
    /// word `@FILE` is read from FILE. E.g. "Authorization: Bearer @token.txt".
    #[arg(long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// The key file of an encrypted data directory (--path).
    #[arg(long, value_name = "FILE", env = "PRISM_ENCRYPTION_KEY_FILE")]
    pub encryption_key_file: Option<PathBuf>,
    /// Copy this tenant (repeat for more). Default: every tenant of a data
    /// directory or export; `default_tenant` of a server (Chroma's API
    /// cannot list tenants).
    #[arg(long = "tenant", value_name = "NAME")]
    pub tenants: Vec<String>,
    /// Copy only this database (repeat for more).
    #[arg(long = "database", value_name = "NAME")]
    pub databases: Vec<String>,
    /// Copy only this collection (repeat for more).
    #[arg(long = "collection", value_name = "NAME")]
    pub collections: Vec<String>,
    /// Records per page read and written.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub batch_size: usize,
    /// Seconds one request to a server may take.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout_secs: u64,
    /// Certificate authorities to trust for https servers (PEM; default: the system's).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The server to copy from: a Chroma (any 1.x) or a Prism.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "file",
        required_unless_present = "file"
    )]
    pub from: Option<String>,
    /// The export to copy from (a directory written by `prism export`).
    #[arg(long, value_name = "DIR")]
    pub file: Option<PathBuf>,
    /// Copy into a running Prism (or Chroma) instead of a data directory.
    #[arg(long, value_name = "URL", conflicts_with = "path")]
    pub to: Option<String>,
    /// A header sent to --to, as --header.
    #[arg(long = "to-header", value_name = "HEADER", requires = "to")]
    pub to_headers: Vec<String>,
    /// The data directory to copy into (no server may be running on it).
    #[arg(long, value_name = "DIR", env = "PERSIST_DIRECTORY", default_value = settings::DEFAULT_PATH)]
    pub path: PathBuf,
    /// Records per collection compared field by field with the source at the end.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub sample: usize,
    /// Start over: ignore what an interrupted run of this import copied.
    #[arg(long)]
    pub restart: bool,
    /// What to copy.
    #[command(flatten)]
    pub copy: CopyArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The server to export: a Chroma (any 1.x) or a Prism.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "path",
        required_unless_present = "path"
    )]
    pub from: Option<String>,
    /// The data directory to export (no server may be running on it; export
    /// a running one with --from).
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// The directory to write the export to: new, empty, or an unfinished
    /// export of the same source (it is resumed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// What to copy.
    #[command(flatten)]
    pub copy: CopyArgs,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Write a new random 256-bit key to FILE (mode 0600; never overwrites).
    New {
        /// The key file to create.
        file: PathBuf,
    },
    /// Give an encrypted data directory a new key file. Rewraps the data key
    /// (instant, safe beside a running server); with --reencrypt also
    /// replaces the data key and rewrites all data (server stopped).
    Rotate {
        /// The encrypted data directory.
        #[arg(long, value_name = "DIR")]
        path: PathBuf,
        /// Its current key file.
        #[arg(long, value_name = "FILE")]
        key_file: PathBuf,
        /// The new key file (make it with `prism key new`).
        #[arg(long, value_name = "FILE")]
        new_key_file: PathBuf,
        /// Also replace the data key and re-encrypt the database and graphs.
        #[arg(long)]
        reencrypt: bool,
    },
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The data directory (no server may be running on it).
    #[arg(long, value_name = "DIR")]
    pub path: PathBuf,
    /// The key file (make one with `prism key new`).
    #[arg(long, value_name = "FILE")]
    pub key_file: PathBuf,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The data directory to back up (a server may be running on it).
    #[arg(long, value_name = "DIR")]
    pub path: PathBuf,
    /// The backup file to write; an existing one is replaced once the new
    /// one is complete.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The key file of an encrypted DIR (the one `prism run` is given); the
    /// backup stays encrypted under the same key.
    #[arg(long, value_name = "FILE", env = "PRISM_ENCRYPTION_KEY_FILE")]
    pub encryption_key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file (made by `prism backup`).
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// The data directory to restore into: empty, or not yet existing.
    #[arg(long, value_name = "DIR")]
    pub path: PathBuf,
    /// The key file of the encrypted directory the backup was taken of
    /// (needed to restore, and to serve the restored directory).
    #[arg(long, value_name = "FILE", env = "PRISM_ENCRYPTION_KEY_FILE")]
    pub encryption_key_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum HtpasswdCommand {
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
        /// Give the file to this user (and group), e.g. 10001 for the
        /// Docker image's user, so a bind-mounted file is readable in the
        /// container; needs root. Without it, a new file is the caller's
        /// (mode 0600) and a changed file keeps its owner and mode.
        #[arg(long, value_name = "UID[:GID]")]
        owner: Option<crate::cli::htpasswd::Owner>,
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
pub enum TokenCommand {
    /// Print a new random token (stdout) and its SHA-256 (stderr).
    New {
        /// Random bytes in the token.
        #[arg(long, default_value_t = 32)]
        bytes: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// The built-in plugins and those in PRISM_PLUGIN_DIR, and whether the
    /// server would accept each.
    List,
    /// What a plugin file declares: names, kind, API version, WIT world, settings.
    Inspect {
        /// The plugin (.wasm component).
        file: PathBuf,
    },
    /// Make a plugin project: source, a test, a README and the build its
    /// language expects, ready to build and load.
    ///
    /// JavaScript and Python projects carry their SDK (prism-plugin-sdk/);
    /// a Rust project depends on the plugin-sdk of a Prism checkout.
    New {
        /// The language to write it in.
        #[arg(long, value_enum)]
        lang: crate::cli::plugin_new::Lang,
        /// Which decision it makes.
        #[arg(long, value_enum)]
        kind: crate::cli::plugin_new::Kind,
        /// The plugin's name (what CHROMA_SERVER_AUTHN_PROVIDER or
        /// CHROMA_SERVER_AUTHZ_PROVIDER selects): lower-case letters,
        /// digits and '-'.
        name: String,
        /// Where to make it (new or empty) [default: ./NAME].
        dir: Option<PathBuf>,
        /// Rust only: the plugin-sdk directory of a Prism checkout
        /// [default: the checkout this binary was built in, if it is there].
        #[arg(long, value_name = "DIR")]
        sdk: Option<PathBuf>,
    },
    /// What a plugin costs the server: compile time (without and with the
    /// disk cache), a cold instance, the first and the steady-state call,
    /// memory per instance.
    Bench {
        /// The plugin (.wasm component).
        file: PathBuf,
        /// A setting, KEY=VALUE (a file setting's VALUE is the file's path).
        #[arg(long = "setting", value_name = "KEY=VALUE")]
        settings: Vec<String>,
        /// A request header for an authentication plugin, "NAME: VALUE".
        #[arg(long = "header", value_name = "NAME: VALUE")]
        headers: Vec<String>,
        /// The caller an authorization plugin is asked about.
        #[arg(long, default_value = "bench")]
        user: String,
        /// The action an authorization plugin is asked about.
        #[arg(long, default_value = "collection:query")]
        action: String,
        /// Calls timed on a warm instance.
        #[arg(long, default_value_t = 2000)]
        calls: usize,
    },
    /// Build a plugin crate into a component Prism accepts.
    ///
    /// Uses whichever wasm toolchain this machine has (installing Debian's
    /// when missing and run as root), checks the component as `prism run`
    /// would, writes it and prints what it declares.
    #[command(after_help = crate::cli::plugin_build::TOOLCHAIN_HELP)]
    Build {
        /// The plugin crate's directory (a Cargo.toml whose library is a
        /// cdylib) [default: .].
        dir: Option<PathBuf>,
        /// Where to write the component [default: ./<package name>.wasm;
        /// a directory: <package name>.wasm inside it].
        #[arg(short, long, value_name = "OUT.wasm")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate flags, environment, config file, data directory and auth
    /// plugins as `prism run` would, without serving.
    Check(ServerArgs),
}

/// Where and from what a server runs; shared by `run` and `config check`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Optional YAML config file with Chroma's `chroma run` keys.
    pub config: Option<PathBuf>,
    /// Host to listen on [default: localhost].
    #[arg(long)]
    pub host: Option<String>,
    /// Port to listen on [default: 8000].
    #[arg(long)]
    pub port: Option<u16>,
    /// Data directory [default: ./prism-data].
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// Serve an encrypted data directory with the key in this file (made by
    /// `prism key new`, mode 0600); an empty directory is created encrypted.
    #[arg(long, value_name = "FILE")]
    pub encryption_key_file: Option<PathBuf>,
    /// Gateway mode: serve Chroma's API with Prism's auth in front of this
    /// Chroma server (http://HOST:PORT or https://HOST:PORT) instead of a
    /// data directory.
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

impl ServerArgs {
    /// The config file's settings (none without a file).
    pub fn file_config(&self) -> Result<FileConfig, settings::SettingsError> {
        match &self.config {
            Some(path) => settings::load_file(path),
            None => Ok(FileConfig::default()),
        }
    }

    pub fn flags(&self) -> FlagValues {
        FlagValues {
            host: self.host.clone(),
            port: self.port,
            path: self.path.clone(),
            encryption_key_file: self.encryption_key_file.clone(),
            upstream: self.upstream.clone(),
        }
    }
}

/// HTTPS (off unless a certificate and key are given).
#[derive(Debug, Args)]
pub struct TlsArgs {
    /// Serve HTTPS with this PEM certificate chain (leaf first).
    #[arg(long, env = "PRISM_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "PRISM_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Verify client certificates against these PEM CA certificates; the
    /// verified subject reaches the auth plugins.
    #[arg(long, env = "PRISM_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// With --tls-client-ca: refuse clients without a valid certificate
    /// (required), or let them on without a subject (optional).
    #[arg(
        long,
        value_enum,
        env = "PRISM_TLS_CLIENT_AUTH",
        default_value = "required"
    )]
    pub tls_client_auth: tls::ClientAuth,
}

impl RunArgs {
    /// The audit mode asked for, or the default for where events go.
    pub fn audit_mode(&self) -> audit::AuditMode {
        self.audit.unwrap_or(if self.audit_log.is_some() {
            audit::AuditMode::All
        } else {
            audit::AuditMode::Denied
        })
    }
}

impl TlsArgs {
    pub fn files(&self) -> Option<tls::TlsFiles> {
        Some(tls::TlsFiles {
            cert: self.tls_cert.clone()?,
            key: self.tls_key.clone()?,
            client_ca: self.tls_client_ca.clone(),
            client_auth: self.tls_client_auth,
        })
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `prism run`'s own flags.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Log format.
    #[arg(long, value_enum, default_value = "human")]
    pub log_format: LogFormat,
    /// Write auth audit events (JSON lines) to this file instead of stderr.
    #[arg(long, env = "PRISM_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,
    /// Which auth decisions to audit [default: all with --audit-log,
    /// denied on stderr, where every allowed request would drown the log].
    #[arg(long, value_enum, env = "PRISM_AUDIT")]
    pub audit: Option<audit::AuditMode>,
}
