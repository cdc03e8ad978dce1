//! What one add, update or upsert may hold. A write holds the single writer
//! while SQLite indexes it, so these bounds are what keeps one request from
//! stalling every other write for minutes. Each is checked before the
//! request waits for the writer, and a request over one is refused whole,
//! with a message naming the bound and the setting that raises it.
//!
//! The defaults sit above what Chroma's clients send in normal use (and
//! above what Chroma 1.5.9 itself can store, where it has a limit). They keep
//! one record's indexing under a second and one request's metadata to a few
//! seconds; a request's documents together are bounded by the body limit
//! (the trigram index takes up to 2 s per MiB of text: random characters;
//! prose and code about 0.3 s).

use serde_json::{Map, Value};

use crate::error::{EngineError, Result};
use crate::types::RecordBatch;

/// One bound: the environment variable that sets it and its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The server's environment variable, named in refusals.
    pub variable: &'static str,
    /// The bound when the variable is not set.
    pub default: usize,
}

/// Records per write: the batch size the pre-flight check advertises, which
/// Chroma's clients split their writes by (Chroma's Python server refuses
/// bigger batches as well).
pub const BATCH_SIZE: Limit = Limit {
    variable: "PRISM_MAX_BATCH_SIZE",
    default: 5461,
};

/// Bytes of one document. The trigram index holds a document as chunks
/// (`filter::document_index`), so it costs time linear in the document's
/// length, as the same text in many documents does: 1 MiB of random
/// printable text, the costliest, about 2 s, 10 MiB 20 s (one row per
/// document took 15 s and ten minutes); prose and code a sixth of that.
/// 1 MiB is more than 200k tokens, far more than an embedding model reads
/// at once, and keeps the costliest document to about 2 s of the writer.
pub const DOCUMENT_BYTES: Limit = Limit {
    variable: "PRISM_MAX_DOCUMENT_BYTES",
    default: 1024 * 1024,
};

/// Keys of one record's metadata (Chroma Cloud allows 32).
pub const METADATA_KEYS: Limit = Limit {
    variable: "PRISM_MAX_METADATA_KEYS",
    default: 4096,
};

/// Elements of one metadata array. Chroma 1.5.9 stores at most 5,461 (more
/// fail with a 500 and leave the collection unreadable).
pub const METADATA_ARRAY_LENGTH: Limit = Limit {
    variable: "PRISM_MAX_METADATA_ARRAY_LENGTH",
    default: 10_000,
};

/// Metadata values one write indexes, each array element counted: every one
/// is a row of the metadata index, 3 to 7 microseconds each. A full batch of
/// records with 32 keys each is about a third of the default; the payload
/// limit alone lets one request index 20 million (measured: 3 minutes).
pub const BATCH_METADATA_VALUES: Limit = Limit {
    variable: "PRISM_MAX_BATCH_METADATA_VALUES",
    default: 500_000,
};

/// Every bound, for the server's list of the variables it reads.
pub const ALL: &[Limit] = &[
    BATCH_SIZE,
    DOCUMENT_BYTES,
    METADATA_KEYS,
    METADATA_ARRAY_LENGTH,
    BATCH_METADATA_VALUES,
];

/// The bounds one write request is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteLimits {
    /// Most records in one request ([`BATCH_SIZE`]).
    pub max_batch_size: usize,
    /// Largest document in bytes of UTF-8 ([`DOCUMENT_BYTES`]).
    pub max_document_bytes: usize,
    /// Most keys in one record's metadata ([`METADATA_KEYS`]).
    pub max_metadata_keys: usize,
    /// Most elements in one metadata array ([`METADATA_ARRAY_LENGTH`]).
    pub max_metadata_array_length: usize,
    /// Most metadata values one request indexes ([`BATCH_METADATA_VALUES`]).
    pub max_batch_metadata_values: usize,
}

impl Default for WriteLimits {
    fn default() -> Self {
        Self {
            max_batch_size: BATCH_SIZE.default,
            max_document_bytes: DOCUMENT_BYTES.default,
            max_metadata_keys: METADATA_KEYS.default,
            max_metadata_array_length: METADATA_ARRAY_LENGTH.default,
            max_batch_metadata_values: BATCH_METADATA_VALUES.default,
        }
    }
}

/// Keys are the client's text; a refusal quotes at most this many characters.
const QUOTED_KEY_CHARS: usize = 40;

fn refuse(what: String, limit: &Limit) -> EngineError {
    EngineError::invalid(format!("{what} The limit is set by {}.", limit.variable))
}

impl WriteLimits {
    /// Refuse `batch` if it is over any bound; it is all or nothing, so a
    /// refused batch writes nothing.
    pub fn check(&self, batch: &RecordBatch) -> Result<()> {
        let n = batch.len();
        if n > self.max_batch_size {
            return Err(refuse(
                format!(
                    "Cannot submit more than {max} records at once, got {n}: submit them in batches of {max} or fewer.",
                    max = self.max_batch_size
                ),
                &BATCH_SIZE,
            ));
        }
        for (i, document) in batch.documents.iter().flatten().enumerate() {
            let bytes = document.as_ref().map_or(0, String::len);
            if bytes > self.max_document_bytes {
                return Err(refuse(
                    format!(
                        "Document at index {i} is {bytes} bytes, over the limit of {} bytes per document.",
                        self.max_document_bytes
                    ),
                    &DOCUMENT_BYTES,
                ));
            }
        }
        let mut values = 0usize;
        for (i, metadata) in batch.metadatas.iter().flatten().enumerate() {
            if let Some(metadata) = metadata {
                values = values.saturating_add(self.check_metadata(i, metadata)?);
            }
        }
        if values > self.max_batch_metadata_values {
            return Err(refuse(
                format!(
                    "The metadata of this request holds {values} values (array elements counted one by one), over the limit of {} per request: send fewer records at once.",
                    self.max_batch_metadata_values
                ),
                &BATCH_METADATA_VALUES,
            ));
        }
        Ok(())
    }

    /// Check the metadata of the record at `index`; how many values it
    /// puts in the metadata index.
    fn check_metadata(&self, index: usize, metadata: &Map<String, Value>) -> Result<usize> {
        if metadata.len() > self.max_metadata_keys {
            return Err(refuse(
                format!(
                    "Metadata at index {index} has {} keys, over the limit of {} keys per record.",
                    metadata.len(),
                    self.max_metadata_keys
                ),
                &METADATA_KEYS,
            ));
        }
        let mut values = 0usize;
        for (key, value) in metadata {
            values += match value {
                Value::Array(items) if items.len() > self.max_metadata_array_length => {
                    return Err(refuse(
                        format!(
                            "Metadata at index {index}: the array under key {} has {} elements, over the limit of {} elements per array.",
                            quoted(key),
                            items.len(),
                            self.max_metadata_array_length
                        ),
                        &METADATA_ARRAY_LENGTH,
                    ));
                }
                Value::Array(items) => items.len(),
                // Nulls delete a key; sparse vectors are stored, not indexed.
                Value::Null | Value::Object(_) => 0,
                _ => 1,
            };
        }
        Ok(values)
    }
}

fn quoted(key: &str) -> String {
    match key.char_indices().nth(QUOTED_KEY_CHARS) {
        Some((end, _)) => format!("'{}...'", &key[..end]),
        None => format!("'{key}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn small() -> WriteLimits {
        WriteLimits {
            max_batch_size: 3,
            max_document_bytes: 10,
            max_metadata_keys: 2,
            max_metadata_array_length: 4,
            max_batch_metadata_values: 6,
        }
    }

    fn batch(n: usize) -> RecordBatch {
        RecordBatch {
            ids: (0..n).map(|i| i.to_string()).collect(),
            ..Default::default()
        }
    }

    fn with_documents(docs: &[Option<&str>]) -> RecordBatch {
        RecordBatch {
            documents: Some(docs.iter().map(|d| d.map(str::to_string)).collect()),
            ..batch(docs.len())
        }
    }

    fn with_metadatas(metas: Vec<Value>) -> RecordBatch {
        RecordBatch {
            metadatas: Some(metas.into_iter().map(|m| m.as_object().cloned()).collect()),
            ..batch(0)
        }
    }

    fn refusal(b: &RecordBatch) -> String {
        small().check(b).unwrap_err().to_string()
    }

    #[test]
    fn bounds_are_inclusive_and_refusals_name_the_setting() {
        assert!(small().check(&batch(3)).is_ok());
        let m = refusal(&batch(4));
        assert!(
            m.starts_with("Cannot submit more than 3 records at once, got 4"),
            "{m}"
        );
        assert!(
            m.ends_with("The limit is set by PRISM_MAX_BATCH_SIZE."),
            "{m}"
        );

        assert!(
            small()
                .check(&with_documents(&[Some("0123456789"), None]))
                .is_ok()
        );
        let m = refusal(&with_documents(&[None, Some("0123456789a")]));
        assert!(
            m.starts_with("Document at index 1 is 11 bytes, over the limit of 10 bytes"),
            "{m}"
        );
        assert!(m.contains("PRISM_MAX_DOCUMENT_BYTES"), "{m}");
        // Bytes, not characters: five two-byte characters and one more.
        let m = refusal(&with_documents(&[Some("ééééé."), None]));
        assert!(m.contains("is 11 bytes"), "{m}");
    }

    #[test]
    fn metadata_keys_arrays_and_the_request_total_are_bounded() {
        assert!(
            small()
                .check(&with_metadatas(vec![json!({"a": 1, "b": [1, 2, 3, 4]})]))
                .is_ok()
        );
        let m = refusal(&with_metadatas(vec![
            json!({"a": 1}),
            json!({"a": 1, "b": 2, "c": 3}),
        ]));
        assert!(
            m.starts_with("Metadata at index 1 has 3 keys, over the limit of 2"),
            "{m}"
        );
        assert!(m.contains("PRISM_MAX_METADATA_KEYS"), "{m}");

        let m = refusal(&with_metadatas(vec![json!({"tags": [1, 2, 3, 4, 5]})]));
        assert!(
            m.starts_with("Metadata at index 0: the array under key 'tags' has 5 elements, over the limit of 4"),
            "{m}"
        );
        assert!(m.contains("PRISM_MAX_METADATA_ARRAY_LENGTH"), "{m}");

        // 4 + 1 + 1 = 6 values fit; one more record's value does not.
        let six = vec![json!({"a": [1, 2, 3, 4], "b": "x"}), json!({"c": true})];
        assert!(small().check(&with_metadatas(six.clone())).is_ok());
        let mut seven = six;
        seven.push(json!({"d": 1.5}));
        let m = refusal(&with_metadatas(seven));
        assert!(
            m.starts_with("The metadata of this request holds 7 values"),
            "{m}"
        );
        assert!(m.contains("PRISM_MAX_BATCH_METADATA_VALUES"), "{m}");
    }

    #[test]
    fn nulls_and_sparse_vectors_are_not_indexed_values() {
        let sparse = json!({"#type": "sparse_vector", "indices": [1, 2, 3, 4, 5, 6, 7], "values": vec![0.1; 7]});
        let metas = vec![json!({"a": null, "s": sparse}); 3];
        assert!(small().check(&with_metadatas(metas)).is_ok());
    }

    #[test]
    fn long_keys_are_shortened_in_refusals() {
        let mut metadata = Map::new();
        metadata.insert("k".repeat(1000), json!([0, 0, 0, 0, 0]));
        let m = refusal(&with_metadatas(vec![Value::Object(metadata)]));
        assert!(
            m.contains(&format!("'{}...'", "k".repeat(QUOTED_KEY_CHARS))),
            "{m}"
        );
        assert!(m.len() < 300, "{m}");
    }
}
