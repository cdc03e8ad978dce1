//! Prism's engine: tenants, databases, collections and records in SQLite,
//! nearest-neighbour search over per-collection vector indexes, and Chroma's
//! filter language. It knows nothing about HTTP or authentication; the server
//! crate calls [`Engine`] from blocking threads.

pub mod collection_config;
pub mod distance;
mod engine;
pub mod error;
pub mod filter;
pub mod index;
pub mod schema;
mod store;
pub mod types;
pub mod validate;

pub use engine::{
    CollectionUpdate, DB_FILE, DeleteRequest, Engine, EngineOptions, GetRequest, NewCollection,
    QueryRequest, DEFAULT_MAX_QUERY_RESULTS, check_data_dir,
};
pub use error::EngineError;
pub use store::catalog::{CollectionKey, DEFAULT_DATABASE, DEFAULT_TENANT};
