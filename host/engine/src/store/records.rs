//! Records in SQLite: batched writes, deletes, filtered reads.

use std::collections::HashMap;

use rusqlite::types::Value as SqlValue;
use rusqlite::{
    Connection, OptionalExtension, Transaction, TransactionBehavior, params, params_from_iter,
};
use serde_json::{Map, Value};

use super::catalog::{CollectionRow, parse_json_map};
use crate::error::{EngineError, Result};
use crate::filter::plan::{self, Plan};
use crate::filter::sets::RecordSet;
use crate::filter::{Filter, sql};
use crate::types::{Include, IncludeField, Record, RecordBatch, WriteKind};
use crate::validate::indexed_values;

/// What a committed write changes in the vector index.
#[derive(Debug, Default)]
pub struct IndexDelta {
    /// New vector versions: `(slot, record, raw embedding)`.
    pub inserted: Vec<(u32, i64, Vec<f32>)>,
    /// Slots whose vector is gone.
    pub removed: Vec<u32>,
    /// The collection's dimension after the write.
    pub dimension: Option<u32>,
}

pub(crate) fn encode_embedding(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn decode_embedding(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

struct Existing {
    pk: i64,
    slot: u32,
    metadata: Option<Map<String, Value>>,
}

fn insert_metadata_rows(
    conn: &Connection,
    pk: i64,
    coll: i64,
    meta: &Map<String, Value>,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO record_metadata (rec, coll, key, value, kind, in_array) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for row in indexed_values(meta) {
        stmt.execute(params![
            pk,
            coll,
            row.key,
            sql::sql_value(&row.value),
            row.value.kind(),
            row.in_array
        ])?;
    }
    Ok(())
}

/// Merge an update into stored metadata: a null value deletes the key.
pub(crate) fn merge_metadata(
    stored: Option<Map<String, Value>>,
    update: &Map<String, Value>,
) -> Option<Map<String, Value>> {
    let mut merged = stored.unwrap_or_default();
    for (k, v) in update {
        if v.is_null() {
            merged.remove(k);
        } else {
            merged.insert(k.clone(), v.clone());
        }
    }
    (!merged.is_empty()).then_some(merged)
}

/// Drop nulls from metadata written to a new record; an empty map is no metadata.
pub(crate) fn fresh_metadata(meta: &Map<String, Value>) -> Option<Map<String, Value>> {
    let kept: Map<String, Value> = meta
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!kept.is_empty()).then_some(kept)
}

fn column<T: Clone>(col: &Option<Vec<Option<T>>>, i: usize) -> Option<T> {
    col.as_ref().and_then(|c| c[i].clone())
}

/// Apply a validated batch inside the caller's transaction.
pub fn write_batch(
    conn: &Connection,
    coll: &CollectionRow,
    kind: WriteKind,
    batch: &RecordBatch,
) -> Result<IndexDelta> {
    let mut delta = IndexDelta {
        dimension: coll.dimension,
        ..Default::default()
    };
    let batch_dim = batch
        .embeddings
        .as_ref()
        .and_then(|e| e.iter().flatten().next().map(|v| v.len() as u32));
    if let Some(dim) = batch_dim {
        match coll.dimension {
            Some(expected) if expected != dim => {
                return Err(EngineError::invalid(format!(
                    "Collection expecting embedding with dimension of {expected}, got {dim}"
                )));
            }
            Some(_) => {}
            None => {
                conn.execute(
                    "UPDATE collections SET dimension = ?2 WHERE seq = ?1",
                    params![coll.seq, dim],
                )?;
                delta.dimension = Some(dim);
            }
        }
    }
    let mut next_slot: i64 = conn.query_row(
        "SELECT next_slot FROM collections WHERE seq = ?1",
        [coll.seq],
        |r| r.get(0),
    )?;
    let mut lookup =
        conn.prepare_cached("SELECT pk, slot, metadata FROM records WHERE coll = ?1 AND id = ?2")?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO records (coll, id, slot, embedding, document, uri, metadata) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (i, id) in batch.ids.iter().enumerate() {
        let existing = lookup
            .query_row(params![coll.seq, id], |r| {
                Ok(Existing {
                    pk: r.get(0)?,
                    slot: r.get(1)?,
                    metadata: parse_json_map(r.get(2)?)?,
                })
            })
            .optional()?;
        let embedding = column(&batch.embeddings, i);
        let document = column(&batch.documents, i);
        let uri = column(&batch.uris, i);
        let metadata = column(&batch.metadatas, i);
        match (existing, kind) {
            (None, WriteKind::Update) | (Some(_), WriteKind::Add) => {}
            (None, WriteKind::Add | WriteKind::Upsert) => {
                let embedding = embedding.ok_or_else(|| {
                    EngineError::invalid(format!("Missing embedding for record {id}"))
                })?;
                let slot = next_slot as u32;
                next_slot += 1;
                let meta = metadata.as_ref().and_then(fresh_metadata);
                insert.execute(params![
                    coll.seq,
                    id,
                    slot,
                    encode_embedding(&embedding),
                    document,
                    uri,
                    meta.as_ref().map(|m| Value::Object(m.clone()).to_string()),
                ])?;
                let pk = conn.last_insert_rowid();
                if let Some(m) = &meta {
                    insert_metadata_rows(conn, pk, coll.seq, m)?;
                }
                delta.inserted.push((slot, pk, embedding));
            }
            (Some(old), WriteKind::Update | WriteKind::Upsert) => {
                if let Some(embedding) = embedding {
                    let slot = next_slot as u32;
                    next_slot += 1;
                    conn.prepare_cached(
                        "UPDATE records SET slot = ?2, embedding = ?3 WHERE pk = ?1",
                    )?
                    .execute(params![
                        old.pk,
                        slot,
                        encode_embedding(&embedding)
                    ])?;
                    delta.removed.push(old.slot);
                    delta.inserted.push((slot, old.pk, embedding));
                }
                if let Some(document) = document {
                    conn.prepare_cached("UPDATE records SET document = ?2 WHERE pk = ?1")?
                        .execute(params![old.pk, document])?;
                }
                if let Some(uri) = uri {
                    conn.prepare_cached("UPDATE records SET uri = ?2 WHERE pk = ?1")?
                        .execute(params![old.pk, uri])?;
                }
                if let Some(update) = &metadata {
                    let merged = merge_metadata(old.metadata, update);
                    conn.prepare_cached("UPDATE records SET metadata = ?2 WHERE pk = ?1")?
                        .execute(params![
                            old.pk,
                            merged
                                .as_ref()
                                .map(|m| Value::Object(m.clone()).to_string())
                        ])?;
                    conn.prepare_cached("DELETE FROM record_metadata WHERE rec = ?1")?
                        .execute([old.pk])?;
                    if let Some(m) = &merged {
                        insert_metadata_rows(conn, old.pk, coll.seq, m)?;
                    }
                }
            }
        }
    }
    conn.execute(
        "UPDATE collections SET next_slot = ?2 WHERE seq = ?1",
        params![coll.seq, next_slot],
    )?;
    Ok(delta)
}

/// Records to select: an id list and/or a filter.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    /// Only these ids.
    pub ids: Option<Vec<String>>,
    /// Only records matching this filter.
    pub filter: Option<Filter>,
}

impl Selection {
    /// How the filter is answered; one too large for one SQL statement is
    /// evaluated here, so `conn` must hold one snapshot until the records
    /// are read ([`read_snapshot`]).
    fn plan(&self, conn: &Connection, coll: i64) -> Result<Option<Plan>> {
        self.filter
            .as_ref()
            .map(|f| plan::plan(conn, f, coll))
            .transpose()
    }

    /// The selection as a condition on `records r`, with `plan` from
    /// [`Self::plan`].
    fn where_sql(&self, coll: i64, plan: Option<Plan>) -> (String, Vec<SqlValue>) {
        let mut sql = String::from("r.coll = ?");
        let mut params = vec![SqlValue::Integer(coll)];
        if let Some(ids) = &self.ids {
            sql.push_str(" AND r.id IN (SELECT value FROM json_each(?))");
            params.push(SqlValue::Text(Value::from(ids.clone()).to_string()));
        }
        let cond = match plan {
            None => None,
            Some(Plan::Filter(filter)) => Some(sql::compile(&filter, coll)),
            Some(Plan::Records(set)) => Some(plan::membership(&set)),
        };
        if let Some(cond) = cond {
            sql.push_str(" AND ");
            sql.push_str(&cond.sql);
            params.extend(cond.params);
        }
        (sql, params)
    }
}

/// A read transaction on `conn` for a filtered selection, unless `conn` is
/// in one already: a filter answered in parts runs several statements,
/// which must all see the same records. Ends (rolled back: it wrote
/// nothing) when dropped.
fn read_snapshot<'c>(
    conn: &'c Connection,
    selection: &Selection,
) -> Result<Option<Transaction<'c>>> {
    if selection.filter.is_none() || !conn.is_autocommit() {
        return Ok(None);
    }
    Ok(Some(Transaction::new_unchecked(
        conn,
        TransactionBehavior::Deferred,
    )?))
}

/// Delete the selected records (at most `limit`). Returns how many went and
/// their slots.
pub fn delete(
    conn: &Connection,
    coll: i64,
    selection: &Selection,
    limit: Option<u32>,
) -> Result<(u64, Vec<u32>)> {
    let plan = selection.plan(conn, coll)?;
    let (cond, params) = selection.where_sql(coll, plan);
    let limit = limit.map_or(-1, i64::from);
    let sql =
        format!("SELECT r.pk, r.slot FROM records r WHERE {cond} ORDER BY r.pk LIMIT {limit}");
    let victims: Vec<(i64, u32)> = conn
        .prepare(&sql)?
        .query_map(params_from_iter(params), |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut del_meta = conn.prepare_cached("DELETE FROM record_metadata WHERE rec = ?1")?;
    let mut del_rec = conn.prepare_cached("DELETE FROM records WHERE pk = ?1")?;
    for (pk, _) in &victims {
        del_meta.execute([pk])?;
        del_rec.execute([pk])?;
    }
    Ok((
        victims.len() as u64,
        victims.into_iter().map(|(_, slot)| slot).collect(),
    ))
}

fn select_columns(include: &Include) -> String {
    let mut cols = String::from("r.slot, r.id");
    for (field, col) in [
        (IncludeField::Embeddings, "r.embedding"),
        (IncludeField::Documents, "r.document"),
        (IncludeField::Uris, "r.uri"),
        (IncludeField::Metadatas, "r.metadata"),
    ] {
        cols.push_str(", ");
        cols.push_str(if include.has(field) { col } else { "NULL" });
    }
    cols
}

fn record_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(u32, Record)> {
    let embedding: Option<Vec<u8>> = r.get(2)?;
    Ok((
        r.get(0)?,
        Record {
            id: r.get(1)?,
            embedding: embedding.map(|b| decode_embedding(&b)),
            document: r.get(3)?,
            uri: r.get(4)?,
            metadata: parse_json_map(r.get(5)?)?,
        },
    ))
}

/// Read selected records in insertion order.
pub fn get(
    conn: &Connection,
    coll: i64,
    selection: &Selection,
    limit: Option<u32>,
    offset: u32,
    include: &Include,
) -> Result<Vec<Record>> {
    let _snapshot = read_snapshot(conn, selection)?;
    let plan = selection.plan(conn, coll)?;
    let whole = selection.ids.is_none() && plan.is_none();
    let (mut cond, mut params) = selection.where_sql(coll, plan);
    if whole {
        // A page of the whole collection walks `records_in_order` (schema
        // 6), an index on `coll + 0` that only this condition names: were it
        // on `coll`, SQLite would walk it for reads by id or by filter too,
        // to skip their sort, visiting every record of the collection.
        cond = "r.coll + 0 = ?".to_string();
    }
    let sql = format!(
        "SELECT {} FROM records r WHERE {cond} ORDER BY r.pk LIMIT ? OFFSET ?",
        select_columns(include)
    );
    params.push(SqlValue::Integer(limit.map_or(-1, i64::from)));
    params.push(SqlValue::Integer(i64::from(offset)));
    let rows = conn
        .prepare(&sql)?
        .query_map(params_from_iter(params), record_from_row)?
        .map(|r| r.map(|(_, rec)| rec))
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Row ids (`records.pk`) of the selected records, in no particular order.
pub fn candidate_records(conn: &Connection, coll: i64, selection: &Selection) -> Result<Vec<i64>> {
    let _snapshot = read_snapshot(conn, selection)?;
    let plan = match (selection.ids.is_none(), selection.plan(conn, coll)?) {
        (true, Some(Plan::Records(RecordSet::Only(ids)))) => return Ok(ids),
        (_, plan) => plan,
    };
    // A filter that only a metadata match can satisfy is answered from the
    // metadata index alone: visiting each matching record's row (or every
    // row of the collection) to learn it belongs there costs more than the
    // search itself.
    if selection.ids.is_none()
        && let Some(Plan::Filter(filter)) = &plan
        && let Some(set) = sql::compile_record_set(filter, coll)
    {
        return Ok(conn
            .prepare_cached(&set.sql)?
            .query_map(params_from_iter(set.params), |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?);
    }
    let (cond, params) = selection.where_sql(coll, plan);
    let sql = format!("SELECT r.rowid FROM records r WHERE {cond}");
    Ok(conn
        .prepare_cached(&sql)?
        .query_map(params_from_iter(params), |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

/// Records by slot.
pub fn by_slots(
    conn: &Connection,
    coll: i64,
    slots: &[u32],
    include: &Include,
) -> Result<HashMap<u32, Record>> {
    let sql = format!(
        "SELECT {} FROM records r WHERE r.coll = ?1 AND r.slot IN (SELECT value FROM json_each(?2))",
        select_columns(include)
    );
    let list = Value::from(slots.to_vec()).to_string();
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(params![coll, list], record_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The ids in `ids` that the collection does not hold.
pub fn missing_ids(conn: &Connection, coll: i64, ids: &[String]) -> Result<Vec<String>> {
    let list = Value::from(ids.to_vec()).to_string();
    let missing = conn
        .prepare_cached(
            "SELECT DISTINCT j.value FROM json_each(?2) j
             WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.coll = ?1 AND r.id = j.value)",
        )?
        .query_map(params![coll, list], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(missing)
}

/// The ids in `ids` that the collection holds but `filter` does not match,
/// each once, in the order given.
pub fn ids_outside(
    conn: &Connection,
    coll: i64,
    ids: &[String],
    filter: &Filter,
) -> Result<Vec<String>> {
    let stored = |filter: Option<Filter>| -> Result<std::collections::HashSet<String>> {
        let selection = Selection {
            ids: Some(ids.to_vec()),
            filter,
        };
        Ok(get(conn, coll, &selection, None, 0, &Include(Vec::new()))?
            .into_iter()
            .map(|r| r.id)
            .collect())
    };
    let mut outside = stored(None)?;
    for id in stored(Some(filter.clone()))? {
        outside.remove(&id);
    }
    let mut seen = std::collections::HashSet::new();
    Ok(ids
        .iter()
        .filter(|id| outside.contains(*id) && seen.insert(*id))
        .cloned()
        .collect())
}

/// Number of records in a collection, matching `filter` if given.
pub fn count_matching(conn: &Connection, coll: i64, filter: Option<&Filter>) -> Result<u64> {
    let Some(filter) = filter else {
        return count(conn, coll);
    };
    let selection = Selection {
        ids: None,
        filter: Some(filter.clone()),
    };
    Ok(candidate_records(conn, coll, &selection)?.len() as u64)
}

/// Number of records in a collection (kept by triggers on `records`).
pub fn count(conn: &Connection, coll: i64) -> Result<u64> {
    let n: Option<i64> = conn
        .query_row(
            "SELECT record_count FROM collections WHERE seq = ?1",
            [coll],
            |r| r.get(0),
        )
        .optional()?;
    Ok(n.unwrap_or(0) as u64)
}

/// A collection's stored vectors as `(slot, record, embedding)`.
pub type StoredVector = (u32, i64, Vec<f32>);

/// Every stored vector of a collection, to build its index.
pub fn all_vectors(conn: &Connection, coll: i64) -> Result<Vec<StoredVector>> {
    let rows = conn
        .prepare_cached("SELECT slot, pk, embedding FROM records WHERE coll = ?1")?
        .query_map([coll], read_vector)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The smallest and largest record key of a collection, if it has records.
pub fn record_key_range(conn: &Connection, coll: i64) -> Result<Option<(i64, i64)>> {
    let range: (Option<i64>, Option<i64>) = conn
        .prepare_cached("SELECT min(pk), max(pk) FROM records WHERE coll = ?1")?
        .query_row([coll], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(range.0.zip(range.1))
}

/// The collection's vectors whose record keys lie in `keys`, read in key
/// order straight from the table: where a collection's records are mostly
/// contiguous this reads pages in file order instead of seeking once per
/// record through an index.
pub fn vectors_in_key_range(
    conn: &Connection,
    coll: i64,
    keys: std::ops::RangeInclusive<i64>,
) -> Result<Vec<StoredVector>> {
    // The unary `+` keeps SQLite from answering through an index on `coll`.
    let rows = conn
        .prepare_cached(
            "SELECT slot, pk, embedding FROM records \
             WHERE pk BETWEEN ?2 AND ?3 AND +coll = ?1",
        )?
        .query_map(params![coll, keys.start(), keys.end()], read_vector)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

fn read_vector(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredVector> {
    let bytes: Vec<u8> = r.get(2)?;
    Ok((r.get(0)?, r.get(1)?, decode_embedding(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_deletes_null_keys_and_keeps_others() {
        let stored = json!({"a": 1, "b": 2}).as_object().cloned();
        let update = json!({"b": null, "c": 3});
        let merged = merge_metadata(stored, update.as_object().unwrap()).unwrap();
        assert_eq!(Value::Object(merged), json!({"a": 1, "c": 3}));
        let gone = merge_metadata(
            json!({"a": 1}).as_object().cloned(),
            json!({"a": null}).as_object().unwrap(),
        );
        assert!(gone.is_none());
    }

    #[test]
    fn embeddings_roundtrip_as_little_endian() {
        let v = vec![1.5f32, -0.25, 3.0e-8];
        let bytes = encode_embedding(&v);
        assert_eq!(&bytes[..4], &1.5f32.to_le_bytes());
        assert_eq!(decode_embedding(&bytes), v);
    }
}
