//! Every environment variable Prism reads, and the start-up check that keeps
//! a typo from leaving the server open: `CHROMA_SERVER_AUTHN_PROVDER=htpasswd`
//! would otherwise start a server without authentication. An unknown
//! `PRISM_*` variable, or an unknown `CHROMA_*` one about auth, refuses to
//! start and names the nearest known variable; a variable Chroma knows but
//! Prism does not use is a warning.

use thiserror::Error;

use crate::settings::EnvSnapshot;

/// The server's own variables (settings, TLS, audit); the auth gate's are
/// [`prism_auth::VARIABLES`].
pub const SERVER_VARIABLES: &[&str] = &[
    "IS_PERSISTENT",
    "PERSIST_DIRECTORY",
    "CHROMA_PERSIST_PATH",
    "CHROMA_SERVER_HOST",
    "CHROMA_HOST_ADDR",
    "CHROMA_SERVER_HTTP_PORT",
    "CHROMA_HOST_PORT",
    "ALLOW_RESET",
    "CHROMA_SERVER_CORS_ALLOW_ORIGINS",
    "CHROMA_MAX_PAYLOAD_SIZE_BYTES",
    "PRISM_MAX_QUERY_RESULTS",
    "PRISM_MAX_UNINDEXED_VECTORS",
    "PRISM_MAX_BATCH_SIZE",
    "PRISM_MAX_DOCUMENT_BYTES",
    "PRISM_MAX_METADATA_KEYS",
    "PRISM_MAX_METADATA_ARRAY_LENGTH",
    "PRISM_MAX_BATCH_METADATA_VALUES",
    "PRISM_HEADER_TIMEOUT_SECS",
    "PRISM_IDLE_TIMEOUT_SECS",
    "PRISM_BODY_TIMEOUT_SECS",
    "PRISM_MAX_CONNECTIONS",
    "PRISM_TLS_CERT",
    "PRISM_TLS_KEY",
    "PRISM_TLS_CLIENT_CA",
    "PRISM_TLS_CLIENT_AUTH",
    "PRISM_AUDIT_LOG",
    "PRISM_AUDIT",
    "PRISM_ENCRYPTION_KEY_FILE",
    "PRISM_UPSTREAM",
    "PRISM_METRICS",
    "PRISM_UPSTREAM_CA_FILE",
    "PRISM_UPSTREAM_CERT_FILE",
    "PRISM_UPSTREAM_KEY_FILE",
    "PRISM_UPSTREAM_TIMEOUT_SECS",
    "PRISM_CONSOLE",
    "PRISM_CONSOLE_IDLE_TIMEOUT_SECS",
    "PRISM_CONSOLE_SESSION_LIFETIME_SECS",
    "PRISM_CONSOLE_LOGIN",
];

/// Read by the project's own tools (test harness, benchmarks, image tests),
/// not by the server; they are often set in the shell that starts it.
const TOOL_PREFIXES: &[&str] = &["PRISM_BIN", "PRISM_E2E_", "PRISM_BENCH_", "PRISM_IMAGE"];

/// Variables Chroma's servers or clients read that mean nothing to Prism.
/// Chroma 1.5.9's settings (`chromadb.config.Settings`), and Chroma 0.4's
/// auth names Prism does not take over.
const CHROMA_IGNORED: &[&str] = &[
    "ANONYMIZED_TELEMETRY",
    "CHROMA_API_IMPL",
    "CHROMA_ASYNC_RATE_LIMIT_ENFORCER_IMPL",
    "CHROMA_CLIENT_AUTH_CREDENTIALS",
    "CHROMA_CLIENT_AUTH_PROVIDER",
    "CHROMA_COLLECTION_ASSIGNMENT_POLICY_IMPL",
    "CHROMA_CONSUMER_IMPL",
    "CHROMA_COORDINATOR_HOST",
    "CHROMA_DB_IMPL",
    "CHROMA_EXECUTOR_IMPL",
    "CHROMA_HTTP_KEEPALIVE_SECS",
    "CHROMA_HTTP_MAX_CONNECTIONS",
    "CHROMA_HTTP_MAX_KEEPALIVE_CONNECTIONS",
    "CHROMA_LOGSERVICE_HOST",
    "CHROMA_LOGSERVICE_PORT",
    "CHROMA_LOGSERVICE_REQUEST_TIMEOUT_SECONDS",
    "CHROMA_MEMBERLIST_PROVIDER_IMPL",
    "CHROMA_MEMORY_LIMIT_BYTES",
    "CHROMA_OTEL_GRANULARITY",
    "CHROMA_PRODUCER_IMPL",
    "CHROMA_PRODUCT_TELEMETRY_IMPL",
    "CHROMA_QUERY_REPLICATION_FACTOR",
    "CHROMA_QUERY_REQUEST_TIMEOUT_SECONDS",
    "CHROMA_QUOTA_ENFORCER_IMPL",
    "CHROMA_QUOTA_PROVIDER_IMPL",
    "CHROMA_RATE_LIMIT_ENFORCER_IMPL",
    "CHROMA_RATE_LIMITING_PROVIDER_IMPL",
    "CHROMA_SEGMENT_CACHE_POLICY",
    "CHROMA_SEGMENT_DIRECTORY_IMPL",
    "CHROMA_SEGMENT_DIRECTORY_ROUTING_MODE",
    "CHROMA_SEGMENT_MANAGER_IMPL",
    "CHROMA_SERVER_API_DEFAULT_PATH",
    "CHROMA_SERVER_AUTH_CREDENTIALS_PROVIDER",
    "CHROMA_SERVER_AUTH_IGNORE_PATHS",
    "CHROMA_SERVER_GRPC_PORT",
    "CHROMA_SERVER_HEADERS",
    "CHROMA_SERVER_NOFILE",
    "CHROMA_SERVER_SSL_ENABLED",
    "CHROMA_SERVER_SSL_VERIFY",
    "CHROMA_SERVER_THREAD_POOL_SIZE",
    "CHROMA_SYSDB_IMPL",
    "CHROMA_SYSDB_REQUEST_TIMEOUT_SECONDS",
    "CHROMA_TELEMETRY_IMPL",
    "MIGRATIONS",
    "MIGRATIONS_HASH_ALGORITHM",
];

/// Variables that would change the server's behaviour had they been spelt
/// right.
#[derive(Debug, Error)]
#[error(
    "unknown environment variable{}: {}; refusing to start, since a misspelt auth or Prism variable could leave the server open (unset it, or fix its name)",
    if .0.len() == 1 { "" } else { "s" },
    .0.join("; ")
)]
pub struct UnknownVariables(pub Vec<String>);

/// Check the environment's variable names: `Ok` with a warning for each
/// Chroma variable Prism ignores, or the unknown ones.
pub fn check(env: &EnvSnapshot) -> Result<Vec<String>, UnknownVariables> {
    let mut warnings = Vec::new();
    let mut unknown = Vec::new();
    for (name, value) in env.vars() {
        // An empty value is what compose makes of an unset `${VAR}`: it sets nothing.
        if value.trim().is_empty() || is_read(name) {
            continue;
        }
        if CHROMA_IGNORED.contains(&name.as_str()) {
            warnings.push(format!(
                "{name} is a Chroma setting Prism does not use; it is ignored"
            ));
            continue;
        }
        if !guarded(name) {
            continue;
        }
        unknown.push(match nearest(name) {
            Some(near) => format!("{name} (did you mean {near}?)"),
            None => name.clone(),
        });
    }
    if unknown.is_empty() {
        Ok(warnings)
    } else {
        Err(UnknownVariables(unknown))
    }
}

fn is_read(name: &str) -> bool {
    SERVER_VARIABLES.contains(&name)
        || crate::otlp::settings::VARIABLES.contains(&name)
        || prism_auth::VARIABLES.contains(&name)
        || prism_auth::OPTION_PREFIXES
            .iter()
            .chain(TOOL_PREFIXES)
            .any(|prefix| name.starts_with(prefix))
}

/// Names whose misspelling must not pass: Prism's own, and Chroma's auth.
fn guarded(name: &str) -> bool {
    name.starts_with("PRISM_") || (name.starts_with("CHROMA_") && name.contains("AUTH"))
}

/// The known variable most like `name`, if any is close.
fn nearest(name: &str) -> Option<&'static str> {
    let candidates = SERVER_VARIABLES
        .iter()
        .chain(prism_auth::VARIABLES)
        .chain(CHROMA_IGNORED);
    let (distance, best) = candidates
        .map(|known| (edit_distance(name, known), *known))
        .min()?;
    (distance <= name.len().div_ceil(4)).then_some(best)
}

/// Levenshtein distance over bytes (names are ASCII).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvSnapshot {
        EnvSnapshot::from_pairs(pairs)
    }

    #[test]
    fn a_misspelt_auth_variable_is_refused_with_the_nearest_name() {
        let err = check(&env(&[("CHROMA_SERVER_AUTHN_PROVDER", "htpasswd")])).unwrap_err();
        assert_eq!(
            err.0,
            ["CHROMA_SERVER_AUTHN_PROVDER (did you mean CHROMA_SERVER_AUTHN_PROVIDER?)"]
        );
        let err = check(&env(&[("PRISM_PLUGN_DIR", "/p"), ("PRISM_TLS_CRT", "c")])).unwrap_err();
        assert_eq!(
            err.0,
            [
                "PRISM_PLUGN_DIR (did you mean PRISM_PLUGIN_DIR?)",
                "PRISM_TLS_CRT (did you mean PRISM_TLS_CERT?)"
            ]
        );
        let err = check(&env(&[("PRISM_SOMETHING_ELSE_ENTIRELY", "1")])).unwrap_err();
        assert_eq!(err.0, ["PRISM_SOMETHING_ELSE_ENTIRELY"]);
    }

    #[test]
    fn known_tool_and_unrelated_variables_pass() {
        let ok = check(&env(&[
            ("CHROMA_SERVER_AUTHN_PROVIDER", "htpasswd"),
            ("CHROMA_SERVER_AUTH_PROVIDER", "legacy"),
            ("PRISM_AUTHN_OPT_KEYS_FILE", "/k"),
            ("PRISM_TLS_CERT", "c"),
            ("PRISM_BIN", "/bin/prism"),
            ("PRISM_E2E_TARGET", "chroma"),
            ("CHROMA_SUITE_SEED", "1"),
            ("CHROMA_SERVER_AUTHN_PROVDER", ""),
            ("HOME", "/root"),
        ]))
        .unwrap();
        assert!(ok.is_empty(), "{ok:?}");
    }

    #[test]
    fn chromas_own_variables_are_warnings() {
        let warnings = check(&env(&[
            ("CHROMA_SERVER_AUTH_IGNORE_PATHS", "{}"),
            ("CHROMA_SERVER_NOFILE", "65535"),
        ]))
        .unwrap();
        assert_eq!(warnings.len(), 2);
        assert!(warnings[0].contains("CHROMA_SERVER_AUTH_IGNORE_PATHS"));
    }

    /// Every `"NAME"` literal of an environment variable in `source`.
    fn variable_literals(source: &str) -> Vec<&str> {
        source
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| {
                ["CHROMA_", "PRISM_", "IS_", "PERSIST_", "ALLOW_"]
                    .iter()
                    .any(|p| s.starts_with(p))
                    && !s.ends_with('_')
                    && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
            })
            .collect()
    }

    #[test]
    fn every_variable_the_server_reads_is_listed() {
        let sources = [include_str!("settings.rs"), include_str!("cli/args.rs")];
        let read: Vec<&str> = sources.into_iter().flat_map(variable_literals).collect();
        assert!(read.contains(&"PRISM_TLS_CERT") && read.contains(&"ALLOW_RESET"));
        for name in read {
            assert!(is_read(name), "{name} is read but not in SERVER_VARIABLES");
        }
    }

    #[test]
    fn every_write_limit_is_listed() {
        for limit in prism_engine::validate::limits::ALL {
            assert!(is_read(limit.variable), "{} is not listed", limit.variable);
        }
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
