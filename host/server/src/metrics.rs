//! `GET /metrics` in Prometheus' text format (version 0.0.4): what the
//! server did (requests by route and status, their latency, auth decisions
//! by provider and outcome, plugin call durations, traps and timeouts,
//! refusals for too many failures, upstream latency in gateway mode),
//! counted as it happens, and what it holds (collections, records, vectors
//! waiting for the index, the sizes of its files), read when scraped.
//!
//! Counters are process-wide: one registry, written from the request path
//! under short locks, read only by a scrape.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use parking_lot::Mutex;
use prism_engine::Engine;

/// Upper bounds (seconds) of the latency buckets: from half a millisecond
/// (a cached authentication) to ten seconds (a large write).
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The content type scrapers expect.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Default, Clone)]
struct Histogram {
    /// Observations at or below each bucket's bound (not cumulative).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|bound| secs <= *bound) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += secs;
    }
}

/// How an authentication or authorization ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Allowed (or authenticated).
    Allowed,
    /// Allowed from the credential cache, no plugin call.
    Cached,
    /// Refused: bad credentials, or not allowed.
    Denied,
    /// Refused before the plugin: too many failures.
    Throttled,
    /// The plugin failed (trap, deadline, memory): refused, fail closed.
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Cached => "cached",
            Outcome::Denied => "denied",
            Outcome::Throttled => "throttled",
            Outcome::Failed => "failed",
        }
    }
}

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Registry {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<(String, String), Histogram>,
    auth: BTreeMap<(&'static str, String, Outcome), u64>,
    plugin_calls: BTreeMap<(&'static str, String), Histogram>,
    plugin_failures: BTreeMap<(&'static str, String, &'static str), u64>,
    upstream: BTreeMap<String, Histogram>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

/// Count one request and its latency: a middleware for every router, so
/// the route is its template (`/api/v2/tenants/{tenant}`), never a
/// client's path, and the series stay few.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let mut registry = REGISTRY.lock();
    *registry
        .requests
        .entry((method.clone(), route.clone(), status))
        .or_default() += 1;
    registry
        .latency
        .entry((method, route))
        .or_default()
        .observe(started.elapsed());
    response
}

/// Count one decision of `stage` (`authn` or `authz`) by `provider`.
pub fn auth_decision(stage: &'static str, provider: &str, outcome: Outcome) {
    *REGISTRY
        .lock()
        .auth
        .entry((stage, provider.to_string(), outcome))
        .or_default() += 1;
}

/// Time one call into an auth plugin; `failure` names how it failed
/// (`trap`, `timeout`, `memory`, `error`), if it did.
pub fn plugin_call(
    stage: &'static str,
    provider: &str,
    elapsed: Duration,
    failure: Option<&'static str>,
) {
    let mut registry = REGISTRY.lock();
    registry
        .plugin_calls
        .entry((stage, provider.to_string()))
        .or_default()
        .observe(elapsed);
    if let Some(kind) = failure {
        *registry
            .plugin_failures
            .entry((stage, provider.to_string(), kind))
            .or_default() += 1;
    }
}

/// Gateway mode: one forwarded request's time to the upstream's answer
/// head; `status` is its status, or `unreachable` / `timeout`.
pub fn upstream_call(status: &str, elapsed: Duration) {
    REGISTRY
        .lock()
        .upstream
        .entry(status.to_string())
        .or_default()
        .observe(elapsed);
}

/// What the server holds, read when scraped.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Holdings {
    /// Collections.
    pub collections: u64,
    /// Records.
    pub records: u64,
    /// Vectors not yet in their collection's graph.
    pub vectors_pending: u64,
    /// Bytes of the SQLite database (with its write-ahead log).
    pub sqlite_bytes: u64,
    /// Bytes of the saved graphs and everything else in the data directory.
    pub graph_bytes: u64,
}

/// Read what `engine` holds: every collection of every tenant and database.
pub fn holdings(engine: &Engine) -> Result<Holdings, prism_engine::EngineError> {
    let mut held = Holdings::default();
    for tenant in engine.list_tenants()? {
        for database in engine.list_databases(&tenant, None, 0)? {
            for collection in engine.list_collections(&tenant, &database.name, None, 0)? {
                held.collections += 1;
                let (indexed, total) =
                    engine.indexing_progress(&tenant, &database.name, collection.id)?;
                held.records += engine.count_records(&tenant, &database.name, collection.id)?;
                held.vectors_pending += total.saturating_sub(indexed);
            }
        }
    }
    let (sqlite, other) = file_sizes(engine.data_dir());
    held.sqlite_bytes = sqlite;
    held.graph_bytes = other;
    Ok(held)
}

/// Bytes of the SQLite files and of everything else under `dir`.
fn file_sizes(dir: &Path) -> (u64, u64) {
    let mut sqlite = 0;
    let mut other = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if entry
                .file_name()
                .to_string_lossy()
                .starts_with(prism_engine::DB_FILE)
            {
                sqlite += meta.len();
            } else {
                other += meta.len();
            }
        }
    }
    (sqlite, other)
}

/// The whole exposition: the counters, and `holdings` when the server has
/// an engine (not in gateway mode).
pub fn render(holdings: Option<&Holdings>) -> String {
    let registry = REGISTRY.lock();
    let mut out = String::with_capacity(4096);
    family(
        &mut out,
        "prism_http_requests_total",
        "counter",
        "HTTP requests answered, by method, route template and status.",
    );
    for ((method, route, status), n) in &registry.requests {
        sample(
            &mut out,
            "prism_http_requests_total",
            &vec![
                ("method", method.clone()),
                ("route", route.clone()),
                ("status", status.to_string()),
            ],
            *n as f64,
        );
    }
    family(
        &mut out,
        "prism_http_request_duration_seconds",
        "histogram",
        "Time from a request's arrival to its answer's head, by method and route template.",
    );
    for ((method, route), h) in &registry.latency {
        histogram(
            &mut out,
            "prism_http_request_duration_seconds",
            &vec![("method", method.clone()), ("route", route.clone())],
            h,
        );
    }
    family(
        &mut out,
        "prism_auth_decisions_total",
        "counter",
        "Authentication (stage authn) and authorization (stage authz) decisions, by provider and outcome.",
    );
    for ((stage, provider, outcome), n) in &registry.auth {
        sample(
            &mut out,
            "prism_auth_decisions_total",
            &vec![
                ("stage", stage.to_string()),
                ("provider", provider.clone()),
                ("outcome", outcome.as_str().to_string()),
            ],
            *n as f64,
        );
    }
    let throttled: u64 = registry
        .auth
        .iter()
        .filter(|((_, _, o), _)| *o == Outcome::Throttled)
        .map(|(_, n)| n)
        .sum();
    family(
        &mut out,
        "prism_auth_throttled_total",
        "counter",
        "Requests refused with 429 for too many failed authentications.",
    );
    sample(
        &mut out,
        "prism_auth_throttled_total",
        &Vec::new(),
        throttled as f64,
    );
    family(
        &mut out,
        "prism_plugin_call_duration_seconds",
        "histogram",
        "Calls into auth plugins (cache misses), by stage and provider.",
    );
    for ((stage, provider), h) in &registry.plugin_calls {
        histogram(
            &mut out,
            "prism_plugin_call_duration_seconds",
            &vec![("stage", stage.to_string()), ("provider", provider.clone())],
            h,
        );
    }
    family(
        &mut out,
        "prism_plugin_failures_total",
        "counter",
        "Auth plugin calls that failed, by kind: trap, timeout (deadline), memory (cap), error.",
    );
    for ((stage, provider, kind), n) in &registry.plugin_failures {
        sample(
            &mut out,
            "prism_plugin_failures_total",
            &vec![
                ("stage", stage.to_string()),
                ("provider", provider.clone()),
                ("kind", kind.to_string()),
            ],
            *n as f64,
        );
    }
    if !registry.upstream.is_empty() {
        family(
            &mut out,
            "prism_upstream_request_duration_seconds",
            "histogram",
            "Gateway mode: time from forwarding a request to the upstream's answer head, by its status (or unreachable, timeout).",
        );
        for (status, h) in &registry.upstream {
            histogram(
                &mut out,
                "prism_upstream_request_duration_seconds",
                &vec![("status", status.clone())],
                h,
            );
        }
    }
    drop(registry);
    if let Some(held) = holdings {
        for (name, help, value) in [
            (
                "prism_collections",
                "Collections, every tenant and database.",
                held.collections,
            ),
            ("prism_records", "Records, every collection.", held.records),
            (
                "prism_vectors_pending_index",
                "Vectors not yet in their collection's graph (searched exactly meanwhile).",
                held.vectors_pending,
            ),
            (
                "prism_sqlite_bytes",
                "Bytes of the SQLite database and its write-ahead log.",
                held.sqlite_bytes,
            ),
            (
                "prism_graph_bytes",
                "Bytes of the saved graphs and the rest of the data directory.",
                held.graph_bytes,
            ),
        ] {
            family(&mut out, name, "gauge", help);
            sample(&mut out, name, &Vec::new(), value as f64);
        }
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &Labels, value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (key, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{}\"", escape(value));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

fn histogram(out: &mut String, name: &str, labels: &Labels, h: &Histogram) {
    let mut cumulative = 0;
    for (bound, n) in BUCKETS.iter().zip(h.buckets) {
        cumulative += n;
        let mut with_le = labels.clone();
        with_le.push(("le", bound.to_string()));
        sample(out, &format!("{name}_bucket"), &with_le, cumulative as f64);
    }
    let mut inf = labels.clone();
    inf.push(("le", "+Inf".to_string()));
    sample(out, &format!("{name}_bucket"), &inf, h.count as f64);
    sample(out, &format!("{name}_sum"), labels, h.sum);
    sample(out, &format!("{name}_count"), labels, h.count as f64);
}

/// A label value as the text format escapes it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn histograms_are_cumulative_and_end_with_inf() {
        let mut h = Histogram::default();
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let mut out = String::new();
        histogram(&mut out, "x", &vec![("route", "/r".into())], &h);
        assert!(
            out.contains("x_bucket{route=\"/r\",le=\"0.0005\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{route=\"/r\",le=\"0.005\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{route=\"/r\",le=\"10\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{route=\"/r\",le=\"+Inf\"} 3\n"),
            "{out}"
        );
        assert!(out.contains("x_count{route=\"/r\"} 3\n"), "{out}");
    }
}
