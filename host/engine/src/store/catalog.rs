//! Tenants, databases and collections in SQLite.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::collection_config::StoredConfiguration;
use crate::error::{EngineError, Result};
use crate::types::{Collection, Database, Tenant};

/// The tenant every server has.
pub const DEFAULT_TENANT: &str = "default_tenant";
/// The database every server has, in [`DEFAULT_TENANT`].
pub const DEFAULT_DATABASE: &str = "default_database";

/// A collection as stored, with the internal key records refer to.
#[derive(Debug, Clone)]
pub struct CollectionRow {
    /// Internal key (`records.coll`).
    pub seq: i64,
    /// Public id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Tenant name.
    pub tenant: String,
    /// Database name.
    pub database: String,
    /// User metadata.
    pub metadata: Option<Map<String, Value>>,
    /// Configuration.
    pub config: StoredConfiguration,
    /// Dimension, once the first embedding was written.
    pub dimension: Option<u32>,
}

impl CollectionRow {
    /// Chroma's JSON view of the collection.
    pub fn to_collection(&self) -> Collection {
        Collection {
            id: self.id,
            name: self.name.clone(),
            configuration_json: self.config.to_chroma_json(),
            schema: Some(self.config.to_chroma_schema()),
            metadata: self.metadata.clone(),
            dimension: self.dimension,
            tenant: self.tenant.clone(),
            database: self.database.clone(),
            log_position: 0,
            version: 0,
        }
    }
}

pub(crate) fn json_text(map: &Option<Map<String, Value>>) -> Option<String> {
    map.as_ref().map(|m| Value::Object(m.clone()).to_string())
}

pub(crate) fn parse_json_map(text: Option<String>) -> rusqlite::Result<Option<Map<String, Value>>> {
    text.map(|t| match serde_json::from_str::<Value>(&t) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(rusqlite::Error::InvalidColumnType(
            0,
            "metadata".into(),
            rusqlite::types::Type::Text,
        )),
    })
    .transpose()
}

/// Create the default tenant and database when missing.
pub fn ensure_defaults(conn: &Connection) -> Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO tenants (name) VALUES (?1)",
        [DEFAULT_TENANT],
    )?;
    conn.execute(
        "INSERT OR IGNORE INTO databases (id, name, tenant) VALUES (?1, ?2, ?3)",
        params![Uuid::nil().to_string(), DEFAULT_DATABASE, DEFAULT_TENANT],
    )?;
    Ok(())
}

/// Create a tenant; 409 when it exists.
pub fn create_tenant(conn: &Connection, name: &str) -> Result<()> {
    let inserted = conn.execute("INSERT OR IGNORE INTO tenants (name) VALUES (?1)", [name])?;
    if inserted == 0 {
        return Err(EngineError::AlreadyExists(format!(
            "Tenant [{name}] already exists"
        )));
    }
    Ok(())
}

/// Read a tenant.
pub fn get_tenant(conn: &Connection, name: &str) -> Result<Tenant> {
    conn.query_row(
        "SELECT name, resource_name FROM tenants WHERE name = ?1",
        [name],
        |r| {
            Ok(Tenant {
                name: r.get(0)?,
                resource_name: r.get(1)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| EngineError::NotFound(format!("Tenant [{name}] not found")))
}

/// Every tenant's name, in name order.
pub fn list_tenants(conn: &Connection) -> Result<Vec<String>> {
    let mut statement = conn.prepare_cached("SELECT name FROM tenants ORDER BY name")?;
    let names = statement.query_map([], |r| r.get(0))?;
    Ok(names.collect::<rusqlite::Result<_>>()?)
}

/// Set a tenant's resource name.
pub fn update_tenant(conn: &Connection, name: &str, resource_name: &str) -> Result<()> {
    let changed = conn.execute(
        "UPDATE tenants SET resource_name = ?2 WHERE name = ?1",
        params![name, resource_name],
    )?;
    if changed == 0 {
        return Err(EngineError::NotFound(format!("Tenant [{name}] not found")));
    }
    Ok(())
}

/// Create a database in an existing tenant.
pub fn create_database(conn: &Connection, tenant: &str, name: &str) -> Result<()> {
    get_tenant(conn, tenant)?;
    let inserted = conn.execute(
        "INSERT OR IGNORE INTO databases (id, name, tenant) VALUES (?1, ?2, ?3)",
        params![Uuid::new_v4().to_string(), name, tenant],
    )?;
    if inserted == 0 {
        return Err(EngineError::AlreadyExists(format!(
            "Database [{name}] already exists"
        )));
    }
    Ok(())
}

fn database_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Database> {
    let id: String = r.get(0)?;
    Ok(Database {
        id: Uuid::parse_str(&id).unwrap_or_default(),
        name: r.get(1)?,
        tenant: r.get(2)?,
    })
}

/// Read a database.
pub fn get_database(conn: &Connection, tenant: &str, name: &str) -> Result<Database> {
    conn.query_row(
        "SELECT id, name, tenant FROM databases WHERE tenant = ?1 AND name = ?2",
        params![tenant, name],
        database_from_row,
    )
    .optional()?
    .ok_or_else(|| {
        EngineError::NotFound(format!(
            "Database [{name}] not found. Are you sure it exists?"
        ))
    })
}

/// List a tenant's databases in creation order.
pub fn list_databases(
    conn: &Connection,
    tenant: &str,
    limit: Option<u32>,
    offset: u32,
) -> Result<Vec<Database>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, tenant FROM databases WHERE tenant = ?1 ORDER BY name LIMIT ?2 OFFSET ?3",
    )?;
    let limit = limit.map_or(-1, i64::from);
    let rows = stmt.query_map(params![tenant, limit, offset], database_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Delete a database and everything in it. Returns the internal keys and ids
/// of the collections that went with it.
pub fn delete_database(conn: &Connection, tenant: &str, name: &str) -> Result<Vec<(i64, Uuid)>> {
    let db = get_database(conn, tenant, name)
        .map_err(|_| EngineError::NotFound(format!("Database [{name}] not found")))?;
    let db_id = db.id.to_string();
    let gone: Vec<(i64, Uuid)> = conn
        .prepare("SELECT seq, id FROM collections WHERE database_id = ?1")?
        .query_map([&db_id], |r| {
            let id: String = r.get(1)?;
            Ok((r.get(0)?, Uuid::parse_str(&id).unwrap_or_default()))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (seq, _) in &gone {
        delete_collection_rows(conn, *seq)?;
    }
    conn.execute("DELETE FROM databases WHERE id = ?1", [&db_id])?;
    Ok(gone)
}

const COLLECTION_COLUMNS: &str =
    "c.seq, c.id, c.name, d.tenant, d.name, c.metadata, c.configuration, c.dimension";

fn collection_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CollectionRow> {
    let id: String = r.get(1)?;
    let config: String = r.get(6)?;
    let config = serde_json::from_str(&config).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(CollectionRow {
        seq: r.get(0)?,
        id: Uuid::parse_str(&id).unwrap_or_default(),
        name: r.get(2)?,
        tenant: r.get(3)?,
        database: r.get(4)?,
        metadata: parse_json_map(r.get(5)?)?,
        config,
        dimension: r.get(7)?,
    })
}

/// What identifies a collection in a request.
#[derive(Debug, Clone, Copy)]
pub enum CollectionKey<'a> {
    /// By name (GET/DELETE by name routes).
    Name(&'a str),
    /// By id (modify, by-id lookup, record routes).
    Id(Uuid),
}

/// Find a collection inside a tenant and database; 404 otherwise.
pub fn get_collection(
    conn: &Connection,
    tenant: &str,
    database: &str,
    key: CollectionKey<'_>,
) -> Result<CollectionRow> {
    let (column, value) = match key {
        CollectionKey::Name(name) => ("c.name", name.to_string()),
        CollectionKey::Id(id) => ("c.id", id.to_string()),
    };
    let sql = format!(
        "SELECT {COLLECTION_COLUMNS} FROM collections c JOIN databases d ON d.id = c.database_id
         WHERE d.tenant = ?1 AND d.name = ?2 AND {column} = ?3"
    );
    conn.prepare_cached(&sql)?
        .query_row(params![tenant, database, value], collection_from_row)
        .optional()?
        .ok_or_else(|| EngineError::NotFound(format!("Collection [{value}] does not exist")))
}

/// Collections of a database in creation order.
pub fn list_collections(
    conn: &Connection,
    tenant: &str,
    database: &str,
    limit: Option<u32>,
    offset: u32,
) -> Result<Vec<CollectionRow>> {
    let sql = format!(
        "SELECT {COLLECTION_COLUMNS} FROM collections c JOIN databases d ON d.id = c.database_id
         WHERE d.tenant = ?1 AND d.name = ?2 ORDER BY c.seq LIMIT ?3 OFFSET ?4"
    );
    let limit = limit.map_or(-1, i64::from);
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(
            params![tenant, database, limit, offset],
            collection_from_row,
        )?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Number of collections in a database.
pub fn count_collections(conn: &Connection, tenant: &str, database: &str) -> Result<u64> {
    // As Chroma: a database that does not exist simply has no collections.
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM collections c JOIN databases d ON d.id = c.database_id
         WHERE d.tenant = ?1 AND d.name = ?2",
        params![tenant, database],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

/// Insert a new collection row.
pub fn insert_collection(
    conn: &Connection,
    tenant: &str,
    database: &str,
    name: &str,
    metadata: &Option<Map<String, Value>>,
    config: &StoredConfiguration,
) -> Result<CollectionRow> {
    let db = get_database(conn, tenant, database)
        .map_err(|_| EngineError::invalid(format!("Database [{database}] does not exist")))?;
    let id = Uuid::new_v4();
    let config_text =
        serde_json::to_string(config).map_err(|e| EngineError::Internal(e.to_string()))?;
    conn.execute(
        "INSERT INTO collections (id, name, database_id, metadata, configuration) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id.to_string(), name, db.id.to_string(), json_text(metadata), config_text],
    )?;
    get_collection(conn, tenant, database, CollectionKey::Id(id))
}

/// Persist a collection's name, metadata and configuration.
pub fn save_collection(conn: &Connection, row: &CollectionRow) -> Result<()> {
    let config_text =
        serde_json::to_string(&row.config).map_err(|e| EngineError::Internal(e.to_string()))?;
    let result = conn.execute(
        "UPDATE collections SET name = ?2, metadata = ?3, configuration = ?4 WHERE seq = ?1",
        params![row.seq, row.name, json_text(&row.metadata), config_text],
    );
    match result {
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(EngineError::AlreadyExists(format!(
                "Collection [{}] already exists",
                row.name
            )))
        }
        other => other.map(|_| ()).map_err(Into::into),
    }
}

/// Remove a collection and its records.
pub fn delete_collection_rows(conn: &Connection, seq: i64) -> Result<()> {
    conn.execute("DELETE FROM record_metadata WHERE coll = ?1", [seq])?;
    conn.execute("DELETE FROM records WHERE coll = ?1", [seq])?;
    conn.execute("DELETE FROM collections WHERE seq = ?1", [seq])?;
    Ok(())
}

/// Wipe everything (reset), keeping the schema, then recreate the defaults.
pub fn wipe(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "DELETE FROM record_metadata;
         INSERT INTO records_fts (records_fts) VALUES ('delete-all');
         DELETE FROM records;
         DELETE FROM collections;
         DELETE FROM databases;
         DELETE FROM tenants;",
    )?;
    ensure_defaults(conn)
}
