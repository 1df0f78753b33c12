//! `pgsplit plan`: read-only facts about every source and target of a mapping, and every
//! problem that would stop or spoil a copy, found before anything is written.

use futures::future::join_all;
use serde::Serialize;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use crate::mapping::{Mapping, MappingLine};
use crate::session;

const LARGEST_TABLES_SHOWN: i64 = 5;

#[derive(Debug, Serialize)]
pub struct PlanReport {
    pub mapping: String,
    pub lines: Vec<LinePlan>,
}

impl PlanReport {
    pub fn problem_count(&self) -> usize {
        self.lines.iter().map(|l| l.problems.len()).sum()
    }

    /// A selector that does not fit its source is bad input (exit 2).
    pub fn bad_selection(&self) -> bool {
        self.lines
            .iter()
            .flat_map(|l| &l.problems)
            .any(|p| p.kind == ProblemKind::Selection)
    }
}

#[derive(Debug, Serialize)]
pub struct LinePlan {
    pub line: usize,
    pub source_url: String,
    pub target_url: String,
    pub source: Option<SourceFacts>,
    pub target: Option<TargetFacts>,
    /// For a line with selectors: what this target of the split receives.
    pub split: Option<SplitFacts>,
    pub problems: Vec<Problem>,
}

/// One target's share of a split source.
#[derive(Debug, Serialize)]
pub struct SplitFacts {
    /// DDL statements the target receives.
    pub objects: usize,
    pub tables: Vec<SplitTable>,
    /// Estimated rows and bytes of the tables copied whole; filtered tables count fully
    /// here too (the share of a filter is not known before the copy).
    pub estimated_rows: i64,
    pub estimated_bytes: i64,
    /// Foreign keys and views that would point into another target.
    pub cross_target: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct SplitTable {
    pub schema: String,
    pub name: String,
    pub estimated_rows: i64,
    pub bytes: i64,
    /// The row filter, for tables copied in part.
    pub filter: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SourceFacts {
    pub server_version: String,
    pub server_version_num: i32,
    pub database_bytes: i64,
    pub tables: i64,
    /// Lock table entries a run may take to lock every table up front
    /// ([`crate::session::free_lock_slots`]); fewer than `tables`: each is locked only
    /// while it is copied.
    pub lock_slots: i64,
    pub largest_tables: Vec<TableSize>,
    pub extensions: Vec<Extension>,
    /// Roles the schema names (owners, grantees, policies): the target needs them.
    pub roles: Vec<String>,
    /// Those of them that policies name: needed even with `--no-owner --no-acl`.
    #[serde(skip)]
    pub policy_roles: Vec<String>,
    /// Statements that only a superuser can run on the target.
    pub superuser_objects: Vec<String>,
    /// Objects pgsplit does not copy (kind, name), then those that need one of them
    /// (`view public.v (needs foreign table public.lines)`).
    /// For a line of a split: those its target would hold.
    pub unsupported: Vec<String>,
    /// What newer major versions refuse, with the first that does.
    #[serde(skip)]
    pub refused_by_newer_versions: Vec<(i32, String)>,
    /// Parameters of the database's settings (`ALTER DATABASE … SET`), with their
    /// identities (`setting work_mem of role app`).
    #[serde(skip)]
    pub database_settings: Vec<(String, String)>,
}

#[derive(Debug, Serialize)]
pub struct TableSize {
    pub schema: String,
    pub name: String,
    pub bytes: i64,
    pub estimated_rows: i64,
}

#[derive(Debug, Serialize)]
pub struct Extension {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Serialize)]
pub struct TargetFacts {
    pub server_version: String,
    pub server_version_num: i32,
    /// False when the database does not exist yet: `run` creates it.
    pub database_exists: bool,
    /// Objects found outside the system schemas (0 for an empty database).
    pub user_objects: i64,
    pub superuser: bool,
    /// `CREATE` on the database, or `CREATEDB` when it must be created.
    pub can_create: bool,
    /// Source extensions the target server does not offer.
    pub missing_extensions: Vec<String>,
    /// Roles of the source schema that the target server lacks.
    pub missing_roles: Vec<String>,
    #[serde(skip)]
    pub available_extensions: Vec<String>,
    #[serde(skip)]
    pub roles: Vec<String>,
    /// Parameters the target role may not set (only a superuser, or a role granted `SET`
    /// on them, may).
    #[serde(skip)]
    pub superuser_parameters: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    SourceUnreachable,
    TargetUnreachable,
    TargetNotEmpty,
    TargetOlder,
    /// The source has what the target's (newer) version refuses.
    TargetCannotHold,
    ExtensionMissing,
    CannotCreate,
    RolesMissing,
    NeedsSuperuser,
    Unsupported,
    /// A split selector that does not fit the source.
    Selection,
    /// A foreign key or view would point from this target into another one.
    CrossTarget,
    /// Another line of the same source takes the same shard: its rows would go to both.
    ShardTakenTwice,
}

#[derive(Debug, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
}

/// What the run will be asked to leave out, which changes what the target needs.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlanOptions {
    /// `--clean`/`--resume`: a non-empty target is not a problem.
    pub allow_non_empty: bool,
    pub no_owner: bool,
    pub no_acl: bool,
}

/// Plans every line of the mapping at once.
pub async fn plan(mapping: &Mapping, options: PlanOptions) -> PlanReport {
    let mut lines = join_all(mapping.lines.iter().map(|line| plan_line(line, options))).await;
    shards_taken_twice(mapping, &mut lines);
    PlanReport {
        mapping: mapping.path.display().to_string(),
        lines,
    }
}

/// Lines of one source sharding by one key and modulus that take the same remainder: a
/// typo in a shard list, which copies those rows twice (and, likely, another remainder's
/// nowhere: `verify` checks the shares add up only when every remainder is there).
fn shards_taken_twice(mapping: &Mapping, lines: &mut [LinePlan]) {
    let mut first_taker: std::collections::HashMap<(String, &str, u32, u32), usize> =
        std::collections::HashMap::new();
    for (i, line) in mapping.lines.iter().enumerate() {
        let Some(shard) = &line.selector.shard else {
            continue;
        };
        let taken = (
            line.source.to_string(),
            shard.key.as_str(),
            shard.modulus,
            shard.remainder,
        );
        if let Some(&first) = first_taker.get(&taken) {
            lines[i].problems.push(Problem {
                kind: ProblemKind::ShardTakenTwice,
                message: format!(
                    "shard={}:{}/{} is line {}'s too: its rows would be copied to both targets",
                    shard.key, shard.remainder, shard.modulus, mapping.lines[first].line
                ),
            });
        } else {
            first_taker.insert(taken, i);
        }
    }
}

async fn plan_line(line: &MappingLine, options: PlanOptions) -> LinePlan {
    let allow_non_empty = options.allow_non_empty;
    let (source, target) = tokio::join!(source_facts(line, options), target_facts(line));
    let (source, split) = match source {
        Ok((facts, split)) => (Ok(facts), split),
        Err(e) => (Err(e), None),
    };
    let mut problems = Vec::new();
    let source = source
        .map_err(|e| {
            problems.push(Problem {
                kind: ProblemKind::SourceUnreachable,
                message: format!("source: {e}"),
            })
        })
        .ok();
    let mut target = target
        .map_err(|e| {
            problems.push(Problem {
                kind: ProblemKind::TargetUnreachable,
                message: format!("target: {e}"),
            })
        })
        .ok();
    if let Some(t) = &target {
        if t.user_objects > 0 && !allow_non_empty {
            problems.push(Problem {
                kind: ProblemKind::TargetNotEmpty,
                message: format!(
                    "target database is not empty ({} objects); use --clean to replace them or --resume to continue a run",
                    t.user_objects
                ),
            });
        }
        if !t.can_create {
            problems.push(Problem {
                kind: ProblemKind::CannotCreate,
                message: if t.database_exists {
                    "the target role lacks CREATE on the target database".into()
                } else {
                    "the target database does not exist and the role may not create databases"
                        .into()
                },
            });
        }
        if let Some(s) = &source
            && t.server_version_num / 10000 < s.server_version_num / 10000
        {
            problems.push(Problem {
                kind: ProblemKind::TargetOlder,
                message: format!(
                    "target PostgreSQL {} is an older major version than source {}",
                    t.server_version, s.server_version
                ),
            });
        }
        let refused: Vec<&str> = source
            .iter()
            .flat_map(|s| &s.refused_by_newer_versions)
            .filter(|(since, _)| t.server_version_num >= *since)
            .map(|(_, what)| what.as_str())
            .collect();
        if !refused.is_empty() {
            problems.push(Problem {
                kind: ProblemKind::TargetCannotHold,
                message: format!(
                    "PostgreSQL {} refuses what the source has (change it on the source first): {}",
                    t.server_version,
                    refused.join("; ")
                ),
            });
        }
    }
    if let (Some(s), Some(t)) = (&source, target.as_mut()) {
        t.missing_extensions = s
            .extensions
            .iter()
            .filter(|e| !t.available_extensions.contains(&e.name))
            .map(|e| e.name.clone())
            .collect();
        for name in &t.missing_extensions {
            problems.push(Problem {
                kind: ProblemKind::ExtensionMissing,
                message: format!(
                    "extension {name} is used by the source but not available on the target server"
                ),
            });
        }
        // Policies name their roles whatever --no-owner and --no-acl say.
        let policies_only = options.no_owner && options.no_acl;
        let named = if policies_only {
            &s.policy_roles
        } else {
            &s.roles
        };
        t.missing_roles = named
            .iter()
            // Predefined roles (pg_*) differ between versions and are never copied.
            .filter(|r| !r.starts_with("pg_") && !t.roles.contains(r))
            .cloned()
            .collect();
        if !t.missing_roles.is_empty() {
            let (what, way_out) = if policies_only {
                ("row-level security policies name", "create them first")
            } else {
                (
                    "schema names",
                    "create them first, or run with --no-owner --no-acl (policies still need theirs)",
                )
            };
            problems.push(Problem {
                kind: ProblemKind::RolesMissing,
                message: format!(
                    "roles the source {what} do not exist on the target: {} (roles are global and pgsplit does not create them: {way_out})",
                    t.missing_roles.join(", ")
                ),
            });
        }
        let mut needs_superuser = s.superuser_objects.clone();
        needs_superuser.extend(
            s.database_settings
                .iter()
                .filter(|(name, _)| t.superuser_parameters.contains(name))
                .map(|(_, identity)| identity.clone()),
        );
        if !t.superuser && !needs_superuser.is_empty() {
            problems.push(Problem {
                kind: ProblemKind::NeedsSuperuser,
                message: format!(
                    "{} object(s) need a superuser on the target and will be skipped (or fail the run with --strict): {}",
                    needs_superuser.len(),
                    needs_superuser.join(", ")
                ),
            });
        }
        if !s.unsupported.is_empty() {
            problems.push(Problem {
                kind: ProblemKind::Unsupported,
                message: format!(
                    "objects pgsplit does not copy: {}",
                    s.unsupported.join(", ")
                ),
            });
        }
    }
    match &split {
        Some(Err(message)) => problems.push(Problem {
            kind: ProblemKind::Selection,
            message: message.clone(),
        }),
        Some(Ok(facts)) if !facts.cross_target.is_empty() => problems.push(Problem {
            kind: ProblemKind::CrossTarget,
            message: format!(
                "would point into another target (foreign keys are refused unless run with --drop-cross-target-fks; views are left out): {}",
                facts.cross_target.join("; ")
            ),
        }),
        _ => {}
    }
    LinePlan {
        line: line.line,
        source_url: line.source.to_string(),
        target_url: line.target.to_string(),
        source,
        target,
        split: split.and_then(Result::ok),
        problems,
    }
}

/// Errors as plain messages: plan reports them, it never stops on them.
type FactResult<T> = Result<T, String>;

type SplitResult = Option<Result<SplitFacts, String>>;

async fn source_facts(
    line: &MappingLine,
    options: PlanOptions,
) -> FactResult<(SourceFacts, SplitResult)> {
    let conn = session::open(&line.source)
        .await
        .map_err(|e| e.to_string())?;
    let mut facts = read_source_facts(&conn.client)
        .await
        .map_err(|e| format!("{}: {}", conn.server, pgsplit_pg::cause_chain(&e)))?;
    let catalog = pgsplit_schema::introspect(&conn.client)
        .await
        .map_err(|e| format!("{}: reading the schema: {e:#}", conn.server))?;
    facts.refused_by_newer_versions = catalog.refused_by_newer_versions();
    let ddl = catalog.render(&pgsplit_schema::SchemaOptions {
        no_owner: options.no_owner,
        no_acl: options.no_acl,
    });
    // What the run gives the target database last: the roles its owner, privileges and
    // settings name, and grants only a superuser can replay.
    let level = crate::database::DatabaseLevel::read(&conn.client)
        .await
        .map_err(|e| format!("{}: {}", conn.server, pgsplit_pg::cause_chain(&e)))?;
    let database = DatabaseNeeds {
        roles: level.roles(options.no_owner, options.no_acl),
        superuser: level
            .statements(&line.target.dbname, options.no_owner, options.no_acl)
            .into_iter()
            .filter(|s| s.requires_superuser)
            .map(|s| s.identity)
            .collect(),
    };
    facts.database_settings = level
        .settings
        .iter()
        .map(|s| (s.name.clone(), s.identity()))
        .collect();
    database.needs_of(&ddl, &mut facts);
    if line.selector.is_everything() {
        return Ok((facts, None));
    }
    let tables = pgsplit_copy::tables::read_tables(&conn.client)
        .await
        .map_err(|e| format!("{}: {}", conn.server, pgsplit_pg::cause_chain(&e)))?;
    let split = match split_facts(line, &catalog, &tables, options) {
        Ok((split, share, resolved)) => {
            // The line's share of the schema, not the whole source's.
            database.needs_of(&share, &mut facts);
            conditions_hold(&conn.client, &line.selector, &resolved)
                .await
                .map(|()| split)
        }
        Err(e) => Err(e),
    };
    Ok((facts, Some(split)))
}

/// [`crate::split::check_conditions`], in a read-only transaction of its own.
async fn conditions_hold(
    client: &tokio_postgres::Client,
    selector: &crate::split::Selector,
    resolved: &crate::split::Resolved,
) -> Result<(), String> {
    client
        .batch_execute("BEGIN READ ONLY")
        .await
        .map_err(|e| pgsplit_pg::cause_chain(&e))?;
    let checked = crate::split::check_conditions(client, selector, resolved).await;
    let _ = client.batch_execute("ROLLBACK").await;
    checked
}

/// What the database's own statements (owner, privileges, settings), which every target
/// gets, need of the target.
struct DatabaseNeeds {
    roles: Vec<String>,
    /// Identities of those only a superuser can run.
    superuser: Vec<String>,
}

impl DatabaseNeeds {
    /// Sets what the target needs for `ddl` (the whole schema or a split line's share) and
    /// the database's statements, and what `ddl` leaves out.
    fn needs_of(&self, ddl: &pgsplit_schema::Ddl, facts: &mut SourceFacts) {
        let mut roles: Vec<String> = ddl.roles.iter().chain(&self.roles).cloned().collect();
        roles.sort();
        roles.dedup();
        facts.roles = roles;
        facts.policy_roles = ddl.policy_roles.clone();
        facts.superuser_objects = ddl
            .pre_data
            .iter()
            .chain(&ddl.post_data)
            .filter(|s| s.requires_superuser)
            .map(|s| s.identity.clone())
            .chain(self.superuser.iter().cloned())
            .collect();
        facts.unsupported = ddl.describe_not_copied();
    }
}

/// The target's share of the split, and its share of what pgsplit does not copy.
fn split_facts(
    line: &MappingLine,
    catalog: &pgsplit_schema::Catalog,
    tables: &[pgsplit_copy::SourceTable],
    options: PlanOptions,
) -> Result<(SplitFacts, pgsplit_schema::Ddl, crate::split::Resolved), String> {
    let resolved = crate::split::resolve(&line.selector, catalog, tables)?;
    let (ddl, cross) = catalog.render_selected(
        &pgsplit_schema::SchemaOptions {
            no_owner: options.no_owner,
            no_acl: options.no_acl,
        },
        &resolved.selection(),
    );
    if let Some(message) = crate::split::unmakeable_tables(&cross, &resolved) {
        return Err(message);
    }
    let chosen: Vec<SplitTable> = tables
        .iter()
        .filter(|t| {
            resolved
                .relations
                .contains(&(t.schema.clone(), t.name.clone()))
        })
        .map(|t| SplitTable {
            schema: t.schema.clone(),
            name: t.name.clone(),
            estimated_rows: t.estimated_rows as i64,
            bytes: t.bytes,
            filter: resolved
                .predicates
                .get(&(t.schema.clone(), t.name.clone()))
                .cloned(),
        })
        .collect();
    let facts = SplitFacts {
        objects: ddl.pre_data.len() + ddl.post_data.len(),
        estimated_rows: chosen.iter().map(|t| t.estimated_rows).sum(),
        estimated_bytes: chosen.iter().map(|t| t.bytes).sum(),
        tables: chosen,
        cross_target: cross
            .iter()
            .map(pgsplit_schema::CrossTarget::describe)
            .collect(),
    };
    Ok((facts, ddl, resolved))
}

pub async fn read_source_facts(client: &Client) -> Result<SourceFacts, tokio_postgres::Error> {
    let row = client
        .query_one(include_str!("source_facts.sql"), &[])
        .await?;
    let largest = client
        .query(include_str!("largest_tables.sql"), &[&LARGEST_TABLES_SHOWN])
        .await?
        .iter()
        .map(|r| TableSize {
            schema: r.get("schema"),
            name: r.get("name"),
            bytes: r.get("bytes"),
            estimated_rows: r.get("estimated_rows"),
        })
        .collect();
    let extensions = client
        .query(include_str!("extensions.sql"), &[])
        .await?
        .iter()
        .map(|r| Extension {
            name: r.get("name"),
            version: r.get("version"),
        })
        .collect();
    Ok(SourceFacts {
        server_version: row.get("server_version"),
        server_version_num: row.get("server_version_num"),
        database_bytes: row.get("database_bytes"),
        tables: row.get("tables"),
        lock_slots: crate::session::free_lock_slots(client).await?,
        largest_tables: largest,
        extensions,
        roles: Vec::new(),
        policy_roles: Vec::new(),
        superuser_objects: Vec::new(),
        unsupported: Vec::new(),
        refused_by_newer_versions: Vec::new(),
        database_settings: Vec::new(),
    })
}

async fn target_facts(line: &MappingLine) -> FactResult<TargetFacts> {
    match session::open(&line.target).await {
        Ok(conn) => existing_target(&conn.client)
            .await
            .map_err(|e| format!("{}: {}", conn.server, pgsplit_pg::cause_chain(&e))),
        Err(e) if e.code() == Some(&SqlState::INVALID_CATALOG_NAME) => {
            let maintenance = session::maintenance_db(&line.target);
            let conn = session::open(&maintenance)
                .await
                .map_err(|e| e.to_string())?;
            missing_target(&conn.client)
                .await
                .map_err(|e| format!("{}: {}", conn.server, pgsplit_pg::cause_chain(&e)))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Parameters the connected role may not set for a database: `superuser` context, unless
/// (PostgreSQL 15+) it was granted `SET` on them.
async fn superuser_parameters(
    client: &Client,
    version: i32,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let granted = if version >= 150000 {
        " AND NOT pg_catalog.has_parameter_privilege(name, 'SET')"
    } else {
        ""
    };
    let sql =
        format!("SELECT name FROM pg_catalog.pg_settings WHERE context = 'superuser'{granted}");
    Ok(client
        .query(sql.as_str(), &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

async fn target_roles(client: &Client) -> Result<Vec<String>, tokio_postgres::Error> {
    Ok(client
        .query("SELECT rolname::text FROM pg_roles", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

async fn available_extensions(client: &Client) -> Result<Vec<String>, tokio_postgres::Error> {
    Ok(client
        .query(include_str!("available_extensions.sql"), &[])
        .await?
        .iter()
        .map(|r| r.get("name"))
        .collect())
}

async fn existing_target(client: &Client) -> Result<TargetFacts, tokio_postgres::Error> {
    let row = client
        .query_one(include_str!("target_facts.sql"), &[])
        .await?;
    let available = available_extensions(client).await?;
    Ok(TargetFacts {
        server_version: row.get("server_version"),
        server_version_num: row.get("server_version_num"),
        database_exists: true,
        user_objects: row.get("user_objects"),
        superuser: row.get("superuser"),
        can_create: row.get("can_create"),
        missing_extensions: Vec::new(),
        missing_roles: Vec::new(),
        available_extensions: available,
        roles: target_roles(client).await?,
        superuser_parameters: superuser_parameters(client, row.get("server_version_num")).await?,
    })
}

async fn missing_target(client: &Client) -> Result<TargetFacts, tokio_postgres::Error> {
    let row = client.query_one(include_str!("creator.sql"), &[]).await?;
    let available = available_extensions(client).await?;
    Ok(TargetFacts {
        server_version: row.get("server_version"),
        server_version_num: row.get("server_version_num"),
        database_exists: false,
        user_objects: 0,
        superuser: row.get("superuser"),
        can_create: row.get("can_create"),
        missing_extensions: Vec::new(),
        missing_roles: Vec::new(),
        available_extensions: available,
        roles: target_roles(client).await?,
        superuser_parameters: superuser_parameters(client, row.get("server_version_num")).await?,
    })
}
