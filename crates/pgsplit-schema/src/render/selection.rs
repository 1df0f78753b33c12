//! One target of a split: which items of the full render go there. Selected relations
//! and whole schemas are the seeds; what they need is pulled in over the item graph
//! (schemas, extensions, types, functions, sequences, …); what belongs to an included
//! object goes with it; an object that needs a relation left out is reported instead.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::{Ancestors, Builder, Ddl, Graph, TableName, emit, synthetic};
use crate::model::{ObjKey, Oid, class};

/// What one target of a split receives.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Relations (tables, partitioned tables and their partitions, as (schema, name))
    /// whose definitions and data go to this target.
    pub tables: BTreeSet<TableName>,
    /// Schemas taken whole: every object in them (tables, views, functions, types,
    /// sequences, …) goes too.
    pub schemas: BTreeSet<String>,
    /// Tables that stay behind although a whole schema or a selected partitioned table
    /// would bring them (a split's `exclude=`, or `reference=none`).
    pub left_out: BTreeSet<TableName>,
}

/// Why an object is left out of a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum CrossKind {
    ForeignKey,
    View,
    Other,
}

/// An object of the selection that needs relations another target holds: not written.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct CrossTarget {
    /// e.g. `foreign key sales.orders.orders_customer_id_fkey`, `view public.staff_list`.
    pub identity: String,
    pub kind: CrossKind,
    /// The object's table or view (for other objects: their own schema and name).
    pub from: TableName,
    /// The relations it needs that are not in this target.
    pub to: Vec<TableName>,
}

impl CrossTarget {
    /// For people: `view public.v (needs public.t, public.u)`.
    pub fn describe(&self) -> String {
        let to: Vec<String> = self.to.iter().map(|(s, t)| format!("{s}.{t}")).collect();
        format!("{} (needs {})", self.identity, to.join(", "))
    }
}

/// The items of the graph that go to one target.
pub(super) struct Chosen {
    /// Written to the target.
    pub keep: Vec<bool>,
    /// `keep`, and the items left out as they need an object pgsplit does not write that
    /// the target would hold otherwise: its share of what is not copied.
    pub held: Vec<bool>,
    /// Objects that need relations another target holds.
    pub cross: Vec<CrossTarget>,
}

/// How each item relates to the selection, computed once from the catalog.
struct Roles {
    /// The item that owns this one (a table for its index, a sequence for its value, …).
    anchor: Vec<Option<usize>>,
    /// Created when an included object needs it (schemas, extensions, types,
    /// functions, collations, text search objects, sequences).
    pullable: Vec<bool>,
    /// Tables, views and materialized views: never pulled in by need.
    relation: Vec<bool>,
    /// Goes to this target by choice of the user (or always).
    seed: Vec<bool>,
    /// Dependencies the closure does not follow (a partition's on its parent: the
    /// attachment is the object that needs the parent).
    ignored: HashSet<(usize, usize)>,
}

impl Builder<'_> {
    /// Which items of `graph` go to the target (of those `written` marks), and what is
    /// left out because it needs a relation the target does not hold.
    pub(super) fn select(&self, graph: &Graph, selection: &Selection, written: &[bool]) -> Chosen {
        let roles = self.roles(graph, selection);
        let n = graph.items.len();
        let mut inc = vec![false; n];
        // Whether the item goes to the target, were it written: `held` tells which
        // items are there.
        let belongs = |i: usize, held: &[bool]| {
            roles.seed[i]
                || match roles.anchor[i] {
                    Some(a) => held[a],
                    None => {
                        !self.is_table(graph.items[i].key)
                            && graph.items[i].key.0 != class::EVENT_TRIGGER
                            && graph.deps[i].iter().any(|j| held[*j] && roles.relation[*j])
                    }
                }
        };
        let wanted = |i: usize, inc: &[bool]| written[i] && belongs(i, inc);
        loop {
            let mut changed = false;
            for i in 0..n {
                if inc[i] || !wanted(i, &inc) {
                    continue;
                }
                let (add, missing) = closure(graph, &roles, &inc, i);
                if missing.is_empty() {
                    for a in add {
                        inc[a] = true;
                    }
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let mut cross = Vec::new();
        for i in 0..n {
            if inc[i] || !wanted(i, &inc) {
                continue;
            }
            let (_, missing) = closure(graph, &roles, &inc, i);
            let to: BTreeSet<TableName> = missing
                .iter()
                .filter_map(|m| self.relation_name(graph, &roles, *m))
                .collect();
            cross.push(self.cross_target(graph, &roles, i, to.into_iter().collect()));
        }
        cross.sort();
        cross.dedup();
        // The left-out items it would hold: by the same rules, through one another too
        // (a view over a view over a foreign table).
        let mut held = inc.clone();
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..n {
                if !held[i] && !written[i] && belongs(i, &held) {
                    held[i] = true;
                    changed = true;
                }
            }
        }
        Chosen {
            keep: inc,
            held,
            cross,
        }
    }

    fn is_table(&self, key: ObjKey) -> bool {
        key.0 == class::CLASS
            && self
                .cat
                .relation(key.1)
                .is_some_and(|r| matches!(r.relkind.as_str(), "r" | "p"))
    }

    fn roles(&self, graph: &Graph, selection: &Selection) -> Roles {
        let cat = self.cat;
        let item = |key: ObjKey| graph.index.get(&self.normalize(key, &graph.index)).copied();
        // The selected relations, with the partitions of selected partitioned tables.
        let mut selected: HashSet<Oid> = HashSet::new();
        let mut stack: Vec<Oid> = cat
            .relations
            .iter()
            .filter(|r| matches!(r.relkind.as_str(), "r" | "p"))
            .filter(|r| {
                let name = (r.schema.clone(), r.name.clone());
                (selection.schemas.contains(&r.schema) || selection.tables.contains(&name))
                    && !selection.left_out.contains(&name)
            })
            .map(|r| r.oid)
            .collect();
        let left_out = |oid: &Oid| {
            cat.relation(*oid).is_some_and(|r| {
                selection
                    .left_out
                    .contains(&(r.schema.clone(), r.name.clone()))
            })
        };
        while let Some(oid) = stack.pop() {
            if selected.insert(oid) && cat.relation(oid).is_some_and(|r| r.relkind == "p") {
                stack.extend(cat.children(oid).iter().copied().filter(|c| !left_out(c)));
            }
        }
        let every_table = cat
            .relations
            .iter()
            .filter(|r| matches!(r.relkind.as_str(), "r" | "p"))
            .all(|r| selected.contains(&r.oid));

        let mut owner: HashMap<ObjKey, ObjKey> = HashMap::new();
        let rel = |oid: Oid| (class::CLASS, oid);
        for i in &cat.indexes {
            owner.insert(rel(i.oid), rel(i.table));
        }
        for c in &cat.constraints {
            let o = if c.table != 0 {
                rel(c.table)
            } else {
                (class::TYPE, c.domain)
            };
            owner.insert((class::CONSTRAINT, c.oid), o);
        }
        for t in &cat.triggers {
            owner.insert((class::TRIGGER, t.oid), rel(t.table));
            owner.insert((synthetic::TRIGGER_STATE, t.oid), rel(t.table));
        }
        for r in &cat.rules {
            owner.insert((class::REWRITE, r.oid), rel(r.table));
        }
        for p in &cat.policies {
            owner.insert((class::POLICY, p.oid), rel(p.table));
        }
        for s in &cat.statistics {
            owner.insert((class::STATISTIC_EXT, s.oid), rel(s.table));
        }
        for d in &cat.defaults {
            owner.insert((class::ATTRDEF, d.oid), rel(d.table));
        }
        for s in &cat.sequences {
            if let Some((table, _)) = s.owned_by {
                owner.insert(rel(s.oid), rel(table));
            }
        }
        // A publication's tables and schemas go where they go, and take the publication.
        for p in &cat.publications {
            for t in &p.tables {
                owner.insert((class::PUBLICATION_REL, t.oid), rel(t.table));
            }
            for s in &p.schemas {
                owner.insert(
                    (class::PUBLICATION_NAMESPACE, s.oid),
                    (class::NAMESPACE, s.schema_oid),
                );
            }
        }
        let schema_of = |key: ObjKey| -> Option<&str> {
            match key.0 {
                class::NAMESPACE => cat
                    .schemas
                    .iter()
                    .find(|s| s.oid == key.1)
                    .map(|s| s.name.as_str()),
                class::EXTENSION => cat
                    .extensions
                    .iter()
                    .find(|e| e.oid == key.1)
                    .map(|e| e.schema.as_str()),
                class::COLLATION => cat
                    .collations
                    .iter()
                    .find(|c| c.oid == key.1)
                    .map(|c| c.schema.as_str()),
                class::TYPE => cat
                    .types
                    .iter()
                    .find(|t| t.oid == key.1)
                    .map(|t| t.schema.as_str()),
                class::PROC => cat
                    .functions
                    .iter()
                    .find(|f| f.oid == key.1)
                    .map(|f| f.schema.as_str()),
                class::TS_DICT => cat
                    .ts_dicts
                    .iter()
                    .find(|d| d.oid == key.1)
                    .map(|d| d.schema.as_str()),
                class::TS_CONFIG => cat
                    .ts_configs
                    .iter()
                    .find(|c| c.oid == key.1)
                    .map(|c| c.schema.as_str()),
                class::CLASS => cat.relation(key.1).map(|r| r.schema.as_str()),
                _ => None,
            }
        };

        let n = graph.items.len();
        let mut roles = Roles {
            anchor: vec![None; n],
            pullable: vec![false; n],
            relation: vec![false; n],
            seed: vec![false; n],
            ignored: HashSet::new(),
        };
        for (i, it) in graph.items.iter().enumerate() {
            let key = it.key;
            let anchor_key = match key.0 {
                synthetic::PARTITION_ATTACH
                | synthetic::ROW_SECURITY
                | synthetic::OWNED_BY
                | synthetic::SETVAL
                | synthetic::REFRESH
                | synthetic::INDEX_ATTACH => Some(rel(key.1)),
                _ => owner.get(&key).copied(),
            };
            roles.anchor[i] = anchor_key.and_then(item).filter(|a| *a != i);
            let relation = (key.0 == class::CLASS)
                .then(|| cat.relation(key.1))
                .flatten();
            let relkind = relation.map(|r| r.relkind.as_str());
            roles.relation[i] = matches!(relkind, Some("r" | "p" | "v" | "m"));
            roles.pullable[i] = matches!(
                key.0,
                class::NAMESPACE
                    | class::EXTENSION
                    | class::COLLATION
                    | class::TYPE
                    | class::PROC
                    | class::CAST
                    | class::TS_DICT
                    | class::TS_CONFIG
                    | class::PUBLICATION
            ) || relkind == Some("S");
            roles.seed[i] = match key.0 {
                // Every database has `public`: its comment, owner and grants always go.
                class::NAMESPACE if schema_of(key) == Some("public") => true,
                synthetic::NO_PUBLIC => true,
                class::EVENT_TRIGGER => every_table,
                // One of every table goes to every target; one of some tables or schemas
                // goes with them (above), an empty one with a whole copy only.
                class::PUBLICATION => {
                    every_table
                        || cat
                            .publications
                            .iter()
                            .any(|p| p.oid == key.1 && p.all_tables)
                }
                // Per schema: with a schema the target takes whole or some tables of (new
                // tables made there get their grants as on the source), not one made only
                // for what its tables need.
                synthetic::DEFAULT_ACL => cat
                    .default_acls
                    .iter()
                    .find(|d| d.oid == key.1)
                    .is_some_and(|d| {
                        d.schema.as_ref().is_none_or(|s| {
                            selection.schemas.contains(s)
                                || selection.tables.iter().any(|(schema, _)| schema == s)
                        })
                    }),
                // With its function, or a type, of a schema taken whole; otherwise pulled
                // in by what is written with it.
                class::CAST => {
                    every_table
                        || cat.casts.iter().find(|c| c.oid == key.1).is_some_and(|c| {
                            [
                                (class::PROC, c.function_oid),
                                (class::TYPE, c.source_oid),
                                (class::TYPE, c.target_oid),
                            ]
                            .into_iter()
                            .any(|k| schema_of(k).is_some_and(|s| selection.schemas.contains(s)))
                        })
                }
                _ if matches!(relkind, Some("r" | "p")) => selected.contains(&key.1),
                _ => schema_of(key).is_some_and(|s| selection.schemas.contains(s)),
            };
            if let Some(r) = relation.filter(|r| r.is_partition) {
                for p in &r.parents {
                    if let Some(j) = item(rel(*p)) {
                        roles.ignored.insert((i, j));
                    }
                }
            }
        }
        roles
    }

    /// The relation an item stands for or belongs to.
    fn relation_name(&self, graph: &Graph, roles: &Roles, mut i: usize) -> Option<TableName> {
        for _ in 0..8 {
            let key = graph.items[i].key;
            if roles.relation[i] {
                return self
                    .cat
                    .relation(key.1)
                    .map(|r| (r.schema.clone(), r.name.clone()));
            }
            i = roles.anchor[i]?;
        }
        None
    }

    fn cross_target(
        &self,
        graph: &Graph,
        roles: &Roles,
        i: usize,
        to: Vec<TableName>,
    ) -> CrossTarget {
        let item = &graph.items[i];
        let identity = item
            .statements
            .first()
            .map(|s| s.identity.clone())
            .unwrap_or_default();
        let from = self
            .relation_name(graph, roles, i)
            .or_else(|| self.object_name(item.key))
            .unwrap_or_default();
        if item.key.0 == class::CONSTRAINT
            && let Some(c) = self
                .cat
                .constraints
                .iter()
                .find(|c| c.oid == item.key.1 && c.contype == "f")
        {
            return CrossTarget {
                identity: format!("foreign key {}.{}.{}", from.0, from.1, c.name),
                kind: CrossKind::ForeignKey,
                from,
                to,
            };
        }
        let kind = if roles.relation[i] && !self.is_table(item.key) {
            CrossKind::View
        } else {
            CrossKind::Other
        };
        CrossTarget {
            identity,
            kind,
            from,
            to,
        }
    }

    /// (schema, name) of a function or type.
    fn object_name(&self, key: ObjKey) -> Option<TableName> {
        let cat = self.cat;
        match key.0 {
            class::PROC => cat
                .functions
                .iter()
                .find(|f| f.oid == key.1)
                .map(|f| (f.schema.clone(), f.name.clone())),
            class::TYPE => cat
                .types
                .iter()
                .find(|t| t.oid == key.1)
                .map(|t| (t.schema.clone(), t.name.clone())),
            _ => None,
        }
    }

    /// DDL for the items `keep` marks, in dependency order; post-data statements wait
    /// only for tables of this target.
    pub(super) fn emit_selected(&self, graph: Graph, keep: &[bool]) -> Ddl {
        emit(graph.keep(self.cat, keep), &Ancestors::new(self.cat))
    }
}

/// Item `start` with the pullable items it needs (transitively), and the items it
/// needs that are neither included nor pullable.
fn closure(
    graph: &Graph,
    roles: &Roles,
    inc: &[bool],
    start: usize,
) -> (Vec<usize>, BTreeSet<usize>) {
    let mut add = vec![start];
    let mut seen: HashSet<usize> = HashSet::from([start]);
    let mut missing = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(x) = stack.pop() {
        for &d in &graph.deps[x] {
            if inc[d] || seen.contains(&d) || roles.ignored.contains(&(x, d)) {
                continue;
            }
            let attached = roles.anchor[d].is_some_and(|a| inc[a] || seen.contains(&a));
            if roles.pullable[d] || attached {
                seen.insert(d);
                add.push(d);
                stack.push(d);
            } else {
                missing.insert(d);
            }
        }
    }
    (add, missing)
}
