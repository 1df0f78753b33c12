//! Splitting one database into several: selectors per target (schemas, tables, row
//! filters, followed parents, hash shards), resolved against the source catalog.

pub mod resolve;
pub mod selector;
pub mod shard;

pub use resolve::{
    Resolved, check_conditions, check_foreign_keys, overlapping_shards, resolve, shards_overlap,
};
pub use selector::{Follow, Reference, Selector, Shard};

/// Selected tables that cannot be made without a table the line leaves out (a column's
/// row type, an inheritance parent): their rows would have nowhere to go. Bad input.
pub fn unmakeable_tables(
    cross: &[pgsplit_schema::CrossTarget],
    resolved: &Resolved,
) -> Option<String> {
    let unmakeable: Vec<String> = cross
        .iter()
        .filter(|c| {
            c.kind == pgsplit_schema::CrossKind::Other
                && resolved.relations.contains(&c.from)
                && c.identity == format!("table {}.{}", c.from.0, c.from.1)
        })
        .map(pgsplit_schema::CrossTarget::describe)
        .collect();
    (!unmakeable.is_empty()).then(|| {
        format!(
            "selected tables cannot be created without tables the line leaves out: {}; select those too",
            unmakeable.join("; ")
        )
    })
}
