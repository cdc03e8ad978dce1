//! Versioned schema migrations, tracked in SQLite's `user_version`. A release
//! only appends to [`MIGRATIONS`], so older data directories upgrade in place.

use rusqlite::Connection;

use crate::error::{EngineError, Result};

/// Migration `n` (1-based) brings `user_version` from `n - 1` to `n`.
const MIGRATIONS: &[&str] = &[
    // 1: catalog, records, metadata index, trigram full-text index.
    r#"
    CREATE TABLE tenants (
        name TEXT PRIMARY KEY,
        resource_name TEXT
    );
    CREATE TABLE databases (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        tenant TEXT NOT NULL REFERENCES tenants(name),
        UNIQUE (tenant, name)
    );
    CREATE TABLE collections (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        database_id TEXT NOT NULL REFERENCES databases(id),
        metadata TEXT,
        configuration TEXT NOT NULL,
        dimension INTEGER,
        next_slot INTEGER NOT NULL DEFAULT 0,
        UNIQUE (database_id, name)
    );
    CREATE TABLE records (
        pk INTEGER PRIMARY KEY,
        coll INTEGER NOT NULL,
        id TEXT NOT NULL,
        slot INTEGER NOT NULL,
        embedding BLOB,
        document TEXT,
        uri TEXT,
        metadata TEXT,
        UNIQUE (coll, id)
    );
    CREATE INDEX records_by_slot ON records (coll, slot);
    -- `value` has no declared type on purpose: BLOB affinity keeps text, integers
    -- and reals as given, and SQLite compares integers with reals numerically.
    CREATE TABLE record_metadata (
        rec INTEGER NOT NULL,
        coll INTEGER NOT NULL,
        key TEXT NOT NULL,
        value,
        kind INTEGER NOT NULL,
        in_array INTEGER NOT NULL
    );
    CREATE INDEX record_metadata_lookup ON record_metadata (coll, key, value);
    CREATE INDEX record_metadata_by_record ON record_metadata (rec);
    CREATE VIRTUAL TABLE records_fts USING fts5(
        document, content = 'records', content_rowid = 'pk',
        tokenize = 'trigram case_sensitive 1'
    );
    CREATE TRIGGER records_fts_insert AFTER INSERT ON records WHEN new.document IS NOT NULL BEGIN
        INSERT INTO records_fts (rowid, document) VALUES (new.pk, new.document);
    END;
    CREATE TRIGGER records_fts_delete AFTER DELETE ON records WHEN old.document IS NOT NULL BEGIN
        INSERT INTO records_fts (records_fts, rowid, document) VALUES ('delete', old.pk, old.document);
    END;
    CREATE TRIGGER records_fts_update AFTER UPDATE OF document ON records BEGIN
        INSERT INTO records_fts (records_fts, rowid, document)
            SELECT 'delete', old.pk, old.document WHERE old.document IS NOT NULL;
        INSERT INTO records_fts (rowid, document)
            SELECT new.pk, new.document WHERE new.document IS NOT NULL;
    END;
    "#,
    // 2: a metadata condition is answered from the index alone (kind,
    // in_array and rec inside it) instead of visiting a table row per match.
    r#"
    CREATE INDEX record_metadata_filter ON record_metadata (coll, key, in_array, kind, value, rec);
    DROP INDEX record_metadata_lookup;
    "#,
];

/// The schema version this build writes.
pub const CURRENT_VERSION: usize = MIGRATIONS.len();

/// Apply every migration the database has not seen, each in its own transaction.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let version: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if version > CURRENT_VERSION {
        return Err(EngineError::Internal(format!(
            "the data directory was written by a newer Prism (schema version {version}, this build knows {CURRENT_VERSION})"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_are_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v as usize, CURRENT_VERSION);
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
        assert!(migrate(&mut conn).is_err());
    }
}
