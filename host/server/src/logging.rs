//! The process's logs: the ordinary log (human or JSON, filtered by
//! `RUST_LOG`) on stderr, and audit events as JSON lines on their own, in a
//! file or on stderr.

use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, filter, fmt};

use crate::audit;
use crate::cli::args::LogFormat;

/// Logs for a command that audits nothing.
pub fn init(format: LogFormat) {
    init_with_audit(format, None);
}

/// Logs for a command whose own output says what it did (an import): only
/// warnings and errors, unless `RUST_LOG` asks for more.
pub fn init_warnings() {
    install(LogFormat::Human, None, "warn");
}

/// Logs for `prism run`: audit events go to `audit_file`, else to stderr.
pub fn init_with_audit(format: LogFormat, audit_file: Option<std::fs::File>) {
    install(format, audit_file, "info");
}

fn install(format: LogFormat, audit_file: Option<std::fs::File>, default: &str) {
    let env_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
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
