//! `pgsplit verify`: proves, at any time after a copy, that each target holds exactly
//! what its source holds — every table's rows (count and digest, both sides read in
//! parallel, the source inside one snapshot), every sequence value, and the schema.
//!
//! - `tables.rs`: pairing, chunks per side, the workers, per-table verdicts;
//! - `schema.rs`: both catalogs rendered by the same renderer, compared per object;
//! - `sequences.rs`: `last_value`/`is_called` on both sides;
//! - `report.rs`: the findings.

mod error;
pub mod report;
mod schema;
mod sequences;
pub mod shards;
pub mod tables;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use pgsplit_copy::{SourceTable, snapshot};
use pgsplit_pg::Connection;
use pgsplit_schema::{Catalog, Ddl, SchemaOptions};

use crate::database::{DatabaseLevel, DatabaseStatement};
use crate::mapping::{Mapping, MappingLine};
use crate::progress::Progress;
use crate::run::VerifyLevel;
use crate::session;
pub use error::{ReadError, VerifyError};
use report::{ExtensionConfigVerification, LargeObjectsVerification, SchemaProblem, SideRows};
pub use report::{LineVerification, VerifyReport};
use tables::{Endpoint, Side, TablePlan};

#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Readers per side (`--jobs`): up to this many source and as many target reads at once.
    pub jobs: usize,
    /// Tables larger than this many bytes are read as several chunks on each side.
    pub split_larger_than: Option<i64>,
    /// `Count` or `Checksum` (`None` is treated as `Count`).
    pub level: VerifyLevel,
    /// Owners are not compared (the copy was made with `--no-owner`).
    pub no_owner: bool,
    /// Privileges are not compared (the copy was made with `--no-acl`).
    pub no_acl: bool,
    /// The data only (the copy was made with `--data-only` into a schema of the user's
    /// own): rows, sequence values, large objects and extensions' configuration rows,
    /// not the schema or the database's properties; tables only on the target are no
    /// difference.
    pub data_only: bool,
    /// Per table (schema, name): a SQL condition selecting the source rows that belong on
    /// the target (a split's row filter). Tables without one are compared whole.
    pub row_filters: HashMap<(String, String), String>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            jobs: 4,
            split_larger_than: None,
            level: VerifyLevel::Checksum,
            no_owner: false,
            no_acl: false,
            data_only: false,
            row_filters: HashMap::new(),
        }
    }
}

/// Verifies every line of the mapping, one after another.
pub async fn verify(
    mapping: &Mapping,
    options: &VerifyOptions,
    progress: Arc<Progress>,
) -> VerifyReport {
    let started = Instant::now();
    let mut report = VerifyReport::default();
    for line in &mapping.lines {
        let line_started = Instant::now();
        let mut found = LineVerification::new(
            line.line,
            line.source.to_string(),
            line.target.to_string(),
            options.level,
        );
        if let Err(e) = verify_line(line, options, &progress, &mut found).await {
            tracing::error!("line {}: {e:#}", line.line);
            found.bad_input = matches!(e, VerifyError::Selection(_));
            found.error = Some(format!("{e:#}"));
        }
        found.seconds = line_started.elapsed().as_secs_f64();
        report.lines.push(found);
    }
    // With --data-only each line's tables are read as fitted to its target: the sum of
    // the shares is not the whole source table's read.
    if !options.data_only && report.lines.iter().all(|l| l.error.is_none()) {
        let level = match options.level {
            VerifyLevel::Checksum => VerifyLevel::Checksum,
            _ => VerifyLevel::Count,
        };
        match shards::check(mapping, &report, level).await {
            Ok(found) => report.shards = found,
            Err(e) => report.shards_error = Some(format!("{e:#}")),
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// One side's leader: the connection holding the snapshot, and what it read there.
struct Leader {
    conn: Connection,
    snapshot: Option<String>,
    tables: Vec<SourceTable>,
    version: i32,
}

async fn verify_line(
    line: &MappingLine,
    options: &VerifyOptions,
    progress: &Arc<Progress>,
    found: &mut LineVerification,
) -> Result<(), VerifyError> {
    progress.set_phase("connect");
    let (source, target) = tokio::try_join!(
        open_leader(line, Side::Source),
        open_leader(line, Side::Target),
    )?;
    let schema_options = SchemaOptions {
        no_owner: options.no_owner,
        no_acl: options.no_acl,
        target_version: Some(target.version),
    };
    // The source's catalog first: a target of a split is compared with its share only
    // (its tables, its rows, its objects and sequences).
    let mut source_catalog = introspect(&source.conn).await?;
    if target.version / 10000 > source.version / 10000 {
        print_as_target(line, &mut source_catalog).await?;
    }
    let source_ddl = source_catalog.render(&schema_options);
    let mut row_filters = options.row_filters.clone();
    let (source_tables, source_ddl) = if line.selector.is_everything() {
        (source.tables.clone(), source_ddl)
    } else {
        let resolved = crate::split::resolve(&line.selector, &source_catalog, &source.tables)
            .map_err(VerifyError::Selection)?;
        let (ddl, _) = source_catalog.render_selected(&schema_options, &resolved.selection());
        row_filters.extend(resolved.predicates.clone());
        let tables = source
            .tables
            .iter()
            .filter(|t| {
                resolved
                    .relations
                    .contains(&(t.schema.clone(), t.name.clone()))
            })
            .cloned()
            .collect();
        (tables, ddl)
    };
    // Tables the run leaves out with the objects they need are not compared either.
    let source_tables = source_tables
        .into_iter()
        .filter(|t| !source_ddl.leaves_out_table(&t.schema, &t.name))
        .collect();
    let (pairs, findings) = tables::pair_tables(
        source_tables,
        target.tables.clone(),
        &row_filters,
        options.data_only,
    );
    let mut plans = Vec::with_capacity(pairs.len());
    for (s, t) in pairs {
        let source_chunks = tables::plan_chunks(
            &source.conn.client,
            &s,
            options.split_larger_than,
            source.version,
        )
        .await
        .map_err(|e| VerifyError::db(&source.conn.server, "read key bounds", e))?;
        let target_chunks = tables::plan_chunks(
            &target.conn.client,
            &t,
            options.split_larger_than,
            target.version,
        )
        .await
        .map_err(|e| VerifyError::db(&target.conn.server, "read key bounds", e))?;
        plans.push(TablePlan {
            row_filter: row_filters
                .get(&(s.schema.clone(), s.name.clone()))
                .cloned(),
            source: s,
            target: t,
            source_chunks,
            target_chunks,
        });
    }
    progress
        .tables_total
        .store(plans.len() as u64, Ordering::Relaxed);
    progress.total_bytes.store(
        plans
            .iter()
            .map(|p| (p.source.bytes.max(0) + p.target.bytes.max(0)) as u64)
            .sum(),
        Ordering::Relaxed,
    );
    progress.set_phase("verify");
    let level = match options.level {
        VerifyLevel::Checksum => VerifyLevel::Checksum,
        _ => VerifyLevel::Count,
    };
    let rows = tables::compare(
        Arc::new(plans),
        Endpoint {
            settings: line.source.clone(),
            snapshot: source.snapshot.clone(),
        },
        Endpoint {
            settings: line.target.clone(),
            snapshot: target.snapshot.clone(),
        },
        options.jobs,
        level,
        Arc::clone(progress),
    );
    // The target's catalog is read on its leader, inside its snapshot, while the workers
    // read the rows.
    // A newer target's catalog is read as the source's version would hold it.
    let (rows, target_catalog) = tokio::join!(
        rows,
        read_catalog(
            &target.conn,
            &schema_options,
            source.version,
            public_initial_privileges(&source_catalog, source.version, target.version),
        )
    );
    let (target_catalog, target_ddl) = target_catalog?;
    found
        .notes
        .extend(extension_versions(&source_catalog, &target_catalog));
    found.tables = rows?;
    found.tables.extend(findings);
    found.schema_compared = !options.data_only;
    if found.schema_compared {
        compare_schema(
            &source,
            &target,
            &line.target.dbname,
            (&source_ddl, &target_ddl),
            &target_catalog,
            options,
            found,
        )
        .await?;
    }
    let mut expected_sequences = sequences::states(&source_catalog);
    if !line.selector.is_everything() {
        // Only the sequences this target of the split received.
        expected_sequences.retain(|(schema, name), _| {
            // Its value is set by this target's DDL (identity sequences included).
            let identity = format!("sequence {schema}.{name}");
            source_ddl
                .pre_data
                .iter()
                .chain(&source_ddl.post_data)
                .any(|s| s.identity == identity || s.identity.ends_with(&format!(" {identity}")))
        });
    }
    let mut target_sequences = sequences::states(&target_catalog);
    if options.data_only {
        // A --data-only target's sequences of its own are no part of the copy.
        target_sequences.retain(|name, _| expected_sequences.contains_key(name));
    }
    found.sequences = sequences::compare(&expected_sequences, &target_sequences);
    found.large_objects = compare_large_objects(&source.conn, &target.conn, level).await?;
    found.extension_config = compare_extension_config(&source.conn, &target.conn, level).await?;
    // Every worker has imported the snapshots by now.
    let _ = source.conn.client.batch_execute("COMMIT").await;
    let _ = target.conn.client.batch_execute("COMMIT").await;
    Ok(())
}

/// The schema and the database's properties of both sides, into `found`.
async fn compare_schema(
    source: &Leader,
    target: &Leader,
    dbname: &str,
    (source_ddl, target_ddl): (&Ddl, &Ddl),
    target_catalog: &Catalog,
    options: &VerifyOptions,
    found: &mut LineVerification,
) -> Result<(), VerifyError> {
    let (statements, mut differences) = schema::compare(source_ddl, target_ddl);
    // An index the target has but cannot use (a failed CREATE INDEX CONCURRENTLY) is
    // no statement of its DDL: it is there, invalid, not missing.
    for d in differences
        .iter_mut()
        .filter(|d| d.problem == SchemaProblem::MissingOnTarget && d.kind == "index")
    {
        let invalid = target_catalog.indexes.iter().any(|idx| {
            !idx.valid
                && target_catalog
                    .relation(idx.table)
                    .is_some_and(|r| d.identity == format!("index {}.{}", r.schema, idx.name))
        });
        if invalid {
            d.problem = SchemaProblem::InvalidOnTarget;
        }
    }
    let (on_source, on_target) = tokio::try_join!(
        database_level(&source.conn, dbname, options),
        database_level(&target.conn, dbname, options)
    )?;
    let (database_objects, database_differences) =
        schema::compare_database_level(&on_source, &on_target);
    differences.extend(database_differences);
    found.schema_statements = statements + database_objects;
    found.schema_differences = differences;
    Ok(())
}

/// The tables as verify reads them: with their generated columns, which the target
/// computed, so they may differ.
async fn read_tables(conn: &Connection) -> Result<Vec<SourceTable>, VerifyError> {
    Ok(pgsplit_copy::tables::read_tables(&conn.client)
        .await
        .map_err(|e| VerifyError::db(&conn.server, "read the tables", e))?
        .into_iter()
        .map(SourceTable::with_generated)
        .collect())
}

/// The statements that would give database `dbname` what the connected one carries.
async fn database_level(
    conn: &Connection,
    dbname: &str,
    options: &VerifyOptions,
) -> Result<Vec<DatabaseStatement>, VerifyError> {
    let level = DatabaseLevel::read(&conn.client)
        .await
        .map_err(|e| VerifyError::db(&conn.server, "read the database's properties", e))?;
    Ok(level.statements(dbname, options.no_owner, options.no_acl))
}

/// Large objects of both sides, each read in its leader's snapshot. `None` when neither
/// side has any.
async fn compare_large_objects(
    source: &Connection,
    target: &Connection,
    level: VerifyLevel,
) -> Result<Option<LargeObjectsVerification>, VerifyError> {
    let (on_source, on_target) =
        tokio::try_join!(read_large_objects(source), read_large_objects(target))?;
    if on_source.rows == 0 && on_target.rows == 0 {
        return Ok(None);
    }
    let side = |moved: pgsplit_copy::Moved| SideRows {
        rows: moved.rows,
        digest: (level == VerifyLevel::Checksum).then_some(moved.digest),
        chunks: 1,
    };
    let (source, target) = (side(on_source), side(on_target));
    Ok(Some(LargeObjectsVerification {
        matches: source.rows == target.rows && source.digest == target.digest,
        source,
        target,
    }))
}

/// The users' rows of extensions' configuration tables, on both sides, each read in its
/// leader's snapshot: for every table of the extensions both sides have (a table the
/// role may not read on either side is left out, with a warning).
async fn compare_extension_config(
    source: &Connection,
    target: &Connection,
    level: VerifyLevel,
) -> Result<Vec<ExtensionConfigVerification>, VerifyError> {
    let (on_source, on_target) =
        tokio::try_join!(extension_names(source), extension_names(target))?;
    let both: std::collections::HashSet<String> =
        on_source.intersection(&on_target).cloned().collect();
    let (on_source, on_target) = tokio::try_join!(
        read_extension_config(source, &both),
        read_extension_config(target, &both)
    )?;
    let side = |moved: &pgsplit_copy::Moved| SideRows {
        rows: moved.rows,
        digest: (level == VerifyLevel::Checksum).then_some(moved.digest),
        chunks: 1,
    };
    let unreadable = |name: &str| {
        on_target
            .iter()
            .any(|t| t.name == name && t.moved.is_none())
    };
    Ok(on_source
        .iter()
        .filter_map(|s| Some((s, s.moved.as_ref()?)))
        .filter(|(s, _)| !unreadable(&s.name))
        .map(|(s, moved)| {
            let source = side(moved);
            let target = on_target
                .iter()
                .find(|t| t.extension == s.extension && t.name == s.name)
                .and_then(|t| t.moved.as_ref())
                .map(side);
            ExtensionConfigVerification {
                extension: s.extension.clone(),
                name: s.name.clone(),
                matches: target.is_some_and(|t| t.rows == source.rows && t.digest == source.digest),
                source: Some(source),
                target,
            }
        })
        .collect())
}

async fn extension_names(
    conn: &Connection,
) -> Result<std::collections::HashSet<String>, VerifyError> {
    crate::run::extension_config::extension_names(&conn.client)
        .await
        .map_err(|e| VerifyError::db(&conn.server, "list the extensions", e))
}

async fn read_extension_config(
    conn: &Connection,
    extensions: &std::collections::HashSet<String>,
) -> Result<Vec<crate::run::extension_config::ConfigRows>, VerifyError> {
    crate::run::extension_config::read_all(&conn.client, extensions)
        .await
        .map_err(|e| VerifyError::db(&conn.server, "read the extensions' configuration rows", e))
}

async fn read_large_objects(conn: &Connection) -> Result<pgsplit_copy::Moved, VerifyError> {
    crate::run::large_objects::read(&conn.client)
        .await
        .map_err(|e| VerifyError::db(&conn.server, "read the large objects", e))
}

/// Connects one side, starts its snapshot (exported for the workers when the server
/// allows it), locks its tables and reads them.
async fn open_leader(line: &MappingLine, side: Side) -> Result<Leader, VerifyError> {
    let settings = match side {
        Side::Source => &line.source,
        Side::Target => &line.target,
    };
    let conn = session::open(settings).await?;
    tables::set_up_session(&conn.client)
        .await
        .map_err(|e| VerifyError::db(&conn.server, "set up the session", e))?;
    let snapshot = match snapshot::export(&conn.client).await {
        Ok(id) => Some(id),
        // The source must be read in one snapshot; a target that cannot export one (a hot
        // standby before PostgreSQL 10, say) is read in one snapshot per worker.
        Err(e) if side == Side::Target => {
            tracing::warn!(
                "{}: cannot export a snapshot ({e}); each reader takes its own",
                conn.server
            );
            conn.client
                .batch_execute("ROLLBACK")
                .await
                .map_err(|e| VerifyError::db(&conn.server, "roll back", e))?;
            snapshot::begin_read_only(&conn.client)
                .await
                .map_err(|e| VerifyError::db(&conn.server, "start a read-only snapshot", e))?;
            None
        }
        Err(e) => return Err(VerifyError::db(&conn.server, "export a snapshot", e)),
    };
    let tables = read_tables(&conn).await?;
    let free = crate::session::free_lock_slots(&conn.client)
        .await
        .map_err(|e| VerifyError::db(&conn.server, "read the size of the lock table", e))?;
    if tables.len() as i64 <= free {
        tables::lock(&conn, &tables).await?;
    } else {
        tracing::warn!(
            "{}: {} tables, more than the lock table can spare ({free}): they are not locked; \
             a table rewritten or emptied while it is read shows as different",
            conn.server,
            tables.len()
        );
    }
    let version = crate::session::server_version(&conn.client)
        .await
        .map_err(|e| VerifyError::db(&conn.server, "read the server version", e))?;
    Ok(Leader {
        conn,
        snapshot,
        tables,
        version,
    })
}

/// The extensions both sides have at different versions, as notes.
fn extension_versions(source: &Catalog, target: &Catalog) -> Vec<String> {
    source
        .extensions
        .iter()
        .filter_map(|s| {
            let t = target.extensions.iter().find(|t| t.name == s.name)?;
            (t.version != s.version).then(|| {
                format!(
                    "extension {} is at version {} on the target, {} on the source (a run \
                     makes the target's default version)",
                    s.name, t.version, s.version
                )
            })
        })
        .collect()
}

/// `public_initial`: see [`public_initial_privileges`].
async fn read_catalog(
    conn: &Connection,
    options: &SchemaOptions,
    version: i32,
    public_initial: Option<PublicAsSource>,
) -> Result<(Catalog, Ddl), VerifyError> {
    let mut catalog = introspect(conn).await?;
    catalog.as_of_version(version);
    if let Some(initial) = public_initial {
        // A role that is no superuser could not give `public` to the bootstrap superuser
        // (the run skipped that and said so): pg_database_owner's is the same there.
        let superuser = session::is_superuser(&conn.client)
            .await
            .map_err(|source| VerifyError::Db {
                server: conn.server.clone(),
                what: "read the role's privileges".into(),
                source,
            })?;
        for schema in catalog.schemas.iter_mut().filter(|s| s.name == "public") {
            if initial.bootstrap_owned {
                // Its owner is compared on its own (the bootstrap superuser's, as the
                // source's, or another), its privileges as if given by that owner.
                schema.default_owner = true;
                schema.bootstrap_owner |= !superuser && schema.owner == "pg_database_owner";
                schema.acl.default = initial
                    .acl_default
                    .iter()
                    .map(|item| {
                        pgsplit_schema::acl::with_role_renamed(item, &initial.owner, &schema.owner)
                    })
                    .collect();
            } else if !schema.default_owner {
                schema.acl.default = initial.acl_default.clone();
            }
        }
    }
    let ddl = catalog.render(options);
    Ok((catalog, ddl))
}

/// The source's `public` as a newer target's is compared with it
/// ([`public_initial_privileges`]).
struct PublicAsSource {
    owner: String,
    acl_default: Vec<String>,
    /// Owned by the bootstrap superuser, as initdb left it before 15: the target's is
    /// rendered the same way, its owner written (whoever it is now) and its privileges
    /// against the same initial ones.
    bootstrap_owned: bool,
}

/// PostgreSQL 15 gives `public` another owner and other initial privileges than 14 and
/// older (`pg_database_owner=UC` and PUBLIC's `U`, against the bootstrap superuser's and
/// PUBLIC's `UC`), and a schema's privileges are rendered against its initial ones: the
/// same privileges would read as different statements on either side. For such a pair,
/// the target's `public` is rendered against the source's initial privileges (its actual
/// owner and privileges are still compared).
fn public_initial_privileges(
    source: &Catalog,
    source_version: i32,
    target_version: i32,
) -> Option<PublicAsSource> {
    if source_version >= 150000 || target_version < 150000 {
        return None;
    }
    source
        .schemas
        .iter()
        .find(|s| s.name == "public")
        .map(|s| PublicAsSource {
            owner: s.owner.clone(),
            acl_default: s.acl.default.clone(),
            bootstrap_owned: s.default_owner,
        })
}

/// The source's views and ICU collation locales as the newer target prints them (their
/// text changes between major versions, not what they do), in a session of the target's
/// own.
async fn print_as_target(line: &MappingLine, catalog: &mut Catalog) -> Result<(), VerifyError> {
    let conn = session::open(&line.target).await?;
    pgsplit_schema::print_icu_locales_as(&conn.client, catalog)
        .await
        .map_err(schema_error(&conn))?;
    let refused = pgsplit_schema::print_views_as(&conn.client, catalog)
        .await
        .map_err(schema_error(&conn))?;
    // A split target holds only its share: the other lines' views cannot be made there,
    // and are not compared with it either.
    if refused > 0 && line.selector.is_everything() {
        tracing::warn!(
            "{}: {refused} of the source's views could not be printed as the target prints \
             them: compared as the source prints them",
            conn.server
        );
    } else if refused > 0 {
        tracing::debug!(
            "{}: {refused} of the source's views could not be printed as the target prints \
             them (those of other lines' shares among them)",
            conn.server
        );
    }
    Ok(())
}

/// The catalog of the database `conn` is connected to.
async fn introspect(conn: &Connection) -> Result<Catalog, VerifyError> {
    pgsplit_schema::introspect(&conn.client)
        .await
        .map_err(schema_error(conn))
}

/// A schema read on `conn` that failed, as the error of its server.
fn schema_error(conn: &Connection) -> impl FnOnce(pgsplit_schema::SchemaError) -> VerifyError {
    let server = conn.server.clone();
    move |source| VerifyError::Schema { server, source }
}
