//! Embeds the built-in plugins (`scripts/build-plugins.sh` puts them in
//! `target/plugins/builtin/`) into the binary, so `prism run` finds them with
//! no extra step. Without them the binary still builds, and says at startup
//! how to get them if an auth provider is selected.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=PRISM_BUILTIN_PLUGIN_DIR");
    let dir = std::env::var_os("PRISM_BUILTIN_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap())
                .join("../../target/plugins/builtin")
        });
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut entries = Vec::new();
    if let Ok(read) = std::fs::read_dir(&dir) {
        let mut files: Vec<PathBuf> = read
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        files.sort();
        for path in files {
            println!("cargo:rerun-if-changed={}", path.display());
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let path = std::fs::canonicalize(&path).unwrap();
            entries.push(format!(
                "    ({name:?}, include_bytes!({:?})),\n",
                path.display().to_string()
            ));
        }
    }
    if entries.is_empty() {
        println!(
            "cargo:warning=no built-in plugins in {}: run scripts/build-plugins.sh before building to embed them",
            dir.display()
        );
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("builtin_plugins.rs");
    let code = format!(
        "/// The built-in plugins: (file stem, component bytes).\npub const BUILTIN_PLUGINS: &[(&str, &[u8])] = &[\n{}];\n",
        entries.concat()
    );
    std::fs::write(out, code).unwrap();
}
