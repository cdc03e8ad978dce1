//! Filters answered in parts select exactly what one statement selects.

use super::*;
use crate::filter::fixture::fixture;
use crate::filter::parse_where;
use serde_json::{Value, json};

/// The ids `filter` selects in collection 7 when compiled whole.
fn whole(conn: &Connection, filter: &Filter) -> Vec<String> {
    ids_where(conn, sql::compile(filter, 7))
}

fn ids_where(conn: &Connection, cond: SqlCondition) -> Vec<String> {
    let sql = format!(
        "SELECT r.id FROM records r WHERE r.coll = 7 AND {} ORDER BY r.rowid",
        cond.sql
    );
    conn.prepare(&sql)
        .unwrap()
        .query_map(rusqlite::params_from_iter(cond.params), |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// The ids `filter` selects when planned within `limits`, and whether it
/// was split.
fn planned(conn: &Connection, filter: &Filter, limits: Limits) -> (Vec<String>, bool) {
    match plan_within(conn, filter, 7, limits).unwrap() {
        Plan::Filter(f) => (whole(conn, &f), false),
        Plan::Records(set) => (ids_where(conn, membership(&set)), true),
    }
}

/// Leaves of every kind, matching and not, on the fixture's records.
fn leaves() -> Vec<Value> {
    vec![
        json!({"n": 1}),
        json!({"n": {"$ne": 1}}),
        json!({"n": {"$gt": 1}}),
        json!({"n": {"$lte": 1.5}}),
        json!({"n": true}),
        json!({"s": {"$in": ["a", "b"]}}),
        json!({"s": {"$nin": ["a"]}}),
        json!({"s": "a"}),
        json!({"s": {"$ne": "b"}}),
        json!({"arr": {"$contains": 1}}),
        json!({"arr": {"$not_contains": "x"}}),
        json!({"#document": {"$contains": "world"}}),
        json!({"#document": {"$contains": "wo"}}),
        json!({"#document": {"$not_contains": "hello"}}),
        json!({"#document": {"$regex": "^[Hh]ello"}}),
        json!({"#document": {"$not_regex": "o"}}),
        json!({"missing": {"$ne": 0}}),
        json!({"missing": 0}),
    ]
}

/// A deterministic stream of pseudo-random numbers.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % sides as u64) as usize
    }
}

/// A random `$and` / `$or` tree over [`leaves`], `depth` levels at most.
fn random_filter(dice: &mut Dice, leaves: &[Value], depth: usize) -> Value {
    if depth == 0 || dice.roll(4) == 0 {
        return leaves[dice.roll(leaves.len())].clone();
    }
    let op = if dice.roll(2) == 0 { "$and" } else { "$or" };
    let n = dice.roll(5);
    let children: Vec<Value> = (0..n)
        .map(|_| random_filter(dice, leaves, depth - 1))
        .collect();
    json!({ op: children })
}

const TINY: [Limits; 4] = [
    Limits {
        nodes: 1,
        depth: 1,
        parameters: 3,
    },
    Limits {
        nodes: 2,
        depth: 2,
        parameters: 6,
    },
    Limits {
        nodes: 3,
        depth: 3,
        parameters: 100,
    },
    Limits {
        nodes: 100,
        depth: 2,
        parameters: 7,
    },
];

#[test]
fn every_split_selects_what_one_statement_selects() {
    let conn = fixture();
    let leaves = leaves();
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let mut split = 0;
    for i in 0..400 {
        let clause = if i < leaves.len() {
            leaves[i].clone()
        } else {
            random_filter(&mut dice, &leaves, 4)
        };
        let filter = parse_where(&clause).unwrap().unwrap();
        let expected = whole(&conn, &filter);
        assert_eq!(
            planned(&conn, &filter, STATEMENT),
            (expected.clone(), false),
            "{clause}"
        );
        for limits in TINY {
            let (got, was_split) = planned(&conn, &filter, limits);
            assert_eq!(got, expected, "{clause} within {limits:?}");
            split += usize::from(was_split);
        }
    }
    assert!(split > 500, "only {split} plans were split");
}

#[test]
fn empty_junctions_keep_their_meaning_when_split() {
    let conn = fixture();
    let all = whole(&conn, &Filter::And(vec![]));
    assert_eq!(all.len(), 7);
    for (clause, expected) in [
        (json!({"$and": [{"$and": []}, {"$or": []}]}), vec![]),
        (json!({"$or": [{"$and": []}, {"$or": []}]}), all.clone()),
        (json!({"$or": [{"$or": []}, {"n": {"$ne": 1}}]}), {
            whole(
                &conn,
                &parse_where(&json!({"n": {"$ne": 1}})).unwrap().unwrap(),
            )
        }),
    ] {
        let filter = parse_where(&clause).unwrap().unwrap();
        for limits in TINY {
            assert_eq!(
                planned(&conn, &filter, limits).0,
                expected,
                "{clause} {limits:?}"
            );
        }
    }
}

#[test]
fn wide_filters_are_split_within_sqlites_limits() {
    let conn = fixture();
    // Distinct keys, so nothing merges: 5,000 conditions to answer.
    let or: Vec<Value> = (0..5_000)
        .map(|i| json!({format!("k{i}"): i}))
        .chain([
            json!({"s": "b"}),
            json!({"#document": {"$contains": "zzz"}}),
        ])
        .collect();
    let filter = parse_where(&json!({"$or": or})).unwrap().unwrap();
    assert_eq!(
        planned(&conn, &filter, STATEMENT),
        (vec!["float1".into(), "big".into()], true)
    );

    let and: Vec<Value> = (0..5_000)
        .map(|i| json!({format!("k{i}"): {"$ne": i}}))
        .chain([json!({"n": {"$gte": 1}}), json!({"s": {"$ne": "b"}})])
        .collect();
    let filter = parse_where(&json!({"$and": and})).unwrap().unwrap();
    assert_eq!(
        planned(&conn, &filter, STATEMENT),
        (vec!["int1".into(), "float15".into(), "big".into()], true)
    );
}

#[test]
fn long_equality_lists_on_one_key_become_one_statement() {
    let conn = fixture();
    let or: Vec<Value> = (0..50_000).map(|i| json!({"n": i * 100})).collect();
    let filter = parse_where(&json!({"$or": or})).unwrap().unwrap();
    assert_eq!(
        planned(&conn, &filter, STATEMENT),
        (vec!["big".into()], false)
    );
    let and: Vec<Value> = (0..50_000)
        .map(|i| json!({"s": {"$ne": format!("{i}")}}))
        .chain([json!({"s": {"$ne": "a"}})])
        .collect();
    let filter = parse_where(&json!({"$and": and})).unwrap().unwrap();
    assert_eq!(
        planned(&conn, &filter, STATEMENT),
        (
            vec!["float1", "float15", "str", "nometa", "big"]
                .into_iter()
                .map(String::from)
                .collect(),
            false
        )
    );
}

#[test]
fn many_document_conditions_in_one_pass_select_what_sql_selects() {
    let conn = fixture();
    let absent = |op: &str, i: usize| json!({"#document": {op: format!("absent {i}")}});
    let mut cases = Vec::new();
    for tail in [
        vec![json!({"#document": {"$contains": "o"}})],
        vec![
            json!({"#document": {"$contains": "wo"}}),
            json!({"#document": {"$regex": "^w"}}),
        ],
        vec![
            json!({"#document": {"$not_contains": "zzz"}}),
            json!({"#document": {"$regex": "(?i)HEL+O"}}),
            json!({"n": {"$lt": 1.5}}),
        ],
    ] {
        let mut and: Vec<Value> = (0..40).map(|i| absent("$not_contains", i)).collect();
        and.extend((0..5).map(|i| absent("$not_regex", i)));
        and.extend(tail.clone());
        cases.push(json!({"$and": and}));
        let mut or: Vec<Value> = (0..40).map(|i| absent("$contains", i)).collect();
        or.extend((0..5).map(|i| absent("$regex", i)));
        or.extend(tail);
        cases.push(json!({"$or": or.clone()}));
        cases.push(json!({"$and": [{"$or": or}, {"s": {"$ne": "b"}}]}));
    }
    for clause in cases {
        let filter = parse_where(&clause).unwrap().unwrap();
        let expected = whole(&conn, &filter);
        assert!(
            !expected.is_empty() && expected.len() < 7,
            "{clause} should tell records apart"
        );
        assert_eq!(
            planned(&conn, &filter, TINY[0]),
            (expected, true),
            "{clause}"
        );
    }
}

#[test]
fn filters_at_the_statement_limits_run_as_one_statement() {
    let conn = fixture();
    let list: Vec<i64> = (0..sql::INLINE_LIST_MAX as i64).collect();
    let widest = STATEMENT.nodes - 1;
    let alternating = (0..STATEMENT.depth - 2).fold(json!({"n": {"$gte": 1}}), |inner, level| {
        let op = if level % 2 == 0 { "$and" } else { "$or" };
        json!({op: [inner, {"n": {"$ne": level}}]})
    });
    for clause in [
        // Every value bound: the most parameters one statement gets.
        json!({"$or": (0..widest).map(|i| json!({format!("k{i}"): {"$in": list}})).collect::<Vec<_>>()}),
        json!({"$and": (0..widest).map(|i| json!({format!("k{i}"): {"$nin": list}})).collect::<Vec<_>>()}),
        // The longest compound SELECT.
        json!({"$and": (0..widest).map(|i| json!({"n": {"$gte": -(i as i64)}})).collect::<Vec<_>>()}),
        json!({"$or": (0..widest).map(|i| json!({"#document": {"$contains": format!("w{i}")}})).collect::<Vec<_>>()}),
        alternating,
    ] {
        let filter = parse_where(&clause).unwrap().unwrap();
        let Plan::Filter(one) = plan(&conn, &filter, 7).unwrap() else {
            panic!("{clause} was split");
        };
        let from_statement = whole(&conn, &one);
        if let Some(set) = sql::compile_record_set(&one, 7) {
            let from_index: Vec<i64> = conn
                .prepare(&set.sql)
                .unwrap()
                .query_map(rusqlite::params_from_iter(set.params), |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            assert_eq!(from_index.len(), from_statement.len(), "{clause}");
        }
        let (split, _) = planned(&conn, &filter, TINY[0]);
        assert_eq!(from_statement, split, "{clause}");
    }
}
