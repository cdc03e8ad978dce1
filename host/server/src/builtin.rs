//! The built-in plugins, embedded at build time by `build.rs`.

include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));
