//! Functions that find objects by the search_path, run by what a copy makes: a target
//! runs them with an empty search_path (as pg_restore does), where a name their body
//! leaves unqualified is not found, and the run fails there. `plan` says so beforehand.

use std::collections::{HashMap, HashSet};

use crate::catalog::{Catalog, functions_reached};
use crate::model::{Function, Oid, class};
use crate::sql_text::{Token, qualified_names, tokens};

/// One object the copy makes that runs a function whose body finds names by the
/// search_path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchPathUse {
    /// e.g. `index public.words_norm runs function public.norm_inner(t text), whose body
    /// finds lookup by the search_path`.
    pub what: String,
    /// The identity of the statement that makes the object: a split line whose share
    /// lacks it does not meet it.
    pub held_by: String,
}

impl SearchPathUse {
    pub fn met_by(&self, share: &crate::Ddl) -> bool {
        share.has_statement(&self.held_by)
    }
}

impl Catalog {
    /// What the copy makes (generated columns, partition keys, indexes, CHECK
    /// constraints, domain checks, materialized views) that runs, directly or through
    /// other functions, a `LANGUAGE sql` or `plpgsql` function without a search_path of
    /// its own whose body names a relation (after FROM, JOIN, UPDATE, INTO, TABLE), a
    /// function (called) or a type (after `::`) of this database without its schema.
    /// A body written as SQL (`BEGIN ATOMIC`, `RETURN`) was resolved when it was made.
    pub fn found_by_search_path(&self) -> Vec<SearchPathUse> {
        let user_relations: HashSet<&str> =
            self.relations.iter().map(|r| r.name.as_str()).collect();
        let user_types: HashSet<&str> = self.types.iter().map(|t| t.name.as_str()).collect();
        let mut by_name: HashMap<&str, Vec<Oid>> = HashMap::new();
        let mut by_qualified: HashMap<(&str, &str), Vec<Oid>> = HashMap::new();
        for f in &self.functions {
            by_name.entry(f.name.as_str()).or_default().push(f.oid);
            by_qualified
                .entry((f.schema.as_str(), f.name.as_str()))
                .or_default()
                .push(f.oid);
        }
        // Per function: the names it leaves to the search_path, and the functions its
        // body calls.
        let mut unqualified: HashMap<Oid, Vec<String>> = HashMap::new();
        let mut calls: HashMap<Oid, Vec<Oid>> = HashMap::new();
        for f in &self.functions {
            let Some(body) = text_body(f) else {
                continue;
            };
            let tokens = tokens(body);
            let mut names: Vec<String> = Vec::new();
            let mut called: Vec<Oid> = Vec::new();
            for (i, t) in tokens.iter().enumerate() {
                let Token::Word(word) = t else {
                    continue;
                };
                let before = |n: usize| i.checked_sub(n).map(|k| &tokens[k]);
                let next = tokens.get(i + 1);
                let qualified = before(1) == Some(&Token::Punct('.'));
                let qualifies = next == Some(&Token::Punct('.'));
                if next == Some(&Token::Punct('(')) {
                    if qualified {
                        if let Some(Token::Word(schema)) = before(2) {
                            called.extend(
                                by_qualified
                                    .get(&(schema.as_str(), word.as_str()))
                                    .into_iter()
                                    .flatten(),
                            );
                        }
                    } else if let Some(oids) = by_name.get(word.as_str()) {
                        called.extend(oids);
                        names.push(format!("{word}()"));
                    }
                    continue;
                }
                if qualified || qualifies {
                    continue;
                }
                let relation_place = matches!(before(1), Some(Token::Word(k))
                    if matches!(k.as_str(), "from" | "join" | "update" | "into" | "table"));
                let type_place =
                    before(1) == Some(&Token::Punct(':')) && before(2) == Some(&Token::Punct(':'));
                if (relation_place && user_relations.contains(word.as_str()))
                    || (type_place && user_types.contains(word.as_str()))
                {
                    names.push(word.clone());
                }
            }
            // What a string names with its schema (`'public.t'::regclass`) is found.
            for (schema, name) in tokens
                .iter()
                .filter_map(|t| match t {
                    Token::Literal(l) => Some(qualified_names(l)),
                    _ => None,
                })
                .flatten()
            {
                called.extend(
                    by_qualified
                        .get(&(schema.as_str(), name.as_str()))
                        .into_iter()
                        .flatten(),
                );
            }
            names.sort();
            names.dedup();
            if !names.is_empty() {
                unqualified.insert(f.oid, names);
            }
            calls.insert(f.oid, called);
        }
        // A body written as SQL records the functions it calls.
        for d in &self.depends {
            if d.object.0 == class::PROC && d.referenced.0 == class::PROC {
                calls.entry(d.object.1).or_default().push(d.referenced.1);
            }
        }
        if unqualified.is_empty() {
            return Vec::new();
        }
        let functions: HashMap<Oid, &Function> =
            self.functions.iter().map(|f| (f.oid, f)).collect();
        let mut out: Vec<SearchPathUse> = Vec::new();
        for d in &self.depends {
            if d.referenced.0 != class::PROC {
                continue;
            }
            let Some(held_by) = self.runner(d.object) else {
                continue;
            };
            // The functions it runs, through the bodies of others.
            let reached =
                functions_reached(d.referenced.1, |f| calls.get(&f).into_iter().flatten());
            for f in reached {
                let (Some(names), Some(function)) = (unqualified.get(&f), functions.get(&f)) else {
                    continue;
                };
                let what = format!(
                    "{held_by} runs function {}.{}({}), whose body finds {} by the search_path",
                    function.schema,
                    function.name,
                    function.identity_args,
                    names.join(", ")
                );
                if !out.iter().any(|u| u.what == what) {
                    out.push(SearchPathUse {
                        what,
                        held_by: held_by.clone(),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.what.cmp(&b.what));
        out
    }

    /// The identity of the statement making what `object` is, when that runs functions
    /// on the target during the copy: a generated column or partition key (its table),
    /// an index, a table's or domain's CHECK, a materialized view's query.
    fn runner(&self, object: (Oid, Oid)) -> Option<String> {
        let table = |oid: Oid| {
            self.relation(oid)
                .map(|r| format!("table {}.{}", r.schema, r.name))
        };
        match object {
            (class::ATTRDEF, attrdef) => self
                .generated_defaults
                .get(&attrdef)
                .and_then(|t| table(*t)),
            (class::CLASS, oid) => match self.indexes.iter().find(|i| i.oid == oid) {
                Some(index) => {
                    let on = self.relation(index.table)?;
                    Some(format!("index {}.{}", on.schema, index.name))
                }
                None => table(oid).filter(|_| self.relation(oid).is_some_and(|r| r.relkind == "p")),
            },
            (class::CONSTRAINT, oid) => {
                let c = self
                    .constraints
                    .iter()
                    .find(|c| c.oid == oid && c.contype == "c")?;
                if c.domain != 0 {
                    let t = self.types.iter().find(|t| t.oid == c.domain)?;
                    Some(format!("domain {}.{}", t.schema, t.name))
                } else {
                    let r = self.relation(c.table)?;
                    Some(format!("constraint {} on {}.{}", c.name, r.schema, r.name))
                }
            }
            (class::REWRITE, rule) => {
                let r = self.relation(*self.view_rules.get(&rule)?)?;
                (r.relkind == "m").then(|| format!("materialized view {}.{}", r.schema, r.name))
            }
            _ => None,
        }
    }
}

/// The text of a function's body that the server reads only when it runs: `LANGUAGE sql`
/// or `plpgsql` without a `SET search_path` of its own (and not written as SQL, whose
/// names were resolved when it was made).
fn text_body(f: &Function) -> Option<&str> {
    if !matches!(f.language.as_str(), "sql" | "plpgsql") {
        return None;
    }
    let definition = f.definition.as_deref()?.trim_end();
    let at = definition.find("\nAS $")?;
    let header = &definition[..at];
    if header.to_ascii_lowercase().contains("\n set search_path ") {
        return None;
    }
    let rest = &definition[at + 4..];
    let tag_end = rest[1..].find('$')? + 2;
    let tag = &rest[..tag_end];
    let body = &rest[tag_end..];
    Some(body.strip_suffix(tag).unwrap_or(body))
}
