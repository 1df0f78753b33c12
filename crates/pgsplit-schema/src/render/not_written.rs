//! Objects left out because they need one pgsplit does not write: a view over a foreign
//! table, a view over that view, a table inheriting from a foreign table, a function
//! taking its row type, … Found over the item graph from the objects of
//! [`Catalog::unsupported`](crate::Catalog::unsupported) that are not written at all.

use std::collections::{BTreeSet, HashMap};

use super::{Builder, Graph, TableName, synthetic};
use crate::model::{ObjKey, class};

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
    /// `graph` without the items that need an object pgsplit does not write; those are
    /// listed in its `not_written` instead. Parts of a left-out object (a materialized
    /// view's refresh, a partition's attachment) go with it unlisted; its indexes,
    /// constraints and triggers are listed.
    pub(super) fn leave_out_not_written(&self, graph: Graph) -> Graph {
        let unwritten: HashMap<ObjKey, String> = self
            .cat
            .unsupported
            .iter()
            .filter_map(|u| u.key.map(|key| (key, u.describe())))
            .collect();
        if unwritten.is_empty() {
            return graph;
        }
        let n = graph.items.len();
        let mut needs: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); n];
        let unwritten_of = |key: ObjKey| {
            unwritten
                .get(&self.normalize(key, &graph.index))
                .map(String::as_str)
        };
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

        let mut not_written = Vec::new();
        for (i, item) in graph.items.iter().enumerate() {
            if needs[i].is_empty() || synthetic::is_synthetic(item.key.0) {
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
                needs: needs[i].iter().map(|s| s.to_string()).collect(),
                table,
            });
        }
        not_written.sort();
        let keep: Vec<bool> = needs.iter().map(BTreeSet::is_empty).collect();
        let mut graph = graph.keep(self.cat, &keep);
        graph.not_written = not_written;
        graph
    }
}
