//! A filter decided on one record in memory, with the meaning the SQL of
//! [`super::sql`] gives it: for a record that is not in this store (Prism's
//! gateway checks a write against a row filter before the upstream makes it).

use serde_json::{Map, Value};

use super::{DocumentOp, Filter, MetadataOp, Ordering};
use crate::error::{EngineError, Result};
use crate::validate::{IndexedValue, ScalarValue, indexed_values};

/// Whether a record with this metadata and document matches `filter`.
pub fn matches(
    filter: &Filter,
    metadata: Option<&Map<String, Value>>,
    document: Option<&str>,
) -> Result<bool> {
    let values = metadata.map(indexed_values).unwrap_or_default();
    Record {
        values: &values,
        document,
    }
    .matches(filter)
}

struct Record<'a> {
    values: &'a [IndexedValue],
    document: Option<&'a str>,
}

impl Record<'_> {
    fn matches(&self, filter: &Filter) -> Result<bool> {
        Ok(match filter {
            Filter::And(children) => {
                for child in children {
                    if !self.matches(child)? {
                        return Ok(false);
                    }
                }
                true
            }
            Filter::Or(children) => {
                for child in children {
                    if self.matches(child)? {
                        return Ok(true);
                    }
                }
                false
            }
            Filter::Metadata { key, op } => self.metadata(key, op),
            Filter::Document(op) => self.document(op)?,
        })
    }

    /// Whether some stored value of `key` (an array element or not) of the
    /// kind `like` has satisfies `test`: the SQL's `EXISTS` subquery.
    fn any(
        &self,
        key: &str,
        in_array: bool,
        like: &ScalarValue,
        test: impl Fn(&ScalarValue) -> bool,
    ) -> bool {
        self.values.iter().any(|row| {
            row.key == key
                && row.in_array == in_array
                && same_kind(like, &row.value)
                && test(&row.value)
        })
    }

    fn metadata(&self, key: &str, op: &MetadataOp) -> bool {
        match op {
            MetadataOp::Eq(v) => self.any(key, false, v, |s| equal(s, v)),
            MetadataOp::Ne(v) => !self.any(key, false, v, |s| equal(s, v)),
            MetadataOp::Cmp(ord, v) => self.any(key, false, v, |s| compare(s, v, *ord)),
            MetadataOp::In(values) => values.first().is_some_and(|first| {
                self.any(key, false, first, |s| values.iter().any(|v| equal(s, v)))
            }),
            MetadataOp::Nin(values) => !values.first().is_some_and(|first| {
                self.any(key, false, first, |s| values.iter().any(|v| equal(s, v)))
            }),
            MetadataOp::Contains(v) => self.any(key, true, v, |s| equal(s, v)),
            MetadataOp::NotContains(v) => !self.any(key, true, v, |s| equal(s, v)),
        }
    }

    fn document(&self, op: &DocumentOp) -> Result<bool> {
        let regex = |pattern: &str| {
            regex::Regex::new(pattern)
                .map_err(|e| EngineError::invalid(format!("Regex syntax errror: {e}")))
        };
        Ok(match (op, self.document) {
            (DocumentOp::Contains(needle), Some(d)) => d.contains(needle.as_str()),
            (DocumentOp::NotContains(needle), Some(d)) => !d.contains(needle.as_str()),
            (DocumentOp::Regex(p), Some(d)) => regex(p)?.is_match(d),
            (DocumentOp::NotRegex(p), Some(d)) => !regex(p)?.is_match(d),
            (DocumentOp::Contains(_) | DocumentOp::Regex(_), None) => false,
            (DocumentOp::NotContains(_) | DocumentOp::NotRegex(_), None) => true,
        })
    }
}

/// The SQL's kind condition: numbers compare with numbers, strings with
/// strings, bools with bools.
fn same_kind(a: &ScalarValue, b: &ScalarValue) -> bool {
    use ScalarValue::{Bool, Float, Int, Str};
    matches!(
        (a, b),
        (Str(_), Str(_)) | (Int(_) | Float(_), Int(_) | Float(_)) | (Bool(_), Bool(_))
    )
}

fn equal(a: &ScalarValue, b: &ScalarValue) -> bool {
    use ScalarValue::{Bool, Float, Int, Str};
    match (a, b) {
        (Str(x), Str(y)) => x == y,
        (Int(x), Int(y)) => x == y,
        (Int(_) | Float(_), Int(_) | Float(_)) => number(a) == number(b),
        (Bool(x), Bool(y)) => x == y,
        _ => false,
    }
}

fn compare(stored: &ScalarValue, bound: &ScalarValue, ord: Ordering) -> bool {
    use ScalarValue::{Bool, Int, Str};
    let order = match (stored, bound) {
        (Str(x), Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Int(x), Int(y)) => x.cmp(y),
        (Bool(x), Bool(y)) => x.cmp(y),
        _ => match number(stored).partial_cmp(&number(bound)) {
            Some(order) => order,
            None => return false,
        },
    };
    match ord {
        Ordering::Gt => order.is_gt(),
        Ordering::Gte => order.is_ge(),
        Ordering::Lt => order.is_lt(),
        Ordering::Lte => order.is_le(),
    }
}

fn number(value: &ScalarValue) -> f64 {
    match value {
        ScalarValue::Int(n) => *n as f64,
        ScalarValue::Float(f) => *f,
        ScalarValue::Bool(b) => f64::from(u8::from(*b)),
        ScalarValue::Str(_) => f64::NAN,
    }
}
