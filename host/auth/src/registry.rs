//! Every plugin Prism knows, by the names they declare: the built-ins shipped
//! inside the binary and the `.wasm` files of the plugin directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use prism_plugin_host::{LoadError, LoadedPlugin, PluginKind, PluginOrigin, PluginRuntime};

/// Why the registry could not be built or a name not resolved.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A plugin could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The plugin directory cannot be read.
    #[error("plugin directory {}: {error}", path.display())]
    Directory {
        /// The directory (or file in it).
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// Two plugins claim the same name.
    #[error("two plugins are registered as `{name}`: {first} and {second}; remove or rename one")]
    Duplicate {
        /// The name.
        name: String,
        /// The first claimant.
        first: PluginOrigin,
        /// The second claimant.
        second: PluginOrigin,
    },
    /// No plugin has this name.
    #[error(
        "no {kind} provider is registered as `{name}`. Available: {available}{hint}{unloadable}"
    )]
    Unknown {
        /// Which kind was asked for.
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// What there is.
        available: String,
        /// How to get the built-ins, when they are missing.
        hint: &'static str,
        /// The plugin files that could not be loaded (one may be the one
        /// meant), and why.
        unloadable: String,
    },
    /// The name belongs to a plugin of the other kind.
    #[error("`{name}` is an {actual} provider, not an {wanted} provider")]
    WrongKind {
        /// The name.
        name: String,
        /// What it is.
        actual: &'static str,
        /// What was asked for.
        wanted: &'static str,
    },
}

/// "authentication" or "authorization".
pub fn kind_name(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::Authn => "authentication",
        PluginKind::Authz => "authorization",
    }
}

/// Plugins by name.
pub struct Registry {
    plugins: Vec<Arc<LoadedPlugin>>,
    by_name: BTreeMap<String, usize>,
    builtins_missing: bool,
    /// Files of the plugin directory that are not plugins this Prism can
    /// load; skipped, so they cannot make a working configuration fail.
    unloadable: Vec<LoadError>,
}

impl Registry {
    /// Load the built-ins, then every `*.wasm` in `dir` (if given; a missing
    /// directory is an error only when `dir_required`). A file that is not a
    /// plugin this Prism can load is skipped with a warning, at start-up and
    /// at reload alike; it can only be missed by [`find`](Self::find), which
    /// then names it. Two plugins claiming one name are an error.
    pub fn load(
        runtime: &Arc<PluginRuntime>,
        builtins: &[(&str, &[u8])],
        dir: Option<&Path>,
        dir_required: bool,
    ) -> Result<Self, RegistryError> {
        let mut registry = Registry {
            plugins: Vec::new(),
            by_name: BTreeMap::new(),
            builtins_missing: builtins.is_empty(),
            unloadable: Vec::new(),
        };
        for (name, bytes) in builtins {
            let plugin = runtime.load(PluginOrigin::Builtin((*name).to_string()), bytes)?;
            registry.add(plugin)?;
        }
        if let Some(dir) = dir {
            for path in wasm_files(dir, dir_required)? {
                let bytes = std::fs::read(&path).map_err(|error| RegistryError::Directory {
                    path: path.clone(),
                    error,
                })?;
                match runtime.load(PluginOrigin::File(path), &bytes) {
                    Ok(plugin) => registry.add(plugin)?,
                    Err(error) => {
                        tracing::warn!("plugin file skipped: {error}");
                        registry.unloadable.push(error);
                    }
                }
            }
        }
        Ok(registry)
    }

    fn add(&mut self, plugin: LoadedPlugin) -> Result<(), RegistryError> {
        let index = self.plugins.len();
        for name in &plugin.metadata().names {
            if let Some(&other) = self.by_name.get(name) {
                return Err(RegistryError::Duplicate {
                    name: name.clone(),
                    first: self.plugins[other].origin().clone(),
                    second: plugin.origin().clone(),
                });
            }
            self.by_name.insert(name.clone(), index);
        }
        tracing::debug!(plugin = plugin.name(), origin = %plugin.origin(), "plugin registered");
        self.plugins.push(Arc::new(plugin));
        Ok(())
    }

    /// Every registered plugin, in load order.
    pub fn plugins(&self) -> &[Arc<LoadedPlugin>] {
        &self.plugins
    }

    /// The plugin registered as `name`, which must be of `kind`.
    pub fn find(&self, name: &str, kind: PluginKind) -> Result<Arc<LoadedPlugin>, RegistryError> {
        let name = name.trim();
        match self.by_name.get(name).map(|&i| &self.plugins[i]) {
            Some(p) if p.metadata().kind == kind => Ok(p.clone()),
            Some(p) => Err(RegistryError::WrongKind {
                name: name.to_string(),
                actual: kind_name(p.metadata().kind),
                wanted: kind_name(kind),
            }),
            None => Err(RegistryError::Unknown {
                kind: kind_name(kind),
                name: name.to_string(),
                available: self.describe(kind),
                hint: if self.builtins_missing {
                    " (this binary was built without its built-in plugins: run scripts/build-plugins.sh, then rebuild)"
                } else {
                    ""
                },
                unloadable: self
                    .unloadable
                    .iter()
                    .map(|e| format!(". Not loaded: {e}"))
                    .collect(),
            }),
        }
    }

    /// "name (aliases: ...) from origin; ..." for every plugin of `kind`.
    pub fn describe(&self, kind: PluginKind) -> String {
        let list: Vec<String> = self
            .plugins
            .iter()
            .filter(|p| p.metadata().kind == kind)
            .map(|p| {
                let names = &p.metadata().names;
                if names.len() > 1 {
                    format!(
                        "{} (also: {}) [{}]",
                        names[0],
                        names[1..].join(", "),
                        p.origin()
                    )
                } else {
                    format!("{} [{}]", names[0], p.origin())
                }
            })
            .collect();
        if list.is_empty() {
            "none".into()
        } else {
            list.join("; ")
        }
    }
}

/// One plugin as `prism plugin list` reports it.
pub struct SurveyEntry {
    /// Where it came from.
    pub origin: PluginOrigin,
    /// The loaded plugin, or why it cannot be loaded.
    pub plugin: Result<Arc<LoadedPlugin>, LoadError>,
    /// A reason the server would refuse to start because of it (a name
    /// another plugin already has).
    pub conflict: Option<String>,
}

impl Registry {
    /// Load every plugin the server would, without stopping at the first
    /// problem: each entry says what it is or why it would be refused.
    pub fn survey(
        runtime: &Arc<PluginRuntime>,
        builtins: &[(&str, &[u8])],
        dir: &Path,
    ) -> (Vec<SurveyEntry>, Option<RegistryError>) {
        let mut sources: Vec<(PluginOrigin, Result<Vec<u8>, RegistryError>)> = builtins
            .iter()
            .map(|(name, bytes)| {
                (
                    PluginOrigin::Builtin((*name).to_string()),
                    Ok(bytes.to_vec()),
                )
            })
            .collect();
        let mut dir_error = None;
        match wasm_files(dir, false) {
            Ok(files) => sources.extend(files.into_iter().map(|path| {
                let bytes = std::fs::read(&path).map_err(|error| RegistryError::Directory {
                    path: path.clone(),
                    error,
                });
                (PluginOrigin::File(path), bytes)
            })),
            Err(e) => dir_error = Some(e),
        }
        let mut seen: BTreeMap<String, PluginOrigin> = BTreeMap::new();
        let mut entries = Vec::new();
        for (origin, bytes) in sources {
            let plugin = match bytes {
                Ok(bytes) => runtime.load(origin.clone(), &bytes).map(Arc::new),
                Err(e) => Err(LoadError::NotAPlugin {
                    origin: origin.clone(),
                    reason: e.to_string(),
                }),
            };
            let mut conflict = None;
            if let Ok(p) = &plugin {
                for name in &p.metadata().names {
                    if let Some(first) = seen.get(name) {
                        conflict = Some(format!("name `{name}` is also claimed by {first}"));
                    } else {
                        seen.insert(name.clone(), origin.clone());
                    }
                }
            }
            entries.push(SurveyEntry {
                origin,
                plugin,
                conflict,
            });
        }
        (entries, dir_error)
    }
}

/// The `*.wasm` files directly in `dir`, sorted; what the registry loads.
pub fn plugin_files(dir: &Path) -> Vec<PathBuf> {
    wasm_files(dir, false).unwrap_or_default()
}

fn wasm_files(dir: &Path, required: bool) -> Result<Vec<PathBuf>, RegistryError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(vec![]),
        Err(error) => {
            return Err(RegistryError::Directory {
                path: dir.to_path_buf(),
                error,
            });
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}
