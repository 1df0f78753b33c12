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

fn privilege_list(letters: &[char], column: Option<&str>) -> String {
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
    let Some(items) = &acl.items else {
        return Vec::new();
    };
    let on = format!("{} {}", target.kind, target.name);
    grant_revoke(
        items,
        &acl.default,
        target.owner,
        |verb, privs, who| match verb {
            Verb::Revoke => format!(
                "REVOKE ALL{} ON {on} FROM {who}",
                column_suffix(target.column)
            ),
            Verb::Grant => format!(
                "GRANT {} ON {on} TO {who}",
                privilege_list(privs, target.column)
            ),
            Verb::GrantOption => format!(
                "GRANT {} ON {on} TO {who} WITH GRANT OPTION",
                privilege_list(privs, target.column)
            ),
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
    let Some(items) = &acl.items else {
        return Vec::new();
    };
    let prefix = match schema {
        Some(s) => format!(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {}",
            ident(role),
            ident(s)
        ),
        None => format!("ALTER DEFAULT PRIVILEGES FOR ROLE {}", ident(role)),
    };
    grant_revoke(items, &acl.default, role, |verb, privs, who| match verb {
        Verb::Revoke => format!("{prefix} REVOKE ALL ON {objects} FROM {who}"),
        Verb::Grant => format!(
            "{prefix} GRANT {} ON {objects} TO {who}",
            privilege_list(privs, None)
        ),
        Verb::GrantOption => format!(
            "{prefix} GRANT {} ON {objects} TO {who} WITH GRANT OPTION",
            privilege_list(privs, None)
        ),
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

fn grant_revoke(
    items: &[String],
    defaults: &[String],
    owner: &str,
    render: impl Fn(Verb, &[char], &str) -> String,
) -> Vec<AclStatement> {
    let mut out = Vec::new();
    for base in defaults {
        if items.contains(base) {
            continue;
        }
        if let Some(item) = AclItem::parse(base) {
            out.push(AclStatement {
                sql: render(Verb::Revoke, &[], &item.grantee_sql()),
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
            sqls.push(render(Verb::Grant, &item.privileges, &who));
        }
        if !item.grantable.is_empty() {
            sqls.push(render(Verb::GrantOption, &item.grantable, &who));
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

    #[test]
    fn grants_only_the_difference() {
        let acl = Acl {
            items: Some(vec![
                "postgres=arwdDxt/postgres".into(),
                "bob=r/postgres".into(),
            ]),
            default: vec!["postgres=arwdDxt/postgres".into()],
        };
        let target = AclTarget {
            kind: "TABLE",
            name: "\"public\".\"t\"",
            column: None,
            owner: "postgres",
        };
        let sql: Vec<String> = statements(&target, &acl)
            .into_iter()
            .map(|s| s.sql)
            .collect();
        assert_eq!(
            sql,
            vec!["GRANT SELECT ON TABLE \"public\".\"t\" TO \"bob\""]
        );
    }

    #[test]
    fn revokes_missing_defaults() {
        let acl = Acl {
            items: Some(vec!["postgres=X/postgres".into()]),
            default: vec!["=X/postgres".into(), "postgres=X/postgres".into()],
        };
        let target = AclTarget {
            kind: "FUNCTION",
            name: "f()",
            column: None,
            owner: "postgres",
        };
        let sql: Vec<String> = statements(&target, &acl)
            .into_iter()
            .map(|s| s.sql)
            .collect();
        assert_eq!(sql, vec!["REVOKE ALL ON FUNCTION f() FROM PUBLIC"]);
    }
}
