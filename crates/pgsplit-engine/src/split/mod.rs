//! Splitting one database into several: selectors per target (schemas, tables, row
//! filters, followed parents, hash shards), resolved against the source catalog.

pub mod resolve;
pub mod selector;
pub mod shard;

pub use resolve::{
    Resolved, check_conditions, check_foreign_keys, overlapping_shards, resolve, shards_overlap,
};
pub use selector::{Follow, Reference, Selector, Shard};

/// The line's share of `catalog` (`resolved`) rendered, with what it needs of another
/// target; refused (bad input) when a selected table cannot be made ([`unmakeable_tables`]).
/// With `data_only` nothing of the schema is written, so nothing crosses to another
/// target: the target keeps its own keys, and the run checks them after the load.
pub fn render_share(
    catalog: &pgsplit_schema::Catalog,
    options: &pgsplit_schema::SchemaOptions,
    resolved: &Resolved,
    data_only: bool,
) -> Result<(pgsplit_schema::Ddl, Vec<pgsplit_schema::CrossTarget>), String> {
    let (ddl, mut cross) = catalog.render_selected(options, &resolved.selection());
    if let Some(message) = unmakeable_tables(&cross, resolved) {
        return Err(message);
    }
    if data_only {
        cross.clear();
    }
    Ok((ddl, cross))
}

/// Selected tables that cannot be made without a table the line leaves out (a column's
/// row type, an inheritance parent): their rows would have nowhere to go. Bad input.
fn unmakeable_tables(cross: &[pgsplit_schema::CrossTarget], resolved: &Resolved) -> Option<String> {
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
