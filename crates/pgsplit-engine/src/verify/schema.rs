//! The schema on both sides: each catalog rendered by the same renderer, the statements
//! grouped by object (kind + identity) and compared as sets, so the order in which the
//! renderer lists them does not matter.
//!
//! Left out: sequence values (`setval`), compared as values by `sequences.rs` with a
//! clearer message. Owners and privileges are left out only when asked (`--no-owner`,
//! `--no-acl`, as for a copy made with those options). Nothing else is: the renderer emits
//! no database-level statement (database name, database comment), so every statement it
//! emits names an object that a faithful copy has too. The database's own owner,
//! privileges, comment and settings, which `run` copies, are compared beside them
//! ([`compare_database_level`]).

use std::collections::{BTreeMap, BTreeSet};

use pgsplit_schema::{Ddl, ObjectKind, Statement};

use super::report::{SchemaDifference, SchemaProblem};
use crate::database::DatabaseStatement;

/// Statement kinds that are not compared as text.
const NOT_COMPARED: &[ObjectKind] = &[ObjectKind::SequenceSet];

/// (kind, identity) → the object's statements, sorted.
type Inventory = BTreeMap<(String, String), Vec<String>>;

/// Groups `(kind, identity, sql)` triples into an [`Inventory`].
fn inventory<'a>(statements: impl Iterator<Item = (String, &'a str, &'a str)>) -> Inventory {
    let mut out: Inventory = BTreeMap::new();
    for (kind, identity, sql) in statements {
        out.entry((kind, identity.to_string()))
            .or_default()
            .push(sql.to_string());
    }
    for statements in out.values_mut() {
        statements.sort();
    }
    out
}

fn ddl_inventory(ddl: &Ddl) -> Inventory {
    inventory(
        ddl.pre_data
            .iter()
            .chain(&ddl.post_data)
            .filter(|s| !NOT_COMPARED.contains(&s.kind))
            .map(|s: &Statement| (kind_name(s.kind), s.identity.as_str(), s.sql.as_str())),
    )
}

/// A statement kind as the JSON reports spell it (`index`, `table_option`), as
/// `schema --json` does.
fn kind_name(kind: ObjectKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{kind:?}"))
}

/// Returns how many objects the source has and every difference, sorted by identity.
pub fn compare(source: &Ddl, target: &Ddl) -> (usize, Vec<SchemaDifference>) {
    differences(&ddl_inventory(source), &ddl_inventory(target))
}

/// The same for the database-level statements of both sides (each written for the
/// target's name), grouped by what they set.
pub fn compare_database_level(
    source: &[DatabaseStatement],
    target: &[DatabaseStatement],
) -> (usize, Vec<SchemaDifference>) {
    let of = |statements: &[DatabaseStatement]| {
        inventory(
            statements
                .iter()
                .map(|s| ("database".to_string(), s.identity.as_str(), s.sql.as_str())),
        )
    };
    differences(&of(source), &of(target))
}

/// How many objects `a` has, and what differs between `a` (source) and `b` (target).
fn differences(a: &Inventory, b: &Inventory) -> (usize, Vec<SchemaDifference>) {
    let keys: BTreeSet<&(String, String)> = a.keys().chain(b.keys()).collect();
    let mut differences: Vec<SchemaDifference> = keys
        .into_iter()
        .filter_map(|k| {
            let (problem, source_sql, target_sql) = match (a.get(k), b.get(k)) {
                (Some(s), None) => (SchemaProblem::MissingOnTarget, s.clone(), Vec::new()),
                (None, Some(t)) => (SchemaProblem::ExtraOnTarget, Vec::new(), t.clone()),
                (Some(s), Some(t)) if s != t => (SchemaProblem::Differs, s.clone(), t.clone()),
                _ => return None,
            };
            Some(SchemaDifference {
                kind: k.0.clone(),
                identity: k.1.clone(),
                problem,
                source_sql,
                target_sql,
            })
        })
        .collect();
    differences.sort_by(|x, y| (&x.identity, &x.kind).cmp(&(&y.identity, &y.kind)));
    (a.len(), differences)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(kind: ObjectKind, identity: &str, sql: &str) -> Statement {
        Statement {
            kind,
            identity: identity.into(),
            sql: sql.into(),
            table: None,
            waits_for: Vec::new(),
            locks_also: Vec::new(),
            phase: 0,
            requires_superuser: false,
            depends_on: Vec::new(),
            completes: None,
            superuser_before: None,
            relation: None,
            extension_member: false,
            best_effort: false,
        }
    }

    fn ddl(pre: Vec<Statement>, post: Vec<Statement>) -> Ddl {
        Ddl {
            pre_data: pre,
            post_data: post,
            ..Ddl::default()
        }
    }

    #[test]
    fn identical_schemas_in_any_order_have_no_difference() {
        let t = statement(ObjectKind::Table, "table public.t", "CREATE TABLE t ()");
        let g1 = statement(ObjectKind::Acl, "privileges on table public.t", "GRANT a");
        let g2 = statement(ObjectKind::Acl, "privileges on table public.t", "GRANT b");
        let i = statement(ObjectKind::Index, "index public.i", "CREATE INDEX i");
        let a = ddl(vec![t.clone(), g1.clone(), g2.clone()], vec![i.clone()]);
        let b = ddl(vec![g2, t, g1], vec![i]);
        let (count, differences) = compare(&a, &b);
        assert_eq!(count, 3);
        assert!(differences.is_empty());
    }

    #[test]
    fn missing_extra_and_changed_objects_are_named() {
        let a = ddl(
            vec![
                statement(
                    ObjectKind::Table,
                    "table public.t",
                    "CREATE TABLE t (a int)",
                ),
                statement(ObjectKind::View, "view public.v", "CREATE VIEW v"),
            ],
            vec![
                statement(
                    ObjectKind::Index,
                    "index public.foo_idx",
                    "CREATE INDEX foo_idx",
                ),
                statement(
                    ObjectKind::SequenceSet,
                    "value of sequence public.s",
                    "SELECT setval('s', 5, true)",
                ),
            ],
        );
        let b = ddl(
            vec![
                statement(
                    ObjectKind::Table,
                    "table public.t",
                    "CREATE TABLE t (a bigint)",
                ),
                statement(ObjectKind::View, "view public.v", "CREATE VIEW v"),
                statement(ObjectKind::View, "view public.w", "CREATE VIEW w"),
            ],
            vec![statement(
                ObjectKind::SequenceSet,
                "value of sequence public.s",
                "SELECT setval('s', 9, true)",
            )],
        );
        let (_, differences) = compare(&a, &b);
        let found: Vec<String> = differences
            .iter()
            .map(|d| format!("{}: {}", d.identity, d.problem.describe()))
            .collect();
        // Sequence values are not compared here.
        assert_eq!(
            found,
            [
                "index public.foo_idx: missing on target",
                "table public.t: differs",
                "view public.w: extra on target",
            ]
        );
        assert_eq!(differences[1].source_sql, ["CREATE TABLE t (a int)"]);
        assert_eq!(differences[1].target_sql, ["CREATE TABLE t (a bigint)"]);
    }
}
