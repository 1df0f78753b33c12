//! Getting the target ready: create the database when it does not exist, refuse a
//! non-empty one unless `--clean` (which drops and recreates it); at the end, give it the
//! source database's settings (`ALTER DATABASE … SET`).

use tokio_postgres::error::SqlState;

use pgsplit_pg::{ConnSettings, Connection, DatabasePin, quote};

use super::error::RunError;
use crate::database::{DatabaseLevel, DatabaseStatement};
use crate::session;

/// Objects outside the system schemas (0 for a fresh database).
pub async fn user_objects(conn: &Connection) -> Result<i64, RunError> {
    let row = conn
        .client
        .query_one(include_str!("../plan/target_facts.sql"), &[])
        .await
        .map_err(|e| RunError::db(&conn.server, "inspect the target", e))?;
    Ok(row.get("user_objects"))
}

/// A column of a target table ([`table_columns`]).
#[derive(Debug)]
pub struct TargetColumn {
    pub name: String,
    /// As `format_type` names it.
    pub type_name: String,
    /// The type under its domains: what the values are on the wire.
    pub base_type: String,
}

/// The columns a copy writes (not dropped, not generated) of every table of the target,
/// by (schema, name).
pub async fn table_columns(
    conn: &Connection,
) -> Result<std::collections::HashMap<(String, String), Vec<TargetColumn>>, RunError> {
    let written = "FILTER (WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '')";
    let sql = pgsplit_copy::tables::with_base_type(&format!(
        "SELECT n.nspname::text, c.relname::text, \
                coalesce(array_agg(a.attname::text ORDER BY a.attnum) {written}, '{{}}'), \
                coalesce(array_agg(pg_catalog.format_type(a.atttypid, a.atttypmod) \
                                   ORDER BY a.attnum) {written}, '{{}}'), \
                coalesce(array_agg(({{base_type}}) ORDER BY a.attnum) {written}, '{{}}') \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid \
         LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
         WHERE c.relkind IN ('r', 'p') \
           AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast' \
         GROUP BY 1, 2"
    ));
    let rows = conn
        .client
        .query(&sql, &[])
        .await
        .map_err(|e| RunError::db(&conn.server, "read the target's tables", e))?;
    Ok(rows
        .iter()
        .map(|r| {
            let names: Vec<String> = r.get(2);
            let types: Vec<String> = r.get(3);
            let bases: Vec<String> = r.get(4);
            let columns = names
                .into_iter()
                .zip(types)
                .zip(bases)
                .map(|((name, type_name), base_type)| TargetColumn {
                    name,
                    type_name,
                    base_type,
                })
                .collect();
            ((r.get(0), r.get(1)), columns)
        })
        .collect())
}

/// The source database's encoding and locale, which a created target copies, and what
/// else it carries (owner, privileges, comment, settings), which every target receives.
#[derive(Clone, Debug)]
pub struct DatabaseProps {
    pub encoding: String,
    pub collate: String,
    pub ctype: String,
    /// `c` (libc), `i` (ICU, PostgreSQL 15+) or `b` (builtin, 17+): the default collation's
    /// provider, with its locale and (ICU, 16+) rules.
    pub provider: String,
    pub locale: Option<String>,
    pub icu_rules: Option<String>,
    pub level: DatabaseLevel,
}

impl DatabaseProps {
    pub async fn read(conn: &Connection) -> Result<DatabaseProps, RunError> {
        let version = session::server_version(&conn.client)
            .await
            .map_err(|e| RunError::db(&conn.server, "read the version", e))?;
        let provider = match version {
            170000.. => {
                "datlocprovider::text AS provider, datlocale AS locale, daticurules AS rules"
            }
            160000.. => {
                "datlocprovider::text AS provider, daticulocale AS locale, daticurules AS rules"
            }
            150000.. => {
                "datlocprovider::text AS provider, daticulocale AS locale, NULL::text AS rules"
            }
            _ => "'c'::text AS provider, NULL::text AS locale, NULL::text AS rules",
        };
        let row = conn
            .client
            .query_one(
                &format!(
                    "SELECT pg_encoding_to_char(encoding) AS encoding, datcollate::text AS lc_collate, \
                     datctype::text AS lc_ctype, {provider} FROM pg_database WHERE datname = current_database()"
                ),
                &[],
            )
            .await
            .map_err(|e| RunError::db(&conn.server, "read the database encoding", e))?;
        let level = DatabaseLevel::read(&conn.client)
            .await
            .map_err(|e| RunError::db(&conn.server, "read the database's properties", e))?;
        Ok(DatabaseProps {
            encoding: row.get("encoding"),
            collate: row.get("lc_collate"),
            ctype: row.get("lc_ctype"),
            provider: row.get("provider"),
            locale: row.get("locale"),
            icu_rules: row.get("rules"),
            level,
        })
    }
}

/// Gives the target database the source's owner, privileges, comment and settings, once
/// its copy is complete: settings apply to sessions opened from then on (a
/// `statement_timeout` set earlier would have reached pgsplit's own). Each statement runs
/// in a transaction of its own. One the target refuses (a role it lacks, a parameter
/// only a superuser may set) fails the run with `strict`, else is skipped and returned.
pub async fn apply_database_level(
    target: &ConnSettings,
    statements: &[DatabaseStatement],
    superuser: bool,
    strict: bool,
) -> Result<Vec<String>, RunError> {
    let mut skipped = Vec::new();
    if statements.is_empty() {
        return Ok(skipped);
    }
    let conn = session::open(target).await?;
    // A session opened after an earlier (stopped) run applied some settings may have
    // inherited them.
    conn.client
        .batch_execute(
            "SET default_transaction_read_only = off; SET statement_timeout = 0; \
             SET lock_timeout = 0",
        )
        .await
        .map_err(|e| RunError::db(&conn.server, "set up the session", e))?;
    for statement in statements {
        let reason = if statement.requires_superuser && !superuser {
            "needs a superuser on the target".to_string()
        } else {
            let sql = format!("BEGIN; {}; COMMIT", statement.sql);
            let Err(e) = conn.client.batch_execute(&sql).await else {
                continue;
            };
            let _ = conn.client.batch_execute("ROLLBACK").await;
            // Refusals (privileges, a missing role or parameter, a value this server
            // does not take) are skipped; anything else (the connection) ends the run.
            let refused = e.as_db_error().filter(|d| {
                let code = d.code().code();
                ["42", "22", "55", "0L", "0P"].contains(&&code[..2])
            });
            match refused {
                Some(d) => d.message().to_string(),
                None => {
                    return Err(RunError::db(
                        &conn.server,
                        &format!("set the {}", statement.identity),
                        e,
                    ));
                }
            }
        };
        let what = &statement.identity;
        if strict {
            return Err(RunError::Refused(format!("--strict: {what}: {reason}")));
        }
        tracing::warn!("skipped {what}: {reason}");
        skipped.push(format!("{what}: {reason}"));
    }
    Ok(skipped)
}

/// Connects to the target database, creating it first (like `create`) if it does not
/// exist. With `clean`, an existing non-empty database is dropped and created again.
/// A target that is the source itself (reached by another address: the mapping check
/// compares spellings only) is refused before anything, `snapshot` being the source's;
/// so is one that an earlier line of the run wrote (`taken`: line, [`identity`]).
pub async fn prepare(
    target: &ConnSettings,
    create: Option<&DatabaseProps>,
    clean: bool,
    snapshot: &str,
    taken: &[(usize, String)],
) -> Result<Connection, RunError> {
    let opened = session::open(target).await;
    if let Ok(conn) = &opened {
        if session::is_the_source(conn, snapshot).await {
            return Err(RunError::Refused(format!(
                "the target {target} is the source database itself, reached by another \
                 address (it can import the source's snapshot): nothing was written"
            )));
        }
        if let Some(id) = identity(conn).await
            && let Some((line, _)) = taken.iter().find(|(_, other)| *other == id)
        {
            return Err(RunError::Refused(format!(
                "the target {target} is the database line {line} wrote, reached by another \
                 address: nothing was written"
            )));
        }
    }
    match opened {
        Ok(conn) if !clean => Ok(conn),
        Ok(conn) => {
            if user_objects(&conn).await? == 0 {
                return Ok(conn);
            }
            another_run_writing(&conn, target).await;
            drop(conn);
            recreate(target, create, true).await?;
            Ok(session::open(target).await?)
        }
        Err(e) if create.is_some() && e.code() == Some(&SqlState::INVALID_CATALOG_NAME) => {
            recreate(target, create, false).await?;
            Ok(session::open(target).await?)
        }
        Err(e) => Err(e.into()),
    }
}

/// The database `conn` is on, as the journal keeps it and later sessions check it.
pub async fn database(conn: &Connection) -> Result<DatabasePin, RunError> {
    pgsplit_pg::database_pin(&conn.client, true)
        .await
        .map_err(|e| RunError::db(&conn.server, "read the database's OID", e))
}

/// Which database `conn` is, across addresses: its server (the postmaster's start time
/// and port) and the database's OID. None when it cannot be read.
pub async fn identity(conn: &Connection) -> Option<String> {
    conn.client
        .query_one(
            "SELECT pg_catalog.pg_postmaster_start_time()::text || ' ' || \
                    current_setting('port') || ' ' || d.oid::text \
               FROM pg_catalog.pg_database d WHERE d.datname = current_database()",
            &[],
        )
        .await
        .ok()
        .map(|row| row.get(0))
}

/// `--clean` drops the target with every session on it (`WITH (FORCE)`): says so when
/// sessions of another pgsplit run are among them (by their `application_name`). They
/// may be what a stopped run left (an index build runs on until it notices), or another
/// run writing from another work folder: that run then stops on its next session, which
/// finds another database under the name ([`pgsplit_pg::Replaced`]).
async fn another_run_writing(conn: &Connection, target: &ConnSettings) {
    let others: Option<i64> = conn
        .client
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_stat_activity \
             WHERE datname = pg_catalog.current_database() \
               AND pid <> pg_catalog.pg_backend_pid() AND application_name = $1",
            &[&target.application_name],
        )
        .await
        .ok()
        .map(|row| row.get(0));
    if let Some(others) = others.filter(|&n| n > 0) {
        tracing::warn!(
            "--clean: {others} other session(s) named {:?} are on {target}: another pgsplit \
             run's, or what a stopped one left; dropping the database ends them",
            target.application_name
        );
    }
}

async fn recreate(
    target: &ConnSettings,
    like: Option<&DatabaseProps>,
    drop_first: bool,
) -> Result<(), RunError> {
    let maintenance = session::open(&session::maintenance_db(target)).await?;
    let name = quote::ident(&target.dbname);
    let version = session::server_version(&maintenance.client)
        .await
        .map_err(|e| RunError::db(&maintenance.server, "read the version", e))?;
    let provider = like.map(|p| locale_provider(p, version)).transpose()?;
    if drop_first {
        let force = if version >= 130000 {
            " WITH (FORCE)"
        } else {
            ""
        };
        tracing::warn!("--clean: dropping target database {}", target);
        maintenance
            .client
            .batch_execute(&format!("DROP DATABASE {name}{force}"))
            .await
            .map_err(|e| {
                RunError::db(&maintenance.server, "drop the target database (--clean)", e)
            })?;
    }
    // template0: a copy of template1 could carry objects of its own into the target.
    let mut create = format!("CREATE DATABASE {name} TEMPLATE template0");
    if let Some(p) = like {
        create.push_str(&format!(
            " ENCODING {} LC_COLLATE {} LC_CTYPE {}",
            quote::literal(&p.encoding),
            quote::literal(&p.collate),
            quote::literal(&p.ctype)
        ));
    }
    create.push_str(provider.as_deref().unwrap_or_default());
    maintenance
        .client
        .batch_execute(&create)
        .await
        .map_err(|e| {
            // Made meanwhile by another session (another run of this target with another
            // --work-dir, whose journal lock this run does not share).
            let taken = [SqlState::DUPLICATE_DATABASE, SqlState::UNIQUE_VIOLATION]
                .iter()
                .any(|code| e.code() == Some(code));
            if taken {
                RunError::Refused(format!(
                    "the target database {} was created by another session while this run \
                 checked it (another pgsplit run of this target?); this run stops here",
                    quote::ident(&target.dbname)
                ))
            } else {
                RunError::db(&maintenance.server, "create the target database", e)
            }
        })
}

/// The `LOCALE_PROVIDER …` clause that gives the target the source's default collation
/// provider (ICU or builtin sort text differently from libc); empty for libc. A target too
/// old for the provider is refused: it would sort (and index) text another way.
fn locale_provider(p: &DatabaseProps, target_version: i32) -> Result<String, RunError> {
    let (name, locale_key, since) = match p.provider.as_str() {
        "i" => ("icu", "ICU_LOCALE", 150000),
        "b" => ("builtin", "BUILTIN_LOCALE", 170000),
        _ => return Ok(String::new()),
    };
    let since = if p.icu_rules.is_some() { 160000 } else { since };
    if target_version < since {
        return Err(RunError::Refused(format!(
            "the source database's default collation comes from {name} (locale {}); PostgreSQL {} on the target cannot create such a database: create it yourself and run again",
            p.locale.as_deref().unwrap_or("?"),
            target_version / 10000
        )));
    }
    let mut clause = format!(" LOCALE_PROVIDER {name}");
    if let Some(locale) = &p.locale {
        clause.push_str(&format!(" {locale_key} {}", quote::literal(locale)));
    }
    if let Some(rules) = &p.icu_rules {
        clause.push_str(&format!(" ICU_RULES {}", quote::literal(rules)));
    }
    Ok(clause)
}

/// Ends what a stopped run left running on the target: its server processes outlive it
/// until they notice the client is gone (an index build may run for minutes), and would
/// collide with the resumed run's statements. Waits until they are gone.
pub async fn end_orphans(conn: &Connection) -> Result<(), RunError> {
    const SQL: &str = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'pgsplit' \
           AND pid <> pg_backend_pid()";
    for _ in 0..50 {
        let row = conn
            .client
            .query_one(SQL, &[])
            .await
            .map_err(|e| RunError::db(&conn.server, "end the stopped run's sessions", e))?;
        if row.get::<_, i64>(0) == 0 {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Err(RunError::Refused(format!(
        "{}: sessions of the stopped run do not end",
        conn.server
    )))
}
