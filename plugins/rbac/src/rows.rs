//! Row filters: a grant's `where`, a clause in Chroma's filter language
//! with `${user}` and `${attr.NAME}` taken from the identity, which the host
//! enforces on every record operation (contract 0.2's `allow-where`).

use prism_plugin_sdk::Identity;
use serde_json::{Map, Value};

/// Chroma's filter operators; a `$` key outside this list is a typo the
/// host would refuse on every request, so the policy is refused instead.
const OPERATORS: &[&str] = &[
    "$and",
    "$or",
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$contains",
    "$not_contains",
    "$regex",
    "$not_regex",
];

/// A `where` clause as the policy wrote it, placeholders unresolved.
#[derive(Debug, Clone, PartialEq)]
pub struct RowTemplate(Value);

impl RowTemplate {
    /// Check `clause`: a non-empty mapping, known operators, and only the
    /// placeholders `${user}` and `${attr.NAME}`. The error names what is
    /// wrong; `placeholder` is the text to look for to find its line.
    pub fn new(clause: Value) -> Result<Self, TemplateError> {
        match &clause {
            Value::Object(map) if !map.is_empty() => {}
            _ => {
                return Err(TemplateError {
                    message: "`where` must be a non-empty mapping, e.g. {owner: \"${user}\"}"
                        .into(),
                    needle: "where".into(),
                });
            }
        }
        check(&clause)?;
        Ok(RowTemplate(clause))
    }

    /// The clause for `identity`; `None` when it lacks an attribute the
    /// clause needs (then the grant covers no record: fail closed).
    pub fn resolve(&self, identity: &Identity) -> Option<Value> {
        resolve(&self.0, identity)
    }
}

/// What is wrong with a `where`, and a piece of its text to find the line by.
#[derive(Debug)]
pub struct TemplateError {
    pub message: String,
    pub needle: String,
}

fn check(value: &Value) -> Result<(), TemplateError> {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key.starts_with('$') && !OPERATORS.contains(&key.as_str()) {
                    return Err(TemplateError {
                        message: format!(
                            "`{key}` is not a filter operator (operators: {})",
                            OPERATORS.join(", ")
                        ),
                        needle: key.clone(),
                    });
                }
                check(inner)?;
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(check),
        Value::String(text) => placeholders(text).try_for_each(|p| match p {
            Placeholder::User | Placeholder::Attribute(_) => Ok(()),
            Placeholder::Unknown(name) => Err(TemplateError {
                message: format!(
                    "unknown substitution `${{{name}}}` (known: `${{user}}`, `${{attr.NAME}}`)"
                ),
                needle: format!("${{{name}}}"),
            }),
        }),
        _ => Ok(()),
    }
}

fn resolve(value: &Value, identity: &Identity) -> Option<Value> {
    Some(match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Some((k.clone(), resolve(v, identity)?)))
                .collect::<Option<Map<String, Value>>>()?,
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve(v, identity))
                .collect::<Option<Vec<_>>>()?,
        ),
        Value::String(text) => Value::String(substitute(text, identity)?),
        other => other.clone(),
    })
}

enum Placeholder<'a> {
    User,
    Attribute(&'a str),
    Unknown(&'a str),
}

/// A piece of a string: text as written, or a `${...}` placeholder.
enum Segment<'a> {
    Text(&'a str),
    Placeholder(Placeholder<'a>),
}

/// `text` cut into its literal pieces and `${...}` placeholders, in order
/// (an unclosed `${` is an unknown placeholder).
fn segments(text: &str) -> impl Iterator<Item = Segment<'_>> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some(start) = rest.find("${") else {
            return Some(Segment::Text(std::mem::take(&mut rest)));
        };
        if start > 0 {
            let (literal, tail) = rest.split_at(start);
            rest = tail;
            return Some(Segment::Text(literal));
        }
        let after = &rest[2..];
        let Some(end) = after.find('}') else {
            rest = "";
            return Some(Segment::Placeholder(Placeholder::Unknown(after)));
        };
        let name = &after[..end];
        rest = &after[end + 1..];
        Some(Segment::Placeholder(match name {
            "user" => Placeholder::User,
            _ => match name.strip_prefix("attr.") {
                Some(attr) if !attr.is_empty() => Placeholder::Attribute(attr),
                _ => Placeholder::Unknown(name),
            },
        }))
    })
}

/// The `${...}` placeholders of `text`, in order.
fn placeholders(text: &str) -> impl Iterator<Item = Placeholder<'_>> {
    segments(text).filter_map(|segment| match segment {
        Segment::Placeholder(p) => Some(p),
        Segment::Text(_) => None,
    })
}

/// `text` with its placeholders replaced; `None` when the identity lacks an
/// attribute it names.
fn substitute(text: &str, identity: &Identity) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    for segment in segments(text) {
        match segment {
            Segment::Text(literal) => out.push_str(literal),
            Segment::Placeholder(Placeholder::User) => out.push_str(&identity.user_id),
            Segment::Placeholder(Placeholder::Attribute(name)) => {
                let (_, value) = identity.attributes.iter().find(|(k, _)| k == name)?;
                out.push_str(value);
            }
            Segment::Placeholder(Placeholder::Unknown(_)) => return None,
        }
    }
    Some(out)
}

/// The clause that lets through what any of `clauses` lets through.
pub fn any_of(mut clauses: Vec<Value>) -> Value {
    clauses.dedup();
    if clauses.len() == 1 {
        clauses.remove(0)
    } else {
        serde_json::json!({ "$or": clauses })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn who() -> Identity {
        let mut alice = Identity::user("alice");
        alice.attributes.push(("team".into(), "blue".into()));
        alice
    }

    #[test]
    fn placeholders_take_the_identity() {
        let t = RowTemplate::new(json!({"$or": [{"owner": "${user}"}, {"team": {"$in": ["${attr.team}", "all"]}}], "note": "u-${user}-${attr.team}"})).unwrap();
        assert_eq!(
            t.resolve(&who()).unwrap(),
            json!({"$or": [{"owner": "alice"}, {"team": {"$in": ["blue", "all"]}}], "note": "u-alice-blue"})
        );
        let t = RowTemplate::new(json!({"dept": "${attr.dept}"})).unwrap();
        assert_eq!(
            t.resolve(&who()),
            None,
            "a missing attribute covers nothing"
        );
    }

    #[test]
    fn text_around_placeholders_is_kept_and_unclosed_ones_are_refused() {
        assert_eq!(
            substitute("a${user}b${user}", &who()).as_deref(),
            Some("aalicebalice")
        );
        assert_eq!(
            substitute("no placeholders", &who()).as_deref(),
            Some("no placeholders")
        );
        assert_eq!(substitute("", &who()).as_deref(), Some(""));
        assert!(RowTemplate::new(json!({"owner": "x-${user"})).is_err());
    }

    #[test]
    fn values_are_never_parsed_as_filters() {
        let mut mallory = Identity::user("\"}, \"$or\": [{}]");
        mallory.attributes.clear();
        let t = RowTemplate::new(json!({"owner": "${user}"})).unwrap();
        assert_eq!(
            t.resolve(&mallory).unwrap(),
            json!({"owner": "\"}, \"$or\": [{}]"})
        );
    }

    #[test]
    fn mistakes_are_refused() {
        for (bad, needle) in [
            (json!({"owner": "${usr}"}), "${usr}"),
            (json!({"owner": "${attr.}"}), "${attr.}"),
            (json!({"owner": {"$eqq": "x"}}), "$eqq"),
            (json!({}), "where"),
            (json!("owner"), "where"),
        ] {
            let e = RowTemplate::new(bad).unwrap_err();
            assert_eq!(e.needle, needle, "{}", e.message);
        }
    }

    #[test]
    fn several_clauses_are_ored() {
        assert_eq!(any_of(vec![json!({"a": 1})]), json!({"a": 1}));
        assert_eq!(
            any_of(vec![json!({"a": 1}), json!({"a": 1}), json!({"b": 2})]),
            json!({"$or": [{"a": 1}, {"b": 2}]})
        );
    }
}
