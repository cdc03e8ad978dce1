//! Versioned schema migrations, tracked in SQLite's `user_version`. A release
//! only appends to [`MIGRATIONS`], so older data directories upgrade in place.

use std::time::Instant;

use rusqlite::Connection;

use crate::error::{EngineError, Result};
use crate::filter::document_index;

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
    // 3: documents indexed as 4 KiB chunks, which migration 4 replaces with
    // chunks cut by their distinct trigrams. Empty now, so a database still at
    // version 2 indexes its documents once, in migration 4; one at version 3
    // has its fixed chunks dropped there.
    "",
    // 4: documents indexed as overlapping chunks (filter::document_index),
    // each ending before 8,192 distinct trigrams or 128 KiB:
    // one row per document took time growing with the square of its length.
    // prism_document_chunks gives the byte ranges of a document's chunks.
    // Chunk 0 of record pk is row pk, chunk k >= 1 row -((pk << 20) | k); the
    // table keeps no copy of the text, and deletes rows by row id
    // (contentless_delete). Documents reach the chunk functions as blobs:
    // SQLite would copy a text argument whole on every call to end it with a
    // NUL. Every document is indexed again here, in this migration's
    // transaction.
    r#"
    DROP TRIGGER records_fts_insert;
    DROP TRIGGER records_fts_delete;
    DROP TRIGGER records_fts_update;
    DROP TABLE records_fts;
    CREATE VIRTUAL TABLE records_fts USING fts5(
        document, content = '', contentless_delete = 1,
        tokenize = 'trigram case_sensitive 1'
    );
    CREATE TRIGGER records_fts_insert AFTER INSERT ON records WHEN new.document IS NOT NULL BEGIN
        INSERT INTO records_fts (rowid, document)
            SELECT iif(c.key = 0, new.pk, -((new.pk << 20) | c.key)),
                prism_document_chunk(CAST(new.document AS BLOB), c.value ->> 0, c.value ->> 1)
            FROM json_each(prism_document_chunks(CAST(new.document AS BLOB))) c;
    END;
    CREATE TRIGGER records_fts_delete AFTER DELETE ON records WHEN old.document IS NOT NULL BEGIN
        DELETE FROM records_fts WHERE rowid = old.pk;
        DELETE FROM records_fts
            WHERE rowid BETWEEN -((old.pk << 20) | 1048575) AND -((old.pk << 20) | 1);
    END;
    CREATE TRIGGER records_fts_update AFTER UPDATE OF document ON records BEGIN
        DELETE FROM records_fts WHERE rowid = old.pk;
        DELETE FROM records_fts
            WHERE rowid BETWEEN -((old.pk << 20) | 1048575) AND -((old.pk << 20) | 1);
        INSERT INTO records_fts (rowid, document)
            SELECT iif(c.key = 0, new.pk, -((new.pk << 20) | c.key)),
                prism_document_chunk(CAST(new.document AS BLOB), c.value ->> 0, c.value ->> 1)
            FROM json_each(prism_document_chunks(CAST(new.document AS BLOB))) c;
    END;
    INSERT INTO records_fts (rowid, document)
        SELECT iif(c.key = 0, r.pk, -((r.pk << 20) | c.key)),
            prism_document_chunk(CAST(r.document AS BLOB), c.value ->> 0, c.value ->> 1)
        FROM records r, json_each(prism_document_chunks(CAST(r.document AS BLOB))) c
        WHERE r.document IS NOT NULL;
    "#,
    // 5: a collection's record count kept beside it, so count() reads one
    // row instead of an index entry per record (13-16 ms at 100k records in
    // Chroma, more in an encrypted directory, where each page is decrypted).
    r#"
    ALTER TABLE collections ADD COLUMN record_count INTEGER NOT NULL DEFAULT 0;
    UPDATE collections SET record_count = (SELECT count(*) FROM records r WHERE r.coll = collections.seq);
    CREATE TRIGGER records_count_insert AFTER INSERT ON records BEGIN
        UPDATE collections SET record_count = record_count + 1 WHERE seq = new.coll;
    END;
    CREATE TRIGGER records_count_delete AFTER DELETE ON records BEGIN
        UPDATE collections SET record_count = record_count - 1 WHERE seq = old.coll;
    END;
    "#,
    // 6: a collection's records in insertion order (an index is ordered by
    // its key, then the row id), so a page of `get` (ORDER BY pk
    // LIMIT/OFFSET) walks the index instead of sorting every row of the
    // collection, embeddings included, for each page: 0.25 s a page at
    // 50,000 x 384 before, 3 ms after. Its key is the expression `coll + 0`,
    // which only that query names (`store::records::get`): an index on
    // `coll` would be walked by reads by id too (2 ms -> 53 ms for 100 ids
    // at 100,000).
    r#"
    CREATE INDEX IF NOT EXISTS records_in_order ON records (coll + 0);
    "#,
];

/// The migration that indexes every document again (as chunks).
const CHUNKED_DOCUMENTS: usize = 4;

/// The schema version this build writes.
pub const CURRENT_VERSION: usize = MIGRATIONS.len();

/// Register the SQL functions the schema's triggers call on `conn`, and
/// apply every migration the database has not seen, each in its own
/// transaction. Only a connection that went through here may write records
/// (the writer does).
pub fn migrate(conn: &mut Connection) -> Result<()> {
    document_index::register_functions(conn)?;
    migrate_to(conn, CURRENT_VERSION)
}

/// Apply the migrations up to schema version `target`; [`migrate`] applies
/// them all (tests stop earlier, to write a database as an older Prism did).
pub(crate) fn migrate_to(conn: &mut Connection, target: usize) -> Result<()> {
    let version: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if version > CURRENT_VERSION {
        return Err(EngineError::Internal(format!(
            "the data directory was written by a newer Prism (schema version {version}, this build knows {CURRENT_VERSION})"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().take(target).skip(version) {
        let started = Instant::now();
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        if i + 1 == CHUNKED_DOCUMENTS {
            let documents: i64 = tx.query_row(
                "SELECT count(*) FROM records WHERE document IS NOT NULL",
                [],
                |r| r.get(0),
            )?;
            tracing::info!(
                documents,
                seconds = started.elapsed().as_secs_f64(),
                "the document index was rebuilt as chunks"
            );
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::document_index::chunks::chunk_ranges;
    use crate::filter::{DocumentOp, Filter, sql};

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

    /// Record `pk`'s rows in the document index.
    fn index_rows(conn: &Connection, pk: i64) -> i64 {
        conn.query_row(
            "SELECT count(*) FROM records_fts WHERE rowid = ?1 OR rowid BETWEEN ?2 AND ?3",
            [pk, -((pk << 20) | 0xF_FFFF), -((pk << 20) | 1)],
            |r| r.get(0),
        )
        .unwrap()
    }

    /// A database as Prism wrote it at schema version 2 (one index row per
    /// document), with a 180 KB document, a short one, a missing one and an
    /// empty one.
    fn version_2_database() -> (Connection, String) {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 2).unwrap();
        let long: String = (0..30_000).map(|i| format!("{i:05} ")).collect();
        let docs = [
            Some(long.as_str()),
            Some("a short document"),
            None,
            Some(""),
        ];
        conn.execute_batch(
            "INSERT INTO tenants(name) VALUES ('t');
             INSERT INTO databases(id, name, tenant) VALUES ('d', 'd', 't');
             INSERT INTO collections(seq, id, name, database_id, configuration) VALUES (1, 'c', 'c', 'd', '{}');",
        )
        .unwrap();
        for (i, doc) in docs.iter().enumerate() {
            conn.execute(
                "INSERT INTO records(pk, coll, id, slot, document) VALUES (?1, 1, ?1, ?1, ?2)",
                rusqlite::params![i as i64 + 1, doc],
            )
            .unwrap();
        }
        // One row per document, under the record's own row id.
        let old_row: i64 = conn
            .query_row(
                "SELECT rowid FROM records_fts WHERE records_fts MATCH '\"short\"'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(old_row, 2);
        (conn, long)
    }

    #[test]
    fn documents_indexed_one_row_each_are_indexed_again_as_chunks() {
        let (mut conn, long) = version_2_database();
        migrate(&mut conn).unwrap();
        assert_chunked(&conn, &long);
    }

    #[test]
    fn documents_indexed_as_fixed_chunks_are_indexed_again() {
        // Schema version 3 as an earlier build wrote it: contentless rows of
        // 4 KiB with 256 bytes of overlap, under the same row ids.
        let (mut conn, long) = version_2_database();
        conn.execute_batch(
            "DROP TRIGGER records_fts_insert;
             DROP TRIGGER records_fts_delete;
             DROP TRIGGER records_fts_update;
             DROP TABLE records_fts;
             CREATE VIRTUAL TABLE records_fts USING fts5(
                 document, content = '', contentless_delete = 1,
                 tokenize = 'trigram case_sensitive 1');
             CREATE TRIGGER records_fts_insert AFTER INSERT ON records BEGIN SELECT 1; END;
             CREATE TRIGGER records_fts_delete AFTER DELETE ON records BEGIN SELECT 1; END;
             CREATE TRIGGER records_fts_update AFTER UPDATE OF document ON records BEGIN SELECT 1; END;
             PRAGMA user_version = 3;",
        )
        .unwrap();
        let fixed: Vec<&str> = (0..long.len())
            .step_by(4096 - 256)
            .map(|start| &long[start..(start + 4096).min(long.len())])
            .collect();
        for (k, chunk) in fixed.iter().enumerate() {
            let rowid = if k == 0 {
                1
            } else {
                -((1i64 << 20) | k as i64)
            };
            conn.execute(
                "INSERT INTO records_fts(rowid, document) VALUES (?1, ?2)",
                rusqlite::params![rowid, chunk],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO records_fts(rowid, document) VALUES (2, 'a short document')",
            [],
        )
        .unwrap();
        assert_eq!(index_rows(&conn, 1), fixed.len() as i64);
        migrate(&mut conn).unwrap();
        assert_chunked(&conn, &long);
    }

    /// The index of [`version_2_database`]'s documents is the chunked one,
    /// answers across chunk boundaries, and follows later writes.
    fn assert_chunked(conn: &Connection, long: &str) {
        assert_eq!(
            index_rows(conn, 1),
            chunk_ranges(long.as_bytes()).len() as i64
        );
        assert_eq!(index_rows(conn, 2), 1);
        assert_eq!(index_rows(conn, 3) + index_rows(conn, 4), 0);
        let contains = |needle: &str| -> Vec<i64> {
            let filter = Filter::Document(DocumentOp::Contains(needle.into()));
            let cond = sql::compile(&filter, 1);
            let query = format!(
                "SELECT r.pk FROM records r WHERE r.coll = 1 AND {} ORDER BY r.pk",
                cond.sql
            );
            conn.prepare(&query)
                .unwrap()
                .query_map(rusqlite::params_from_iter(cond.params), |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        // Across the first chunk boundary, past the overlap, at the end.
        let boundary = chunk_ranges(long.as_bytes())[0].end;
        assert_eq!(contains(&long[boundary - 10..boundary + 10]), [1]);
        assert_eq!(contains(&long[boundary - 300..boundary + 300]), [1]);
        assert_eq!(contains("29999 "), [1]);
        assert_eq!(contains("short"), [2]);
        assert!(contains("30000").is_empty());
        // New writes and deletes go through the new triggers.
        conn.execute("DELETE FROM records WHERE pk = 1", [])
            .unwrap();
        assert_eq!(index_rows(conn, 1), 0);
        assert!(contains("29999 ").is_empty());
    }

    #[test]
    fn record_counts_follow_inserts_and_deletes_and_start_from_existing_rows() {
        let (mut conn, _) = version_2_database();
        migrate(&mut conn).unwrap();
        let counted = |conn: &Connection| -> (i64, i64) {
            conn.query_row(
                "SELECT record_count, (SELECT count(*) FROM records WHERE coll = 1) FROM collections WHERE seq = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
        };
        assert_eq!(counted(&conn), (4, 4));
        conn.execute_batch(
            "INSERT INTO collections(seq, id, name, database_id, configuration) VALUES (2, 'c2', 'c2', 'd', '{}');
             INSERT INTO records(coll, id, slot) VALUES (1, 'x', 10), (1, 'y', 11), (2, 'z', 0);
             DELETE FROM records WHERE id IN ('1', 'x');",
        )
        .unwrap();
        assert_eq!(counted(&conn), (4, 4));
        let other: i64 = conn
            .query_row(
                "SELECT record_count FROM collections WHERE seq = 2",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(other, 1);
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
        assert!(migrate(&mut conn).is_err());
    }
}
