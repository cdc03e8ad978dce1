//! The engine driven directly, without HTTP: collections, records, queries,
//! filters and restarts over a temporary data directory. One test binary
//! (modules below) so the suite links once.

mod collections;
mod filter;
mod filter_limits;
mod indexing;
mod limits;
mod query;
mod records;
mod restart;
mod rows;
mod support;
