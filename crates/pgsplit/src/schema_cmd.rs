//! `pgsplit schema URL`: the DDL pgsplit would write to a target, printed as SQL.

use std::fmt::Write as _;

use anyhow::Context as _;
use pgsplit_pg::ConnSettings;
use pgsplit_schema::{Ddl, SchemaOptions, Statement};

/// Which part of the DDL to print.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// Before the data: schemas, types, functions, tables, sequences, views.
    PreData,
    /// After the data: indexes, constraints, triggers, rules, policies, grants, …
    PostData,
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  pgsplit schema postgres://app@db/shop > shop.sql\n  pgsplit schema postgres://app@db/shop --section post-data --no-owner\n  pgsplit schema postgres://app@db/shop --database shop_new | psql -d shop_new"
)]
pub struct SchemaArgs {
    /// Source database URL (or libpq key=value string).
    pub url: String,
    /// Only this section (default: both, pre-data first).
    #[arg(long, value_enum)]
    pub section: Option<Section>,
    /// Leave out ALTER … OWNER TO.
    #[arg(long)]
    pub no_owner: bool,
    /// Leave out GRANT/REVOKE and default privileges.
    #[arg(long)]
    pub no_acl: bool,
    /// Also print the database's own statements a run applies last (owner, comment,
    /// connection limit, settings, per-role settings, privileges), written for the
    /// database NAME the script is meant for.
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// The major version of the server the script is for (what differs by version, such
    /// as `public`'s owner from a source older than 15, is written for it; default: the
    /// newest).
    #[arg(long, value_name = "MAJOR", value_parser = clap::value_parser!(u16).range(10..))]
    pub for_version: Option<u16>,
}

pub async fn run(
    args: SchemaArgs,
    printer: &crate::output::Printer,
    iam: &crate::iam::IamArgs,
) -> anyhow::Result<i32> {
    let mut settings = ConnSettings::parse(&args.url).context("source URL")?;
    crate::iam::apply_to(&mut settings, iam).await?;
    // With the run's defaults (a connect timeout when the URL sets none).
    let conn = pgsplit_engine::session::open(&settings).await?;
    let catalog = pgsplit_schema::introspect(&conn.client)
        .await
        .with_context(|| format!("reading the catalog of {}", conn.server))?;
    // The DDL is written for the source's version or a newer one: what an older server
    // lacks (a privilege, a clause) would fail there line by line.
    let source_major = catalog.server_version_num() / 10000;
    if let Some(major) = args.for_version.filter(|&m| i32::from(m) < source_major) {
        return Err(crate::UsageError(format!(
            "--for-version {major} is older than the source (PostgreSQL {source_major}): \
             pgsplit writes DDL for the source's version or a newer one"
        ))
        .into());
    }
    let options = SchemaOptions {
        no_owner: args.no_owner,
        no_acl: args.no_acl,
        target_version: args.for_version.map(|major| i32::from(major) * 10000),
    };
    let ddl = catalog.render(&options);
    // Written for the database the script is for: never the source's own name by
    // default (the script applied on the source's server would change the source).
    let database: Vec<Statement> = match &args.database {
        Some(name) => pgsplit_engine::database::DatabaseLevel::read(&conn.client)
            .await
            .with_context(|| format!("reading the database's properties on {}", conn.server))?
            .statements(name, args.no_owner, args.no_acl)
            .into_iter()
            .map(|d| Statement {
                requires_superuser: d.requires_superuser,
                ..pgsplit_schema::stmt(pgsplit_schema::ObjectKind::Database, d.identity, d.sql)
            })
            .collect(),
        None => Vec::new(),
    };
    let mut sections: Vec<(&'static str, &[Statement])> = Vec::new();
    if args.section != Some(Section::PostData) {
        sections.push(("pre-data", &ddl.pre_data));
    }
    if args.section != Some(Section::PreData) {
        sections.push(("post-data", &ddl.post_data));
    }
    if !database.is_empty() {
        sections.push(("database", &database));
    }
    let doc = SchemaDoc {
        session_setup: Ddl::SESSION_SETUP,
        statements: sections
            .iter()
            .flat_map(|(section, statements)| {
                statements.iter().map(|s| StatementDoc {
                    section,
                    kind: s.kind,
                    identity: &s.identity,
                    sql: &s.sql,
                    requires_superuser: s.requires_superuser,
                })
            })
            .collect(),
    };
    // The SQL is what was asked for, not a report: `-q` does not silence it.
    let printer = crate::output::Printer {
        json: printer.json.clone(),
        quiet: false,
    };
    let mut not_copied = ddl.describe_not_copied();
    if args.database.is_none() {
        not_copied.push(
            "the database's own owner, comment, settings and privileges (--database NAME \
             prints them for database NAME)"
                .into(),
        );
    }
    printer.result(&doc, || sql_text(&sections, &not_copied))?;
    Ok(0)
}

/// `--json`: the statements in order, each with its section, kind and identity.
#[derive(serde::Serialize)]
struct SchemaDoc<'a> {
    session_setup: &'a str,
    statements: Vec<StatementDoc<'a>>,
}

#[derive(serde::Serialize)]
struct StatementDoc<'a> {
    section: &'a str,
    kind: pgsplit_schema::ObjectKind,
    identity: &'a str,
    sql: &'a str,
    requires_superuser: bool,
}

/// The sections as a SQL script, each statement under a comment naming it, and a last
/// comment naming what the script leaves out.
fn sql_text(sections: &[(&str, &[Statement])], not_copied: &[String]) -> String {
    let mut out = format!("-- session settings\n{};\n\n", Ddl::SESSION_SETUP);
    for (name, statements) in sections {
        let _ = writeln!(out, "-- {name}");
        for s in *statements {
            let superuser = if s.requires_superuser {
                " (requires superuser)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "-- {}{superuser}\n{};\n",
                // psql ends a comment at a carriage return too: the rest of a name
                // would run as SQL.
                s.identity.replace(char::is_control, " "),
                s.sql
            );
        }
    }
    if !not_copied.is_empty() {
        let _ = writeln!(out, "-- not copied by pgsplit:");
        for what in not_copied {
            let _ = writeln!(out, "--   {}", what.replace(char::is_control, " "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgsplit_schema::ObjectKind;

    #[test]
    fn a_name_cannot_end_its_comment_line() {
        let statement = Statement {
            kind: ObjectKind::Index,
            identity: "index public.ix\rSELECT 1/0;\nDROP TABLE t;".into(),
            sql: "CREATE INDEX \"ix\rSELECT 1/0;\nDROP TABLE t;\" ON public.t (x)".into(),
            table: None,
            waits_for: Vec::new(),
            locks_also: Vec::new(),
            phase: 1,
            requires_superuser: false,
            depends_on: Vec::new(),
            completes: None,
            superuser_before: None,
            relation: None,
            extension_member: false,
            best_effort: false,
        };
        let text = sql_text(&[("post-data", std::slice::from_ref(&statement))], &[]);
        assert!(
            text.contains("-- index public.ix SELECT 1/0; DROP TABLE t;\nCREATE INDEX"),
            "{text:?}"
        );
    }
}
