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

fn inventory(ddl: &Ddl) -> Inventory {
    let mut out: Inventory = BTreeMap::new();
    for s in ddl.pre_data.iter().chain(&ddl.post_data) {
        if NOT_COMPARED.contains(&s.kind) {
            continue;
        }
        out.entry(key(s)).or_default().push(s.sql.clone());
    }
    for statements in out.values_mut() {
        statements.sort();
    }
    out
}

fn key(s: &Statement) -> (String, String) {
    (format!("{:?}", s.kind), s.identity.clone())
}

/// Returns how many objects the source has and every difference, sorted by identity.
pub fn compare(source: &Ddl, target: &Ddl) -> (usize, Vec<SchemaDifference>) {
    let a = inventory(source);
    let b = inventory(target);
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

/// The database-level statements of both sides (each written for the target's name),
/// grouped by what they set: missing on the target, extra there, or different.
pub fn compare_database_level(
    source: &[DatabaseStatement],
    target: &[DatabaseStatement],
) -> Vec<SchemaDifference> {
    let group = |statements: &[DatabaseStatement]| -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for s in statements {
            out.entry(s.identity.clone())
                .or_default()
                .push(s.sql.clone());
        }
        out.values_mut().for_each(|v| v.sort());
        out
    };
    let (a, b) = (group(source), group(target));
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter_map(|identity| {
            let problem = match (a.get(identity), b.get(identity)) {
                (Some(_), None) => SchemaProblem::MissingOnTarget,
                (None, Some(_)) => SchemaProblem::ExtraOnTarget,
                (Some(s), Some(t)) if s != t => SchemaProblem::Differs,
                _ => return None,
            };
            Some(SchemaDifference {
                kind: "Database".into(),
                identity: identity.clone(),
                problem,
                source_sql: a.get(identity).cloned().unwrap_or_default(),
                target_sql: b.get(identity).cloned().unwrap_or_default(),
            })
        })
        .collect()
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
        }
    }

    fn ddl(pre: Vec<Statement>, post: Vec<Statement>) -> Ddl {
        Ddl {
            pre_data: pre,
            post_data: post,
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
