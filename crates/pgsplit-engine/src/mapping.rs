//! The mapping file: one `SOURCE_URL@@TARGET_URL` per line, `#` comments and blank
//! lines ignored. Every problem is reported with `file:line`, with URLs redacted, before
//! any connection is opened.

use std::fmt;
use std::path::{Path, PathBuf};

use pgsplit_pg::{ConnSettings, Environment, redact_text};

use crate::split::selector::{self, Selector};

/// One copy: a source database into a target database.
#[derive(Clone, Debug)]
pub struct MappingLine {
    /// 1-based line number in the file.
    pub line: usize,
    pub source: ConnSettings,
    pub target: ConnSettings,
    /// What of the source this target receives (everything when no selector is given).
    pub selector: Selector,
}

#[derive(Clone, Debug)]
pub struct Mapping {
    pub path: PathBuf,
    pub lines: Vec<MappingLine>,
}

/// A problem at one line of a mapping file. `Display`: `file:line: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

/// All problems of a mapping file (never just the first).
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("cannot read mapping file {}: {source}", redact_text(&path.display().to_string()))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<LineError>),
    #[error("{path}: no mapping lines (expected SOURCE_URL@@TARGET_URL)")]
    Empty { path: PathBuf },
}

impl Mapping {
    /// The lines' indices grouped by source database, groups and lines in mapping order:
    /// the lines a run copies from one snapshot.
    pub fn by_source(&self) -> Vec<Vec<usize>> {
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for (i, line) in self.lines.iter().enumerate() {
            match groups
                .iter_mut()
                .find(|g| self.lines[g[0]].source.same_database(&line.source))
            {
                Some(group) => group.push(i),
                None => groups.push(vec![i]),
            }
        }
        groups
    }

    /// Reads a mapping file: lines of `SOURCE@@TARGET [selectors]`, or a TOML split file
    /// (`*.toml`, `[[target]]` tables).
    pub fn read(path: &Path) -> Result<Mapping, MappingError> {
        let bytes = std::fs::read(path).map_err(|source| MappingError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            MappingError::Invalid(vec![LineError {
                path: path.to_path_buf(),
                line: valid.iter().filter(|&&b| b == b'\n').count() + 1,
                message: "not UTF-8 text (save the file as UTF-8)".into(),
            }])
        })?;
        if path.extension().is_some_and(|e| e == "toml") {
            return Mapping::parse_toml(path, &text, &Environment::from_process());
        }
        Mapping::parse(path, &text, &Environment::from_process())
    }

    /// The TOML form, for splits too long for one line:
    ///
    /// ```toml
    /// [[target]]
    /// source = "postgres://app@old/shop"
    /// target = "postgres://app@new-sales/shop"
    /// schemas = ["sales"]
    /// tables = ["inventory.products"]
    /// exclude = ["sales.audit_*"]
    /// where = { "sales.customers" = "tenant_id IN (1, 2)" }
    /// follow = { "sales.orders" = "customer_id -> sales.customers.id" }
    /// shard = "tenant_id:1/4"
    /// reference = "all"
    /// ```
    pub fn parse_toml(path: &Path, text: &str, env: &Environment) -> Result<Mapping, MappingError> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            target: Vec<Entry>,
        }
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Entry {
            source: String,
            target: String,
            #[serde(default)]
            schemas: Vec<String>,
            #[serde(default)]
            tables: Vec<String>,
            #[serde(default)]
            exclude: Vec<String>,
            #[serde(default, rename = "where")]
            filters: std::collections::BTreeMap<String, String>,
            #[serde(default)]
            follow: std::collections::BTreeMap<String, String>,
            shard: Option<String>,
            reference: Option<String>,
        }
        let error = |line: usize, message: String| {
            MappingError::Invalid(vec![LineError {
                path: path.to_path_buf(),
                line,
                message,
            }])
        };
        let file: File = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .unwrap_or(1);
            error(line, redact_text(e.message()))
        })?;
        // Each [[target]] reports errors at its header line.
        let headers: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| is_target_header(l))
            .map(|(i, _)| i + 1)
            .collect();
        let mut lines = Vec::new();
        let mut errors = Vec::new();
        let text_lines: Vec<&str> = text.lines().collect();
        for (i, entry) in file.target.into_iter().enumerate() {
            let line = headers.get(i).copied().unwrap_or(1);
            // Each word with the key it comes from, to point at that key's line.
            let mut keyed: Vec<(&str, String)> = Vec::new();
            let list =
                |key: &str, v: &[String]| (!v.is_empty()).then(|| format!("{key}={}", v.join(",")));
            keyed.extend(list("schemas", &entry.schemas).map(|w| ("schemas", w)));
            keyed.extend(list("tables", &entry.tables).map(|w| ("tables", w)));
            keyed.extend(list("exclude", &entry.exclude).map(|w| ("exclude", w)));
            // TOML strings are already unquoted: quote them for the word parser, which
            // would otherwise take a filter's own outer quotes (`"isActive"`) off.
            let quoted = |p: &str| format!("\"{}\"", p.replace('"', "\\\""));
            keyed.extend(
                entry
                    .filters
                    .iter()
                    .map(|(t, p)| ("where", format!("where:{t}={}", quoted(p)))),
            );
            keyed.extend(
                entry
                    .follow
                    .iter()
                    .map(|(t, p)| ("follow", format!("follow:{t}={}", quoted(p)))),
            );
            keyed.extend(entry.shard.iter().map(|s| ("shard", format!("shard={s}"))));
            keyed.extend(
                entry
                    .reference
                    .iter()
                    .map(|r| ("reference", format!("reference={r}"))),
            );
            let words: Vec<String> = keyed.iter().map(|(_, w)| w.clone()).collect();
            let parsed = parse_urls(&entry.source, &entry.target, env)
                .and_then(|(s, t)| Selector::parse_words(&words).map(|sel| (s, t, sel)));
            // A selector's error at its key's line (within this [[target]]), when one
            // word alone is wrong; else at the header.
            let line = match &parsed {
                Err(_) => keyed
                    .iter()
                    .find(|(_, w)| Selector::parse_words(std::slice::from_ref(w)).is_err())
                    .and_then(|(key, _)| {
                        let end = headers.get(i + 1).map_or(text_lines.len(), |h| h - 1);
                        (line..end).find(|&n| {
                            text_lines.get(n).is_some_and(|l| {
                                l.trim_start()
                                    .strip_prefix(key)
                                    .is_some_and(|rest| rest.trim_start().starts_with(['=', '.']))
                            })
                        })
                    })
                    .map_or(line, |n| n + 1),
                Ok(_) => line,
            };
            match parsed {
                Ok((source, target, selector)) => lines.push(MappingLine {
                    line,
                    source,
                    target,
                    selector,
                }),
                Err(message) => errors.push(LineError {
                    path: path.to_path_buf(),
                    line,
                    message,
                }),
            }
        }
        Mapping::finish(path, lines, errors)
    }

    pub fn parse(path: &Path, text: &str, env: &Environment) -> Result<Mapping, MappingError> {
        let mut lines = Vec::new();
        let mut errors = Vec::new();
        let error = |line: usize, message: String| LineError {
            path: path.to_path_buf(),
            line,
            message,
        };
        for (index, raw) in text.lines().enumerate() {
            let number = index + 1;
            // Editors on Windows may start a UTF-8 file with a byte order mark; files
            // joined together carry one at the start of a later line too.
            let trimmed = raw.trim_start_matches('\u{feff}').trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            match parse_line(trimmed, env) {
                Ok((source, target, selector)) => lines.push(MappingLine {
                    line: number,
                    source,
                    target,
                    selector,
                }),
                Err(message) => errors.push(error(number, message)),
            }
        }
        Mapping::finish(path, lines, errors)
    }

    fn finish(
        path: &Path,
        lines: Vec<MappingLine>,
        mut errors: Vec<LineError>,
    ) -> Result<Mapping, MappingError> {
        let error = |line: usize, message: String| LineError {
            path: path.to_path_buf(),
            line,
            message,
        };
        // Two lines writing into one database would overwrite each other.
        for (i, a) in lines.iter().enumerate() {
            if let Some(b) = lines[..i]
                .iter()
                .find(|b| b.target.same_database(&a.target))
            {
                errors.push(error(
                    a.line,
                    format!(
                        "target {} is already the target of line {}",
                        a.target, b.line
                    ),
                ));
            }
        }
        errors.sort_by_key(|e| e.line);
        if !errors.is_empty() {
            return Err(MappingError::Invalid(errors));
        }
        if lines.is_empty() {
            return Err(MappingError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(Mapping {
            path: path.to_path_buf(),
            lines,
        })
    }
}

fn parse_line(
    text: &str,
    env: &Environment,
) -> Result<(ConnSettings, ConnSettings, Selector), String> {
    // The URLs hold no white space: selectors follow the first blank.
    let (urls, rest) = match text.find(char::is_whitespace) {
        Some(i) if text[..i].contains("@@") => (&text[..i], &text[i..]),
        _ => (text, ""),
    };
    // Checked on the raw text first: splitting it into words may fail (a quote in the
    // password) with a message that quotes it.
    let password_rest = |w: &str| w.contains('@') && !w.contains('=');
    // The rest of a target URL whose password holds a space: not echoed.
    let space_in_url = || {
        "the target URL contains a space (percent-encode spaces as %20), or a selector lacks \
         its '='"
            .to_string()
    };
    if rest.split_whitespace().next().is_some_and(password_rest) {
        return Err(space_in_url());
    }
    let words = selector::words(rest)?;
    if words.first().is_some_and(|w| password_rest(w)) {
        return Err(space_in_url());
    }
    let selector = Selector::parse_words(&words)?;
    let (source, target) = split_urls(urls, env)?;
    Ok((source, target, selector))
}

fn parse_urls(
    source: &str,
    target: &str,
    env: &Environment,
) -> Result<(ConnSettings, ConnSettings), String> {
    split_urls(&format!("{}@@{}", source.trim(), target.trim()), env)
}

fn split_urls(text: &str, env: &Environment) -> Result<(ConnSettings, ConnSettings), String> {
    let parts: Vec<&str> = text.split("@@").collect();
    let (source, target) = match parts.as_slice() {
        [source, target] => (source.trim(), target.trim()),
        [_] => {
            return Err(format!(
                "missing '@@' between source and target URL in {:?}",
                redact_text(text)
            ));
        }
        _ => {
            // Not echoed: a password holding "@@postgres://" would be cut where no
            // redaction finds it.
            return Err("more than one '@@' (percent-encode '@' in passwords as %40)".to_string());
        }
    };
    let parse = |which: &str, url: &str| -> Result<ConnSettings, String> {
        if url.is_empty() {
            return Err(format!("empty {which} URL"));
        }
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            // Perhaps the rest of a password that held "@@": what precedes an '@' is hidden,
            // but for a scheme (`POSTGRES://`, `mysql://`), the likely mistake.
            let scheme = url
                .find("://")
                .map(|end| &url[..end + 3])
                .filter(|s| s[..s.len() - 3].chars().all(|c| c.is_ascii_alphanumeric()));
            if scheme.is_none() && url.contains('=') {
                // A libpq key=value string: what follows its password's '@' is the rest
                // of the password; not shown.
                return Err(format!(
                    "{which} is not a postgres:// or postgresql:// URL (a mapping line takes \
                     URLs, not key=value connection strings)"
                ));
            }
            let shown = match url.rfind('@') {
                Some(at) => format!("{}***{}", scheme.unwrap_or_default(), &url[at..]),
                None => url.to_string(),
            };
            return Err(format!(
                "{which} is not a postgres:// or postgresql:// URL: {:?}",
                redact_text(&shown)
            ));
        }
        if url.contains(char::is_whitespace) {
            // Not echoed: the space may sit in a password.
            return Err(format!(
                "the {which} URL contains a space (percent-encode spaces as %20)"
            ));
        }
        ConnSettings::parse_with(url, env).map_err(|e| format!("{which} URL: {e}"))
    };
    let source = parse("source", source)?;
    let target = parse("target", target)?;
    if source.same_database(&target) {
        return Err(format!("target {target} is the source itself"));
    }
    Ok((source, target))
}

/// A TOML line that opens a `[[target]]` table, spaces and a comment allowed
/// (`[[ target ]]  # EU shard`, `[["target"]]`).
fn is_target_header(line: &str) -> bool {
    let code = line.split('#').next().unwrap_or_default();
    let bare: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    matches!(
        bare.as_str(),
        "[[target]]" | "[[\"target\"]]" | "[['target']]"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Mapping, MappingError> {
        Mapping::parse(Path::new("m.txt"), text, &Environment::default())
    }

    fn errors(text: &str) -> Vec<String> {
        match parse(text) {
            Err(MappingError::Invalid(errors)) => errors.iter().map(ToString::to_string).collect(),
            other => panic!("expected line errors, got {other:?}"),
        }
    }

    #[test]
    fn parses_lines_comments_and_blanks() {
        let m = parse(
            "# migrate shop\n\n  postgres://a@h1/shop@@postgresql://b:pw@h2:6000/shop  \n\
             postgres://a@h1/crm@@postgres://b@h2/crm\n",
        )
        .unwrap();
        assert_eq!(m.lines.len(), 2);
        assert_eq!(m.lines[0].line, 3);
        assert_eq!(m.lines[0].target.hosts[0].1, 6000);
        assert_eq!(m.lines[1].line, 4);
    }

    #[test]
    fn reports_every_bad_line_with_its_number_and_no_password() {
        let text = "postgres://u:pw1@h/a@@postgres://u:pw1@h2/a\n\
                    postgres://u:pw2@h/b postgres://u@h2/b\n\
                    postgres://u:pw3@h/c@@mysql://u:pw3@h2/c\n\
                    postgres://u:pw4@h/d@@postgres://u:pw4@h:99999/d\n\
                    postgres://u:pw5@h/e@@postgres://other:pw5@h:5432/e\n\
                    postgres://u:pw6@h/f@@postgres://u@h2/a\n\
                    postgres://u:p@@w7@h/g@@postgres://u@h2/g\n\
                    @@postgres://u@h2/x\n\
                    postgres://app:sl/ash8@db/shop@@postgres://u@h2/s8\n\
                    postgres://app:qu?ery9@db/shop@@postgres://u@h2/s9\n\
                    postgres://app:sp ace10@db/shop@@postgres://u@h2/s10\n\
                    postgres://u:p11@@ss11@h/db\n\
                    postgres://u@h/s@@postgres://app:sp ace12@db/shop\n\
                    postgres://app:my pass13@db/shop\n\
                    postgres://u@h/s@@postgres://app:q\"uo te14\"x@db/shop\n";
        let errs = errors(text);
        let joined = errs.join("\n");
        assert_eq!(errs.len(), 14, "{errs:#?}");
        for pw in [
            "pw1", "pw2", "pw3", "pw4", "pw5", "pw6", "w7", "ash8", "sl/", "ery9", "qu?", "ace10",
            "sp ", "p11", "ss11", "uo", "te14",
        ] {
            assert!(!joined.contains(pw), "{pw} leaked: {joined}");
        }
        assert!(errs[0].starts_with("m.txt:2: missing '@@'"), "{joined}");
        assert!(
            errs[1].starts_with("m.txt:3: target is not a postgres://"),
            "{joined}"
        );
        assert!(
            errs[2].starts_with("m.txt:4: target URL: invalid value for port"),
            "{joined}"
        );
        assert!(
            errs[3].starts_with("m.txt:5: target postgres://other@h:5432/e is the source itself"),
            "{joined}"
        );
        assert!(
            errs[4].starts_with(
                "m.txt:6: target postgres://u@h2:5432/a is already the target of line 1"
            ),
            "{joined}"
        );
        assert!(
            errs[5].starts_with("m.txt:7: more than one '@@'"),
            "{joined}"
        );
        assert!(errs[6].starts_with("m.txt:8: empty source URL"), "{joined}");
        assert!(
            errs[7].contains("postgres://app:***@db/shop: the database name"),
            "{joined}"
        );
        // A '?' before the '@': a password's, or a query's whose value holds the '@'.
        assert!(errs[8].contains("%3F"), "{joined}");
        assert!(errs[9].contains("contains a space"), "{joined}");
        assert!(
            errs[10].contains("invalid value for port: \"***\""),
            "{joined}"
        );
        assert!(
            errs[13].starts_with("m.txt:15: the target URL contains a space"),
            "{joined}"
        );
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_line() {
        let m =
            parse("\u{feff}# saved on Windows\r\npostgres://a@h1/shop@@postgres://b@h2/shop\r\n")
                .unwrap();
        assert_eq!(m.lines.len(), 1);
        let m = parse("\u{feff}postgres://a@h1/shop@@postgres://b@h2/shop\n").unwrap();
        assert_eq!(m.lines[0].source.dbname, "shop");
        // Two files joined: a mark at the start of a later line too.
        let m = parse(
            "postgres://a@h1/a@@postgres://b@h2/a\n\u{feff}postgres://a@h1/b@@postgres://b@h2/b\n",
        )
        .unwrap();
        assert_eq!(m.lines[1].source.dbname, "b");
    }

    #[test]
    fn a_key_value_string_is_not_shown() {
        for password in ["'abc@def'", "s3cr@t", "'p?a@s#s/w:x%y'"] {
            let line =
                format!("host=h port=5 user=u password={password} dbname=pw@@postgres://b@h2/a\n");
            let errs = errors(&line);
            assert!(errs[0].contains("key=value"), "{errs:?}");
            for part in ["def", "@t", "s#s"] {
                assert!(!errs[0].contains(part), "{errs:?}");
            }
        }
    }

    #[test]
    fn a_wrong_scheme_is_shown_without_the_password() {
        let errs = errors("POSTGRES://app:s3cret@h1/a@@postgres://b@h2/a\n");
        assert!(
            errs[0].contains(
                "source is not a postgres:// or postgresql:// URL: \"POSTGRES://***@h1/a\""
            ),
            "{errs:?}"
        );
        assert!(!errs[0].contains("s3cret"), "{errs:?}");
    }

    #[test]
    fn empty_file_is_an_error() {
        assert!(matches!(
            parse("# nothing\n\n"),
            Err(MappingError::Empty { .. })
        ));
    }
}

#[cfg(test)]
mod split_tests {
    use super::*;

    #[test]
    fn selectors_follow_the_urls() {
        let m = Mapping::parse(
            Path::new("m.txt"),
            "postgres://a@h/shop@@postgres://a@h2/sales schemas=sales where:sales.customers=\"tenant_id = 1\"\n\
             postgres://a@h/shop@@postgres://a@h3/rest\n",
            &Environment::default(),
        )
        .unwrap();
        assert_eq!(m.lines[0].selector.schemas, ["sales"]);
        assert_eq!(
            m.lines[0].selector.filters["sales.customers"],
            "tenant_id = 1"
        );
        assert!(m.lines[1].selector.is_everything());
    }

    #[test]
    fn a_typo_in_a_selector_names_the_line_and_the_word() {
        let err = Mapping::parse(
            Path::new("m.txt"),
            "# split\npostgres://a@h/shop@@postgres://a@h2/sales schemsa=sales\n",
            &Environment::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("m.txt:2: unknown selector \"schemsa\""),
            "{err}"
        );
    }

    #[test]
    fn toml_split_files() {
        let text = "[[target]]\nsource = \"postgres://a@h/shop\"\ntarget = \"postgres://a@h2/s1\"\nshard = \"tenant_id:0/2\"\n\n\
                    [[target]]\nsource = \"postgres://a@h/shop\"\ntarget = \"postgres://a@h2/s2\"\nshard = \"tenant_id:1/2\"\nwhere = { \"public.t\" = \"x > 1\" }\n";
        let m = Mapping::parse_toml(Path::new("s.toml"), text, &Environment::default()).unwrap();
        assert_eq!(m.lines.len(), 2);
        assert_eq!(m.lines[1].line, 6);
        assert_eq!(m.lines[1].selector.shard.as_ref().unwrap().remainder, 1);
        assert_eq!(m.lines[1].selector.filters["public.t"], "x > 1");
        // A filter's own quotes are kept: `"isActive"` is a quoted column name.
        let quoted = text.replace("\"x > 1\"", "'\"isActive\" AND note <> \"\"'");
        let m = Mapping::parse_toml(Path::new("s.toml"), &quoted, &Environment::default()).unwrap();
        assert_eq!(
            m.lines[1].selector.filters["public.t"],
            "\"isActive\" AND note <> \"\""
        );
        let bad = text.replace("shard = \"tenant_id:1/2\"", "shard = \"tenant_id:2/2\"");
        let err = Mapping::parse_toml(Path::new("s.toml"), &bad, &Environment::default())
            .unwrap_err()
            .to_string();
        // At the shard's own line, not its [[target]] header's (line 6).
        assert!(err.starts_with("s.toml:9: shard="), "{err}");
        let typo = text.replace("shard = \"tenant_id:0/2\"", "shrad = \"tenant_id:0/2\"");
        let err = Mapping::parse_toml(Path::new("s.toml"), &typo, &Environment::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("s.toml:4:") && err.contains("shrad"), "{err}");
        // A header with spaces or a comment is a header (errors went to the next one's line).
        let commented = bad
            .replacen("[[target]]", "[[ target ]]   # EU shard", 1)
            .replacen("\n[[target]]", "\n[[\"target\"]] # US", 1);
        let err = Mapping::parse_toml(Path::new("s.toml"), &commented, &Environment::default())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("s.toml:9: shard="), "{err}");
    }

    #[test]
    fn a_file_that_is_not_utf8_is_named_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.txt");
        std::fs::write(
            &path,
            b"# ok\npostgres://a@h/x@@postgres://a@h2/x\n# caf\xe9\n",
        )
        .unwrap();
        let err = Mapping::read(&path).unwrap_err().to_string();
        assert!(
            err.ends_with("m.txt:3: not UTF-8 text (save the file as UTF-8)"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_named_like_a_mapping_line_shows_no_password() {
        let err = Mapping::read(Path::new(
            "postgres://app:hunter2@h/x@@postgres://app:hunter2@h2/y",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("cannot read mapping file postgres://app:***@h/x"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }
}
