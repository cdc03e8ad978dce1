//! `prism plugin bench FILE.wasm`: what a plugin costs the server, measured
//! the way the server runs it. For a plugin author comparing languages or
//! versions, and for docs/PERFORMANCE.md.
//!
//! - compile: the first load, with an empty disk cache (what every start
//!   costs without one);
//! - from the disk cache: a load in a fresh runtime whose cache holds it;
//! - cold instance: instantiate and configure (what a new instance costs:
//!   at start, after a failed call, under a burst);
//! - first call: the first decision of a fresh instance;
//! - call: a decision on a warm instance (the steady state; the median);
//! - memory: the linear memory one configured instance holds after calls.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use prism_auth::{
    Config, ConfigFile, HttpRequest, Identity, LoadedPlugin, PluginKind, PluginOrigin,
    PluginRuntime, Resource, SandboxLimits, Setting, SettingSource,
};

/// What to configure the plugin with and what to ask it.
pub struct BenchInput {
    /// `KEY=VALUE`; for a file setting, VALUE is a path whose contents are
    /// passed, as the server does.
    pub settings: Vec<String>,
    /// `NAME: VALUE` request headers (authn).
    pub headers: Vec<String>,
    /// The caller (authz).
    pub user: String,
    /// The action asked about (authz).
    pub action: String,
    /// Calls timed on a warm instance.
    pub calls: usize,
}

pub fn bench(path: &Path, input: &BenchInput) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let cache = ScratchDir::new()?;
    let origin = PluginOrigin::File(path.to_path_buf());
    let limits = SandboxLimits {
        // A first call may be slow (a guest compiling lazily); the point
        // here is to measure it, not cut it off.
        call_timeout: Duration::from_secs(60),
        memory_bytes: 1 << 30,
        instances: Some(1),
    };

    let runtime =
        PluginRuntime::with_disk_cache(limits, Some(&cache.0)).map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    let plugin = std::sync::Arc::new(runtime.load(origin.clone(), &bytes)?);
    let compile = started.elapsed();
    drop(runtime);
    let warm_runtime =
        PluginRuntime::with_disk_cache(limits, Some(&cache.0)).map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    warm_runtime.load(origin, &bytes)?;
    let cached = started.elapsed();

    let config = config(&plugin, &input.settings)?;
    let samples = match plugin.metadata().kind {
        PluginKind::Authn => {
            let request = request(&input.headers)?;
            time_calls(
                input.calls,
                || Ok(plugin.clone().authenticator_under(config.clone(), limits)?),
                |authn| Ok(format!("{:?}", authn.authenticate(&request)?)),
                |authn| authn.instance_memory(),
            )?
        }
        PluginKind::Authz => {
            let identity = Identity {
                user_id: input.user.clone(),
                tenant: None,
                databases: None,
                attributes: vec![("prism.received-at".into(), "1800000000".into())],
            };
            let resource = Resource {
                tenant: Some("default_tenant".into()),
                database: Some("default_database".into()),
                collection: Some("bench-docs".into()),
                collection_id: None,
            };
            time_calls(
                input.calls,
                || Ok(plugin.clone().authorizer_under(config.clone(), limits)?),
                |authz| {
                    Ok(format!(
                        "{:?}",
                        authz.authorize(&identity, &input.action, &resource)?
                    ))
                },
                |authz| authz.instance_memory(),
            )?
        }
    };
    let Samples {
        answer,
        mut cold,
        mut first,
        mut warm,
        memory,
    } = samples;
    println!("answer:      {answer}");
    println!(
        "plugin:      {} ({})",
        plugin.name(),
        plugin.built_with().unwrap_or_default()
    );
    println!("size:        {:.2} MB", bytes.len() as f64 / 1e6);
    println!(
        "compile:     {}  (first load, empty disk cache)",
        show(compile)
    );
    println!(
        "disk cache:  {}  (load of the compiled plugin)",
        show(cached)
    );
    println!(
        "cold instance: {}  (instantiate + configure, median of 5)",
        show(median(&mut cold))
    );
    println!(
        "first call:  {}  (on a fresh instance, median of 5)",
        show(median(&mut first))
    );
    println!(
        "call:        {}  (warm instance, median of {}; p99 {})",
        show(median(&mut warm)),
        warm.len(),
        show(percentile(&mut warm, 0.99))
    );
    println!(
        "memory:      {:.1} MB per instance (linear memory)",
        memory as f64 / 1e6
    );
    Ok(())
}

/// What [`time_calls`] measured.
struct Samples {
    answer: String,
    cold: Vec<Duration>,
    first: Vec<Duration>,
    warm: Vec<Duration>,
    memory: usize,
}

/// Five fresh instances (`make`), each timed and asked once (`call`); the
/// first then asked `calls` more times, and its memory read.
fn time_calls<P>(
    calls: usize,
    make: impl Fn() -> anyhow::Result<P>,
    call: impl Fn(&P) -> anyhow::Result<String>,
    memory: impl Fn(&P) -> Option<usize>,
) -> anyhow::Result<Samples> {
    let mut samples = Samples {
        answer: String::new(),
        cold: Vec::new(),
        first: Vec::new(),
        warm: Vec::new(),
        memory: 0,
    };
    for round in 0..5 {
        let started = Instant::now();
        let plugin = make()?;
        samples.cold.push(started.elapsed());
        let started = Instant::now();
        let answer = call(&plugin)?;
        samples.first.push(started.elapsed());
        if round == 0 {
            samples.answer = answer;
            for _ in 0..calls {
                let started = Instant::now();
                call(&plugin)?;
                samples.warm.push(started.elapsed());
            }
            samples.memory = memory(&plugin).unwrap_or(0);
        }
    }
    Ok(samples)
}

fn config(plugin: &LoadedPlugin, given: &[String]) -> anyhow::Result<Config> {
    let mut config = Config {
        settings: Vec::new(),
        files: Vec::new(),
    };
    for item in given {
        let (key, value) = item
            .split_once('=')
            .with_context(|| format!("--setting {item}: write KEY=VALUE"))?;
        let Some(spec) = plugin.metadata().settings.iter().find(|s| s.key == key) else {
            bail!(
                "--setting {key}: {} declares no such setting",
                plugin.name()
            );
        };
        if spec.source == SettingSource::File {
            let contents = std::fs::read(PathBuf::from(value))
                .with_context(|| format!("--setting {key}: cannot read {value}"))?;
            config.files.push(ConfigFile {
                key: key.into(),
                path: value.into(),
                contents,
            });
        } else {
            config.settings.push(Setting {
                key: key.into(),
                value: value.into(),
            });
        }
    }
    Ok(config)
}

fn request(headers: &[String]) -> anyhow::Result<HttpRequest> {
    let mut parsed = Vec::new();
    for header in headers {
        let (name, value) = header
            .split_once(':')
            .with_context(|| format!("--header {header}: write NAME: VALUE"))?;
        parsed.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(HttpRequest {
        method: "POST".into(),
        path: "/api/v2/tenants/default_tenant/databases/default_database/collections".into(),
        headers: parsed,
        client_address: Some("127.0.0.1".into()),
        client_certificate_subject: None,
        received_at: 1_800_000_000,
    })
}

fn median(samples: &mut [Duration]) -> Duration {
    percentile(samples, 0.5)
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn show(d: Duration) -> String {
    let micros = d.as_secs_f64() * 1e6;
    if micros < 1_000.0 {
        format!("{micros:.1} µs")
    } else if micros < 1_000_000.0 {
        format!("{:.1} ms", micros / 1_000.0)
    } else {
        format!("{:.2} s", micros / 1e6)
    }
}

/// A private directory for the disk cache, removed when done.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("prism-plugin-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        Ok(ScratchDir(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
