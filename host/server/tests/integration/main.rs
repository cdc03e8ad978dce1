//! The server's integration tests, one test binary (faster to link than
//! one per file): the real `prism` binary started, stopped, killed and
//! asked to operate.

mod backup;
mod operator_cli;
mod serve;
mod support;
