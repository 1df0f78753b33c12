//! The `pgsplit` command line: arguments → validated configuration → engine → printer.

mod exit_code;
mod iam;
mod output;
mod plan_cmd;
mod progress_view;
mod rds;
mod run_cmd;
mod schema_cmd;
mod signal;
mod verify_cmd;

use std::io::IsTerminal;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use exit_code::ExitCode;
use output::{JsonOut, Printer};

#[derive(Parser, Debug)]
#[command(
    name = "pgsplit",
    version,
    about = "Copy, migrate and split PostgreSQL databases: native schema copy, parallel binary COPY from one snapshot, verified row by row.",
    after_help = "Mapping file: one SOURCE_URL@@TARGET_URL per line, e.g.\n  postgres://app@old-db:5432/shop@@postgres://app@new-db:5432/shop\n\nExit codes: 0 success, 1 failure or problems found, 2 bad input, 3 verification mismatch, 130 interrupted."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    iam: iam::IamArgs,
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = "Global options")]
    verbose: u8,
    /// Only errors on stderr, no human report on stdout.
    #[arg(short, long, global = true, help_heading = "Global options")]
    quiet: bool,
    /// Machine-readable report: `--json` prints JSON on stdout, `--json FILE` writes it there.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        num_args = 0..=1,
        default_missing_value = "-",
        help_heading = "Global options"
    )]
    json: Option<String>,
    /// No progress bars or periodic progress lines.
    #[arg(long, global = true, help_heading = "Global options")]
    no_progress: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a mapping and show what a run would do, without writing anything.
    Plan(plan_cmd::PlanArgs),
    /// Copy every mapped database: schema, data, post-data, verification.
    Run(run_cmd::RunArgs),
    /// Print the SQL a copy applies to the target, in order (pre-data, post-data).
    Schema(schema_cmd::SchemaArgs),
    /// Prove that every target is a complete, correct copy: rows, sequences, schema.
    Verify(verify_cmd::VerifyArgs),
    /// AWS RDS: move PostgreSQL instances to another region through snapshots.
    Rds(Box<rds::RdsArgs>),
}

/// Bad input found by the command itself (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn main() {
    let code = match Cli::try_parse() {
        Ok(cli) => run(cli),
        Err(e) if e.use_stderr() => {
            // clap repeats the argument it could not use: a URL given in the wrong place
            // must not show its password.
            eprint!("{}", pgsplit_pg::redact_text(&e.render().to_string()));
            ExitCode::Usage
        }
        Err(e) => {
            // --help, --version
            let _ = e.print();
            ExitCode::Success
        }
    };
    std::process::exit(code.code());
}

fn run(cli: Cli) -> ExitCode {
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    // -v and -vv raise pgsplit's own lines only (targets `pgsplit*`): the libraries' debug
    // output names credentials (the AWS SDK prints the access key id it signs with).
    // PGSPLIT_LOG takes any filter, for whoever wants those lines anyway.
    let own = format!("warn,pgsplit={level}");
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("PGSPLIT_LOG").unwrap_or_else(|_| EnvFilter::new(own)),
        )
        .with_writer(progress_view::LogWriter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    let show_progress = !cli.no_progress && !cli.quiet;
    let printer = Printer {
        json: JsonOut::from_arg(cli.json.as_deref()),
        quiet: cli.quiet,
    };
    // A report file that cannot be written is found now, not after hours of copying.
    let inputs: Vec<&std::path::Path> = match &cli.command {
        Command::Plan(args) => vec![&args.mapping],
        Command::Run(args) => vec![&args.mapping],
        Command::Verify(args) => vec![&args.mapping],
        Command::Schema(_) | Command::Rds(_) => Vec::new(),
    };
    if let Err(e) = printer.json.check(&inputs) {
        eprintln!("error: {}", error_text(&e));
        return ExitCode::Usage;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::Failure;
        }
    };
    let reports = !matches!(cli.command, Command::Rds(_));
    let result = runtime.block_on(async {
        match cli.command {
            Command::Plan(args) => {
                stoppable(plan_cmd::run(args, &printer, &cli.iam), &printer).await
            }
            Command::Run(args) => run_cmd::run(args, &printer, show_progress, &cli.iam).await,
            Command::Verify(args) => {
                stoppable(
                    verify_cmd::run(args, &printer, show_progress, &cli.iam),
                    &printer,
                )
                .await
            }
            Command::Schema(args) => {
                let schema = async {
                    schema_cmd::run(args, &printer, &cli.iam)
                        .await
                        .map(|code| match code {
                            0 => ExitCode::Success,
                            2 => ExitCode::Usage,
                            _ => ExitCode::Failure,
                        })
                };
                stoppable(schema, &printer).await
            }
            Command::Rds(args) => rds::run(*args, printer.quiet).await.map(|code| match code {
                0 => ExitCode::Success,
                2 => ExitCode::Usage,
                130 => ExitCode::Interrupted,
                _ => ExitCode::Failure,
            }),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            let text = error_text(&e);
            eprintln!("error: {text}");
            let code = if is_bad_input(&e) {
                ExitCode::Usage
            } else {
                ExitCode::Failure
            };
            if reports {
                no_report(&printer, code, &text);
            }
            code
        }
    }
}

/// For `--json`: the document of a command that ended before it had a report (bad input
/// found before connecting, a stop while reading): its status, exit code and error.
fn no_report(printer: &Printer, code: ExitCode, error: &str) {
    if matches!(printer.json, output::JsonOut::None) {
        return;
    }
    #[derive(serde::Serialize)]
    struct Ended<'a> {
        error: &'a str,
    }
    // The error is on stderr already; nothing more for the human text.
    if let Err(e) = printer.outcome(&Ended { error }, code, String::new) {
        eprintln!("error: {}", error_text(&e));
    }
}

/// A command that only reads stops at once on Ctrl-C or SIGTERM, exit 130: its sessions
/// close with it, and each server ends its query when it next writes to the closed one.
/// (`run` winds down itself: its journal and the queries it cancels on the servers.)
async fn stoppable(
    command: impl std::future::Future<Output = anyhow::Result<ExitCode>>,
    printer: &Printer,
) -> anyhow::Result<ExitCode> {
    tokio::select! {
        result = command => result,
        _ = signal::stop_requested() => {
            eprintln!("interrupted");
            no_report(printer, ExitCode::Interrupted, "interrupted");
            Ok(ExitCode::Interrupted)
        }
    }
}

/// An error and its causes, each cause added unless the message before already says it
/// (many messages quote their cause, and `{:#}` would repeat it).
fn error_text(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
    }
    text
}

/// Errors found before anything was connected to: exit 2.
fn is_bad_input(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.is::<pgsplit_engine::mapping::MappingError>()
            || cause.is::<pgsplit_pg::SettingsError>()
            || cause.is::<UsageError>()
    })
}
