//! What one target of a split receives, as the user wrote it: selectors after the URLs of
//! a mapping line, or a `[[target]]` table of a TOML split file.
//!
//! ```text
//! SRC@@TGT schemas=sales,billing tables=inventory.* exclude=sales.audit_*
//!          where:sales.customers="tenant_id IN (1, 2)"
//!          follow:sales.orders="customer_id -> sales.customers.id"
//!          shard=tenant_id:1/4 reference=all
//! ```

use std::collections::BTreeMap;

use globset::{Glob, GlobMatcher};

/// Parent rows a child table's rows follow: `child_column -> schema.parent.column`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Follow {
    pub column: String,
    pub parent: (String, String),
    pub parent_column: String,
}

/// Hash sharding: rows whose `key` hashes to `remainder` modulo `modulus`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Shard {
    pub key: String,
    pub modulus: u32,
    pub remainder: u32,
}

/// Tables without the shard key: copied whole to this target, or not at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reference {
    All,
    None,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Selector {
    pub schemas: Vec<String>,
    pub tables: Vec<String>,
    pub exclude: Vec<String>,
    /// `schema.table` → SQL predicate.
    pub filters: BTreeMap<String, String>,
    /// `schema.table` → the parent its rows follow.
    pub follows: BTreeMap<String, Follow>,
    pub shard: Option<Shard>,
    pub reference: Option<Reference>,
}

const KEYS: &str = "schemas=, tables=, exclude=, where:TABLE=, follow:TABLE=, shard=, reference=";

impl Selector {
    /// True when the line copies the whole database (no selector at all).
    pub fn is_everything(&self) -> bool {
        self.schemas.is_empty()
            && self.tables.is_empty()
            && self.exclude.is_empty()
            && self.filters.is_empty()
            && self.follows.is_empty()
            && self.shard.is_none()
    }

    /// The same selection with its lists sorted and without repeats: what the order of
    /// `schemas`, `tables` and `exclude` does not change.
    pub fn normalized(&self) -> Selector {
        let sorted = |list: &[String]| {
            let mut list = list.to_vec();
            list.sort();
            list.dedup();
            list
        };
        Selector {
            schemas: sorted(&self.schemas),
            tables: sorted(&self.tables),
            exclude: sorted(&self.exclude),
            ..self.clone()
        }
    }

    /// Parses the selector words after the URLs of a mapping line. Errors name the word.
    pub fn parse_words(words: &[String]) -> Result<Selector, String> {
        let mut s = Selector::default();
        for word in words {
            let (key, value) = word
                .split_once('=')
                .filter(|(key, _)| !key.is_empty())
                .ok_or_else(|| {
                    format!(
                        "selector {word:?} is not KEY=VALUE (expected one of {KEYS}; a value \
                         with spaces goes in double quotes: where:s.t=\"a = 1\")"
                    )
                })?;
            let value = unquote(value).map_err(|e| format!("{key}: {e}"))?;
            if value.is_empty() {
                return Err(format!("selector {key:?} has an empty value"));
            }
            let list = || -> Vec<String> {
                value
                    .split(',')
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
                    .collect()
            };
            match key {
                "schemas" | "schema" => s.schemas.extend(list()),
                "tables" | "table" => s.tables.extend(list()),
                "exclude" => s.exclude.extend(list()),
                // A second one would silently replace the first.
                "shard" if s.shard.is_some() => {
                    return Err("shard= is given twice: a line takes one shard".into());
                }
                "reference" if s.reference.is_some() => {
                    return Err("reference= is given twice".into());
                }
                "shard" => s.shard = Some(parse_shard(&value)?),
                "reference" => {
                    s.reference = Some(match value.as_str() {
                        "all" => Reference::All,
                        "none" => Reference::None,
                        other => return Err(format!("reference={other:?}: expected all or none")),
                    })
                }
                _ => {
                    // A second condition for a table would silently replace the first.
                    if let Some(table) = key.strip_prefix("where:") {
                        let table = check_table_name(table, key)?;
                        if s.filters.insert(table, value).is_some() {
                            return Err(format!(
                                "{key} is given twice: join the conditions with AND in one"
                            ));
                        }
                    } else if let Some(table) = key.strip_prefix("follow:") {
                        let table = check_table_name(table, key)?;
                        if s.follows.insert(table, parse_follow(&value)?).is_some() {
                            return Err(format!(
                                "{key} is given twice: a table follows one parent (a \
                                 where: condition on it may test others)"
                            ));
                        }
                    } else {
                        return Err(format!("unknown selector {key:?} (expected one of {KEYS})"));
                    }
                }
            }
        }
        s.validate()?;
        Ok(s)
    }

    /// Checks globs compile and names are qualified, and that `reference=` comes with a
    /// shard (alone it would be ignored).
    pub fn validate(&self) -> Result<(), String> {
        if self.reference.is_some() && self.shard.is_none() {
            return Err(
                "reference= goes with shard=: it says where the tables without the shard key go"
                    .into(),
            );
        }
        for pattern in self.tables.iter().chain(&self.exclude) {
            if !pattern.contains('.') {
                return Err(format!(
                    "table pattern {pattern:?} must be schema-qualified (e.g. public.{pattern})"
                ));
            }
            Glob::new(pattern).map_err(|e| format!("bad table pattern {pattern:?}: {e}"))?;
        }
        for schema in &self.schemas {
            Glob::new(schema).map_err(|e| format!("bad schema pattern {schema:?}: {e}"))?;
        }
        Ok(())
    }

    pub fn matchers(patterns: &[String]) -> Vec<GlobMatcher> {
        patterns
            .iter()
            .filter_map(|p| Glob::new(p).ok().map(|g| g.compile_matcher()))
            .collect()
    }
}

/// A value without its double quotes; quotes that do not enclose the whole value (`"a"b`)
/// are refused rather than passed on into SQL.
fn unquote(value: &str) -> Result<String, String> {
    let v = value.trim();
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        Ok(v[1..v.len() - 1].replace("\\\"", "\""))
    } else if v.contains('"') {
        Err(format!(
            "double quotes must enclose the whole value ({v}); inside them, write \\\" for a quote"
        ))
    } else {
        Ok(v.to_string())
    }
}

/// `schema.table`; either may hold a `.` itself, which the catalog settles
/// (`split::resolve`).
fn check_table_name(name: &str, key: &str) -> Result<String, String> {
    let parts = name.split('.').collect::<Vec<_>>();
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) || name.contains('*') {
        return Err(format!("{key:?}: name one table as schema.table"));
    }
    Ok(name.to_string())
}

/// `customer_id -> sales.customers.id`
pub fn parse_follow(text: &str) -> Result<Follow, String> {
    let bad = || format!("follow {text:?}: expected `column -> schema.table.column`");
    let (column, parent) = text.split_once("->").ok_or_else(bad)?;
    // The column after the last `.`; the table's name may hold one (`split::resolve`).
    let (parent, parent_column) = parent.trim().rsplit_once('.').ok_or_else(bad)?;
    let (schema, table) = parent.split_once('.').ok_or_else(bad)?;
    let column = column.trim();
    if column.is_empty() || schema.is_empty() || table.is_empty() || parent_column.is_empty() {
        return Err(bad());
    }
    Ok(Follow {
        column: column.to_string(),
        parent: (schema.to_string(), table.to_string()),
        parent_column: parent_column.to_string(),
    })
}

/// `tenant_id:1/4`: remainder 1 of modulus 4.
pub fn parse_shard(text: &str) -> Result<Shard, String> {
    let bad = |why: &str| {
        format!("shard={text:?}: {why} (expected KEY:REMAINDER/MODULUS, e.g. tenant_id:1/4)")
    };
    let (key, rest) = text.split_once(':').ok_or_else(|| bad("no ':'"))?;
    let (remainder, modulus) = rest.split_once('/').ok_or_else(|| bad("no '/'"))?;
    let remainder: u32 = remainder
        .trim()
        .parse()
        .map_err(|_| bad("remainder is not a number"))?;
    let modulus: u32 = modulus
        .trim()
        .parse()
        .map_err(|_| bad("modulus is not a number"))?;
    if modulus == 0 {
        return Err(bad("the modulus must be 1 or more"));
    }
    if remainder >= modulus {
        return Err(bad("the remainder must be below the modulus"));
    }
    if key.trim().is_empty() {
        return Err(bad("empty key"));
    }
    Ok(Shard {
        key: key.trim().to_string(),
        modulus,
        remainder,
    })
}

/// Splits the selector part of a line into words: white space separates them, double
/// quotes keep a value with spaces together (`where:s.t="a = 1"`).
pub fn words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted && chars.peek() == Some(&'"') => {
                current.push('\\');
                current.push(chars.next().expect("peeked"));
            }
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if quoted {
        return Err(format!("unclosed '\"' in {text:?}"));
    }
    if !current.is_empty() {
        words.push(current);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Selector, String> {
        Selector::parse_words(&words(text)?)
    }

    #[test]
    fn parses_every_selector() {
        let s = parse(
            "schemas=sales,billing tables=inventory.* exclude=sales.audit_* \
             where:sales.customers=\"tenant_id IN (1, 2)\" \
             follow:sales.orders=\"customer_id -> sales.customers.id\" shard=tenant_id:1/4 reference=none",
        )
        .unwrap();
        assert_eq!(s.schemas, ["sales", "billing"]);
        assert_eq!(s.tables, ["inventory.*"]);
        assert_eq!(s.exclude, ["sales.audit_*"]);
        assert_eq!(s.filters["sales.customers"], "tenant_id IN (1, 2)");
        assert_eq!(
            s.follows["sales.orders"],
            Follow {
                column: "customer_id".into(),
                parent: ("sales".into(), "customers".into()),
                parent_column: "id".into()
            }
        );
        assert_eq!(
            s.shard,
            Some(Shard {
                key: "tenant_id".into(),
                modulus: 4,
                remainder: 1
            })
        );
        assert_eq!(s.reference, Some(Reference::None));
        assert!(parse("").unwrap().is_everything());
    }

    #[test]
    fn quoting_mistakes_are_named() {
        // Single quotes do not group words: the `=` between them is a word of its own.
        let error = parse("where:public.t='a = \"x\"'").unwrap_err();
        assert!(error.contains("selector \"=\" is not KEY=VALUE"), "{error}");
        let error = parse("where:public.t=\"x\"y").unwrap_err();
        assert!(
            error.contains("where:public.t: double quotes must enclose"),
            "{error}"
        );
        let s = parse("where:public.t=\"\\\"Name\\\" = 'a b'\"").unwrap();
        assert_eq!(s.filters["public.t"], "\"Name\" = 'a b'");
    }

    #[test]
    fn the_order_of_a_list_is_not_part_of_the_selection() {
        let a = parse("tables=public.b,public.a schemas=y,x,x").unwrap();
        let b = parse("tables=public.a,public.b schemas=x,y").unwrap();
        assert_eq!(
            serde_json::to_string(&a.normalized()).unwrap(),
            serde_json::to_string(&b.normalized()).unwrap()
        );
    }

    #[test]
    fn a_table_given_two_conditions_is_refused() {
        let error = parse("where:public.t=\"a = 1\" where:public.t=\"b = 2\"").unwrap_err();
        assert!(error.contains("where:public.t is given twice"), "{error}");
        let error = parse(
            "follow:public.o=\"t_id -> public.t.id\" follow:public.o=\"u_id -> public.u.id\"",
        )
        .unwrap_err();
        assert!(error.contains("follow:public.o is given twice"), "{error}");
        let error = parse("shard=id:0/2 shard=id:1/2").unwrap_err();
        assert!(error.contains("shard= is given twice"), "{error}");
        let error = parse("shard=id:0/2 reference=all reference=none").unwrap_err();
        assert!(error.contains("reference= is given twice"), "{error}");
        let error = parse("schemas=public reference=none").unwrap_err();
        assert!(error.contains("reference= goes with shard="), "{error}");
    }

    #[test]
    fn errors_name_the_word() {
        assert!(
            parse("tabels=public.x")
                .unwrap_err()
                .contains("unknown selector \"tabels\"")
        );
        assert!(
            parse("tables=orders")
                .unwrap_err()
                .contains("must be schema-qualified")
        );
        assert!(
            parse("tables=public.[x")
                .unwrap_err()
                .contains("bad table pattern")
        );
        assert!(
            parse("shard=tenant_id:4/4")
                .unwrap_err()
                .contains("below the modulus")
        );
        assert!(
            parse("shard=tenant_id:1/0")
                .unwrap_err()
                .contains("the modulus must be 1 or more")
        );
        assert!(
            parse("shard=tenant_id")
                .unwrap_err()
                .contains("KEY:REMAINDER/MODULUS")
        );
        assert!(
            parse("follow:s.o=\"cid sales.c.id\"")
                .unwrap_err()
                .contains("column -> schema.table.column")
        );
        assert!(
            parse("where:orders=\"x\"")
                .unwrap_err()
                .contains("schema.table")
        );
        assert!(parse("where:s.t=\"open").unwrap_err().contains("unclosed"));
        assert!(parse("reference=some").unwrap_err().contains("all or none"));
        assert!(parse("schemas").unwrap_err().contains("is not KEY=VALUE"));
    }
}
