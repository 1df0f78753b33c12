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
}

#[derive(Debug, Serialize)]
pub struct LinePlan {
    pub line: usize,
    pub source_url: String,
    pub target_url: String,
    pub source: Option<SourceFacts>,
    pub target: Option<TargetFacts>,
    pub problems: Vec<Problem>,
}

#[derive(Debug, Serialize)]
pub struct SourceFacts {
    pub server_version: String,
    pub server_version_num: i32,
    pub database_bytes: i64,
    pub tables: i64,
    pub largest_tables: Vec<TableSize>,
    pub extensions: Vec<Extension>,
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
    #[serde(skip)]
    pub available_extensions: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    SourceUnreachable,
    TargetUnreachable,
    TargetNotEmpty,
    TargetOlder,
    ExtensionMissing,
    CannotCreate,
}

#[derive(Debug, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
}

/// Plans every line of the mapping at once. `allow_non_empty` (for `--clean` and
/// `--resume`) stops a non-empty target from counting as a problem.
pub async fn plan(mapping: &Mapping, allow_non_empty: bool) -> PlanReport {
    let lines = join_all(
        mapping
            .lines
            .iter()
            .map(|line| plan_line(line, allow_non_empty)),
    )
    .await;
    PlanReport {
        mapping: mapping.path.display().to_string(),
        lines,
    }
}

async fn plan_line(line: &MappingLine, allow_non_empty: bool) -> LinePlan {
    let (source, target) = tokio::join!(source_facts(line), target_facts(line));
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
    }
    LinePlan {
        line: line.line,
        source_url: line.source.to_string(),
        target_url: line.target.to_string(),
        source,
        target,
        problems,
    }
}

/// Errors as plain messages: plan reports them, it never stops on them.
type FactResult<T> = Result<T, String>;

async fn source_facts(line: &MappingLine) -> FactResult<SourceFacts> {
    let conn = session::open(&line.source)
        .await
        .map_err(|e| e.to_string())?;
    read_source_facts(&conn.client)
        .await
        .map_err(|e| format!("{}: {}", conn.server, pgsplit_pg::cause_chain(&e)))
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
        largest_tables: largest,
        extensions,
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
        available_extensions: available,
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
        available_extensions: available,
    })
}
