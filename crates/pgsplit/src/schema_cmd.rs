//! `pgsplit schema URL`: the DDL pgsplit would write to a target, printed as SQL.

use std::io::Write as _;

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
    after_help = "Examples:\n  pgsplit schema postgres://app@db/shop > shop.sql\n  pgsplit schema postgres://app@db/shop --section post-data --no-owner"
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
}

pub async fn run(args: SchemaArgs, iam: &crate::iam::IamArgs) -> anyhow::Result<i32> {
    let mut settings = ConnSettings::parse(&args.url).context("source URL")?;
    crate::iam::apply_to(&mut settings, iam).await?;
    let conn = pgsplit_pg::connect(&settings).await?;
    let catalog = pgsplit_schema::introspect(&conn.client)
        .await
        .with_context(|| format!("reading the catalog of {}", conn.server))?;
    let options = SchemaOptions {
        no_owner: args.no_owner,
        no_acl: args.no_acl,
    };
    let ddl = catalog.render(&options);
    let mut out = std::io::stdout().lock();
    writeln!(out, "-- session settings\n{};\n", Ddl::SESSION_SETUP)?;
    if args.section != Some(Section::PostData) {
        write_section(&mut out, "pre-data", &ddl.pre_data)?;
    }
    if args.section != Some(Section::PreData) {
        write_section(&mut out, "post-data", &ddl.post_data)?;
    }
    out.flush()?;
    Ok(0)
}

fn write_section(
    out: &mut impl std::io::Write,
    name: &str,
    statements: &[Statement],
) -> std::io::Result<()> {
    writeln!(out, "-- {name}")?;
    for s in statements {
        let superuser = if s.requires_superuser {
            " (requires superuser)"
        } else {
            ""
        };
        writeln!(
            out,
            "-- {}{superuser}\n{};\n",
            s.identity.replace('\n', " "),
            s.sql
        )?;
    }
    Ok(())
}
