//! Across the targets of a hash-sharded split: the source shares of every sharded table
//! add up to the whole source table — no row falls into no shard, none into two. Each
//! target is already compared with exactly its share; this checks the shares themselves.
//!
//! The shares were read in each line's own snapshot of the source and the whole table in
//! a new one: exact when the source is not written while `verify` runs.

use std::collections::BTreeMap;

use serde::Serialize;

use pgsplit_copy::{CopySpec, Counters, Digest, snapshot};

use super::error::VerifyError;
use super::report::VerifyReport;
use super::tables::read_rows;
use crate::mapping::Mapping;
use crate::run::VerifyLevel;
use crate::session;
use crate::split::{self, Selector};

#[derive(Debug, Serialize)]
pub struct ShardCoverage {
    pub schema: String,
    pub name: String,
    pub key: String,
    /// The lines' modulus; for shards of several moduli, their least common multiple.
    pub modulus: u32,
    /// The rows the shares must add up to: the whole table on the source, or the rows
    /// of its other filters (the same on every line), if any.
    pub filter: Option<String>,
    pub source_rows: u64,
    pub source_digest: Option<Digest>,
    /// The shares of all shards added up.
    pub shard_rows: u64,
    pub shard_digest: Option<Digest>,
    pub matches: bool,
}

/// Lines that shard one source by one key and together take every row exactly once:
/// every remainder of one modulus, or shards of several moduli that cover each
/// remainder of their least common multiple once (`0/2`, `1/4`, `3/4`). Each group with
/// that multiple (the modulus of one of its lines, if they share one). `sources`: the
/// lines' indices by source database ([`crate::session::by_source_database`]).
fn complete_groups(
    mapping: &Mapping,
    sources: &[Vec<usize>],
) -> Vec<(usize, String, u32, Vec<usize>)> {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let mut groups: Vec<(usize, String, Vec<usize>)> = Vec::new();
    for (i, line) in mapping.lines.iter().enumerate() {
        let Some(shard) = &line.selector.shard else {
            continue;
        };
        let same_source =
            |first: usize| sources.iter().any(|g| g.contains(&first) && g.contains(&i));
        let found = groups
            .iter_mut()
            .find(|(first, key, _)| same_source(*first) && *key == shard.key);
        match found {
            Some(group) => group.2.push(i),
            None => groups.push((i, shard.key.clone(), vec![i])),
        }
    }
    // Lines whose shards take every row once: their modulus (the least common multiple).
    let exact = |members: &[usize]| -> Option<u32> {
        let shards: Vec<_> = members
            .iter()
            .filter_map(|&i| mapping.lines[i].selector.shard.as_ref())
            .collect();
        let lcm = shards.iter().try_fold(1u64, |lcm, s| {
            let m = u64::from(s.modulus);
            Some(lcm / gcd(lcm, m) * m).filter(|l| *l <= 1 << 16)
        })?;
        let every_once = (0..lcm).all(|r| {
            shards
                .iter()
                .filter(|s| r % u64::from(s.modulus) == u64::from(s.remainder))
                .count()
                == 1
        });
        every_once.then_some(lcm as u32)
    };
    let mut complete = Vec::new();
    for (first, key, members) in groups {
        if let Some(modulus) = exact(&members) {
            complete.push((first, key, modulus, members));
            continue;
        }
        // Lines of one key that cut other tables (one shard set per service): each
        // modulus's lines on their own.
        let mut moduli: Vec<u32> = members
            .iter()
            .filter_map(|&i| mapping.lines[i].selector.shard.as_ref().map(|s| s.modulus))
            .collect();
        moduli.sort_unstable();
        moduli.dedup();
        for modulus in moduli {
            let same: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&i| {
                    mapping.lines[i].selector.shard.as_ref().map(|s| s.modulus) == Some(modulus)
                })
                .collect();
            if exact(&same).is_some() {
                complete.push((same[0], key.clone(), modulus, same));
            }
        }
    }
    complete
}

type Name = (String, String);

/// The tables the shard cuts on every line of a group, each with the rows its shares must
/// add up to: the predicate the table has on those lines without the shard (`None`: the
/// whole table). A table the shard leaves alone (a reference table, filtered or not) is not
/// one, nor one whose other filters differ from line to line.
fn sharded_tables(
    mapping: &Mapping,
    members: &[usize],
    catalog: &pgsplit_schema::Catalog,
    tables: &[pgsplit_copy::SourceTable],
) -> Result<BTreeMap<Name, Option<String>>, VerifyError> {
    let mut found: BTreeMap<Name, (usize, Option<String>)> = BTreeMap::new();
    let mut differ: Vec<Name> = Vec::new();
    for &i in members {
        let selector = &mapping.lines[i].selector;
        let with = split::resolve(selector, catalog, tables).map_err(VerifyError::Selection)?;
        // All shards at once: modulus 1, which places rows as the shards do (a row of a
        // followed table that references no parent goes to remainder 0).
        let unsharded = Selector {
            shard: selector.shard.as_ref().map(|s| split::Shard {
                modulus: 1,
                remainder: 0,
                ..s.clone()
            }),
            ..selector.clone()
        };
        let without =
            split::resolve(&unsharded, catalog, tables).map_err(VerifyError::Selection)?;
        for name in &with.relations {
            let (cut, base) = (with.predicates.get(name), without.predicates.get(name));
            if cut == base {
                continue;
            }
            let entry = found.entry(name.clone()).or_insert((0, base.cloned()));
            if entry.1.as_ref() != base {
                differ.push(name.clone());
            }
            entry.0 += 1;
        }
    }
    Ok(found
        .into_iter()
        .filter(|(name, (lines, _))| *lines == members.len() && !differ.contains(name))
        .map(|(name, (_, base))| (name, base))
        .collect())
}

pub async fn check(
    mapping: &Mapping,
    report: &VerifyReport,
    level: VerifyLevel,
) -> Result<Vec<ShardCoverage>, VerifyError> {
    let mut out = Vec::new();
    let sources = crate::session::by_source_database(mapping).await;
    for (first, key, modulus, members) in complete_groups(mapping, &sources) {
        // Each line's share of every table, as read from the source by that line.
        let mut shares: BTreeMap<(String, String), (usize, u64, Digest)> = BTreeMap::new();
        for &i in &members {
            let Some(line) = report.lines.get(i) else {
                continue;
            };
            for t in line.tables.iter().filter(|t| t.row_filter.is_some()) {
                let Some(source) = &t.source else { continue };
                let entry = shares.entry((t.schema.clone(), t.name.clone())).or_insert((
                    0,
                    0,
                    Digest::ZERO,
                ));
                entry.0 += 1;
                entry.1 += source.rows;
                if let Some(d) = &source.digest {
                    entry.2.combine(d);
                }
            }
        }
        shares.retain(|_, (lines, _, _)| *lines == members.len());
        if shares.is_empty() {
            continue;
        }
        let conn = session::open(&mapping.lines[first].source).await?;
        // Read as the shares were: text-format values in the same forms.
        super::tables::set_up_session(&conn.client)
            .await
            .map_err(|e| VerifyError::db(&conn.server, "set up the session", e))?;
        snapshot::begin_read_only(&conn.client)
            .await
            .map_err(|e| VerifyError::db(&conn.server, "start a snapshot", e))?;
        let tables = super::read_tables(&conn).await?;
        let catalog = super::introspect(&conn).await?;
        let sharded = sharded_tables(mapping, &members, &catalog, &tables)?;
        for ((schema, name), (_, shard_rows, shard_digest)) in shares {
            let Some(table) = tables.iter().find(|t| t.schema == schema && t.name == name) else {
                continue;
            };
            let Some(base) = sharded.get(&(schema.clone(), name.clone())) else {
                continue;
            };
            let spec = CopySpec {
                table,
                format: table.format,
                predicate: base.clone(),
                guard: false,
            };
            let (rows, digest) = read_rows(&conn.client, &spec, level, &Counters::default())
                .await
                .map_err(|source| VerifyError::Read {
                    server: conn.server.clone(),
                    table: table.display_name(),
                    chunk: String::new(),
                    source,
                })?;
            let shard_digest = digest.map(|_| shard_digest);
            out.push(ShardCoverage {
                matches: rows == shard_rows && digest == shard_digest,
                schema,
                name,
                key: key.clone(),
                modulus,
                filter: base.clone(),
                source_rows: rows,
                source_digest: digest,
                shard_rows,
                shard_digest,
            });
        }
        let _ = conn.client.batch_execute("COMMIT").await;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgsplit_pg::Environment;
    use std::path::Path;

    fn mapping(selectors: &[&str]) -> Mapping {
        let text: String = selectors
            .iter()
            .enumerate()
            .map(|(i, s)| format!("postgres://a@h/src@@postgres://a@h/t{i} {s}\n"))
            .collect();
        Mapping::parse(Path::new("m.txt"), &text, &Environment::default()).unwrap()
    }

    fn complete_of(selectors: &[&str]) -> Vec<(usize, String, u32, Vec<usize>)> {
        let mapping = mapping(selectors);
        complete_groups(&mapping, &mapping.by_source())
    }

    #[test]
    fn only_complete_shard_sets_are_checked() {
        let full = mapping(&[
            "shard=k:0/3",
            "shard=k:1/3",
            "shard=k:2/3",
            "schemas=public",
        ]);
        let groups = complete_groups(&full, &full.by_source());
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].3, [0, 1, 2]);
        assert!(complete_of(&["shard=k:0/3", "shard=k:1/3"]).is_empty());
        assert!(complete_of(&["shard=k:0/2", "shard=j:1/2"]).is_empty());
        // Several moduli that take every row once.
        let mixed = complete_of(&["shard=k:0/2", "shard=k:1/4", "shard=k:3/4"]);
        assert_eq!((mixed[0].2, mixed[0].3.clone()), (4, vec![0, 1, 2]));
        assert!(complete_of(&["shard=k:0/2", "shard=k:1/4"]).is_empty());
        // A complete set of one modulus beside another line of the key (another service).
        let beside = complete_of(&["shard=k:0/2", "shard=k:1/2", "shard=k:0/3"]);
        assert_eq!((beside[0].2, beside[0].3.clone()), (2, vec![0, 1]));
    }
}
