//! The settings a database carries for its sessions (`ALTER DATABASE … SET`, `ALTER ROLE
//! … IN DATABASE … SET`, in `pg_db_role_setting`): read from one database, written as
//! statements for another (`run` gives the target the source's), compared (`verify`).

use pgsplit_pg::quote;

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

/// The settings of the connected database, database-wide ones first, each role's in the
/// order they are stored.
pub async fn read(
    client: &tokio_postgres::Client,
) -> Result<Vec<DatabaseSetting>, tokio_postgres::Error> {
    Ok(client
        .query(SETTINGS_SQL, &[])
        .await?
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
        .collect())
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
