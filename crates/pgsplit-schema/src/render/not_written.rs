//! Objects left out because they need one pgsplit does not write: a view over a foreign
//! table, a view over that view, a table inheriting from a foreign table, a function
//! taking its row type, … Found over the item graph from the objects of
//! [`Catalog::unsupported`](crate::Catalog::unsupported) that are not written at all.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::{Builder, Graph, Selection, TableName, synthetic};
use crate::model::{ObjKey, Unsupported, class};

/// An object the DDL leaves out because it needs, directly or through other objects, one
/// that pgsplit does not write.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct NotWritten {
    /// e.g. `view public.recent_lines`.
    pub identity: String,
    /// The objects pgsplit does not write that it needs, e.g. `foreign table public.lines`.
    pub needs: Vec<String>,
    /// The table, when the object is one: its rows are not copied either.
    pub table: Option<TableName>,
}

impl NotWritten {
    /// `view public.recent_lines (needs foreign table public.lines)`.
    pub fn describe(&self) -> String {
        format!("{} (needs {})", self.identity, self.needs.join(", "))
    }
}

impl Builder<'_> {
    /// Per item of `graph`, the objects pgsplit does not write that it needs, directly
    /// or through other items (`foreign table public.lines`): an item with any is left
    /// out.
    pub(super) fn unwritten_needs(&self, graph: &Graph) -> Vec<BTreeSet<String>> {
        let n = graph.items.len();
        let unwritten: HashMap<ObjKey, String> = self
            .cat
            .unsupported
            .iter()
            .filter_map(|u| u.key.map(|key| (key, u.describe())))
            .collect();
        let mut needs: Vec<BTreeSet<String>> = vec![BTreeSet::new(); n];
        if unwritten.is_empty() {
            return needs;
        }
        let unwritten_of = |key: ObjKey| unwritten.get(&self.normalize(key, &graph.index)).cloned();
        for (i, item) in graph.items.iter().enumerate() {
            needs[i].extend(item.deps.iter().filter_map(|d| unwritten_of(*d)));
        }
        for d in &self.cat.depends {
            if self.owned_by_link(d) {
                continue;
            }
            if let Some(&i) = graph.index.get(&self.normalize(d.object, &graph.index))
                && let Some(what) = unwritten_of(d.referenced)
            {
                needs[i].insert(what);
            }
        }
        // Whatever needs a left-out item is left out too.
        let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, deps) in graph.deps.iter().enumerate() {
            for &j in deps {
                users[j].push(i);
            }
        }
        let mut stack: Vec<usize> = (0..n).filter(|i| !needs[*i].is_empty()).collect();
        while let Some(j) = stack.pop() {
            for &i in &users[j] {
                let before = needs[i].len();
                let inherited = needs[j].clone();
                needs[i].extend(inherited);
                if needs[i].len() > before {
                    stack.push(i);
                }
            }
        }
        needs
    }

    /// The left-out items (`needs` not empty) among those `held` marks, to list. Parts of
    /// a left-out object (a materialized view's refresh, a partition's attachment) go
    /// with it unlisted; its indexes, constraints and triggers are listed.
    pub(super) fn not_written(
        &self,
        graph: &Graph,
        needs: &[BTreeSet<String>],
        held: &[bool],
    ) -> Vec<NotWritten> {
        let mut not_written = Vec::new();
        for (i, item) in graph.items.iter().enumerate() {
            if needs[i].is_empty() || !held[i] || synthetic::is_synthetic(item.key.0) {
                continue;
            }
            let table = (item.key.0 == class::CLASS)
                .then(|| self.cat.relation(item.key.1))
                .flatten()
                .filter(|r| matches!(r.relkind.as_str(), "r" | "p"))
                .map(|r| (r.schema.clone(), r.name.clone()));
            not_written.push(NotWritten {
                identity: item
                    .statements
                    .first()
                    .map(|s| s.identity.clone())
                    .unwrap_or_default(),
                needs: needs[i].iter().cloned().collect(),
                table,
            });
        }
        not_written.sort();
        not_written
    }

    /// The objects of [`Catalog::unsupported`](crate::Catalog::unsupported) that belong
    /// to a split target whose items (written or left out) `held` marks: those in its
    /// whole schemas, those its left-out items need, those attached to (a label, a
    /// tablespace) or partitions of what it holds, and what those need (a foreign
    /// table's server, the server's wrapper). One outside any schema that nothing
    /// needs and that is attached to nothing (a cast, an unused server)
    /// belongs to no target more than another: every target lists it.
    pub(super) fn unsupported_held(
        &self,
        graph: &Graph,
        selection: &Selection,
        needs: &[BTreeSet<String>],
        held: &[bool],
    ) -> Vec<Unsupported> {
        let cat = self.cat;
        let unsupported = &cat.unsupported;
        let holds_key = |key: ObjKey| {
            graph
                .index
                .get(&self.normalize(key, &graph.index))
                .is_some_and(|i| held[*i])
        };
        let needed_by_held: HashSet<&str> = needs
            .iter()
            .zip(held)
            .filter(|(_, h)| **h)
            .flat_map(|(n, _)| n.iter().map(String::as_str))
            .collect();
        let mut mine: Vec<bool> = unsupported
            .iter()
            .map(|u| {
                let parent_held = u
                    .key
                    .filter(|k| k.0 == class::CLASS)
                    .and_then(|k| cat.relation(k.1))
                    .is_some_and(|r| r.parents.iter().any(|p| holds_key((class::CLASS, *p))));
                needed_by_held.contains(u.describe().as_str())
                    || u.schema
                        .as_ref()
                        .is_some_and(|s| selection.schemas.contains(s))
                    || u.attached_to.is_some_and(holds_key)
                    || parent_held
            })
            .collect();
        // Between these objects: what a held one needs or carries is held too.
        let position: HashMap<ObjKey, usize> = unsupported
            .iter()
            .enumerate()
            .filter_map(|(i, u)| u.key.map(|k| (k, i)))
            .collect();
        let mut links: Vec<(usize, usize)> = cat
            .depends
            .iter()
            .filter_map(|d| Some((*position.get(&d.object)?, *position.get(&d.referenced)?)))
            .collect();
        links.extend(
            unsupported
                .iter()
                .enumerate()
                .filter_map(|(i, u)| Some((*position.get(&u.attached_to?)?, i))),
        );
        let mut changed = true;
        while changed {
            changed = false;
            for &(from, to) in &links {
                if mine[from] && !mine[to] {
                    mine[to] = true;
                    changed = true;
                }
            }
        }
        let needed_anywhere: HashSet<&str> = needs
            .iter()
            .flat_map(|n| n.iter().map(String::as_str))
            .collect();
        let needed_by_unsupported: HashSet<usize> = links.iter().map(|(_, to)| *to).collect();
        unsupported
            .iter()
            .enumerate()
            .filter(|(i, u)| {
                let unattributable = u.schema.is_none()
                    && u.attached_to.is_none()
                    && !needed_anywhere.contains(u.describe().as_str())
                    && !needed_by_unsupported.contains(i);
                mine[*i] || unattributable
            })
            .map(|(_, u)| u.clone())
            .collect()
    }
}
