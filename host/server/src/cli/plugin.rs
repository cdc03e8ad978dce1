//! `prism plugin list` and `prism plugin inspect FILE.wasm`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, bail};
use prism_auth::{
    AuthSettings, LoadedPlugin, PluginKind, PluginOrigin, PluginRuntime, Registry, SettingSource,
    kind_name,
};

/// Everything a plugin declares, for people.
pub fn describe(plugin: &LoadedPlugin) -> String {
    let m = plugin.metadata();
    let mut out = String::new();
    let _ = writeln!(out, "name:        {}", plugin.name());
    if m.names.len() > 1 {
        let _ = writeln!(out, "aliases:     {}", m.names[1..].join(", "));
    }
    let _ = writeln!(out, "kind:        {}", kind_name(m.kind));
    let _ = writeln!(out, "api version: {}", m.api_version);
    let _ = writeln!(out, "wit world:   {}", plugin.world());
    let _ = writeln!(out, "version:     {}", m.version);
    let _ = writeln!(out, "origin:      {}", plugin.origin());
    let _ = writeln!(out, "sha256:      {}", plugin.sha256());
    if let Some(toolchain) = plugin.built_with() {
        let _ = writeln!(out, "built with:  {toolchain}");
    }
    if !m.description.is_empty() {
        let _ = writeln!(out, "description: {}", m.description);
    }
    if m.settings.is_empty() {
        let _ = writeln!(out, "settings:    none");
    } else {
        let _ = writeln!(out, "settings:");
        for s in &m.settings {
            let env_kind = match m.kind {
                PluginKind::Authn => "AUTHN",
                PluginKind::Authz => "AUTHZ",
            };
            let var = format!(
                "PRISM_{env_kind}_OPT_{}",
                s.key.to_ascii_uppercase().replace('-', "_")
            );
            let file = match s.source {
                SettingSource::Value => "",
                SettingSource::File => " (a file; Prism passes its contents)",
                SettingSource::Url => {
                    " (an https:// URL; Prism fetches it and passes its contents)"
                }
            };
            let _ = writeln!(out, "  {:<24} {}{file}  [{var}]", s.key, s.description);
        }
    }
    if m.kind == PluginKind::Authn {
        let cache = if m.cache_key_headers.is_empty() {
            "never cached".to_string()
        } else {
            format!("cached by {}", m.cache_key_headers.join(", "))
        };
        let _ = writeln!(out, "credentials: {cache}");
    }
    out
}

/// A runtime as the server would make it, with its disk cache of compiled
/// plugins: what a command compiles, a later `prism run` loads in
/// milliseconds (and the other way round).
pub fn runtime_like_the_server() -> anyhow::Result<std::sync::Arc<PluginRuntime>> {
    let vars: BTreeMap<String, String> = std::env::vars().collect();
    // Settings the command does not need are not its business: only the
    // cache directory is taken from them, when they are valid.
    let cache_dir = AuthSettings::from_env(&vars)
        .ok()
        .and_then(|s| s.plugin_cache_dir);
    PluginRuntime::with_disk_cache(Default::default(), cache_dir.as_deref())
        .map_err(anyhow::Error::msg)
}

/// Load one file as the server would and print what it declares.
pub fn inspect(path: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let runtime = runtime_like_the_server()?;
    let plugin = runtime.load(PluginOrigin::File(path.to_path_buf()), &bytes)?;
    print!("{}", describe(&plugin));
    Ok(())
}

/// The built-ins and the plugin directory's files, each with what it is or
/// why the server would refuse it.
pub fn list(builtins: &[(&str, &[u8])]) -> anyhow::Result<()> {
    let vars: BTreeMap<String, String> = std::env::vars().collect();
    let settings = AuthSettings::from_env(&vars)?;
    let runtime =
        PluginRuntime::with_disk_cache(settings.limits, settings.plugin_cache_dir.as_deref())
            .map_err(anyhow::Error::msg)?;
    let (entries, dir_error) = Registry::survey(&runtime, builtins, &settings.plugin_dir);
    println!(
        "plugin directory: {}{}",
        settings.plugin_dir.display(),
        if settings.plugin_dir.is_dir() {
            ""
        } else {
            " (does not exist)"
        }
    );
    if builtins.is_empty() {
        println!(
            "this binary has no built-in plugins (build them with scripts/build-plugins.sh, then rebuild)"
        );
    }
    let mut problems = 0;
    for entry in &entries {
        println!();
        match &entry.plugin {
            Ok(plugin) => {
                print!("{}", describe(plugin));
                if let Some(conflict) = &entry.conflict {
                    problems += 1;
                    println!("status:      REFUSED: {conflict}");
                } else {
                    println!("status:      ok");
                }
            }
            Err(e) => {
                problems += 1;
                println!("origin:      {}", entry.origin);
                println!("status:      REFUSED: {e}");
            }
        }
    }
    if let Some(e) = dir_error {
        problems += 1;
        println!("\n{e}");
    }
    if problems > 0 {
        bail!(
            "{problems} plugin problem(s): the server would refuse to start with an auth provider selected"
        );
    }
    Ok(())
}
