//! Privileges: parsing `aclitem` text and turning an ACL into the GRANT and REVOKE
//! statements that reproduce it from the built-in default, the way pg_dump does.

use pgsplit_pg::quote::ident;

use crate::model::Acl;

/// One `grantee=privileges/grantor` item; an empty grantee is PUBLIC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclItem {
    pub grantee: String,
    pub grantor: String,
    /// Privilege letters without grant option.
    pub privileges: Vec<char>,
    /// Privilege letters with grant option.
    pub grantable: Vec<char>,
}

impl AclItem {
    pub fn parse(text: &str) -> Option<AclItem> {
        let (grantee, rest) = read_name(text);
        let rest = rest.strip_prefix('=')?;
        let slash = rest.find('/')?;
        let (letters, grantor_text) = rest.split_at(slash);
        let (grantor, _) = read_name(&grantor_text[1..]);
        let mut privileges = Vec::new();
        let mut grantable = Vec::new();
        let mut chars = letters.chars().peekable();
        while let Some(c) = chars.next() {
            if chars.peek() == Some(&'*') {
                chars.next();
                grantable.push(c);
            } else {
                privileges.push(c);
            }
        }
        Some(AclItem {
            grantee,
            grantor,
            privileges,
            grantable,
        })
    }

    fn grantee_sql(&self) -> String {
        if self.grantee.is_empty() {
            "PUBLIC".to_string()
        } else {
            ident(&self.grantee)
        }
    }
}

/// `item` with role `from` as `to`, grantee or grantor, as `ALTER … OWNER TO` rewrites
/// the owner's entries.
pub fn with_role_renamed(item: &str, from: &str, to: &str) -> String {
    let Some(parsed) = AclItem::parse(item) else {
        return item.to_string();
    };
    if parsed.grantee != from && parsed.grantor != from {
        return item.to_string();
    }
    let name = |role: &str| {
        let role = if role == from { to } else { role };
        if role.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            role.to_string()
        } else {
            format!("\"{}\"", role.replace('"', "\"\""))
        }
    };
    // The letters as they were: items are compared as text.
    let (_, rest) = read_name(item);
    let letters = rest
        .strip_prefix('=')
        .and_then(|r| r.split_once('/'))
        .map_or("", |(letters, _)| letters);
    format!(
        "{}={letters}/{}",
        name(&parsed.grantee),
        name(&parsed.grantor)
    )
}

/// The role whose entry an object's initial privileges are its owner's (its grantor
/// and grantee), as initdb left them.
pub fn initial_owner(default: &[String]) -> Option<String> {
    default
        .iter()
        .filter_map(|d| AclItem::parse(d))
        .find(|d| !d.grantee.is_empty() && d.grantee == d.grantor)
        .map(|d| d.grantee)
}

/// A role name as `aclitem` prints it: bare, or in double quotes with `""` for `"`.
fn read_name(text: &str) -> (String, &str) {
    if let Some(rest) = text.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = rest.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if let Some((_, '"')) = chars.peek() {
                    chars.next();
                    name.push('"');
                } else {
                    return (name, &rest[i + 1..]);
                }
            } else {
                name.push(c);
            }
        }
        (name, "")
    } else {
        let end = text.find(['=', '/']).unwrap_or(text.len());
        (text[..end].to_string(), &text[end..])
    }
}

fn privilege_name(letter: char) -> Option<&'static str> {
    Some(match letter {
        'r' => "SELECT",
        'a' => "INSERT",
        'w' => "UPDATE",
        'd' => "DELETE",
        'D' => "TRUNCATE",
        'x' => "REFERENCES",
        't' => "TRIGGER",
        'X' => "EXECUTE",
        'U' => "USAGE",
        'C' => "CREATE",
        'c' => "CONNECT",
        'T' => "TEMPORARY",
        'm' => "MAINTAIN",
        's' => "SET",
        'A' => "ALTER SYSTEM",
        _ => return None,
    })
}

/// The privileges as SQL: `ALL` when they are every one the owner has by default (as
/// pg_dump writes them, so that a newer server's grant also has the privileges it added,
/// such as 17's MAINTAIN), else their names, on `column` if given.
fn privilege_list(letters: &[char], all: &[char], column: Option<&str>) -> String {
    if !all.is_empty() && letters.len() == all.len() && all.iter().all(|c| letters.contains(c)) {
        return match column {
            Some(col) => format!("ALL({})", ident(col)),
            None => "ALL".to_string(),
        };
    }
    letters
        .iter()
        .filter_map(|c| privilege_name(*c))
        .map(|p| match column {
            Some(col) => format!("{p}({})", ident(col)),
            None => p.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// What GRANT/REVOKE statements apply to.
pub struct AclTarget<'a> {
    /// `TABLE`, `SEQUENCE`, `FUNCTION`, `SCHEMA`, `TYPE`, …
    pub kind: &'a str,
    /// The object's name as SQL (qualified, with argument types for functions).
    pub name: &'a str,
    /// A column, for column privileges.
    pub column: Option<&'a str>,
    pub owner: &'a str,
}

/// One ACL statement and whether it needs a superuser (grants by another grantor are
/// replayed with SET SESSION AUTHORIZATION).
pub struct AclStatement {
    pub sql: String,
    pub requires_superuser: bool,
}

/// The statements that take `target` from its default privileges to `acl`.
pub fn statements(target: &AclTarget<'_>, acl: &Acl) -> Vec<AclStatement> {
    let on = format!("{} {}", target.kind, target.name);
    grant_revoke(
        acl,
        target.owner,
        target.column,
        |verb, privs, who| match verb {
            Verb::Revoke => format!(
                "REVOKE ALL{} ON {on} FROM {who}",
                column_suffix(target.column)
            ),
            Verb::Grant => format!("GRANT {privs} ON {on} TO {who}"),
            Verb::GrantOption => format!("GRANT {privs} ON {on} TO {who} WITH GRANT OPTION"),
        },
    )
}

fn column_suffix(column: Option<&str>) -> String {
    column
        .map(|c| format!("({})", ident(c)))
        .unwrap_or_default()
}

/// ALTER DEFAULT PRIVILEGES statements for one `pg_default_acl` entry.
pub fn default_privilege_statements(
    role: &str,
    schema: Option<&str>,
    objects: &str,
    acl: &Acl,
) -> Vec<AclStatement> {
    let prefix = match schema {
        Some(s) => format!(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {}",
            ident(role),
            ident(s)
        ),
        None => format!("ALTER DEFAULT PRIVILEGES FOR ROLE {}", ident(role)),
    };
    grant_revoke(acl, role, None, |verb, privs, who| match verb {
        Verb::Revoke => format!("{prefix} REVOKE ALL ON {objects} FROM {who}"),
        Verb::Grant => format!("{prefix} GRANT {privs} ON {objects} TO {who}"),
        Verb::GrantOption => {
            format!("{prefix} GRANT {privs} ON {objects} TO {who} WITH GRANT OPTION")
        }
    })
    .into_iter()
    .map(|mut s| {
        // Default privileges have no grantor to impersonate.
        s.requires_superuser = false;
        s
    })
    .collect()
}

enum Verb {
    Revoke,
    Grant,
    GrantOption,
}

/// `render` gets the verb, the privileges as SQL and the grantee as SQL.
fn grant_revoke(
    acl: &Acl,
    owner: &str,
    column: Option<&str>,
    render: impl Fn(Verb, &str, &str) -> String,
) -> Vec<AclStatement> {
    let Some(items) = &acl.items else {
        return Vec::new();
    };
    let defaults = &acl.default;
    // Every privilege the object's kind has: the owner's by the built-in default.
    let all = acl
        .builtin
        .as_ref()
        .unwrap_or(defaults)
        .iter()
        .filter_map(|d| AclItem::parse(d))
        .find(|d| d.grantee == owner)
        .map(|d| {
            d.privileges
                .into_iter()
                .chain(d.grantable)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for base in defaults {
        if items.contains(base) {
            continue;
        }
        if let Some(item) = AclItem::parse(base) {
            out.push(AclStatement {
                sql: render(Verb::Revoke, "", &item.grantee_sql()),
                requires_superuser: false,
            });
        }
    }
    for text in items {
        if defaults.contains(text) {
            continue;
        }
        let Some(item) = AclItem::parse(text) else {
            continue;
        };
        let who = item.grantee_sql();
        let mut sqls = Vec::new();
        if !item.privileges.is_empty() {
            let privs = privilege_list(&item.privileges, &all, column);
            sqls.push(render(Verb::Grant, &privs, &who));
        }
        if !item.grantable.is_empty() {
            let privs = privilege_list(&item.grantable, &all, column);
            sqls.push(render(Verb::GrantOption, &privs, &who));
        }
        for sql in sqls {
            if item.grantor == owner || item.grantor.is_empty() {
                out.push(AclStatement {
                    sql,
                    requires_superuser: false,
                });
            } else {
                out.push(AclStatement {
                    sql: format!(
                        "SET SESSION AUTHORIZATION {}; {sql}; RESET SESSION AUTHORIZATION",
                        ident(&item.grantor)
                    ),
                    requires_superuser: true,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_a_role_in_items() {
        let owner = "pg_database_owner";
        assert_eq!(
            with_role_renamed("postgres=UC/postgres", "postgres", owner),
            "pg_database_owner=UC/pg_database_owner"
        );
        assert_eq!(
            with_role_renamed("=UC/postgres", "postgres", owner),
            "=UC/pg_database_owner"
        );
        assert_eq!(
            with_role_renamed("app=r*w/postgres", "postgres", "We\"ird"),
            "app=r*w/\"We\"\"ird\""
        );
        assert_eq!(
            with_role_renamed("app=U/bob", "postgres", owner),
            "app=U/bob"
        );
        let initial = [
            "=UC/pg_database_owner".to_string(),
            "pg_database_owner=UC/pg_database_owner".to_string(),
        ];
        assert_eq!(initial_owner(&initial).as_deref(), Some(owner));
    }

    #[test]
    fn parses_items() {
        let item = AclItem::parse("bob=r*w/postgres").unwrap();
        assert_eq!(item.grantee, "bob");
        assert_eq!(item.grantor, "postgres");
        assert_eq!(item.privileges, vec!['w']);
        assert_eq!(item.grantable, vec!['r']);
        let public = AclItem::parse("=U/\"We\"\"ird\"").unwrap();
        assert_eq!(public.grantee, "");
        assert_eq!(public.grantor, "We\"ird");
        let quoted = AclItem::parse("\"a b\"=X/postgres").unwrap();
        assert_eq!(quoted.grantee, "a b");
    }

    /// The statements for an object of `kind` named `name`, owned by postgres.
    fn sql_for(kind: &str, name: &str, items: &[&str], default: &[&str]) -> Vec<String> {
        let acl = Acl {
            items: Some(items.iter().map(|i| i.to_string()).collect()),
            default: default.iter().map(|i| i.to_string()).collect(),
            builtin: None,
        };
        let target = AclTarget {
            kind,
            name,
            column: None,
            owner: "postgres",
        };
        statements(&target, &acl)
            .into_iter()
            .map(|s| s.sql)
            .collect()
    }

    #[test]
    fn grants_only_the_difference() {
        let sql = sql_for(
            "TABLE",
            "\"public\".\"t\"",
            &["postgres=arwdDxt/postgres", "bob=r/postgres"],
            &["postgres=arwdDxt/postgres"],
        );
        assert_eq!(
            sql,
            vec!["GRANT SELECT ON TABLE \"public\".\"t\" TO \"bob\""]
        );
    }

    #[test]
    fn every_privilege_is_all() {
        let sql = sql_for(
            "TABLE",
            "t",
            &[
                "postgres=arwdDxt/postgres",
                "bob=a*r*w*d*D*x*t*/postgres",
                "eve=arwdDx/postgres",
            ],
            &["postgres=arwdDxt/postgres"],
        );
        assert_eq!(
            sql,
            vec![
                "GRANT ALL ON TABLE t TO \"bob\" WITH GRANT OPTION",
                "GRANT INSERT,SELECT,UPDATE,DELETE,TRUNCATE,REFERENCES ON TABLE t TO \"eve\"",
            ]
        );
    }

    /// An extension member is compared with what the script left, but ALL still means
    /// every privilege there is, not the owner's there.
    #[test]
    fn all_is_every_privilege_of_the_built_in_default() {
        let acl = Acl {
            items: Some(vec![
                "postgres=r/postgres".into(),
                "bob=r/postgres".into(),
                "eve=arwdDxt/postgres".into(),
            ]),
            default: vec!["postgres=r/postgres".into()],
            builtin: Some(vec!["postgres=arwdDxt/postgres".into()]),
        };
        let target = AclTarget {
            kind: "TABLE",
            name: "t",
            column: None,
            owner: "postgres",
        };
        let sql: Vec<String> = statements(&target, &acl)
            .into_iter()
            .map(|s| s.sql)
            .collect();
        assert_eq!(
            sql,
            vec![
                "GRANT SELECT ON TABLE t TO \"bob\"",
                "GRANT ALL ON TABLE t TO \"eve\"",
            ]
        );
    }

    #[test]
    fn revokes_missing_defaults() {
        let sql = sql_for(
            "FUNCTION",
            "f()",
            &["postgres=X/postgres"],
            &["=X/postgres", "postgres=X/postgres"],
        );
        assert_eq!(sql, vec!["REVOKE ALL ON FUNCTION f() FROM PUBLIC"]);
    }
}
