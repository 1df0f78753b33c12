//! From what the user wrote to what one target receives: the selector's globs resolved
//! against the source catalog (inside the snapshot), partitions pulled along with their
//! tables, and one row predicate per copied table (filters, followed parents, shards).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use pgsplit_copy::SourceTable;
use pgsplit_pg::quote;
use pgsplit_schema::Catalog;

use super::selector::{Reference, Selector};
use super::shard;

type Name = (String, String);

/// One target's share of the source.
#[derive(Clone, Debug, Default)]
pub struct Resolved {
    /// Every relation whose definition goes (partitioned parents included).
    pub relations: BTreeSet<Name>,
    /// Schemas taken whole (`schemas=`; every schema without `schemas=` or `tables=`).
    pub whole_schemas: BTreeSet<String>,
    /// Row predicate per data table; absent means every row.
    pub predicates: HashMap<Name, String>,
    /// Tables of the source that do not go (whole schemas and partitioned tables would
    /// otherwise bring the excluded ones along).
    pub left_out: BTreeSet<Name>,
    /// The tables the shard key cuts (`shard=`): another line's overlapping shard of one
    /// of them would copy rows twice.
    pub sharded: BTreeSet<Name>,
}

impl Resolved {
    /// What the schema renderer needs to know of this target's share.
    pub fn selection(&self) -> pgsplit_schema::Selection {
        pgsplit_schema::Selection {
            tables: self.relations.clone(),
            schemas: self.whole_schemas.clone(),
            left_out: self.left_out.clone(),
        }
    }
}

fn display((schema, name): &Name) -> String {
    format!("{schema}.{name}")
}

/// The relation a `schema.table` selector word names: a name may hold a `.` itself
/// (`where:s.v1.2=…`), so the word is matched whole against the names `known`, and
/// split at its first `.` only when none matches.
fn named<'a>(word: &str, known: impl IntoIterator<Item = &'a Name>) -> Name {
    known
        .into_iter()
        .find(|name| display(name) == word)
        .cloned()
        .unwrap_or_else(|| {
            let (schema, table) = word.split_once('.').unwrap_or(("", word));
            (schema.to_string(), table.to_string())
        })
}

/// The rows of `columns` a target gets of the tables `leaves`, as one query: each table
/// with its `condition`, if any (`SELECT … WHERE false` for none).
fn kept_rows(
    leaves: &[Name],
    columns: &[&str],
    condition: impl Fn(&Name) -> Option<String>,
) -> String {
    let list: Vec<String> = columns.iter().map(|c| quote::ident(c)).collect();
    if leaves.is_empty() {
        return format!("SELECT {} WHERE false", vec!["NULL"; list.len()].join(", "));
    }
    leaves
        .iter()
        .map(|leaf| {
            let from = format!(
                "SELECT {} FROM ONLY {}",
                list.join(", "),
                quote::qualified(&leaf.0, &leaf.1)
            );
            match condition(leaf) {
                Some(predicate) => format!("{from} WHERE {predicate}"),
                None => from,
            }
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// The tables holding a foreign key side's rows: a partitioned table's partitions; a
/// plain table alone (a key does not reach the children of traditional inheritance).
fn key_holders(catalog: &Catalog, oid: u32) -> Vec<Name> {
    match catalog.relation(oid) {
        Some(r) if r.relkind == "p" => catalog.data_tables(oid),
        Some(r) => vec![(r.schema.clone(), r.name.clone())],
        None => Vec::new(),
    }
}

/// Whether a target gets only some of a key side's rows: a condition on one of its
/// holders, or a partition left out.
fn in_part(catalog: &Catalog, resolved: &Resolved, oid: u32) -> bool {
    key_holders(catalog, oid)
        .iter()
        .any(|leaf| resolved.predicates.contains_key(leaf) || !resolved.relations.contains(leaf))
}

/// An error of the source while checking `what`, as the line's refusal.
fn checking(what: &'static str) -> impl Fn(tokio_postgres::Error) -> String + Copy {
    move |e| {
        format!(
            "checking {what} on the source: {}",
            pgsplit_pg::cause_chain(&e)
        )
    }
}

/// Has the source plan every row condition of a target as its copy will run it (`EXPLAIN`:
/// nothing is read): one that is not valid SQL, or names what its table lacks, is refused
/// before anything is written, with its selector word. First the user's own `where:`
/// conditions, then each table's whole predicate (followed parents, shards). In a
/// savepoint, with the copies' search_path (`pg_catalog` alone): the caller's
/// transaction, which may hold the run's snapshot, goes on.
pub async fn check_conditions(
    client: &tokio_postgres::Client,
    selector: &Selector,
    resolved: &Resolved,
) -> Result<(), String> {
    let mut checks: Vec<(String, String)> = selector
        .filters
        .iter()
        .map(|(table, filter)| {
            let (schema, name) = named(table, &resolved.relations);
            let sql = format!(
                "EXPLAIN SELECT FROM {} WHERE ({filter})",
                quote::qualified(&schema, &name)
            );
            (format!("where:{table}"), sql)
        })
        .collect();
    let mut predicates: Vec<_> = resolved.predicates.iter().collect();
    predicates.sort();
    for (table, predicate) in predicates {
        let sql = format!(
            "EXPLAIN SELECT FROM ONLY {} WHERE {predicate}",
            quote::qualified(&table.0, &table.1)
        );
        checks.push((
            format!("the rows of {} for this target", display(table)),
            sql,
        ));
    }
    if checks.is_empty() {
        return Ok(());
    }
    let source_error = checking("the row conditions");
    client
        .batch_execute("SAVEPOINT pgsplit_conditions; SET LOCAL search_path = pg_catalog")
        .await
        .map_err(source_error)?;
    let mut refused = None;
    for (what, sql) in checks {
        if let Err(e) = client.batch_execute(&sql).await {
            let reason = match e.as_db_error() {
                Some(db) => db.message().to_string(),
                None => pgsplit_pg::cause_chain(&e),
            };
            refused = Some(format!(
                "{what}: the source refuses the condition: {reason}"
            ));
            break;
        }
    }
    client
        .batch_execute(
            "ROLLBACK TO SAVEPOINT pgsplit_conditions; RELEASE SAVEPOINT pgsplit_conditions",
        )
        .await
        .map_err(source_error)?;
    refused.map_or(Ok(()), Err)
}

/// A validated foreign key between two tables this target gets in part: the rows it
/// keeps of the child may reference rows it leaves behind of the parent (a customer who
/// referred another of another region), and the key then failed on the target after every
/// row was copied. Checked on the source, in the snapshot, by the rows each side gets,
/// before anything is written; not when the split keeps it by construction: the child
/// follows the parent through this key, or both are cut by the shard key alone and the
/// key holds the shard key on both sides. A check the source cannot run (an equality of
/// a type outside `pg_catalog`) is left to the key itself.
pub async fn check_foreign_keys(
    client: &tokio_postgres::Client,
    catalog: &Catalog,
    tables: &[SourceTable],
    selector: &Selector,
    resolved: &Resolved,
) -> Result<(), String> {
    let holders = |oid: u32| key_holders(catalog, oid);
    let leaves = |oid: u32| -> Vec<Name> {
        holders(oid)
            .into_iter()
            .filter(|leaf| resolved.relations.contains(leaf))
            .collect()
    };
    let by_name: HashMap<(&str, &str), &SourceTable> = tables
        .iter()
        .map(|t| ((t.schema.as_str(), t.name.as_str()), t))
        .collect();
    let type_of = |leaf: &Name, column: &str| {
        by_name
            .get(&(leaf.0.as_str(), leaf.1.as_str()))
            .and_then(|t| t.all_columns().find(|c| c.name == column))
            .map(|c| c.type_name.clone())
    };
    whole_children_of_parts(catalog, resolved)?;
    let checks: Vec<_> = keys_into_parts(catalog, resolved).collect();
    if checks.is_empty() {
        return Ok(());
    }
    let source_error = checking("the foreign keys");
    client
        .batch_execute("SAVEPOINT pgsplit_keys; SET LOCAL search_path = pg_catalog")
        .await
        .map_err(source_error)?;
    // Every look-up inside: an error ends in the rollback below, not in an aborted
    // snapshot transaction the next lines of the source would fail on.
    let checked: Result<Vec<String>, String> = async {
        // The column pairs of every key to check, in one round trip.
        let oids: Vec<u32> = checks.iter().map(|(fk, ..)| fk.oid).collect();
        let mut columns_of: HashMap<u32, Vec<(String, String)>> = HashMap::new();
        for row in client
            .query(
                "SELECT c.oid, a.attname::text, b.attname::text \
                 FROM pg_catalog.pg_constraint c \
                 CROSS JOIN unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(ck, pk, n) \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.ck \
                 JOIN pg_catalog.pg_attribute b ON b.attrelid = c.confrelid AND b.attnum = k.pk \
                 WHERE c.oid = ANY($1) ORDER BY c.oid, k.n",
                &[&oids],
            )
            .await
            .map_err(source_error)?
        {
            columns_of
                .entry(row.get(0))
                .or_default()
                .push((row.get(1), row.get(2)));
        }
        let mut refused = Vec::new();
        for (fk, child, parent, child_name, parent_name) in checks {
            let pairs = columns_of.get(&fk.oid).cloned().unwrap_or_default();
            let followed = selector.follows.iter().any(|(table, follow)| {
                named(table, &resolved.relations) == child_name
                    && named(&display(&follow.parent), &resolved.relations) == parent_name
                    && pairs == [(follow.column.clone(), follow.parent_column.clone())]
            });
            let by_shard = selector.shard.as_ref().is_some_and(|s| {
                if !pairs.contains(&(s.key.clone(), s.key.clone())) {
                    return false;
                }
                let parent_leaves = leaves(parent.oid);
                let child_types: BTreeSet<Option<String>> = leaves(child.oid)
                    .iter()
                    .map(|c| type_of(c, &s.key))
                    .collect();
                parent_leaves.len() == holders(parent.oid).len()
                    && parent_leaves.iter().all(|leaf| {
                        let key_type = type_of(leaf, &s.key);
                        let cut = key_type.as_deref().and_then(|t| {
                            super::shard::predicate(&s.key, t, s.modulus, s.remainder)
                        });
                        resolved.predicates.get(leaf) == cut.as_ref()
                            && child_types.iter().all(|t| *t == key_type)
                    })
            });
            if followed || by_shard {
                continue;
            }
            let rows = |oid: u32, columns: Vec<&String>| -> String {
                let columns: Vec<&str> = columns.iter().map(|c| c.as_str()).collect();
                kept_rows(&leaves(oid), &columns, |leaf| {
                    resolved.predicates.get(leaf).cloned()
                })
            };
            let n = pairs.len();
            let names = |prefix: &str| (1..=n).map(|i| format!("{prefix}{i}")).collect::<Vec<_>>();
            let (c, p) = (names("c"), names("p"));
            let sql = format!(
                "WITH kept_child ({}) AS ({}), kept_parent ({}) AS ({}) \
                 SELECT count(*) FROM kept_child WHERE {} AND NOT EXISTS \
                 (SELECT FROM kept_parent WHERE {})",
                c.join(", "),
                rows(child.oid, pairs.iter().map(|(a, _)| a).collect()),
                p.join(", "),
                rows(parent.oid, pairs.iter().map(|(_, b)| b).collect()),
                c.iter()
                    .map(|c| format!("{c} IS NOT NULL"))
                    .collect::<Vec<_>>()
                    .join(" AND "),
                c.iter()
                    .zip(&p)
                    .map(|(c, p)| format!("{p} = {c}"))
                    .collect::<Vec<_>>()
                    .join(" AND "),
            );
            client
                .batch_execute("SAVEPOINT pgsplit_key")
                .await
                .map_err(source_error)?;
            let counted = client.query_one(&sql, &[]).await;
            client
                .batch_execute("ROLLBACK TO SAVEPOINT pgsplit_key")
                .await
                .map_err(source_error)?;
            match counted {
                Ok(row) if row.get::<_, i64>(0) > 0 => {
                    let (child, parent) = (display(&child_name), display(&parent_name));
                    let choose = if child == parent {
                        format!("a where: on {child} that keeps the rows its kept rows reference")
                    } else {
                        format!(
                            "choose them with follow:{child}=\"COLUMN -> {parent}.COLUMN\" or a \
                             where: that keeps both sides"
                        )
                    };
                    refused.push(format!(
                        "the foreign key {key} of {child} would fail on the target: {count} of \
                         the rows this target gets of {child} reference {parent} rows it does not \
                         get; {choose}",
                        key = fk.name,
                        count = row.get::<_, i64>(0),
                    ));
                }
                Ok(_) => {}
                Err(e) => {
                    let child = display(&child_name);
                    tracing::warn!(
                        "could not check the foreign key {} of {child} on the source: {}",
                        fk.name,
                        pgsplit_pg::cause_chain(&e)
                    )
                }
            }
        }
        Ok(refused)
    }
    .await;
    client
        .batch_execute("ROLLBACK TO SAVEPOINT pgsplit_keys; RELEASE SAVEPOINT pgsplit_keys")
        .await
        .map_err(source_error)?;
    let refused = checked?;
    if refused.is_empty() {
        Ok(())
    } else {
        Err(refused.join("; "))
    }
}

/// Whether two shards of one key take some row twice: their remainders agree modulo
/// the greatest common divisor of their moduli (`0/2` and `2/4`; `1/4` and `1/3`), as
/// PostgreSQL refuses for hash partitions.
pub fn shards_overlap(a: &super::Shard, b: &super::Shard) -> bool {
    fn gcd(a: u32, b: u32) -> u32 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let common = gcd(a.modulus, b.modulus).max(1);
    a.key == b.key && a.remainder % common == b.remainder % common
}

/// Per line (of `cuts`: its number, shard and the tables its shard cuts) whose shard
/// overlaps an earlier line's on a table both cut, or cuts it by another key (whose shares
/// no check can tell apart): its number and why. Lines of one
/// source only; tables only one of them cuts are no overlap (one line per service, each
/// sharded on its own).
pub fn overlapping_shards(
    cuts: &[(usize, &super::Shard, &BTreeSet<Name>)],
) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (at, (line, shard, tables)) in cuts.iter().enumerate() {
        let earlier = cuts[..at]
            .iter()
            .find_map(|(other_line, other, other_tables)| {
                let shared = tables.intersection(other_tables).next()?;
                (other.key != shard.key || shards_overlap(shard, other))
                    .then_some((other_line, other, shared))
            });
        if let Some((other_line, other, shared)) = earlier {
            if other.key != shard.key {
                found.push((
                    *line,
                    format!(
                        "shard={}:{}/{} and line {other_line}'s shard={}:{}/{} cut {} by \
                         different keys: a row could be copied to both targets, or to neither",
                        shard.key,
                        shard.remainder,
                        shard.modulus,
                        other.key,
                        other.remainder,
                        other.modulus,
                        display(shared)
                    ),
                ));
                continue;
            }
            let what = if other.modulus == shard.modulus {
                format!("is line {other_line}'s too")
            } else {
                format!(
                    "overlaps line {other_line}'s shard={}:{}/{}",
                    other.key, other.remainder, other.modulus
                )
            };
            found.push((
                *line,
                format!(
                    "shard={}:{}/{} {what}: rows of {} (and of every table both lines cut) \
                     would be copied to both targets",
                    shard.key,
                    shard.remainder,
                    shard.modulus,
                    display(shared)
                ),
            ));
        }
    }
    found
}

/// Resolves `selector` against the catalog. Errors (a pattern matching nothing, a filter
/// on an unselected table, a shard key of an unsupported type) name the selector word.
pub fn resolve(
    selector: &Selector,
    catalog: &Catalog,
    tables: &[SourceTable],
) -> Result<Resolved, String> {
    let relations: Vec<&pgsplit_schema::model::Relation> = catalog
        .relations
        .iter()
        .filter(|r| r.relkind == "r" || r.relkind == "p")
        .collect();
    let by_oid: HashMap<u32, &pgsplit_schema::model::Relation> =
        relations.iter().map(|r| (r.oid, *r)).collect();
    let name_of = |r: &pgsplit_schema::model::Relation| (r.schema.clone(), r.name.clone());

    let mut resolved = Resolved::default();
    let take_all = selector.schemas.is_empty() && selector.tables.is_empty();
    let mut selected: BTreeSet<u32> = BTreeSet::new();
    for pattern in &selector.schemas {
        let matcher = Selector::matchers(std::slice::from_ref(pattern));
        let schemas: Vec<&str> = catalog
            .schemas
            .iter()
            .map(|s| s.name.as_str())
            .filter(|s| matcher[0].is_match(s))
            .collect();
        if schemas.is_empty() {
            return Err(format!("schemas={pattern}: no such schema in the source"));
        }
        resolved
            .whole_schemas
            .extend(schemas.iter().map(|s| s.to_string()));
        selected.extend(
            relations
                .iter()
                .filter(|r| schemas.contains(&r.schema.as_str()))
                .map(|r| r.oid),
        );
    }
    for pattern in &selector.tables {
        let matcher = &Selector::matchers(std::slice::from_ref(pattern))[0];
        let hits: Vec<u32> = relations
            .iter()
            .filter(|r| matcher.is_match(display(&name_of(r))))
            .map(|r| r.oid)
            .collect();
        if hits.is_empty() {
            return Err(format!("tables={pattern}: matches no table in the source"));
        }
        selected.extend(hits);
    }
    if take_all {
        // Everything, rows cut or tables excluded: every schema goes whole, with its
        // functions, sequences, types and views no chosen table needs (they were lost).
        selected.extend(relations.iter().map(|r| r.oid));
        resolved
            .whole_schemas
            .extend(catalog.schemas.iter().map(|s| s.name.clone()));
    }
    // Partitions go with their partitioned table, and a partition needs its parents.
    let mut stack: Vec<u32> = selected.iter().copied().collect();
    while let Some(oid) = stack.pop() {
        let Some(rel) = by_oid.get(&oid) else {
            continue;
        };
        let related = catalog
            .children(oid)
            .iter()
            .copied()
            .filter(|_| rel.relkind == "p")
            .chain(rel.parents.iter().copied().filter(|_| rel.is_partition));
        for other in related {
            if by_oid.contains_key(&other) && selected.insert(other) {
                stack.push(other);
            }
        }
    }
    // Then exclusions: an excluded partitioned table takes its partitions with it, an
    // excluded partition stays behind alone.
    let mut excluded: BTreeSet<u32> = BTreeSet::new();
    for pattern in &selector.exclude {
        let matcher = &Selector::matchers(std::slice::from_ref(pattern))[0];
        let matches = |oid: &&u32| matcher.is_match(display(&name_of(by_oid[*oid])));
        let mut stack: Vec<u32> = selected.iter().filter(matches).copied().collect();
        if stack.is_empty() && !excluded.iter().any(|oid| matches(&oid)) {
            return Err(format!("exclude={pattern}: matches no selected table"));
        }
        while let Some(oid) = stack.pop() {
            if selected.remove(&oid) {
                excluded.insert(oid);
                if by_oid[&oid].relkind == "p" {
                    stack.extend(catalog.children(oid).iter().copied());
                }
            }
        }
    }

    // Shards: tables without the key are reference tables (whole, or not at all).
    let columns: HashMap<Name, &SourceTable> = tables
        .iter()
        .map(|t| ((t.schema.clone(), t.name.clone()), t))
        .collect();
    // The tables the shard key picks rows of: their rows without a followed parent are
    // theirs to place.
    let mut sharded: BTreeSet<Name> = BTreeSet::new();
    if let Some(s) = &selector.shard {
        let reference = selector.reference.unwrap_or(Reference::All);
        let mut keyed = 0;
        let mut drop = Vec::new();
        for oid in &selected {
            let name = name_of(by_oid[oid]);
            let Some(table) = columns.get(&name) else {
                continue;
            };
            match table.all_columns().find(|c| c.name == s.key) {
                Some(column) => {
                    let predicate = shard::predicate(&s.key, &column.type_name, s.modulus, s.remainder)
                        .ok_or_else(|| format!("shard={}: key type {} of {} is not supported (integer, bigint, smallint, text, varchar, uuid, numeric, date)", s.key, column.type_name, display(&name)))?;
                    // Modulus 1 is every row (what all shards add up to).
                    if s.modulus > 1 {
                        resolved.predicates.insert(name.clone(), predicate);
                    }
                    sharded.insert(name);
                    keyed += 1;
                }
                None if reference == Reference::None => drop.push(*oid),
                None => {}
            }
        }
        if keyed == 0 {
            return Err(format!(
                "shard={}: no selected table has a column {:?}",
                s.key, s.key
            ));
        }
        for oid in drop {
            selected.remove(&oid);
        }
    }
    // A child of traditional inheritance cannot be created without its parents.
    for oid in &selected {
        let rel = by_oid[oid];
        if rel.is_partition {
            continue;
        }
        let missing = rel
            .parents
            .iter()
            .find(|p| by_oid.contains_key(p) && !selected.contains(p));
        if let Some(parent) = missing {
            let parent = display(&name_of(by_oid[parent]));
            return Err(format!(
                "{} inherits from {parent}, which this target does not get: select both, or neither",
                display(&name_of(rel))
            ));
        }
    }
    resolved.relations = selected.iter().map(|o| name_of(by_oid[o])).collect();
    resolved.left_out = relations
        .iter()
        .filter(|r| !selected.contains(&r.oid))
        .map(|r| name_of(r))
        .collect();

    // Filters and followed parents, applied to data tables (a filter on a partitioned
    // table applies to each of its partitions).
    let names: Vec<Name> = relations.iter().map(|r| name_of(r)).collect();
    // A word with more than one `.` may name two tables ("a.b"."c" and "a"."b.c").
    let words = selector
        .filters
        .keys()
        .map(|t| (format!("where:{t}"), t.clone()))
        .chain(selector.follows.iter().flat_map(|(t, f)| {
            [
                (format!("follow:{t}"), t.clone()),
                (format!("follow:{t}"), display(&f.parent)),
            ]
        }));
    for (key, word) in words {
        let matching: Vec<String> = names
            .iter()
            .filter(|name| display(name) == word)
            .map(|(schema, table)| quote::qualified(schema, table))
            .collect();
        if matching.len() > 1 {
            return Err(format!(
                "{key}: {word} names {} tables ({}): a selector cannot tell them apart; \
                 rename one, or choose its rows another way",
                matching.len(),
                matching.join(", ")
            ));
        }
    }
    let split = |word: &str| -> Name { named(word, &names) };
    let leaves_of = |name: &Name| -> Vec<Name> {
        match relations.iter().find(|r| &name_of(r) == name) {
            Some(r) => catalog.data_tables(r.oid),
            None => Vec::new(),
        }
    };
    let mut own: BTreeMap<Name, Vec<String>> = BTreeMap::new();
    for (table, filter) in &selector.filters {
        let name = split(table);
        if !resolved.relations.contains(&name) {
            return Err(format!(
                "where:{table}: the table is not selected for this target"
            ));
        }
        for leaf in leaves_of(&name) {
            own.entry(leaf).or_default().push(format!("({filter})"));
        }
    }
    for (name, p) in &resolved.predicates {
        own.entry(name.clone()).or_default().push(p.clone());
    }
    // The values of a followed parent's column on this target, as a subquery: each of its
    // data tables (partitions) the target holds, with its own condition. A parent copied
    // whole still counts: a child's row goes only if it references a row of it.
    let rows_of = |name: &Name, column: &str, own: &BTreeMap<Name, Vec<String>>| -> String {
        let leaves: Vec<Name> = leaves_of(name)
            .into_iter()
            .filter(|leaf| resolved.relations.contains(leaf))
            .collect();
        kept_rows(&leaves, &[column], |leaf| {
            own.get(leaf).map(|p| p.join(" AND "))
        })
    };
    // Follows may chain (order_items → orders → customers): resolve parents first.
    // A parent as parsed is its word split at the first `.`, which a dotted name
    // splits wrongly.
    let follows: Vec<(&String, super::selector::Follow)> = selector
        .follows
        .iter()
        .map(|(table, follow)| {
            let parent = split(&display(&follow.parent));
            (
                table,
                super::selector::Follow {
                    parent,
                    ..follow.clone()
                },
            )
        })
        .collect();
    let mut pending: Vec<(&String, &super::selector::Follow)> = follows
        .iter()
        .map(|(table, follow)| (*table, follow))
        .collect();
    let mut followed: BTreeSet<String> = BTreeSet::new();
    // The tables whose rows the shard divides: cut by its key, or following one that is.
    let mut shard_dependent: BTreeSet<Name> = sharded.clone();
    let mut rounds = 0;
    while !pending.is_empty() {
        rounds += 1;
        if rounds > 32 {
            return Err("follow: the followed tables form a cycle".into());
        }
        let mut next = Vec::new();
        for (table, follow) in pending {
            let child = split(table);
            if !resolved.relations.contains(&child) {
                return Err(format!(
                    "follow:{table}: the table is not selected for this target"
                ));
            }
            if !resolved.relations.contains(&follow.parent) {
                return Err(format!(
                    "follow:{table}: its parent {} is not selected for this target",
                    display(&follow.parent)
                ));
            }
            // A misspelt column would fail the copy after other targets were written,
            // or, for a parent copied whole, be ignored.
            for (name, column) in [
                (&child, &follow.column),
                (&follow.parent, &follow.parent_column),
            ] {
                let found = relations
                    .iter()
                    .find(|r| &name_of(r) == name)
                    .is_some_and(|r| r.columns.iter().any(|c| &c.name == column));
                if !found {
                    return Err(format!(
                        "follow:{table}: {} has no column {column:?}",
                        display(name)
                    ));
                }
            }
            let parent_waits = selector
                .follows
                .keys()
                .any(|k| split(k) == follow.parent && !followed.contains(k));
            if parent_waits {
                next.push((table, follow));
                continue;
            }
            followed.insert(table.clone());
            // Its rows depend on the shard when its parent's do (not under a reference
            // table, copied whole to every shard).
            let parent_cut = leaves_of(&follow.parent)
                .iter()
                .any(|leaf| shard_dependent.contains(leaf));
            if parent_cut {
                shard_dependent.extend(leaves_of(&child));
            }
            let column = quote::ident(&follow.column);
            let references = format!(
                "{column} IN ({})",
                rows_of(&follow.parent, &follow.parent_column, &own)
            );
            for leaf in leaves_of(&child) {
                // A row that references no parent (NULL) belongs to no parent's target;
                // with shards it goes where NULL keys go: by the table's own key, or to
                // remainder 0 (every row of the source is on one shard).
                let unreferenced_here = selector
                    .shard
                    .as_ref()
                    .is_some_and(|s| !parent_cut || s.remainder == 0 || sharded.contains(&leaf));
                let p = if unreferenced_here {
                    format!("({references} OR {column} IS NULL)")
                } else {
                    references.clone()
                };
                own.entry(leaf).or_default().push(p);
            }
        }
        pending = next;
    }
    resolved.predicates = own
        .into_iter()
        .filter(|(name, _)| resolved.relations.contains(name))
        .map(|(name, parts)| (name, parts.join(" AND ")))
        .collect();
    resolved.sharded = sharded;
    Ok(resolved)
}

/// The validated foreign keys between two tables this target gets whose referenced side
/// it gets only in part, with the child's and the parent's relation and name.
#[allow(clippy::type_complexity)]
fn keys_into_parts<'a>(
    catalog: &'a Catalog,
    resolved: &'a Resolved,
) -> impl Iterator<
    Item = (
        &'a pgsplit_schema::model::Constraint,
        &'a pgsplit_schema::model::Relation,
        &'a pgsplit_schema::model::Relation,
        Name,
        Name,
    ),
> + 'a {
    catalog
        .constraints
        .iter()
        .filter(|c| c.contype == "f" && c.parent == 0 && c.validated)
        .filter_map(move |fk| {
            let child = catalog.relation(fk.table)?;
            let parent = catalog.relation(fk.ref_table)?;
            let child_name = (child.schema.clone(), child.name.clone());
            let parent_name = (parent.schema.clone(), parent.name.clone());
            (resolved.relations.contains(&child_name)
                && resolved.relations.contains(&parent_name)
                && in_part(catalog, resolved, parent.oid))
            .then_some((fk, child, parent, child_name, parent_name))
        })
}

/// A table copied whole whose validated foreign key references a table copied in part:
/// the key would fail on the target, after the copy, on every row whose referenced row
/// stays behind (a child a `follow:` forgot, one without the shard key). Refused before
/// anything is written; a `follow:` (or a `where:` of its own) on the child says which
/// of its rows go.
fn whole_children_of_parts(catalog: &Catalog, resolved: &Resolved) -> Result<(), String> {
    for (fk, child, _, child_name, parent_name) in keys_into_parts(catalog, resolved) {
        if !in_part(catalog, resolved, child.oid) {
            return Err(format!(
                "{child} would be copied whole and {parent} in part: the foreign key {key} \
                 of {child} would fail on the rows whose {parent} row stays behind; choose \
                 {child}'s rows with follow:{child}=\"COLUMN -> {parent}.COLUMN\" (or a where:)",
                child = display(&child_name),
                parent = display(&parent_name),
                key = fk.name,
            ));
        }
    }
    Ok(())
}
