//! What the fuzz targets share: a scratch engine, and a reference evaluator
//! of Chroma's filter language to hold the SQL compilers to.

use std::path::PathBuf;

use prism_engine::filter::{DocumentOp, Filter, MetadataOp, Ordering};
use prism_engine::validate::ScalarValue;
use prism_engine::{Engine, EngineOptions};
use serde_json::{Map, Value};

pub const TENANT: &str = prism_engine::DEFAULT_TENANT;
pub const DATABASE: &str = prism_engine::DEFAULT_DATABASE;

/// A fresh directory for this process. libFuzzer leaves with `exit`, so
/// nothing here is removed: `scripts/fuzz.sh` points `TMPDIR` at a directory
/// it deletes afterwards (tmpfs when there is one, so the engine's fsyncs
/// cost nothing).
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("prism-fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// An engine in a scratch directory, without the background graph saver (a
/// thread waking at its own pace would make runs differ).
pub fn scratch_engine(name: &str) -> Engine {
    let mut options = EngineOptions::new(scratch_dir(name));
    options.readers = 2;
    options.save_interval = None;
    Engine::open(options).expect("engine opens")
}

/// Whether `filter` selects a record with this document and metadata, by
/// the rules Prism documents for Chroma's language (tests/e2e/OBSERVED.md and
/// the engine's filter tests): metadata conditions see only values of the
/// operand's kind (ints and floats are one kind, compared numerically; bools
/// are never numbers), `$ne`/`$nin`/`$not_contains` also match records
/// without the key, array fields answer only `$contains`/`$not_contains`,
/// document conditions are case-sensitive and a missing document matches
/// only the negated ones.
pub fn reference_match(
    filter: &Filter,
    document: Option<&str>,
    metadata: Option<&Map<String, Value>>,
) -> bool {
    match filter {
        Filter::And(children) => children
            .iter()
            .all(|c| reference_match(c, document, metadata)),
        Filter::Or(children) => children
            .iter()
            .any(|c| reference_match(c, document, metadata)),
        Filter::Metadata { key, op } => {
            let value = metadata.and_then(|m| m.get(key));
            let scalar = value
                .filter(|v| !v.is_array())
                .and_then(ScalarValue::from_json);
            let elements: Vec<ScalarValue> = match value {
                Some(Value::Array(items)) => {
                    items.iter().filter_map(ScalarValue::from_json).collect()
                }
                _ => Vec::new(),
            };
            let eq = |want: &ScalarValue| scalar.as_ref().is_some_and(|v| same(v, want));
            match op {
                MetadataOp::Eq(v) => eq(v),
                MetadataOp::Ne(v) => !eq(v),
                MetadataOp::Cmp(ord, v) => scalar
                    .as_ref()
                    .and_then(|s| numeric_cmp(s, v))
                    .is_some_and(|o| match ord {
                        Ordering::Gt => o.is_gt(),
                        Ordering::Gte => o.is_ge(),
                        Ordering::Lt => o.is_lt(),
                        Ordering::Lte => o.is_le(),
                    }),
                MetadataOp::In(list) => list.iter().any(eq),
                MetadataOp::Nin(list) => !list.iter().any(eq),
                MetadataOp::Contains(v) => elements.iter().any(|e| same(e, v)),
                MetadataOp::NotContains(v) => !elements.iter().any(|e| same(e, v)),
            }
        }
        Filter::Document(op) => match op {
            DocumentOp::Contains(needle) => document.is_some_and(|d| d.contains(needle.as_str())),
            DocumentOp::NotContains(needle) => {
                !document.is_some_and(|d| d.contains(needle.as_str()))
            }
            DocumentOp::Regex(p) => document.is_some_and(|d| regex(p).is_match(d)),
            DocumentOp::NotRegex(p) => !document.is_some_and(|d| regex(p).is_match(d)),
        },
    }
}

fn regex(pattern: &str) -> regex::Regex {
    regex::Regex::new(pattern).expect("the parser accepted the pattern")
}

/// Equality of a stored value and an operand of the same kind.
fn same(stored: &ScalarValue, operand: &ScalarValue) -> bool {
    match (stored, operand) {
        (ScalarValue::Str(a), ScalarValue::Str(b)) => a == b,
        (ScalarValue::Bool(a), ScalarValue::Bool(b)) => a == b,
        _ => numeric_cmp(stored, operand).is_some_and(|o| o.is_eq()),
    }
}

/// Exact comparison of two numbers, ints against floats included (as SQLite
/// compares them); `None` unless both are numbers.
fn numeric_cmp(a: &ScalarValue, b: &ScalarValue) -> Option<std::cmp::Ordering> {
    use ScalarValue::{Float, Int};
    match (a, b) {
        (Int(x), Int(y)) => Some(x.cmp(y)),
        (Float(x), Float(y)) => x.partial_cmp(y),
        (Int(x), Float(y)) => int_float_cmp(*x, *y),
        (Float(x), Int(y)) => int_float_cmp(*y, *x).map(std::cmp::Ordering::reverse),
        _ => None,
    }
}

fn int_float_cmp(i: i64, f: f64) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering::{Greater, Less};
    if f.is_nan() {
        return None;
    }
    // 2^63 is exactly representable; every i64 lies in [-2^63, 2^63).
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f >= TWO_63 {
        return Some(Less);
    }
    if f < -TWO_63 {
        return Some(Greater);
    }
    let whole = f.trunc();
    Some((i).cmp(&(whole as i64)).then_with(|| {
        let frac = f - whole;
        if frac > 0.0 {
            Less
        } else if frac < 0.0 {
            Greater
        } else {
            std::cmp::Ordering::Equal
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::{Equal, Greater, Less};

    #[test]
    fn ints_and_floats_compare_exactly() {
        assert_eq!(int_float_cmp(1, 1.0), Some(Equal));
        assert_eq!(int_float_cmp(1, 1.5), Some(Less));
        assert_eq!(int_float_cmp(-1, -1.5), Some(Greater));
        // i64::MAX rounds up to 2^63 as a float.
        assert_eq!(int_float_cmp(i64::MAX, i64::MAX as f64), Some(Less));
        assert_eq!(int_float_cmp(i64::MIN, i64::MIN as f64), Some(Equal));
        assert_eq!(int_float_cmp(i64::MIN, -1e19), Some(Greater));
        assert_eq!(
            int_float_cmp((1 << 53) + 1, (1u64 << 53) as f64),
            Some(Greater)
        );
    }
}
