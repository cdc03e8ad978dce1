//! Record requests as their JSON bodies arrive, run against a fresh
//! collection and held to a model of the collection.
//!
//! Input: a JSON array of requests, each a body of `add`, `upsert`,
//! `update`, `delete`, `get`, `query` or `count` with an `"op"` naming it
//! (`{"op": "add", "ids": [...], "embeddings": [...]}`); a first
//! `{"op": "create", "metadata": ..., "configuration": ...}` configures the
//! collection. Embeddings are float arrays or base64 strings of
//! little-endian f32s, as clients send them.
//!
//! The wire types and the base64 decoding are prism-server's
//! (`host/server/src/api/types.rs`), which cannot be built here without
//! wasmtime; this target mirrors their shapes and hands the engine what they
//! would, minus the server's own metadata shape checks, so that the engine's
//! validation (`validate.rs`) sees everything. Checked: no panic; every
//! refusal is an invalid argument (never a storage or internal error); an
//! accepted write holds Chroma's rules (non-empty ids, finite embeddings of
//! the collection's dimension); and reads answer what the model holds:
//! `get` every field exactly (embeddings bit for bit), `count` the number of
//! records, `delete` the records its selector picks, `query` exactly
//! `min(n_results, matches)` distinct matching records, nearest first.

#![no_main]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use prism_engine::collection_config::CreateConfiguration;
use prism_engine::filter::{Filter, parse_where, parse_where_document};
use prism_engine::types::{Include, IncludeField, RecordBatch, WriteKind};
use prism_engine::{
    DeleteRequest, Engine, EngineError, GetRequest, NewCollection, QueryRequest, RecordSelector,
};
use prism_fuzz::{DATABASE, TENANT, reference_match, scratch_engine};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Embeddings {
    Floats(Vec<Option<Vec<f32>>>),
    Base64(Vec<Option<String>>),
}

impl Embeddings {
    /// As prism-server decodes them (`decode_base64_embedding`), except that
    /// non-finite values go through: the engine must refuse them itself.
    fn decode(self) -> Option<Vec<Option<Vec<f32>>>> {
        match self {
            Embeddings::Floats(v) => Some(v),
            Embeddings::Base64(v) => v
                .into_iter()
                .map(|t| match t {
                    None => Some(None),
                    Some(t) => {
                        let bytes = base64::engine::general_purpose::STANDARD.decode(t).ok()?;
                        (bytes.len() % 4 == 0).then(|| {
                            Some(
                                bytes
                                    .chunks_exact(4)
                                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                                    .collect(),
                            )
                        })
                    }
                })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Write {
    ids: Vec<String>,
    embeddings: Option<Embeddings>,
    documents: Option<Vec<Option<String>>>,
    uris: Option<Vec<Option<String>>>,
    metadatas: Option<Vec<Option<Map<String, Value>>>>,
}

#[derive(Debug, Deserialize, Default)]
struct Select {
    ids: Option<Vec<String>>,
    #[serde(rename = "where")]
    where_clause: Option<Value>,
    where_document: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Op {
    Create {
        metadata: Option<Map<String, Value>>,
        configuration: Option<CreateConfiguration>,
    },
    Add(Write),
    Upsert(Write),
    Update(Write),
    Delete {
        #[serde(flatten)]
        select: Select,
        limit: Option<u32>,
    },
    Get {
        #[serde(flatten)]
        select: Select,
        limit: Option<u32>,
        offset: Option<u32>,
    },
    Query {
        #[serde(flatten)]
        select: Select,
        query_embeddings: Vec<Vec<f32>>,
        n_results: Option<u32>,
    },
    Count,
}

#[derive(Debug, Clone, PartialEq)]
struct Stored {
    id: String,
    embedding: Vec<f32>,
    document: Option<String>,
    uri: Option<String>,
    metadata: Option<Map<String, Value>>,
}

/// The collection as the engine should hold it, in storage order.
#[derive(Default)]
struct Model {
    records: Vec<Stored>,
    dimension: Option<usize>,
}

fn without_nulls(m: &Map<String, Value>) -> Option<Map<String, Value>> {
    let kept: Map<String, Value> = m
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!kept.is_empty()).then_some(kept)
}

impl Model {
    fn apply(&mut self, kind: WriteKind, batch: &RecordBatch) {
        fn col<T: Clone>(c: &Option<Vec<Option<T>>>, i: usize) -> Option<T> {
            c.as_ref().and_then(|c| c[i].clone())
        }
        for (i, id) in batch.ids.iter().enumerate() {
            let embedding: Option<Vec<f32>> = col(&batch.embeddings, i);
            let document: Option<String> = col(&batch.documents, i);
            let uri: Option<String> = col(&batch.uris, i);
            let metadata: Option<Map<String, Value>> = col(&batch.metadatas, i);
            match (self.records.iter_mut().find(|r| &r.id == id), kind) {
                (None, WriteKind::Update) | (Some(_), WriteKind::Add) => {}
                (None, _) => self.records.push(Stored {
                    id: id.clone(),
                    embedding: embedding.expect("add and upsert carry embeddings"),
                    document,
                    uri,
                    metadata: metadata.as_ref().and_then(without_nulls),
                }),
                (Some(r), _) => {
                    if let Some(e) = embedding {
                        r.embedding = e;
                    }
                    if let Some(d) = document {
                        r.document = Some(d);
                    }
                    if let Some(u) = uri {
                        r.uri = Some(u);
                    }
                    if let Some(update) = metadata {
                        let mut merged = r.metadata.take().unwrap_or_default();
                        for (k, v) in update {
                            if v.is_null() {
                                merged.remove(&k);
                            } else {
                                merged.insert(k, v);
                            }
                        }
                        r.metadata = (!merged.is_empty()).then_some(merged);
                    }
                }
            }
        }
        if let Some(e) = batch.embeddings.iter().flatten().flatten().next() {
            self.dimension.get_or_insert(e.len());
        }
    }

    /// Indexes of the records a selector picks, in storage order.
    fn select(&self, ids: Option<&[String]>, filter: Option<&Filter>) -> Vec<usize> {
        (0..self.records.len())
            .filter(|&i| {
                let r = &self.records[i];
                ids.is_none_or(|ids| ids.contains(&r.id))
                    && filter.is_none_or(|f| {
                        reference_match(f, r.document.as_deref(), r.metadata.as_ref())
                    })
            })
            .collect()
    }
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| scratch_engine("requests"))
}

/// A refusal must be the client's fault.
fn refused(what: &str, e: EngineError) {
    assert!(
        matches!(e, EngineError::InvalidArgument(_)),
        "{what} fails with {e:?}, not as an invalid argument"
    );
}

fn check_accepted_write(model: &Model, kind: WriteKind, batch: &RecordBatch) {
    assert!(batch.ids.iter().all(|id| !id.is_empty()), "an empty id");
    let n = batch.ids.len();
    for len in [
        batch.embeddings.as_ref().map(Vec::len),
        batch.documents.as_ref().map(Vec::len),
        batch.uris.as_ref().map(Vec::len),
        batch.metadatas.as_ref().map(Vec::len),
    ]
    .into_iter()
    .flatten()
    {
        assert_eq!(len, n, "a column of another length");
    }
    let embeddings: Vec<&Vec<f32>> = batch.embeddings.iter().flatten().flatten().collect();
    if kind != WriteKind::Update {
        assert_eq!(embeddings.len(), n, "add/upsert without every embedding");
    }
    for e in embeddings {
        assert!(!e.is_empty() && e.iter().all(|x| x.is_finite()), "{e:?}");
        if let Some(dim) = model.dimension {
            assert_eq!(e.len(), dim, "another dimension");
        }
    }
}

fn parse_filter(select: &Select) -> Result<Option<Filter>, EngineError> {
    let w = select
        .where_clause
        .as_ref()
        .map(parse_where)
        .transpose()?
        .flatten();
    let d = select
        .where_document
        .as_ref()
        .map(parse_where_document)
        .transpose()?
        .flatten();
    Ok(Filter::and(w, d))
}

fn selector(select: &Select) -> RecordSelector {
    RecordSelector {
        ids: select.ids.clone(),
        where_clause: select.where_clause.clone(),
        where_document: select.where_document.clone(),
        rows: None,
    }
}

const ALL_FIELDS: [IncludeField; 4] = [
    IncludeField::Embeddings,
    IncludeField::Documents,
    IncludeField::Uris,
    IncludeField::Metadatas,
];

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn check_record(got: &prism_engine::types::Record, want: &Stored) {
    assert_eq!(got.id, want.id);
    assert_eq!(
        got.embedding.as_deref().map(bits),
        Some(bits(&want.embedding)),
        "embedding of {}",
        want.id
    );
    assert_eq!(got.document, want.document, "document of {}", want.id);
    assert_eq!(got.uri, want.uri, "uri of {}", want.id);
    assert_eq!(got.metadata, want.metadata, "metadata of {}", want.id);
}

fn run(engine: &Engine, id: uuid::Uuid, model: &mut Model, op: Op) {
    let write = |kind, w: Write, model: &mut Model| {
        let embeddings = match w.embeddings.map(Embeddings::decode) {
            // prism-server refuses base64 it cannot decode.
            Some(None) => return,
            Some(Some(e)) => Some(e),
            None => None,
        };
        let batch = RecordBatch {
            ids: w.ids,
            embeddings: match (kind, embeddings) {
                // prism-server's add and upsert bodies require the field.
                (WriteKind::Add | WriteKind::Upsert, None) => return,
                (_, e) => e,
            },
            documents: w.documents,
            uris: w.uris,
            metadatas: w.metadatas,
        };
        match engine.write_records(TENANT, DATABASE, id, kind, &batch) {
            Ok(()) => {
                check_accepted_write(model, kind, &batch);
                model.apply(kind, &batch);
            }
            Err(e) => refused("a write", e),
        }
    };
    match op {
        Op::Create { .. } => {}
        Op::Add(w) => write(WriteKind::Add, w, model),
        Op::Upsert(w) => write(WriteKind::Upsert, w, model),
        Op::Update(w) => write(WriteKind::Update, w, model),
        Op::Count => {
            let n = engine.count_records(TENANT, DATABASE, id).expect("count");
            assert_eq!(n as usize, model.records.len(), "count");
        }
        Op::Delete { select, limit } => {
            let request = DeleteRequest {
                selector: selector(&select),
                limit,
            };
            let filter = parse_filter(&select);
            match engine.delete_records(TENANT, DATABASE, id, &request) {
                Ok(deleted) => {
                    let filter = filter.expect("the engine accepted the filter");
                    let mut victims = if select.ids.is_none() && filter.is_none() {
                        Vec::new()
                    } else {
                        model.select(select.ids.as_deref(), filter.as_ref())
                    };
                    victims.truncate(limit.map_or(usize::MAX, |l| l as usize));
                    assert_eq!(deleted as usize, victims.len(), "deleted");
                    for i in victims.into_iter().rev() {
                        model.records.remove(i);
                    }
                }
                Err(e) => refused("delete", e),
            }
        }
        Op::Get {
            select,
            limit,
            offset,
        } => {
            let request = GetRequest {
                selector: selector(&select),
                limit,
                offset: offset.unwrap_or(0),
                include: Include(ALL_FIELDS.to_vec()),
            };
            match engine.get_records(TENANT, DATABASE, id, &request) {
                Ok(got) => {
                    let filter = parse_filter(&select).expect("the engine accepted the filter");
                    let want: Vec<&Stored> = model
                        .select(select.ids.as_deref(), filter.as_ref())
                        .into_iter()
                        .skip(request.offset as usize)
                        .take(limit.map_or(usize::MAX, |l| l as usize))
                        .map(|i| &model.records[i])
                        .collect();
                    assert_eq!(got.records.len(), want.len(), "get: how many");
                    for (g, w) in got.records.iter().zip(want) {
                        check_record(g, w);
                    }
                }
                Err(e) => refused("get", e),
            }
        }
        Op::Query {
            select,
            query_embeddings,
            n_results,
        } => {
            let n_results = n_results.unwrap_or(10);
            let request = QueryRequest {
                embeddings: query_embeddings,
                n_results,
                selector: selector(&select),
                include: Include(ALL_FIELDS.to_vec()),
            };
            match engine.query(TENANT, DATABASE, id, &request) {
                Ok(result) => {
                    assert_eq!(result.hits.len(), request.embeddings.len());
                    let filter = parse_filter(&select).expect("the engine accepted the filter");
                    let matching = model.select(select.ids.as_deref(), filter.as_ref());
                    // Below the graph threshold every search is exact.
                    let k = (n_results as usize).min(matching.len());
                    for hits in &result.hits {
                        assert_eq!(hits.len(), k, "query: how many");
                        assert!(
                            hits.windows(2).all(|w| w[0].1.total_cmp(&w[1].1).is_le()),
                            "query: out of order"
                        );
                        let mut seen = std::collections::HashSet::new();
                        for (record, _) in hits {
                            assert!(seen.insert(&record.id), "{} twice", record.id);
                            let i = *matching
                                .iter()
                                .find(|&&i| model.records[i].id == record.id)
                                .unwrap_or_else(|| panic!("{} does not match", record.id));
                            check_record(record, &model.records[i]);
                        }
                    }
                }
                Err(e) => refused("query", e),
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Array(requests)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let ops: Vec<Op> = requests
        .into_iter()
        .take(16)
        .filter_map(|r| serde_json::from_value(r).ok())
        .collect();
    let engine = engine();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!("fuzz-{}", NEXT.fetch_add(1, AtomicOrdering::Relaxed));
    let (metadata, configuration) = match ops.first() {
        Some(Op::Create {
            metadata,
            configuration,
        }) => (metadata.clone(), configuration.clone()),
        _ => (None, None),
    };
    let created = engine.create_collection(
        TENANT,
        DATABASE,
        NewCollection {
            name: name.clone(),
            metadata,
            configuration,
            ..Default::default()
        },
    );
    let id = match created {
        Ok(c) => c.id,
        Err(e) => return refused("create_collection", e),
    };
    let mut model = Model::default();
    for op in ops {
        run(engine, id, &mut model, op);
    }
    // Every read once more at the end, whatever the input asked.
    run(engine, id, &mut model, Op::Count);
    run(
        engine,
        id,
        &mut model,
        Op::Get {
            select: Select::default(),
            limit: None,
            offset: None,
        },
    );
    if let Some(dim) = model.dimension {
        run(
            engine,
            id,
            &mut model,
            Op::Query {
                select: Select::default(),
                query_embeddings: vec![vec![0.5; dim]],
                n_results: Some(u32::MAX),
            },
        );
    }
    engine
        .delete_collection(TENANT, DATABASE, &name)
        .expect("delete the collection");
});
