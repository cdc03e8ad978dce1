//! What callers ask the engine for: record selections, reads, queries,
//! deletions and collection changes. Filters stay JSON here; the engine
//! validates and parses them, so every caller gets Chroma's messages.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::collection_config::{CreateConfiguration, UpdateConfiguration};
use crate::error::{EngineError, Result};
use crate::filter::{Filter, parse_where, parse_where_document};
use crate::store::records::Selection;
use crate::store::records::{fresh_metadata, merge_metadata};
use crate::types::Include;
use crate::types::{RecordBatch, WriteKind};
use crate::validate;

/// Which records a get, query or delete is about: all three conditions must
/// hold; an absent one selects everything.
#[derive(Debug, Clone, Default)]
pub struct RecordSelector {
    /// Only these ids.
    pub ids: Option<Vec<String>>,
    /// `where` clause.
    pub where_clause: Option<Value>,
    /// `where_document` clause.
    pub where_document: Option<Value>,
    /// Row-level security: a `where` clause from authorization, not the
    /// caller. Only records matching it exist for this request (ANDed with
    /// the caller's clauses); see [`RowFilter`].
    pub rows: Option<RowFilter>,
}

/// The records an identity may see in a collection, as authorization
/// decided: a `where` clause in Chroma's filter language (metadata keys,
/// `#document` and `#id` operators included). Reads see only matching
/// records, deletes touch only them, and writes may neither touch a
/// record outside it nor leave one there (PostgreSQL's `USING` and `WITH
/// CHECK` in one clause).
#[derive(Debug, Clone)]
pub struct RowFilter {
    filter: Filter,
    /// The clause as given: what a gateway ANDs into an upstream's `where`.
    clause: Value,
}

impl RowFilter {
    /// Parse a `where` clause; one that restricts nothing (`{}`) is refused,
    /// since authorization meant to restrict.
    pub fn new(clause: &Value) -> Result<Self> {
        match parse_where(clause)? {
            Some(filter) => Ok(Self {
                filter,
                clause: clause.clone(),
            }),
            None => Err(crate::error::EngineError::invalid(
                "Invalid row filter: an empty where clause restricts nothing",
            )),
        }
    }

    pub(crate) fn filter(&self) -> &Filter {
        &self.filter
    }

    /// The `where` clause it was parsed from.
    pub fn clause(&self) -> &Value {
        &self.clause
    }

    /// Whether a record with this metadata and document is inside.
    pub fn admits(
        &self,
        metadata: Option<&Map<String, Value>>,
        document: Option<&str>,
    ) -> Result<bool> {
        crate::filter::eval::matches(&self.filter, metadata, document)
    }

    /// Check a write against the filter away from the store that will make
    /// it, given the records of the batch that exist there now (by id): the
    /// same refusals [`crate::Engine::write_records_within`] makes in its
    /// transaction, for Prism's gateway, whose records live upstream.
    pub fn check_write(
        &self,
        kind: WriteKind,
        batch: &RecordBatch,
        stored: &HashMap<String, StoredRecord>,
    ) -> Result<()> {
        let mut hidden = Vec::new();
        let mut left_outside = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, id) in batch.ids.iter().enumerate() {
            if !seen.insert(id) {
                continue;
            }
            let existing = stored.get(id);
            if let Some(record) = existing
                && !self.admits(record.metadata.as_ref(), record.document.as_deref())?
            {
                hidden.push(id.clone());
                continue;
            }
            let given = batch
                .metadatas
                .as_ref()
                .and_then(|m| m.get(i))
                .and_then(Option::as_ref);
            let document = batch
                .documents
                .as_ref()
                .and_then(|d| d.get(i))
                .and_then(Option::as_deref);
            let after = match (existing, kind) {
                (None, WriteKind::Update) | (Some(_), WriteKind::Add) => continue,
                (None, WriteKind::Add | WriteKind::Upsert) => {
                    (given.and_then(fresh_metadata), document.map(str::to_string))
                }
                (Some(old), WriteKind::Update | WriteKind::Upsert) => (
                    match given {
                        Some(update) => merge_metadata(old.metadata.clone(), update),
                        None => old.metadata.clone(),
                    },
                    document
                        .map(str::to_string)
                        .or_else(|| old.document.clone()),
                ),
            };
            if !self.admits(after.0.as_ref(), after.1.as_deref())? {
                left_outside.push(id.clone());
            }
        }
        if !hidden.is_empty() {
            return Err(names_hidden(&hidden));
        }
        if !left_outside.is_empty() {
            return Err(leaves_outside(&left_outside));
        }
        Ok(())
    }
}

/// A record as stored before a write: what [`RowFilter::check_write`]
/// decides on.
#[derive(Debug, Clone, Default)]
pub struct StoredRecord {
    /// Its metadata.
    pub metadata: Option<Map<String, Value>>,
    /// Its document.
    pub document: Option<String>,
}

/// A write that names records the caller cannot see.
pub(crate) fn names_hidden(ids: &[String]) -> EngineError {
    EngineError::RowFilterViolation(format!(
        "Forbidden: the request names records you cannot see: {}",
        ids.join(", ")
    ))
}

/// A write that would leave records the caller could not see.
pub(crate) fn leaves_outside(ids: &[String]) -> EngineError {
    EngineError::RowFilterViolation(format!(
        "Forbidden: the request would write records you could not see: {}",
        ids.join(", ")
    ))
}

impl RecordSelector {
    /// Check the ids and parse the caller's clauses into one filter (`None`
    /// when neither restricts anything). The row filter is not part of it:
    /// validation and the schema's index settings concern the caller's
    /// clauses only, and [`Self::selection`] adds it.
    pub(crate) fn parse(&self) -> Result<Option<Filter>> {
        if let Some(ids) = &self.ids {
            validate::check_ids(ids)?;
        }
        let w = self
            .where_clause
            .as_ref()
            .map(parse_where)
            .transpose()?
            .flatten();
        let d = self
            .where_document
            .as_ref()
            .map(parse_where_document)
            .transpose()?
            .flatten();
        Ok(Filter::and(w, d))
    }

    /// The selection the store evaluates: the filter [`Self::parse`] gave,
    /// ANDed with the row filter.
    pub(crate) fn selection(&self, filter: Option<Filter>) -> Selection {
        let rows = self.rows.as_ref().map(|r| r.filter().clone());
        Selection {
            ids: self.ids.clone(),
            filter: Filter::and(filter, rows),
        }
    }
}

/// A get request.
#[derive(Debug, Clone, Default)]
pub struct GetRequest {
    /// The records to read.
    pub selector: RecordSelector,
    /// At most this many records.
    pub limit: Option<u32>,
    /// Skip this many.
    pub offset: u32,
    /// Fields to return.
    pub include: Include,
}

/// A nearest-neighbour query.
#[derive(Debug, Clone, Default)]
pub struct QueryRequest {
    /// One search per embedding.
    pub embeddings: Vec<Vec<f32>>,
    /// Hits per search.
    pub n_results: u32,
    /// Only among these records.
    pub selector: RecordSelector,
    /// Fields to return.
    pub include: Include,
}

/// A delete request.
#[derive(Debug, Clone, Default)]
pub struct DeleteRequest {
    /// The records to delete.
    pub selector: RecordSelector,
    /// Delete at most this many.
    pub limit: Option<u32>,
}

/// A create-collection request.
#[derive(Debug, Clone, Default)]
pub struct NewCollection {
    /// Name, unique in its database.
    pub name: String,
    /// User metadata (legacy `hnsw:*` keys configure the index).
    pub metadata: Option<Map<String, Value>>,
    /// Index configuration.
    pub configuration: Option<CreateConfiguration>,
    /// A Chroma 1.x schema, returned as given.
    pub schema: Option<Value>,
    /// Return the existing collection instead of failing.
    pub get_or_create: bool,
}

/// A modify-collection request.
#[derive(Debug, Clone, Default)]
pub struct CollectionUpdate {
    /// Rename.
    pub new_name: Option<String>,
    /// Replace the metadata.
    pub new_metadata: Option<Map<String, Value>>,
    /// Change mutable configuration.
    pub new_configuration: Option<UpdateConfiguration>,
}
