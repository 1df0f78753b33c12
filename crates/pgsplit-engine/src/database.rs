//! What a database carries beside its objects: its owner, privileges and comment, and
//! the settings its sessions start with (`ALTER DATABASE … SET`, `ALTER ROLE … IN
//! DATABASE … SET`, in `pg_db_role_setting`). Read from one database, written as
//! statements for another under that one's name (`run` gives the target the source's),
//! compared object by object (`verify`).

use pgsplit_pg::quote;
use pgsplit_schema::acl::{self, AclTarget};
use pgsplit_schema::model::Acl;

/// The database-level properties of one database.
#[derive(Clone, Debug)]
pub struct DatabaseLevel {
    pub owner: String,
    pub acl: Acl,
    pub comment: Option<String>,
    /// `CONNECTION LIMIT`; -1: none.
    pub connection_limit: i32,
    pub settings: Vec<DatabaseSetting>,
}

/// One statement for a database, and what it sets (for reports and `verify`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseStatement {
    /// `owner of the database`, `privileges on the database`, `setting work_mem`, …
    pub identity: String,
    pub sql: String,
    /// A grant made by a role other than the owner, replayed as that role.
    pub requires_superuser: bool,
}

const PROPERTIES_SQL: &str = "SELECT pg_catalog.pg_get_userbyid(d.datdba) AS owner, \
     d.datacl::text[] AS acl, pg_catalog.acldefault('d', d.datdba)::text[] AS acl_default, \
     pg_catalog.shobj_description(d.oid, 'pg_database') AS comment, d.datconnlimit \
     FROM pg_catalog.pg_database d WHERE d.datname = current_database()";

impl DatabaseLevel {
    /// The properties of the connected database; its settings database-wide ones first,
    /// each role's in the order they are stored.
    pub async fn read(
        client: &tokio_postgres::Client,
    ) -> Result<DatabaseLevel, tokio_postgres::Error> {
        let row = client.query_one(PROPERTIES_SQL, &[]).await?;
        let settings = client
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
            .collect();
        Ok(DatabaseLevel {
            owner: row.get("owner"),
            acl: Acl {
                items: row.get("acl"),
                default: row.get("acl_default"),
                builtin: None,
            },
            comment: row.get("comment"),
            connection_limit: row.get("datconnlimit"),
            settings,
        })
    }

    /// The roles these properties name (owner unless `no_owner`, grantees and grantors
    /// unless `no_acl`, roles with settings of their own), which must exist on a target.
    pub fn roles(&self, no_owner: bool, no_acl: bool) -> Vec<String> {
        let mut roles = Vec::new();
        if !no_owner {
            roles.push(self.owner.clone());
        }
        if !no_acl {
            roles.extend(self.acl.roles());
        }
        roles.extend(self.settings.iter().filter_map(|s| s.role.clone()));
        roles
    }

    /// The statements that give database `dbname` these properties, in the order they
    /// apply: owner (unless `no_owner`), privileges (unless `no_acl`), comment, connection
    /// limit, settings.
    pub fn statements(&self, dbname: &str, no_owner: bool, no_acl: bool) -> Vec<DatabaseStatement> {
        let name = quote::ident(dbname);
        let statement = |identity: &str, sql: String| DatabaseStatement {
            identity: identity.to_string(),
            sql,
            requires_superuser: false,
        };
        let mut out = Vec::new();
        if !no_owner {
            out.push(statement(
                "owner of the database",
                format!(
                    "ALTER DATABASE {name} OWNER TO {}",
                    quote::ident(&self.owner)
                ),
            ));
        }
        if !no_acl {
            let target = AclTarget {
                kind: "DATABASE",
                name: &name,
                column: None,
                owner: &self.owner,
            };
            for s in acl::statements(&target, &self.acl) {
                out.push(DatabaseStatement {
                    requires_superuser: s.requires_superuser,
                    ..statement("privileges on the database", s.sql)
                });
            }
        }
        if let Some(comment) = &self.comment {
            out.push(statement(
                "comment on the database",
                format!("COMMENT ON DATABASE {name} IS {}", quote::literal(comment)),
            ));
        }
        if self.connection_limit != -1 {
            out.push(statement(
                "connection limit of the database",
                format!(
                    "ALTER DATABASE {name} CONNECTION LIMIT {}",
                    self.connection_limit
                ),
            ));
        }
        for setting in &self.settings {
            out.push(statement(&setting.identity(), setting.sql(dbname)));
        }
        out
    }
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
    /// `setting work_mem`, `setting work_mem of role app`.
    pub fn identity(&self) -> String {
        match &self.role {
            None => format!("setting {}", self.name),
            Some(role) => format!("setting {} of role {role}", self.name),
        }
    }

    /// The statement that gives database `dbname` this setting.
    pub fn sql(&self, dbname: &str) -> String {
        let items = if LIST_SETTINGS.contains(&self.name.to_ascii_lowercase().as_str()) {
            split_list(&self.value)
        } else {
            Vec::new()
        };
        let value = if items.is_empty() {
            quote::literal(&self.value)
        } else {
            items
                .iter()
                .map(|item| quote::literal(item))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let on = match &self.role {
            None => format!("DATABASE {}", quote::ident(dbname)),
            Some(role) => format!(
                "ROLE {} IN DATABASE {}",
                quote::ident(role),
                quote::ident(dbname)
            ),
        };
        // Each part of a dotted name (`app.region`) is an identifier of its own: quoted
        // as one, a long name would be cut at 63 bytes.
        let name = self
            .name
            .split('.')
            .map(quote::ident)
            .collect::<Vec<_>>()
            .join(".");
        format!("ALTER {on} SET {name} TO {value}")
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
            r#"ALTER ROLE "app" IN DATABASE "shop" SET "app"."greeting" TO 'it''s, fine'"#
        );
    }

    #[test]
    fn owner_privileges_comment_then_settings_each_unless_left_out() {
        let level = DatabaseLevel {
            owner: "shop_owner".into(),
            acl: Acl {
                items: Some(vec![
                    "shop_owner=CTc/shop_owner".into(),
                    "app=c/shop_owner".into(),
                ]),
                default: vec!["=Tc/shop_owner".into(), "shop_owner=CTc/shop_owner".into()],
                builtin: None,
            },
            comment: Some("the shop".into()),
            connection_limit: 40,
            settings: vec![setting(None, "work_mem", "64MB")],
        };
        let all: Vec<(String, String)> = level
            .statements("shop2", false, false)
            .into_iter()
            .map(|s| (s.identity, s.sql))
            .collect();
        let expected = [
            (
                "owner of the database",
                r#"ALTER DATABASE "shop2" OWNER TO "shop_owner""#,
            ),
            (
                "privileges on the database",
                r#"REVOKE ALL ON DATABASE "shop2" FROM PUBLIC"#,
            ),
            (
                "privileges on the database",
                r#"GRANT CONNECT ON DATABASE "shop2" TO "app""#,
            ),
            (
                "comment on the database",
                r#"COMMENT ON DATABASE "shop2" IS 'the shop'"#,
            ),
            (
                "connection limit of the database",
                r#"ALTER DATABASE "shop2" CONNECTION LIMIT 40"#,
            ),
            (
                "setting work_mem",
                r#"ALTER DATABASE "shop2" SET "work_mem" TO '64MB'"#,
            ),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()));
        assert_eq!(all, expected);
        let identities: Vec<String> = level
            .statements("shop2", true, true)
            .into_iter()
            .map(|s| s.identity)
            .collect();
        assert_eq!(
            identities,
            [
                "comment on the database",
                "connection limit of the database",
                "setting work_mem"
            ]
        );
    }
}
