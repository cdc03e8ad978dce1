//! The Prism server as a library: the HTTP layer over the engine, TLS,
//! settings, auth wiring and the operator commands. `main.rs` is the command
//! line over it; benchmarks and tests reach the pieces from here.

#![forbid(unsafe_code)]

pub mod api;
pub mod audit;
pub mod body_timeout;
pub mod builtin;
pub mod cli;
pub mod connection;
pub mod console;
pub mod gateway;
pub mod listen;
pub mod logging;
pub mod metrics;
pub mod otlp;
pub mod serve;
pub mod settings;
pub mod startup;
pub mod tls;
pub mod tls_reload;
pub mod transfer;
pub mod utc;
pub mod variables;
pub mod watchdog;
