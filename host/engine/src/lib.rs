//! Prism's engine: tenants, databases, collections and records in SQLite,
//! nearest-neighbour search over per-collection vector indexes, and Chroma's
//! filter language. It knows nothing about HTTP or authentication; the server
//! crate calls [`Engine`] from blocking threads.

pub mod backup;
pub mod collection_config;
pub mod crypto;
mod data_dir;
pub mod distance;
mod engine;
pub mod error;
pub mod filter;
pub mod index;
mod options;
mod registry;
mod requests;
pub mod schema;
mod store;
pub mod types;
pub mod validate;

pub use data_dir::{DB_FILE, check_data_dir};
pub use engine::Engine;
pub use error::EngineError;
pub use options::{DEFAULT_MAX_QUERY_RESULTS, DEFAULT_SAVE_INTERVAL, EncryptionKey, EngineOptions};
pub use requests::{
    CollectionUpdate, DeleteRequest, GetRequest, NewCollection, QueryRequest, RecordSelector,
    RowFilter, StoredRecord,
};
pub use store::catalog::{CollectionKey, DEFAULT_DATABASE, DEFAULT_TENANT};
