//! What callers ask the engine for: record selections, reads, queries,
//! deletions and collection changes. Filters stay JSON here; the engine
//! validates and parses them, so every caller gets Chroma's messages.

use serde_json::{Map, Value};

use crate::collection_config::{CreateConfiguration, UpdateConfiguration};
use crate::error::Result;
use crate::filter::{Filter, parse_where, parse_where_document};
use crate::store::records::Selection;
use crate::types::Include;
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
pub struct RowFilter(Filter);

impl RowFilter {
    /// Parse a `where` clause; one that restricts nothing (`{}`) is refused,
    /// since authorization meant to restrict.
    pub fn new(clause: &Value) -> Result<Self> {
        match parse_where(clause)? {
            Some(filter) => Ok(Self(filter)),
            None => Err(crate::error::EngineError::invalid(
                "Invalid row filter: an empty where clause restricts nothing",
            )),
        }
    }

    pub(crate) fn filter(&self) -> &Filter {
        &self.0
    }
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
