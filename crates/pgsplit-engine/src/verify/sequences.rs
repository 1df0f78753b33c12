//! Sequence values on both sides: `last_value` and `is_called` of every sequence, as the
//! catalog read found them. Sequences are not transactional: the value is the one at the
//! time of reading, not at the snapshot.

use std::collections::{BTreeMap, BTreeSet};

use pgsplit_schema::Catalog;

use super::report::{SequenceState, SequenceVerification};

/// (schema, name) → value (`None` when the catalog could not read it).
pub fn states(catalog: &Catalog) -> BTreeMap<(String, String), Option<SequenceState>> {
    catalog
        .sequences
        .iter()
        .filter_map(|s| {
            let rel = catalog.relation(s.oid)?;
            Some((
                (rel.schema.clone(), rel.name.clone()),
                s.state.map(|(last_value, is_called)| SequenceState {
                    last_value,
                    is_called,
                }),
            ))
        })
        .collect()
}

/// Every sequence of either side, sorted by name.
pub fn compare(
    source: &BTreeMap<(String, String), Option<SequenceState>>,
    target: &BTreeMap<(String, String), Option<SequenceState>>,
) -> Vec<SequenceVerification> {
    let names: BTreeSet<&(String, String)> = source.keys().chain(target.keys()).collect();
    names
        .into_iter()
        .map(|name| {
            let s = source.get(name).copied().flatten();
            let t = target.get(name).copied().flatten();
            SequenceVerification {
                schema: name.0.clone(),
                name: name.1.clone(),
                source: s,
                target: t,
                matches: source.contains_key(name) && target.contains_key(name) && s == t,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(last_value: i64, is_called: bool) -> Option<SequenceState> {
        Some(SequenceState {
            last_value,
            is_called,
        })
    }

    #[test]
    fn values_and_presence_are_compared() {
        let name = |n: &str| ("public".to_string(), n.to_string());
        let source = BTreeMap::from([
            (name("same"), state(7, true)),
            (name("moved"), state(7, true)),
            (name("uncalled"), state(1, false)),
            (name("gone"), state(1, true)),
        ]);
        let target = BTreeMap::from([
            (name("same"), state(7, true)),
            (name("moved"), state(8, true)),
            (name("uncalled"), state(1, true)),
            (name("new"), state(1, false)),
        ]);
        let verdicts: Vec<(String, bool)> = compare(&source, &target)
            .into_iter()
            .map(|v| (v.name, v.matches))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("gone".to_string(), false),
                ("moved".to_string(), false),
                ("new".to_string(), false),
                ("same".to_string(), true),
                ("uncalled".to_string(), false),
            ]
        );
    }
}
