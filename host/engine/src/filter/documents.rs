//! Document conditions tested in Rust, for a filter with many of them: each
//! full-text lookup costs about half a millisecond even on a small
//! collection (common trigrams have long posting lists, and merging the
//! phrases into one query costs the same), so past a few dozen conditions
//! one pass over the documents, testing all of them, is far cheaper.
//!
//! The tests mean what the SQL means: a substring test (the trigram index
//! and `instr` both find exactly the substrings) and a Rust regex match
//! (`prism_regexp`); a missing document contains nothing and matches no
//! pattern, so it passes the negated tests.

use regex::Regex;

use super::DocumentOp;
use crate::error::{EngineError, Result};

/// One compiled document condition.
enum Test {
    Contains(String),
    Regex(Regex),
}

/// The conditions of one `$and` (`conjunction`) or `$or`.
pub struct DocumentTests {
    tests: Vec<(Test, bool)>,
    conjunction: bool,
}

impl DocumentTests {
    /// Compile `ops` (their patterns were checked when the filter was parsed).
    pub fn new(ops: &[&DocumentOp], conjunction: bool) -> Result<Self> {
        let tests = ops
            .iter()
            .map(|op| {
                Ok(match op {
                    DocumentOp::Contains(s) => (Test::Contains(s.clone()), false),
                    DocumentOp::NotContains(s) => (Test::Contains(s.clone()), true),
                    DocumentOp::Regex(p) => (Test::Regex(regex(p)?), false),
                    DocumentOp::NotRegex(p) => (Test::Regex(regex(p)?), true),
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self { tests, conjunction })
    }

    /// Whether a record with `document` passes: all tests for a
    /// conjunction, any for a disjunction.
    pub fn passes(&self, document: Option<&str>) -> bool {
        let pass = |(test, negated): &(Test, bool)| {
            let hit = document.is_some_and(|d| match test {
                Test::Contains(needle) => d.contains(needle.as_str()),
                Test::Regex(re) => re.is_match(d),
            });
            hit != *negated
        };
        if self.conjunction {
            self.tests.iter().all(pass)
        } else {
            self.tests.iter().any(pass)
        }
    }
}

fn regex(pattern: &str) -> Result<Regex> {
    Regex::new(pattern).map_err(|e| EngineError::invalid(format!("Regex syntax errror: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tests(ops: &[DocumentOp], conjunction: bool) -> DocumentTests {
        let refs: Vec<&DocumentOp> = ops.iter().collect();
        DocumentTests::new(&refs, conjunction).unwrap()
    }

    #[test]
    fn tests_follow_the_sql_meaning() {
        let ops = [
            DocumentOp::Contains("ell".into()),
            DocumentOp::NotRegex("^[A-Z]".into()),
        ];
        let all = tests(&ops, true);
        assert!(all.passes(Some("hello")));
        assert!(!all.passes(Some("Hello")), "case-sensitive");
        assert!(!all.passes(None), "a missing document contains nothing");
        let any = tests(&ops, false);
        assert!(any.passes(Some("Hello")));
        assert!(any.passes(None), "but passes a negated pattern");
        assert!(!any.passes(Some("Xyz")));
        let nul = tests(&[DocumentOp::Contains("a\0b".into())], true);
        assert!(nul.passes(Some("xa\0by")));
        assert!(!nul.passes(Some("ab")));
    }

    #[test]
    fn empty_junctions_keep_their_meaning() {
        assert!(tests(&[], true).passes(None));
        assert!(!tests(&[], false).passes(Some("x")));
    }
}
