//! The Prism server as a library: the HTTP layer over the engine, TLS,
//! settings, auth wiring and the operator commands. `main.rs` is the command
//! line over it; benchmarks and tests reach the pieces from here.

pub mod api;
pub mod audit;
pub mod builtin;
pub mod cli;
pub mod listen;
pub mod reload;
pub mod settings;
pub mod tls;
