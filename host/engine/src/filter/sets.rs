//! Sets of records (row ids of `records`) and the `$and` / `$or` of them, for
//! filters evaluated in parts. A set is kept either as its members or as
//! the members of its complement, so `$ne` and `$nin` cost what the matching
//! `$eq` and `$in` cost instead of a pass over the whole collection.

/// A set of the collection's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordSet {
    /// Exactly these records (sorted, no duplicates).
    Only(Vec<i64>),
    /// Every record of the collection except these (sorted, no duplicates).
    AllBut(Vec<i64>),
}

impl RecordSet {
    /// The records in `ids`, in any order and with repeats.
    pub fn only(mut ids: Vec<i64>) -> Self {
        ids.sort_unstable();
        ids.dedup();
        Self::Only(ids)
    }

    /// Every record not in this set.
    pub fn complement(self) -> Self {
        match self {
            Self::Only(ids) => Self::AllBut(ids),
            Self::AllBut(ids) => Self::Only(ids),
        }
    }

    /// Whether nothing can be in the set, whatever the collection holds.
    pub fn is_empty(&self) -> bool {
        matches!(self, Self::Only(ids) if ids.is_empty())
    }

    /// Whether every record is in the set.
    pub fn is_everything(&self) -> bool {
        matches!(self, Self::AllBut(ids) if ids.is_empty())
    }

    /// The records in every one of `parts` (all records when there are none).
    pub fn intersection(parts: Vec<RecordSet>) -> Self {
        let (only, all_but) = split(parts);
        let excluded = union(all_but);
        match intersect_all(only) {
            None => Self::AllBut(excluded),
            Some(included) => Self::Only(difference(&included, &excluded)),
        }
    }

    /// The records in any one of `parts` (none when there are none).
    pub fn union(parts: Vec<RecordSet>) -> Self {
        let (only, all_but) = split(parts);
        let included = union(only);
        match intersect_all(all_but) {
            None => Self::Only(included),
            Some(excluded) => Self::AllBut(difference(&excluded, &included)),
        }
    }
}

fn split(parts: Vec<RecordSet>) -> (Vec<Vec<i64>>, Vec<Vec<i64>>) {
    let mut only = Vec::new();
    let mut all_but = Vec::new();
    for part in parts {
        match part {
            RecordSet::Only(ids) => only.push(ids),
            RecordSet::AllBut(ids) => all_but.push(ids),
        }
    }
    (only, all_but)
}

/// All members of sorted lists, sorted. One sort of everything rather than
/// pairwise merges: thousands of parts must not cost thousands of passes.
fn union(lists: Vec<Vec<i64>>) -> Vec<i64> {
    let mut all: Vec<i64> = lists.into_iter().flatten().collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Members common to all sorted lists (`None` for no lists), smallest first
/// so each pass is bounded by the result so far.
fn intersect_all(mut lists: Vec<Vec<i64>>) -> Option<Vec<i64>> {
    lists.sort_by_key(Vec::len);
    let mut lists = lists.into_iter();
    let first = lists.next()?;
    Some(lists.fold(first, |acc, list| {
        if acc.is_empty() {
            acc
        } else {
            intersect(&acc, &list)
        }
    }))
}

fn intersect(a: &[i64], b: &[i64]) -> Vec<i64> {
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Members of sorted `a` not in sorted `b`.
fn difference(a: &[i64], b: &[i64]) -> Vec<i64> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::RecordSet::{self, AllBut, Only};

    /// The members among records 0..10, to compare with plain set logic.
    fn members(set: &RecordSet) -> Vec<i64> {
        (0..10)
            .filter(|x| match set {
                Only(ids) => ids.contains(x),
                AllBut(ids) => !ids.contains(x),
            })
            .collect()
    }

    #[test]
    fn only_sorts_and_deduplicates() {
        assert_eq!(RecordSet::only(vec![3, 1, 3, 2]), Only(vec![1, 2, 3]));
    }

    #[test]
    fn intersection_and_union_agree_with_set_logic_for_every_mix() {
        let sets = [
            Only(vec![]),
            Only(vec![1, 2, 3, 7]),
            Only(vec![2, 3, 4]),
            AllBut(vec![]),
            AllBut(vec![3, 9]),
            AllBut(vec![1, 2, 5]),
        ];
        for a in &sets {
            for b in &sets {
                for c in &sets {
                    let parts = vec![a.clone(), b.clone(), c.clone()];
                    let expect_and: Vec<i64> = (0..10)
                        .filter(|x| parts.iter().all(|p| members(p).contains(x)))
                        .collect();
                    let expect_or: Vec<i64> = (0..10)
                        .filter(|x| parts.iter().any(|p| members(p).contains(x)))
                        .collect();
                    assert_eq!(
                        members(&RecordSet::intersection(parts.clone())),
                        expect_and,
                        "{parts:?}"
                    );
                    assert_eq!(
                        members(&RecordSet::union(parts.clone())),
                        expect_or,
                        "{parts:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn empty_junctions_match_everything_and_nothing() {
        assert!(RecordSet::intersection(vec![]).is_everything());
        assert!(RecordSet::union(vec![]).is_empty());
        assert_eq!(Only(vec![4]).complement(), AllBut(vec![4]));
    }
}
