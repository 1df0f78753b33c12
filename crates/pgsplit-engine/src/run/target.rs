//! Getting the target ready: create the database when it does not exist, refuse a
//! non-empty one unless `--clean` (which drops and recreates it); at the end, give it the
//! source database's settings (`ALTER DATABASE … SET`).

use tokio_postgres::error::SqlState;

use pgsplit_pg::{ConnSettings, Connection, quote};

use super::error::RunError;
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

/// The source database's encoding and locale, which a created target copies, and its
/// settings, which every target receives.
#[derive(Clone, Debug)]
pub struct DatabaseProps {
    pub encoding: String,
    pub collate: String,
    pub ctype: String,
    pub settings: Vec<DatabaseSetting>,
}

/// One `ALTER DATABASE … SET name = value` of the source (`role`: `ALTER ROLE role IN
/// DATABASE …`), as `pg_db_role_setting` stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseSetting {
    pub role: Option<String>,
    pub name: String,
    pub value: String,
}

/// Settings whose value is a list of names, stored quoted where needed
/// (`"$user", public`): each name is given as a literal of its own, as pg_dump does.
const LIST_SETTINGS: &[&str] = &[
    "local_preload_libraries",
    "search_path",
    "session_preload_libraries",
    "shared_preload_libraries",
    "temp_tablespaces",
    "unix_socket_directories",
];

const SETTINGS_SQL: &str = "SELECT r.rolname AS role, c.setting \
     FROM pg_catalog.pg_db_role_setting s \
     LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole \
     CROSS JOIN LATERAL unnest(s.setconfig) WITH ORDINALITY AS c(setting, n) \
     WHERE s.setdatabase = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) \
     ORDER BY r.rolname NULLS FIRST, c.n";

impl DatabaseSetting {
    /// The statement that gives database `dbname` this setting.
    pub fn sql(&self, dbname: &str) -> String {
        let list = LIST_SETTINGS.contains(&self.name.to_ascii_lowercase().as_str());
        let value = match split_list(&self.value) {
            items if list && !items.is_empty() => items
                .iter()
                .map(|item| quote::literal(item))
                .collect::<Vec<_>>()
                .join(", "),
            _ => quote::literal(&self.value),
        };
        let on = match &self.role {
            None => format!("DATABASE {}", quote::ident(dbname)),
            Some(role) => format!(
                "ROLE {} IN DATABASE {}",
                quote::ident(role),
                quote::ident(dbname)
            ),
        };
        format!("ALTER {on} SET {} TO {value}", quote::ident(&self.name))
    }
}

/// The names of a list setting's stored value: separated by commas, each one either
/// bare (surrounding blanks dropped) or double-quoted (`""` inside stands for `"`).
fn split_list(value: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut item = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                if c == '"' && chars.next_if_eq(&'"').is_none() {
                    break;
                }
                item.push(c);
            }
            while chars.next_if(|c| *c != ',').is_some() {}
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                item.push(c);
            }
            item.truncate(item.trim_end().len());
        }
        items.push(item);
        if chars.next().is_none() {
            break;
        }
    }
    if items.len() == 1 && items[0].is_empty() && !value.contains('"') {
        return Vec::new();
    }
    items
}

impl DatabaseProps {
    pub async fn read(conn: &Connection) -> Result<DatabaseProps, RunError> {
        let row = conn
            .client
            .query_one(
                "SELECT pg_encoding_to_char(encoding) AS encoding, datcollate::text AS lc_collate, \
                 datctype::text AS lc_ctype FROM pg_database WHERE datname = current_database()",
                &[],
            )
            .await
            .map_err(|e| RunError::db(&conn.server, "read the database encoding", e))?;
        let settings = conn
            .client
            .query(SETTINGS_SQL, &[])
            .await
            .map_err(|e| RunError::db(&conn.server, "read the database settings", e))?
            .iter()
            .filter_map(|row| {
                let setting: String = row.get("setting");
                let (name, value) = setting.split_once('=')?;
                Some(DatabaseSetting {
                    role: row.get("role"),
                    name: name.to_string(),
                    value: value.to_string(),
                })
            })
            .collect();
        Ok(DatabaseProps {
            encoding: row.get("encoding"),
            collate: row.get("lc_collate"),
            ctype: row.get("lc_ctype"),
            settings,
        })
    }
}

/// Gives the target database the source's settings, once its copy is complete: they
/// apply to sessions opened from then on (a `statement_timeout` set earlier would have
/// reached pgsplit's own). A setting the target refuses (a role it lacks, a parameter
/// only a superuser may set) fails the run with `strict`, else is skipped and returned.
pub async fn apply_settings(
    target: &ConnSettings,
    settings: &[DatabaseSetting],
    strict: bool,
) -> Result<Vec<String>, RunError> {
    let mut skipped = Vec::new();
    if settings.is_empty() {
        return Ok(skipped);
    }
    let conn = session::open(target).await?;
    for setting in settings {
        let sql = setting.sql(&target.dbname);
        let Err(e) = conn.client.batch_execute(&sql).await else {
            continue;
        };
        let what = match &setting.role {
            None => format!("database setting {}", setting.name),
            Some(role) => format!("database setting {} of role {role}", setting.name),
        };
        let reason = e
            .as_db_error()
            .map_or_else(|| e.to_string(), |d| d.message().to_string());
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
pub async fn prepare(
    target: &ConnSettings,
    create: Option<&DatabaseProps>,
    clean: bool,
) -> Result<Connection, RunError> {
    match session::open(target).await {
        Ok(conn) if !clean => Ok(conn),
        Ok(conn) => {
            if user_objects(&conn).await? == 0 {
                return Ok(conn);
            }
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

async fn recreate(
    target: &ConnSettings,
    like: Option<&DatabaseProps>,
    drop_first: bool,
) -> Result<(), RunError> {
    let maintenance = session::open(&session::maintenance_db(target)).await?;
    let name = quote::ident(&target.dbname);
    if drop_first {
        let version = session::server_version(&maintenance.client)
            .await
            .map_err(|e| RunError::db(&maintenance.server, "read the version", e))?;
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
    maintenance
        .client
        .batch_execute(&create)
        .await
        .map_err(|e| RunError::db(&maintenance.server, "create the target database", e))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(role: Option<&str>, name: &str, value: &str) -> DatabaseSetting {
        DatabaseSetting {
            role: role.map(str::to_string),
            name: name.to_string(),
            value: value.to_string(),
        }
    }

    #[test]
    fn list_settings_are_split_into_one_literal_per_name() {
        assert_eq!(split_list(r#""$user", public"#), ["$user", "public"]);
        assert_eq!(
            split_list(r#"app, "Odd ""Name"", x" ,y"#),
            ["app", r#"Odd "Name", x"#, "y"]
        );
        assert_eq!(split_list(r#""""#), [""]);
        assert!(split_list("").is_empty());
        assert_eq!(
            setting(None, "search_path", r#""$user", public, "Sales""#).sql("shop"),
            r#"ALTER DATABASE "shop" SET "search_path" TO '$user', 'public', 'Sales'"#
        );
    }

    #[test]
    fn other_settings_are_one_literal() {
        assert_eq!(
            setting(None, "work_mem", "64MB").sql("New Shop"),
            r#"ALTER DATABASE "New Shop" SET "work_mem" TO '64MB'"#
        );
        assert_eq!(
            setting(Some("app"), "app.greeting", "it's, fine").sql("shop"),
            r#"ALTER ROLE "app" IN DATABASE "shop" SET "app.greeting" TO 'it''s, fine'"#
        );
    }
}
