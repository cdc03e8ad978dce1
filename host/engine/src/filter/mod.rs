//! Chroma's `where` / `where_document` language: parsing into a typed tree
//! ([`parse`]), simplifying it ([`normalize`]), compiling it to SQL over the
//! metadata index and the documents' trigram index ([`sql`],
//! [`document_index`]), and answering filters too large for one SQL
//! statement in parts ([`plan`], [`sets`]).

pub(crate) mod document_index;
mod documents;
pub(crate) mod eval;
#[cfg(test)]
mod fixture;
mod normalize;
mod parse;
pub(crate) mod plan;
pub(crate) mod sets;
pub mod sql;

pub use parse::{MAX_NESTING, parse_where, parse_where_document};

use crate::validate::ScalarValue;

/// A parsed filter. `where` and `where_document` both parse into this tree and
/// are ANDed together.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// All children match (an empty list matches everything).
    And(Vec<Filter>),
    /// At least one child matches (an empty list matches nothing).
    Or(Vec<Filter>),
    /// A condition on one metadata key.
    Metadata {
        /// The metadata key.
        key: String,
        /// The comparison.
        op: MetadataOp,
    },
    /// A condition on the document text.
    Document(DocumentOp),
}

/// Comparisons on a metadata key.
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataOp {
    /// Scalar equality; requires the key.
    Eq(ScalarValue),
    /// Scalar inequality; matches records without the key.
    Ne(ScalarValue),
    /// Numeric ordering; requires the key.
    Cmp(Ordering, ScalarValue),
    /// Membership of the scalar value in a list; requires the key.
    In(Vec<ScalarValue>),
    /// Negated membership; matches records without the key.
    Nin(Vec<ScalarValue>),
    /// An array-valued field contains the value.
    Contains(ScalarValue),
    /// An array-valued field does not contain the value (or the key is absent).
    NotContains(ScalarValue),
}

/// Numeric comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ordering {
    /// `$gt`
    Gt,
    /// `$gte`
    Gte,
    /// `$lt`
    Lt,
    /// `$lte`
    Lte,
}

impl Ordering {
    /// The SQL operator.
    pub fn sql(self) -> &'static str {
        match self {
            Self::Gt => ">",
            Self::Gte => ">=",
            Self::Lt => "<",
            Self::Lte => "<=",
        }
    }
}

/// Conditions on the document.
#[derive(Debug, Clone, PartialEq)]
pub enum DocumentOp {
    /// Case-sensitive substring.
    Contains(String),
    /// Not a substring; a missing document matches.
    NotContains(String),
    /// Regular expression (Rust `regex` syntax) matches somewhere.
    Regex(String),
    /// Regular expression does not match; a missing document matches.
    NotRegex(String),
}

impl Filter {
    /// AND two optional filters.
    pub fn and(a: Option<Filter>, b: Option<Filter>) -> Option<Filter> {
        match (a, b) {
            (Some(a), Some(b)) => Some(Filter::And(vec![a, b])),
            (a, None) => a,
            (None, b) => b,
        }
    }
}
