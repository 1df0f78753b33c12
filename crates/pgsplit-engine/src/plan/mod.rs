//! `pgsplit plan`: read-only facts about every source and target of a mapping, and every
//! problem that would stop or spoil a copy, found before anything is written.

use futures::future::join_all;
use serde::Serialize;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use crate::mapping::{Mapping, MappingLine};
use crate::session;

const LARGEST_TABLES_SHOWN: i64 = 5;

#[derive(Debug, Serialize)]
pub struct PlanReport {
    pub mapping: String,
    pub lines: Vec<LinePlan>,
    /// Per source database split by every line that names it: the tables no line takes
    /// (their rows would stay behind), and the objects none of them writes. Not a
    /// problem: leaving them out may be the intent.
    pub untaken: Vec<Untaken>,
}

#[derive(Debug, Serialize)]
pub struct Untaken {
    pub source_url: String,
    /// The mapping lines of that source.
    pub lines: Vec<usize>,
    /// Largest first.
    pub tables: Vec<UntakenTable>,
    /// Shards of that key and modulus no line takes (`shard=KEY:R/N` for each missing R),
    /// with the tables they cut and no line copies whole.
    pub shards: Vec<UntakenShards>,
    /// Objects of their own (functions, types, views, sequences, …) no line's schema
    /// writes, as `function public.f()`: no table of any line needs them.
    pub objects: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct UntakenShards {
    pub key: String,
    pub modulus: u32,
    pub remainders: Vec<u32>,
    /// `schema.name`.
    pub tables: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct UntakenTable {
    /// `schema.name`.
    pub name: String,
    pub bytes: i64,
}

impl PlanReport {
    pub fn problem_count(&self) -> usize {
        self.lines.iter().map(|l| l.problems.len()).sum()
    }

    /// A selector that does not fit its source is bad input (exit 2).
    pub fn bad_selection(&self) -> bool {
        self.lines.iter().flat_map(|l| &l.problems).any(|p| {
            matches!(
                p.kind,
                ProblemKind::Selection | ProblemKind::ShardTakenTwice
            )
        })
    }
}

#[derive(Debug, Serialize)]
pub struct LinePlan {
    pub line: usize,
    pub source_url: String,
    pub target_url: String,
    pub source: Option<SourceFacts>,
    pub target: Option<TargetFacts>,
    /// For a line with selectors: what this target of the split receives.
    pub split: Option<SplitFacts>,
    pub problems: Vec<Problem>,
    /// What a run will do that the user may not expect, and is no problem.
    pub notes: Vec<String>,
}

/// One target's share of a split source.
#[derive(Debug, Serialize)]
pub struct SplitFacts {
    /// DDL statements the target receives.
    pub objects: usize,
    pub tables: Vec<SplitTable>,
    /// Estimated rows (a filtered table's as the source's planner estimates its filter)
    /// and bytes (a filtered table's whole size) of the tables.
    pub estimated_rows: i64,
    pub estimated_bytes: i64,
    /// Foreign keys, views and other objects that would point into another target.
    pub cross_target: Vec<String>,
    /// Those of them that are foreign keys: the run refuses them unless
    /// `--drop-cross-target-fks`; it leaves the others out.
    #[serde(skip)]
    pub cross_target_fks: Vec<String>,
    /// The tables its shard cuts ([`crate::split::Resolved::sharded`]).
    #[serde(skip)]
    pub sharded: std::collections::BTreeSet<(String, String)>,
    /// The source's tables this line does not take, with their sizes.
    #[serde(skip)]
    pub not_taken: std::collections::BTreeMap<(String, String), i64>,
    /// The source's objects of their own this line's schema does not write
    /// ([`standalone_objects`]).
    #[serde(skip)]
    pub objects_not_taken: std::collections::BTreeSet<String>,
}

#[derive(Debug, Serialize)]
pub struct SplitTable {
    pub schema: String,
    pub name: String,
    pub estimated_rows: i64,
    pub bytes: i64,
    /// The row filter, for tables copied in part.
    pub filter: Option<String>,
    /// The shard's modulus and its conditions in the filter ([`shard_parts`]).
    #[serde(skip)]
    pub shard: Option<(u32, Vec<String>)>,
}

/// What the plan knows of a source; the fields a caller does not read stay at their
/// defaults (a run reads what its target needs, not the source's sizes).
#[derive(Debug, Default, Serialize)]
pub struct SourceFacts {
    pub server_version: String,
    pub server_version_num: i32,
    pub database_bytes: i64,
    pub tables: i64,
    /// Lock table entries a run may take to lock every table up front
    /// ([`crate::session::free_lock_slots`]); fewer than `tables`: each is locked only
    /// while it is copied.
    pub lock_slots: i64,
    pub largest_tables: Vec<TableSize>,
    pub extensions: Vec<Extension>,
    /// Roles the schema names (owners, grantees, policies): the target needs them.
    pub roles: Vec<String>,
    /// Those of them that policies name: needed even with `--no-owner --no-acl`.
    #[serde(skip)]
    pub policy_roles: Vec<String>,
    /// Those of them not given objects by the DDL: policies', grantees' (unless
    /// `--no-acl`), the database's (plan only) and the large objects'.
    #[serde(skip)]
    pub base_roles: Vec<String>,
    /// The roles the DDL's `OWNER TO` statements name, each with whether the statement
    /// needs a superuser (then skipped for another role, with its object).
    #[serde(skip)]
    pub owner_statements: Vec<(String, bool)>,
    /// The owners of large objects (unless `--no-owner`).
    #[serde(skip)]
    pub large_object_owners: Vec<String>,
    /// The extensions the DDL makes, each with whether that needs a superuser.
    #[serde(skip)]
    pub extension_statements: Vec<(String, bool)>,
    /// Whether the DDL makes schemas or extensions (CREATE on the database).
    #[serde(skip)]
    pub creates_in_database: bool,
    /// What pgsplit cannot copy of the tables this target gets, with why.
    #[serde(skip)]
    pub cannot_copy: Vec<String>,
    /// Statements that only a superuser can run on the target.
    pub superuser_objects: Vec<String>,
    /// Objects pgsplit does not copy (kind, name), then those that need one of them
    /// (`view public.v (needs foreign table public.lines)`).
    /// For a line of a split: those its target would hold.
    pub unsupported: Vec<String>,
    /// What newer major versions refuse, with the first that does.
    #[serde(skip)]
    pub refused_by_newer_versions: Vec<(i32, String)>,
    /// What the copy makes that runs a function finding names by the search_path
    /// ([`pgsplit_schema::SearchPathUse`]): the run fails there.
    pub found_by_search_path: Vec<String>,
    /// Parameters the line's functions set (`SET name TO …`), each with its function: a
    /// newer server may no longer have one (13's `force_parallel_mode`).
    #[serde(skip)]
    pub function_parameters: Vec<(String, String)>,
    /// The parameters `pg_settings` shows the source role.
    #[serde(skip)]
    pub parameters: Vec<String>,
    /// Tables with a column compressed with lz4, which a server built without it refuses.
    #[serde(skip)]
    pub lz4_users: Vec<String>,
    /// Tables whose rows the source role may not read ([`unreadable_tables`]).
    #[serde(skip)]
    pub unreadable: Vec<(String, String)>,
    /// Large objects the source role may not read ([`unreadable_large_objects`]).
    #[serde(skip)]
    pub unreadable_large_objects: i64,
    /// Partitioned tables whose key puts text in partitions by a collation's order
    /// ([`CollatedKey`]).
    #[serde(skip)]
    pub collated_keys: Vec<CollatedKey>,
    #[serde(skip)]
    pub collation_versions: CollationVersions,
    /// Parameters of the database's settings (`ALTER DATABASE … SET`), with their
    /// identities (`setting work_mem of role app`).
    #[serde(skip)]
    pub database_settings: Vec<(String, String)>,
}

#[derive(Debug, Serialize)]
pub struct TableSize {
    pub schema: String,
    pub name: String,
    pub bytes: i64,
    pub estimated_rows: i64,
}

#[derive(Debug, Serialize)]
pub struct Extension {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Serialize)]
pub struct TargetFacts {
    pub server_version: String,
    pub server_version_num: i32,
    /// False when the database does not exist yet: `run` creates it.
    pub database_exists: bool,
    /// Objects found outside the system schemas (0 for an empty database).
    pub user_objects: i64,
    pub superuser: bool,
    /// `CREATE` on the database, or `CREATEDB` when it must be created.
    pub can_create: bool,
    /// Source extensions the target server does not offer.
    pub missing_extensions: Vec<String>,
    /// Roles of the source schema that the target server lacks.
    pub missing_roles: Vec<String>,
    #[serde(skip)]
    pub available_extensions: Vec<String>,
    #[serde(skip)]
    pub roles: Vec<String>,
    /// Whether the server was built with lz4 (a column compression method).
    #[serde(skip)]
    pub lz4: bool,
    /// Whether the role may create databases (what `--clean` does after its drop).
    #[serde(skip)]
    pub creates_databases: bool,
    /// Its sessions are read-only: a standby, or `default_transaction_read_only` on.
    pub read_only: bool,
    #[serde(skip)]
    pub collation_versions: CollationVersions,
    /// Whether the role owns the database (or is a superuser): `--clean` drops it.
    #[serde(skip)]
    pub owns_database: bool,
    /// The roles whose objects the role may make (it may `SET ROLE` to them).
    #[serde(skip)]
    pub member_of: Vec<String>,
    /// What the role sees and may set of the server's parameters.
    #[serde(skip)]
    pub parameters: Parameters,
}

/// A role's view of a server's parameters.
#[derive(Debug, Default)]
pub struct Parameters {
    /// Every parameter `pg_settings` shows the role.
    pub shown: Vec<String>,
    /// The role sees every parameter in `pg_settings` (a superuser, or a member of
    /// `pg_read_all_settings`); others do not see superuser-only ones.
    pub sees_all: bool,
    /// Those the role may not set (only a superuser, or a role granted `SET` on them,
    /// may).
    pub superuser_only: Vec<String>,
    /// Those the role was granted `SET` on (PostgreSQL 15+).
    pub granted: Vec<String>,
}

impl Parameters {
    /// Reads them for the connected role of a server of `version`.
    async fn read(client: &Client, version: i32) -> Result<Parameters, tokio_postgres::Error> {
        let sees_all =
            "SELECT pg_catalog.pg_has_role(current_user, 'pg_read_all_settings', 'USAGE')";
        let (set_granted, granted) = if version >= 150000 {
            (
                " AND NOT pg_catalog.has_parameter_privilege(name, 'SET')",
                first_column(
                    client,
                    "SELECT parname FROM pg_catalog.pg_parameter_acl \
                     WHERE pg_catalog.has_parameter_privilege(parname, 'SET')",
                )
                .await?,
            )
        } else {
            ("", Vec::new())
        };
        let superuser_only = format!(
            "SELECT name FROM pg_catalog.pg_settings WHERE context = 'superuser'{set_granted}"
        );
        Ok(Parameters {
            shown: shown_parameters(client).await?,
            sees_all: client.query_one(sees_all, &[]).await?.get(0),
            superuser_only: first_column(client, &superuser_only).await?,
            granted,
        })
    }

    /// Whether the role was granted `SET` on `name`.
    fn granted(&self, name: &str) -> bool {
        self.granted.iter().any(|p| p.eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    SourceUnreachable,
    TargetUnreachable,
    TargetNotEmpty,
    /// The target URL reaches the source database by another address.
    TargetIsSource,
    TargetOlder,
    /// The source has what the target's (newer) version refuses.
    TargetCannotHold,
    ExtensionMissing,
    CannotCreate,
    RolesMissing,
    /// The target role is no superuser and may not give objects to their owners.
    CannotSetOwners,
    /// The source role may not read some of the tables to copy.
    SourceUnreadable,
    /// A table pgsplit cannot copy (hash-partitioned on an enum).
    CannotCopy,
    NeedsSuperuser,
    Unsupported,
    /// A split selector that does not fit the source.
    Selection,
    /// A foreign key or view would point from this target into another one.
    CrossTarget,
    /// Another line of the same source takes the same shard: its rows would go to both.
    ShardTakenTwice,
    /// `--data-only`: the target lacks a table, sequence or materialized view, has other
    /// columns, or holds rows already.
    DataOnlyMismatch,
    /// A run into this target stopped before it finished (its journal says so): a run
    /// without `--resume` or `--clean` refuses it.
    UnfinishedRun,
    /// The target's sessions are read-only (a standby, `default_transaction_read_only`).
    TargetReadOnly,
    /// What the copy makes runs a function whose body finds a name by the search_path
    /// (empty on the target): the run fails there. Found by reading the body's text, so
    /// not a reason to refuse a run.
    FoundBySearchPath,
}

#[derive(Debug, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
}

/// What the run will be asked to leave out, which changes what the target needs.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlanOptions {
    /// `--clean`/`--resume`: a non-empty target is not a problem.
    pub allow_non_empty: bool,
    /// `--clean`: a non-empty target is dropped and made again.
    pub clean: bool,
    /// `--drop-cross-target-fks`: foreign keys into another target are left out.
    pub drop_cross_target_fks: bool,
    pub no_owner: bool,
    pub no_acl: bool,
    /// `--data-only`: the target's tables must be there (and empty) instead; what only a
    /// schema copy needs is not checked.
    pub data_only: bool,
    /// The target server's `server_version_num`, when known: the DDL is written for it.
    pub target_version: Option<i32>,
    /// `run --strict`: what needs a superuser the target role is not fails the run, so
    /// it stops it before anything is written.
    pub strict: bool,
}

/// Reads each line's run journal in `work_dir` (what `run` would find there). Without
/// `resume`: a target whose run did not finish is a problem (a run without `--resume` or
/// `--clean` refuses it), in place of "not empty", saying how to go on. With `resume`:
/// what `run --resume` refuses is (nothing to resume at all; a stopped run that copied
/// something else than `options` and the line say).
pub async fn unfinished_runs(
    mapping: &Mapping,
    work_dir: &std::path::Path,
    options: PlanOptions,
    resume: bool,
    report: &mut PlanReport,
) {
    let sections = if options.data_only {
        crate::run::Sections::DataOnly
    } else {
        crate::run::Sections::All
    };
    let mut any = false;
    // Lines the stopped run had not started: a resume starts them afresh, into an empty
    // target only.
    let mut not_started = Vec::new();
    for (at, (line, plan)) in mapping.lines.iter().zip(&mut report.lines).enumerate() {
        let path = crate::journal::FileJournal::path_for(work_dir, &line.target.to_string());
        if !path.exists() {
            not_started.push(at);
            continue;
        }
        let state = match crate::journal::read_events(&path) {
            Ok(events) => crate::journal::JournalState::fold(&events),
            Err(e) => {
                plan.problems.push(Problem {
                    kind: ProblemKind::UnfinishedRun,
                    message: format!("the run journal of this target cannot be read: {e}"),
                });
                continue;
            }
        };
        // A journal is something to resume (`run --resume` leaves a finished line as it
        // is), as long as it copied what the line and options say now.
        any = true;
        if !state.wrote_anything() && !state.clean_pending {
            not_started.push(at);
        }
        if resume && state.wrote_anything() && !state.finished {
            let planned = state.plan.as_ref().map_or(0, Vec::len);
            plan.notes.push(format!(
                "the stopped run got this far: pre-data {}, {} of {planned} table piece(s) \
                 copied, {} post-data statement(s) done; the resume does the rest (a statement \
                 the target refused runs again: mend its cause on the target first; rows it \
                 reads are of the resume's moment, the pieces kept of the stopped run's: if \
                 the source is written to in between, the run says so, and `pgsplit verify` \
                 compares them with the source as it is then)",
                if state.pre_data_done {
                    "done"
                } else {
                    "not finished"
                },
                state.done.len(),
                state.post_data_done.len()
            ));
        }
        if resume && state.clean_pending && !state.wrote_anything() {
            plan.notes.push(format!(
                "the stopped run was a --clean run that had not reached this line: the resume \
                 drops the target database {} and copies the line again",
                line.target.dbname
            ));
        }
        let message = if resume {
            let scope = crate::run::journal_scope(
                line,
                sections,
                options.no_owner,
                options.no_acl,
                options.drop_cross_target_fks,
            );
            match crate::run::resume_refusal(state.scope.as_deref(), &scope) {
                Some(refusal) if state.wrote_anything() => refusal,
                _ => {
                    let replaced = match &state.target {
                        Some(before) => replaced_target(line, before).await,
                        None => None,
                    };
                    let run_options = crate::run::RunOptions {
                        sections,
                        no_owner: options.no_owner,
                        no_acl: options.no_acl,
                        drop_cross_target_fks: options.drop_cross_target_fks,
                        ..crate::run::RunOptions::default()
                    };
                    let refusal = match replaced {
                        Some(refusal) => Some(refusal),
                        // A finished line is left as it is.
                        None if state.wrote_anything() && !state.finished => {
                            crate::run::resume_refusal_of_tables(line, &state, &run_options).await
                        }
                        None => None,
                    };
                    match refusal {
                        Some(refusal) => refusal,
                        None => continue,
                    }
                }
            }
        } else if state.unfinished() {
            plan.problems
                .retain(|p| p.kind != ProblemKind::TargetNotEmpty);
            format!(
                "a previous run into this target did not finish (journal {}): continue it \
                 with `run --resume` (plan it with --resume), {}",
                path.display(),
                crate::run::start_over_hint(state.scope.as_deref(), sections)
            )
        } else {
            continue;
        };
        plan.problems.push(Problem {
            kind: ProblemKind::UnfinishedRun,
            message,
        });
    }
    if resume && any && !options.data_only {
        for at in not_started {
            let plan = &mut report.lines[at];
            let objects = plan.target.as_ref().map_or(0, |t| t.user_objects);
            if objects > 0 {
                plan.problems.push(Problem {
                    kind: ProblemKind::TargetNotEmpty,
                    message: format!(
                        "the target is not empty ({objects} objects) and the stopped run had \
                         not started this line (it has no journal): run --resume starts it \
                         afresh into an empty target only"
                    ),
                });
            }
        }
    }
    if resume && !any {
        for plan in &mut report.lines {
            plan.problems.push(Problem {
                kind: ProblemKind::UnfinishedRun,
                message: format!(
                    "nothing to resume: no run journal for any target of the mapping in {} \
                     (a journal is found by its target's user, host, port and database as \
                     the mapping writes them: `localhost` is not `127.0.0.1`)",
                    work_dir.display()
                ),
            });
        }
    }
}

/// Why `run --resume` refuses `line`'s target, `before` in its journal: it is gone, or
/// another database now (as [`crate::run`] checks it).
async fn replaced_target(line: &MappingLine, before: &pgsplit_pg::DatabasePin) -> Option<String> {
    let conn = match session::open(&line.target).await {
        Ok(conn) => conn,
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::INVALID_CATALOG_NAME) => {
            return Some(format!(
                "cannot resume: the target database {} the stopped run wrote into does not \
                 exist any more",
                line.target.dbname
            ));
        }
        // Unreachable: the target's facts say so.
        Err(_) => return None,
    };
    let now = pgsplit_pg::database_pin(&conn.client, before.system.is_some())
        .await
        .ok()?;
    (!now.same_as(before)).then(|| {
        format!(
            "cannot resume: the target database {} is another than the stopped run wrote into \
             (was {before}, now {now}: dropped and made again since, or another server \
             answers at its address)",
            line.target.dbname
        )
    })
}

/// Plans every line of the mapping at once.
pub async fn plan(mapping: &Mapping, options: PlanOptions) -> PlanReport {
    let mut lines = join_all(mapping.lines.iter().map(|line| plan_line(line, options))).await;
    let groups = session::by_source_database(mapping).await;
    shards_taken_twice(mapping, &groups, &mut lines);
    let untaken = untaken_tables(mapping, &groups, &lines);
    PlanReport {
        mapping: mapping.path.display().to_string(),
        lines,
        untaken,
    }
}

/// For each source database whose lines are all splits that could be planned: the
/// tables none of them takes.
fn untaken_tables(mapping: &Mapping, groups: &[Vec<usize>], lines: &[LinePlan]) -> Vec<Untaken> {
    let mut out = Vec::new();
    for group in groups {
        let splits: Option<Vec<&SplitFacts>> =
            group.iter().map(|&i| lines[i].split.as_ref()).collect();
        let Some(splits) = splits else { continue };
        let mut shares = Shares::default();
        for (&i, split) in group.iter().zip(splits) {
            let sharded = shares.intern(split.sharded.clone());
            shares.add(Share {
                shard: mapping.lines[i].selector.shard.clone(),
                not_taken: split.not_taken.clone(),
                objects_not_taken: split.objects_not_taken.clone(),
                sharded,
                whole: split
                    .tables
                    .iter()
                    .filter(|t| t.filter.is_none())
                    .map(|t| format!("{}.{}", t.schema, t.name))
                    .collect(),
            });
        }
        let numbers = group.iter().map(|&i| lines[i].line).collect();
        out.extend(shares.untaken(&lines[group[0]].source_url, numbers));
    }
    out
}

/// A set of tables, one copy shared by every line that has the same ([`Shares::intern`]).
pub(crate) type Tables = std::sync::Arc<std::collections::BTreeSet<(String, String)>>;

/// What one line of a split takes of its source, as [`Shares`] needs it.
#[derive(Debug, Default)]
pub(crate) struct Share {
    pub shard: Option<crate::split::Shard>,
    /// The source's tables it does not take, with their sizes.
    pub not_taken: std::collections::BTreeMap<(String, String), i64>,
    /// [`standalone_objects`] of the source its schema does not write.
    pub objects_not_taken: std::collections::BTreeSet<String>,
    /// The tables its shard cuts.
    pub sharded: Tables,
    /// `schema.name` of the tables it copies whole.
    pub whole: std::collections::BTreeSet<String>,
}

/// The [`Share`]s of the lines of one split source, added one at a time, kept only as
/// far as [`Shares::untaken`] needs them: what none of them takes so far (an
/// intersection), what some copies whole (a union), and each line's shard with the
/// tables it cuts, one copy of each different set of tables. So a split into many lines
/// holds about one line's worth of names, not one per line.
#[derive(Debug, Default)]
pub(crate) struct Shares {
    added: usize,
    not_taken: std::collections::BTreeMap<(String, String), i64>,
    objects_not_taken: std::collections::BTreeSet<String>,
    whole: std::collections::BTreeSet<String>,
    cuts: Vec<(crate::split::Shard, Tables)>,
    distinct: std::collections::HashSet<Tables>,
}

impl Shares {
    /// `tables` as one copy shared with every equal set interned before.
    pub fn intern(&mut self, tables: std::collections::BTreeSet<(String, String)>) -> Tables {
        if let Some(known) = self.distinct.get(&tables) {
            return known.clone();
        }
        let tables = Tables::new(tables);
        self.distinct.insert(tables.clone());
        tables
    }

    pub fn add(&mut self, share: Share) {
        if self.added == 0 {
            self.not_taken = share.not_taken;
            self.objects_not_taken = share.objects_not_taken;
        } else {
            self.not_taken
                .retain(|t, _| share.not_taken.contains_key(t));
            self.objects_not_taken
                .retain(|o| share.objects_not_taken.contains(o));
        }
        self.added += 1;
        self.whole.extend(share.whole);
        if let Some(shard) = share.shard {
            self.cuts.push((shard, share.sharded));
        }
    }

    /// The lines added so far.
    pub fn len(&self) -> usize {
        self.added
    }

    /// What no line of the split source (lines `lines`) takes: tables, shards of
    /// tables, objects. `None` when they take everything (or no line was added).
    pub fn untaken(self, source_url: &str, lines: Vec<usize>) -> Option<Untaken> {
        if self.added == 0 {
            return None;
        }
        let shards = untaken_shards(&self.cuts, &self.whole);
        let mut tables: Vec<UntakenTable> = self
            .not_taken
            .into_iter()
            .map(|((schema, name), bytes)| UntakenTable {
                name: format!("{schema}.{name}"),
                bytes,
            })
            .collect();
        let objects: Vec<String> = self.objects_not_taken.into_iter().collect();
        if tables.is_empty() && shards.is_empty() && objects.is_empty() {
            return None;
        }
        tables.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
        Some(Untaken {
            source_url: source_url.to_string(),
            lines,
            tables,
            shards,
            objects,
        })
    }
}

/// Per table some line cuts by its shard key (`cuts`: each line's shard and the tables it
/// cuts) and no line copies whole (`whole`): the hash values no line takes, as
/// remainders of the least common multiple of the moduli the lines cut it by (`0/2` and
/// `1/4` leave `3/4`), tables with the same ones together. (Lines sharding one table by
/// different keys, or overlapping, are problems of their own.)
fn untaken_shards(
    cuts: &[(crate::split::Shard, Tables)],
    whole: &std::collections::BTreeSet<String>,
) -> Vec<UntakenShards> {
    use std::collections::BTreeMap;
    // The lines cutting one set of tables (most of a shard split's lines cut the same):
    // per distinct set, its key and each cutting line's (modulus, remainder).
    struct Cut<'a> {
        tables: &'a Tables,
        key: &'a str,
        taken: Vec<(u32, u32)>,
    }
    let mut by_set: Vec<Cut> = Vec::new();
    for (shard, tables) in cuts {
        let taken = (shard.modulus, shard.remainder);
        match by_set.iter_mut().find(|c| Tables::ptr_eq(c.tables, tables)) {
            Some(cut) => cut.taken.push(taken),
            None => by_set.push(Cut {
                tables,
                key: &shard.key,
                taken: vec![taken],
            }),
        }
    }
    // Per table: the sets it is in, so tables cut the same way are checked once.
    let mut sets_of: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (at, cut) in by_set.iter().enumerate() {
        for (schema, name) in cut.tables.iter() {
            sets_of
                .entry(format!("{schema}.{name}"))
                .or_default()
                .push(at);
        }
    }
    type ByCuts<'a> = BTreeMap<(&'a str, Vec<(u32, u32)>), Vec<String>>;
    let mut by_sets: BTreeMap<Vec<usize>, Vec<String>> = BTreeMap::new();
    for (table, sets) in sets_of {
        if !whole.contains(&table) {
            by_sets.entry(sets).or_default().push(table);
        }
    }
    let mut by_cuts: ByCuts = BTreeMap::new();
    for (sets, tables) in by_sets {
        let key = by_set[sets[0]].key;
        let mut taken: Vec<(u32, u32)> = sets
            .iter()
            .flat_map(|&at| by_set[at].taken.iter().copied())
            .collect();
        taken.sort_unstable();
        taken.dedup();
        by_cuts.entry((key, taken)).or_default().extend(tables);
    }
    let mut missing: BTreeMap<(&str, u32, Vec<u32>), Vec<String>> = BTreeMap::new();
    for ((key, taken), tables) in by_cuts {
        // A row's shard is its hash modulo the modulus, so modulo a multiple of every
        // modulus it tells every line's.
        let Some(modulus) = taken
            .iter()
            .try_fold(1u64, |l, &(m, _)| {
                let l = l / gcd(l, u64::from(m)) * u64::from(m);
                (l <= MAX_COVERAGE_MODULUS).then_some(l)
            })
            .and_then(|l| u32::try_from(l).ok())
        else {
            continue;
        };
        let remainders: Vec<u32> = (0..modulus)
            .filter(|h| !taken.iter().any(|&(m, r)| h % m == r))
            .collect();
        if !remainders.is_empty() {
            missing
                .entry((key, modulus, remainders))
                .or_default()
                .extend(tables);
        }
    }
    missing
        .into_iter()
        .map(|((key, modulus, remainders), mut tables)| {
            tables.sort();
            UntakenShards {
                key: key.to_string(),
                modulus,
                remainders,
                tables,
            }
        })
        .collect()
}

/// The largest common modulus [`untaken_shards`] checks the remainders of.
const MAX_COVERAGE_MODULUS: u64 = 1 << 16;

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Lines of one source whose shards overlap on a table both cut ([`crate::split::overlapping_shards`]):
/// those rows would be copied twice (and, likely, another remainder's nowhere).
fn shards_taken_twice(mapping: &Mapping, groups: &[Vec<usize>], lines: &mut [LinePlan]) {
    for group in groups {
        let cuts: Vec<_> = group
            .iter()
            .filter_map(|&i| {
                let shard = mapping.lines[i].selector.shard.as_ref()?;
                let sharded = &lines[i].split.as_ref()?.sharded;
                Some((mapping.lines[i].line, shard, sharded))
            })
            .collect();
        let found = crate::split::overlapping_shards(&cuts);
        for (number, message) in found {
            if let Some(line) = lines.iter_mut().find(|l| l.line == number) {
                line.problems.push(Problem {
                    kind: ProblemKind::ShardTakenTwice,
                    message,
                });
            }
        }
    }
}

async fn plan_line(line: &MappingLine, mut options: PlanOptions) -> LinePlan {
    // The target first: the source's DDL is written for its version.
    let target = target_facts(line).await;
    options.target_version = target.as_ref().ok().map(|t| t.server_version_num);
    let source = source_facts(line, options).await;
    let (source, split, data_only) = match source {
        Ok((facts, split, data_only)) => (Ok(facts), split, data_only),
        Err(e) => (Err(e), None, None),
    };
    let mut problems = Vec::new();
    let source = source
        .map_err(|e| {
            problems.push(Problem {
                kind: ProblemKind::SourceUnreachable,
                message: format!("source: {e}"),
            })
        })
        .ok();
    let mut target = target
        .map_err(|e| {
            problems.push(Problem {
                kind: ProblemKind::TargetUnreachable,
                message: format!("target: {e}"),
            })
        })
        .ok();
    if let Some(t) = target.as_mut() {
        if t.database_exists && target_is_source(line).await {
            problems.push(Problem {
                kind: ProblemKind::TargetIsSource,
                message: "the target is the source database itself, reached by another \
                          address: a run refuses it (with --clean it would drop the source)"
                    .into(),
            });
        }
        problems.extend(read_only_problem(t));
        if !options.data_only {
            problems.extend(target_problems(source.as_ref(), t, options));
        } else if !t.database_exists {
            problems.push(Problem {
                kind: ProblemKind::DataOnlyMismatch,
                message: "the target database does not exist: --data-only loads into tables \
                          that are already there"
                    .into(),
            });
        } else if let Some(share) = &data_only {
            if !t.superuser && !t.parameters.granted("session_replication_role") {
                problems.push(Problem {
                    kind: ProblemKind::DataOnlyMismatch,
                    message: "--data-only loads with triggers and foreign keys off \
                              (session_replication_role = replica), which needs a superuser \
                              (or, on 15+, GRANT SET ON PARAMETER session_replication_role \
                              TO the role)"
                        .into(),
                });
            }
            match crate::run::data_only_mismatch(line, share, options.allow_non_empty).await {
                Ok(None) => {}
                Ok(Some(why)) => problems.push(Problem {
                    kind: ProblemKind::DataOnlyMismatch,
                    message: why,
                }),
                Err(e) => problems.push(Problem {
                    kind: ProblemKind::TargetUnreachable,
                    message: e,
                }),
            }
        }
    }
    if let Some(s) = &source {
        let chosen = match &split {
            Some(Ok(facts)) => Some(&facts.tables),
            _ => None,
        };
        let unreadable: Vec<&(String, String)> = s
            .unreadable
            .iter()
            .filter(|(schema, name)| {
                chosen.is_none_or(|tables| {
                    tables
                        .iter()
                        .any(|t| &t.schema == schema && &t.name == name)
                })
            })
            .collect();
        problems.extend(unreadable_problem(unreadable, s.unreadable_large_objects));
    }
    match &split {
        Some(Err(message)) => problems.push(Problem {
            kind: ProblemKind::Selection,
            message: message.clone(),
        }),
        Some(Ok(facts)) if !facts.cross_target_fks.is_empty() && !options.drop_cross_target_fks => {
            problems.push(Problem {
                kind: ProblemKind::CrossTarget,
                message: format!(
                    "foreign keys would point into another target (the run refuses them unless \
                     --drop-cross-target-fks leaves them out): {}",
                    facts.cross_target_fks.join("; ")
                ),
            })
        }
        _ => {}
    }
    let mut plan = LinePlan {
        line: line.line,
        source_url: line.source.to_string(),
        target_url: line.target.to_string(),
        source,
        target,
        split: split.and_then(Result::ok),
        problems,
        notes: Vec::new(),
    };
    if let (Some(s), Some(t)) = (&plan.source, &plan.target) {
        plan.notes = collation_notes(&plan, s, t);
    }
    plan
}

/// The problem of tables and large objects the source role may not read, if any.
fn unreadable_problem(tables: Vec<&(String, String)>, large_objects: i64) -> Option<Problem> {
    let mut what: Vec<String> = Vec::new();
    if !tables.is_empty() {
        let names: Vec<String> = tables.iter().map(|(s, n)| format!("{s}.{n}")).collect();
        what.push(format!(
            "the rows of {} (it needs SELECT on them, and, where row-level security is on, \
             to own them or BYPASSRLS)",
            names.join(", ")
        ));
    }
    if large_objects > 0 {
        what.push(format!(
            "{large_objects} large object(s) (it needs SELECT on them, or to own them)"
        ));
    }
    (!what.is_empty()).then(|| Problem {
        kind: ProblemKind::SourceUnreadable,
        message: format!("the source role may not read {}", what.join("; ")),
    })
}

/// How many large objects the source role may not read: it is no superuser, and
/// neither owns one (or is a member of its owner) nor was granted SELECT on it.
pub async fn unreadable_large_objects(client: &Client) -> Result<i64, tokio_postgres::Error> {
    Ok(client
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_largeobject_metadata m \
              WHERE NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) \
                AND NOT current_setting('lo_compat_privileges')::bool \
                AND NOT pg_catalog.pg_has_role(m.lomowner, 'USAGE') \
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(m.lomacl) a \
                                 WHERE a.privilege_type = 'SELECT' \
                                   AND (a.grantee = 0 \
                                        OR pg_catalog.pg_has_role(a.grantee, 'USAGE')))",
            &[],
        )
        .await?
        .get(0))
}

/// The tables whose rows the source role may not read all of: without `SELECT`, or under
/// row-level security it does not bypass (a copy reads with `row_security = off`, which
/// fails where a policy would apply). Leaf tables of user schemas, as a copy reads them.
pub async fn unreadable_tables(
    client: &Client,
) -> Result<Vec<(String, String)>, tokio_postgres::Error> {
    Ok(client
        .query(include_str!("unreadable_tables.sql"), &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// Whether `line`'s target reaches its source database ([`session::is_the_source`]).
async fn target_is_source(line: &MappingLine) -> bool {
    let Ok(source) = session::open(&line.source).await else {
        return false;
    };
    let Ok(snapshot) = pgsplit_copy::snapshot::export(&source.client).await else {
        return false;
    };
    let Ok(target) = session::open(&line.target).await else {
        return false;
    };
    session::is_the_source(&target, &snapshot).await
}

/// The problems between a source (when it could be read) and a target it could reach:
/// what `plan` lists, and what a run checks before it writes ([`run_problems`]).
fn target_problems(
    source: Option<&SourceFacts>,
    t: &mut TargetFacts,
    options: PlanOptions,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    if t.user_objects > 0 && !options.allow_non_empty {
        problems.push(Problem {
            kind: ProblemKind::TargetNotEmpty,
            message: format!(
                "target database is not empty ({} objects); use --clean to replace them or --resume to continue a run",
                t.user_objects
            ),
        });
    }
    let cleaned = options.clean && t.user_objects > 0;
    if cleaned && !(t.creates_databases && t.owns_database) {
        let lacks = if t.owns_database {
            "may not create databases"
        } else {
            "does not own it (only its owner may drop it)"
        };
        problems.push(Problem {
            kind: ProblemKind::CannotCreate,
            message: format!(
                "--clean drops the target database and creates it again, and the target role \
                 {lacks}"
            ),
        });
    } else if !cleaned
        && !t.can_create
        && (!t.database_exists || source.is_none_or(|s| s.creates_in_database))
    {
        problems.push(Problem {
            kind: ProblemKind::CannotCreate,
            message: if t.database_exists {
                "the target role lacks CREATE on the target database".into()
            } else {
                "the target database does not exist and the role may not create databases".into()
            },
        });
    }
    if let Some(s) = source
        && t.server_version_num / 10000 < s.server_version_num / 10000
    {
        problems.push(Problem {
            kind: ProblemKind::TargetOlder,
            message: format!(
                "target PostgreSQL {} is an older major version than source {}",
                t.server_version, s.server_version
            ),
        });
    }
    let mut refused: Vec<String> = source
        .into_iter()
        .flat_map(|s| &s.refused_by_newer_versions)
        .filter(|(since, _)| t.server_version_num >= *since)
        .map(|(_, what)| what.clone())
        .collect();
    let (lacking, not_settable) = source
        .map(|s| function_parameters(s, t))
        .unwrap_or_default();
    refused.extend(lacking);
    if let Some(s) = source.filter(|s| !t.lz4 && !s.lz4_users.is_empty()) {
        refused.push(format!(
            "columns compressed with lz4, which this server was built without ({}; \
             ALTER TABLE … ALTER COLUMN … SET COMPRESSION pglz)",
            s.lz4_users.join(", ")
        ));
    }
    if !refused.is_empty() {
        problems.push(Problem {
            kind: ProblemKind::TargetCannotHold,
            message: format!(
                "PostgreSQL {} refuses what the source has (change it on the source first): {}",
                t.server_version,
                refused.join("; ")
            ),
        });
    }
    if let Some(s) = source.filter(|s| !s.found_by_search_path.is_empty()) {
        problems.push(Problem {
            kind: ProblemKind::FoundBySearchPath,
            message: format!(
                "the target runs functions that find objects by the search_path, which \
                 pgsplit leaves empty there, as pg_restore does, and the run will fail there \
                 (qualify the names in their bodies, or give them their own search_path: \
                 ALTER FUNCTION … SET search_path = … on the source): {}",
                s.found_by_search_path.join("; ")
            ),
        });
    }
    if !not_settable.is_empty() {
        problems.push(Problem {
            kind: ProblemKind::TargetCannotHold,
            message: format!(
                "the target role may not set parameters that functions of the source set \
                 (run as a superuser, or GRANT SET ON PARAMETER … TO the role on 15+): {}",
                not_settable.join("; ")
            ),
        });
    }
    if let Some(s) = source {
        // What the run writes: what needs a superuser is skipped when the target role is
        // none, and needs nothing of the target then.
        let written = |needs_superuser: bool| t.superuser || !needs_superuser;
        t.missing_extensions = s
            .extension_statements
            .iter()
            .filter(|(name, su)| written(*su) && !t.available_extensions.contains(name))
            .map(|(name, _)| name.clone())
            .collect();
        for name in &t.missing_extensions {
            problems.push(Problem {
                kind: ProblemKind::ExtensionMissing,
                message: format!(
                    "extension {name} is used by the source but not available on the target server"
                ),
            });
        }
        let owners: std::collections::BTreeSet<&String> = s
            .owner_statements
            .iter()
            .filter(|(_, su)| written(*su))
            .map(|(role, _)| role)
            .chain(&s.large_object_owners)
            .collect();
        let needed: std::collections::BTreeSet<&String> =
            s.base_roles.iter().chain(owners.iter().copied()).collect();
        t.missing_roles = needed
            .into_iter()
            // Predefined roles (pg_*) differ between versions and are never copied.
            .filter(|r| !r.starts_with("pg_") && !t.roles.contains(r))
            .cloned()
            .collect();
        if !t.missing_roles.is_empty() {
            let (what, way_out) = if options.no_owner && options.no_acl {
                ("row-level security policies name", "create them first")
            } else {
                (
                    "schema names",
                    "create them first, or run with --no-owner --no-acl (policies still need theirs)",
                )
            };
            problems.push(Problem {
                kind: ProblemKind::RolesMissing,
                message: format!(
                    "roles the source {what} do not exist on the target: {} (roles are global and pgsplit does not create them: {way_out})",
                    t.missing_roles.join(", ")
                ),
            });
        }
        let unreachable: Vec<&str> = owners
            .iter()
            .filter(|o| t.roles.contains(o) && !t.member_of.contains(o))
            .map(|o| o.as_str())
            .collect();
        if !t.superuser && !unreachable.is_empty() {
            problems.push(Problem {
                kind: ProblemKind::CannotSetOwners,
                message: format!(
                    "the target role is no superuser and may not make objects owned by {} \
                     (it must be a member of each, inheriting its privileges, and from 16 on \
                     with SET); run with --no-owner, or as such a member",
                    unreachable.join(", ")
                ),
            });
        }
        if !s.cannot_copy.is_empty() {
            problems.push(Problem {
                kind: ProblemKind::CannotCopy,
                message: format!("pgsplit cannot copy: {}", s.cannot_copy.join("; ")),
            });
        }
        let mut needs_superuser = s.superuser_objects.clone();
        needs_superuser.extend(
            s.database_settings
                .iter()
                .filter(|(name, _)| t.parameters.superuser_only.contains(name))
                .map(|(_, identity)| identity.clone()),
        );
        if !t.superuser && !needs_superuser.is_empty() {
            problems.push(Problem {
                kind: ProblemKind::NeedsSuperuser,
                message: if options.strict {
                    format!(
                        "--strict: {} object(s) need a superuser on the target: {}",
                        needs_superuser.len(),
                        needs_superuser.join(", ")
                    )
                } else {
                    format!(
                        "{} object(s) need a superuser on the target and will be skipped (or fail the run with --strict): {}",
                        needs_superuser.len(),
                        needs_superuser.join(", ")
                    )
                },
            });
        }
        if !s.unsupported.is_empty() {
            problems.push(Problem {
                kind: ProblemKind::Unsupported,
                message: format!(
                    "objects pgsplit does not copy: {}",
                    s.unsupported.join(", ")
                ),
            });
        }
    }
    problems
}

impl ProblemKind {
    /// Whether a run refuses a target with this problem before writing to it: each would
    /// fail the run part-way, after the target database was made. Not: a non-empty target
    /// (the run checks it, knowing `--clean` and `--resume`), objects that need a
    /// superuser or that pgsplit does not copy (skipped and listed), and what the run
    /// checks of a split itself.
    pub fn stops_a_run(self) -> bool {
        matches!(
            self,
            ProblemKind::TargetOlder
                | ProblemKind::TargetCannotHold
                | ProblemKind::ExtensionMissing
                | ProblemKind::CannotCreate
                | ProblemKind::RolesMissing
                | ProblemKind::CannotSetOwners
                | ProblemKind::SourceUnreadable
                | ProblemKind::CannotCopy
                | ProblemKind::DataOnlyMismatch
                | ProblemKind::TargetReadOnly
        )
    }
}

/// The line's functions that `SET` a parameter the target refuses them: one its server
/// lacks (only between major versions: 13's `force_parallel_mode` on 16+), and one the
/// target role may not set (superuser-only ones; on 15+ also custom `a.b` ones the server
/// does not define), each as `function f() sets x` with why.
fn function_parameters(s: &SourceFacts, t: &TargetFacts) -> (Vec<String>, Vec<String>) {
    let listed = |list: &[String], name: &str| list.iter().any(|p| p.eq_ignore_ascii_case(name));
    let (mut lacking, mut not_settable) = (Vec::new(), Vec::new());
    let p = &t.parameters;
    if p.shown.is_empty() {
        return (lacking, not_settable);
    }
    let other_major = s.server_version_num / 10000 != t.server_version_num / 10000;
    for (name, what) in &s.function_parameters {
        let custom = name.contains('.');
        // pg_settings hides `role`, `seed` and `session_authorization` from everyone, and
        // superuser-only parameters from most roles: only names the source shows count.
        let shown_on_source = listed(&s.parameters, name);
        let shown_on_target = listed(&p.shown, name);
        if !custom && shown_on_source && !shown_on_target && !p.granted(name) {
            if p.sees_all {
                if other_major {
                    lacking.push(format!(
                        "{what} sets parameter {name}, which this server does not have"
                    ));
                }
            } else {
                not_settable.push(format!(
                    "{what} sets {name} (not in the role's pg_settings: superuser-only{})",
                    if other_major {
                        ", or gone in this version"
                    } else {
                        ""
                    }
                ));
            }
        } else if t.superuser {
            continue;
        } else if listed(&p.superuser_only, name) {
            not_settable.push(format!("{what} sets {name} (superuser-only)"));
        } else if custom && !shown_on_target && !p.granted(name) && t.server_version_num >= 150000 {
            not_settable.push(format!(
                "{what} sets {name} (a custom parameter this server does not define)"
            ));
        }
    }
    (lacking, not_settable)
}

/// What a run checks before it writes to `line`'s target: the plan's problems that
/// [`ProblemKind::stops_a_run`], for `ddl` (the line's share of `catalog`), the tables
/// whose rows it copies and the large objects (unless `--schema-only`: `copies_rows`),
/// and the source database's own statements (`level`). With `--data-only`
/// (`!writes_schema`), only whether the source role may read the tables. A target that
/// cannot be reached has none here: connecting to it tells why.
#[allow(clippy::too_many_arguments)]
pub async fn run_problems(
    line: &MappingLine,
    source: &Client,
    catalog: &pgsplit_schema::Catalog,
    ddl: &pgsplit_schema::Ddl,
    tables: &[pgsplit_copy::SourceTable],
    copies_rows: bool,
    writes_schema: bool,
    level: &crate::database::DatabaseLevel,
    options: PlanOptions,
) -> Result<Vec<Problem>, tokio_postgres::Error> {
    let (unreadable, unreadable_objects, large_objects) = if copies_rows {
        (
            unreadable_tables(source).await?,
            unreadable_large_objects(source).await?,
            large_object_roles(source).await?,
        )
    } else {
        (Vec::new(), 0, Vec::new())
    };
    let unreadable = unreadable_problem(
        unreadable
            .iter()
            .filter(|(schema, name)| {
                tables
                    .iter()
                    .any(|t| &t.schema == schema && &t.name == name)
            })
            .collect(),
        unreadable_objects,
    );
    if !writes_schema {
        return Ok(unreadable.into_iter().collect());
    }
    let Ok(mut target) = target_facts(line).await else {
        return Ok(unreadable.into_iter().collect());
    };
    let version = source
        .query_one("SELECT current_setting('server_version')", &[])
        .await?;
    let mut facts = SourceFacts {
        server_version: version.get(0),
        server_version_num: catalog.server_version_num(),
        refused_by_newer_versions: met(
            &catalog.refused_by_newer_versions(),
            (!line.selector.is_everything()).then_some(ddl),
        ),
        parameters: shown_parameters(source).await?,
        ..SourceFacts::default()
    };
    // The database's own statements are skipped when the target refuses them.
    DatabaseNeeds::of(
        level,
        &large_objects,
        false,
        catalog,
        line,
        options,
        &mut facts,
    )
    .needs_of(ddl, &mut facts);
    if !copies_rows {
        facts.cannot_copy.clear();
    }
    Ok(unreadable
        .into_iter()
        .chain(read_only_problem(&target))
        .chain(target_problems(Some(&facts), &mut target, options))
        .filter(|p| {
            p.kind.stops_a_run() || (options.strict && p.kind == ProblemKind::NeedsSuperuser)
        })
        .collect())
}

fn read_only_problem(t: &TargetFacts) -> Option<Problem> {
    t.read_only.then(|| Problem {
        kind: ProblemKind::TargetReadOnly,
        message: "the target takes no writes: it is a standby, or its database or role sets \
                  default_transaction_read_only (with several hosts, \
                  target_session_attrs=read-write picks the primary)"
            .into(),
    })
}

/// What a newer version refuses that a line meets: all of it for a whole copy, what the
/// statements of its `share` bring for a line of a split.
fn met(
    refusals: &[pgsplit_schema::Refusal],
    share: Option<&pgsplit_schema::Ddl>,
) -> Vec<(i32, String)> {
    refusals
        .iter()
        .filter(|r| share.is_none_or(|share| r.met_by(share)))
        .map(|r| (r.since, r.what.clone()))
        .collect()
}

/// A database error on `server` as the plain message plan reports.
fn failed_on(server: &str) -> impl Fn(tokio_postgres::Error) -> String + '_ {
    move |e| format!("{server}: {}", pgsplit_pg::cause_chain(&e))
}

/// Errors as plain messages: plan reports them, it never stops on them.
type FactResult<T> = Result<T, String>;

type SplitResult = Option<Result<SplitFacts, String>>;

/// What plan read of a line's source: its facts, its split (for a split line) and, with
/// `--data-only`, what the run would load ([`crate::run::DataOnlyShare`]; `None` when the
/// selection does not fit, which the split tells).
type SourceRead = (SourceFacts, SplitResult, Option<crate::run::DataOnlyShare>);

async fn source_facts(line: &MappingLine, options: PlanOptions) -> FactResult<SourceRead> {
    let conn = session::open(&line.source)
        .await
        .map_err(|e| e.to_string())?;
    let mut facts = read_source_facts(&conn.client)
        .await
        .map_err(failed_on(&conn.server))?;
    let catalog = pgsplit_schema::introspect(&conn.client)
        .await
        .map_err(|e| format!("{}: reading the schema: {e:#}", conn.server))?;
    let refusals = catalog.refused_by_newer_versions();
    facts.refused_by_newer_versions = met(&refusals, None);
    let search_path_uses = catalog.found_by_search_path();
    facts.found_by_search_path = search_path_uses.iter().map(|u| u.what.clone()).collect();
    facts.unreadable = unreadable_tables(&conn.client)
        .await
        .map_err(failed_on(&conn.server))?;
    facts.unreadable_large_objects = unreadable_large_objects(&conn.client)
        .await
        .map_err(failed_on(&conn.server))?;
    facts.collated_keys = collated_keys(&conn.client, facts.server_version_num).await;
    if !facts.collated_keys.is_empty() {
        facts.collation_versions = CollationVersions::read(&conn.client).await;
    }
    let ddl = catalog.render(&pgsplit_schema::SchemaOptions {
        no_owner: options.no_owner,
        no_acl: options.no_acl,
        target_version: options.target_version,
    });
    // Tables the run copies: not those it leaves out (children of foreign tables).
    facts.tables -= ddl.left_out_tables() as i64;
    facts
        .largest_tables
        .retain(|t| !ddl.leaves_out_table(&t.schema, &t.name));
    // What the run gives the target database last: the roles its owner, privileges and
    // settings name, and grants only a superuser can replay.
    let level = crate::database::DatabaseLevel::read(&conn.client)
        .await
        .map_err(failed_on(&conn.server))?;
    let large_objects = large_object_roles(&conn.client)
        .await
        .map_err(failed_on(&conn.server))?;
    let database = DatabaseNeeds::of(
        &level,
        &large_objects,
        true,
        &catalog,
        line,
        options,
        &mut facts,
    );
    database.needs_of(&ddl, &mut facts);
    let split_line = !line.selector.is_everything();
    let tables = if split_line || options.data_only {
        pgsplit_copy::tables::read_tables(&conn.client)
            .await
            .map_err(failed_on(&conn.server))?
    } else {
        Vec::new()
    };
    let data_only = options
        .data_only
        .then(|| crate::run::data_only_share(line, &catalog, &tables, options))
        .flatten();
    if !split_line {
        return Ok((facts, None, data_only));
    }
    let split = match split_facts(line, &catalog, &tables, options, &ddl) {
        Ok((mut split, share, resolved)) => {
            // The line's share of the schema, not the whole source's.
            database.needs_of(&share, &mut facts);
            facts.refused_by_newer_versions = met(&refusals, Some(&share));
            facts.found_by_search_path = search_path_uses
                .iter()
                .filter(|u| u.met_by(&share))
                .map(|u| u.what.clone())
                .collect();
            let held =
                conditions_hold(&conn.client, &catalog, &tables, &line.selector, &resolved).await;
            if held.is_ok() {
                estimate_shares(&conn.client, &mut split).await;
            }
            held.map(|()| split)
        }
        Err(e) => {
            // No share to check: what the whole source holds would only bury the error.
            facts.refused_by_newer_versions.clear();
            facts.found_by_search_path.clear();
            Err(e)
        }
    };
    Ok((facts, Some(split), data_only))
}

/// [`crate::split::check_conditions`] and [`crate::split::check_foreign_keys`], in a
/// read-only transaction of their own.
async fn conditions_hold(
    client: &tokio_postgres::Client,
    catalog: &pgsplit_schema::Catalog,
    tables: &[pgsplit_copy::SourceTable],
    selector: &crate::split::Selector,
    resolved: &crate::split::Resolved,
) -> Result<(), String> {
    client
        .batch_execute("BEGIN READ ONLY")
        .await
        .map_err(|e| pgsplit_pg::cause_chain(&e))?;
    let checked = match crate::split::check_conditions(client, selector, resolved).await {
        Ok(()) => {
            crate::split::check_foreign_keys(client, catalog, tables, selector, resolved).await
        }
        Err(e) => Err(e),
    };
    let _ = client.batch_execute("ROLLBACK").await;
    checked
}

/// The rows of each table of `split` as the source's planner estimates them: with its
/// filter (the whole table's count said nothing of a shard's share), or, for a table
/// never analyzed (no count at all), from its size. In a read-only transaction, with
/// the copies' search_path.
async fn estimate_shares(client: &Client, split: &mut SplitFacts) {
    if client
        .batch_execute("BEGIN READ ONLY; SET LOCAL search_path = pg_catalog")
        .await
        .is_err()
    {
        return;
    }
    for t in &mut split.tables {
        if let (Some((modulus, parts)), Some(filter)) = (&t.shard, &t.filter) {
            // The planner knows nothing of the hash expression (it guesses 0.5% of the
            // rows whatever the modulus); a hash spreads the rows evenly: the rest of
            // the filter's rows, over the modulus.
            let rest = parts
                .iter()
                .fold(filter.clone(), |f, part| f.replace(part.as_str(), "true"));
            let all =
                if rest == "true" && (t.estimated_rows > 0 || t.bytes <= UNCOUNTED_ABOVE_BYTES) {
                    Some(t.estimated_rows.max(0))
                } else {
                    let sql = format!(
                        "EXPLAIN SELECT FROM ONLY {} WHERE {rest}",
                        pgsplit_pg::quote::qualified(&t.schema, &t.name)
                    );
                    explain_rows(client, &sql).await
                };
            if let Some(all) = all {
                t.estimated_rows = all / i64::from(*modulus);
            }
            continue;
        }
        let condition = match &t.filter {
            Some(filter) => format!(" WHERE {filter}"),
            None if t.estimated_rows <= 0 && t.bytes > UNCOUNTED_ABOVE_BYTES => String::new(),
            None => continue,
        };
        let sql = format!(
            "EXPLAIN SELECT FROM ONLY {}{condition}",
            pgsplit_pg::quote::qualified(&t.schema, &t.name)
        );
        if let Some(rows) = explain_rows(client, &sql).await {
            t.estimated_rows = rows;
        }
    }
    let _ = client.batch_execute("ROLLBACK").await;
    split.estimated_rows = split.tables.iter().map(|t| t.estimated_rows).sum();
}

/// A table this large with no rows counted was never analyzed (an empty one is a few
/// pages at most, indexes included).
const UNCOUNTED_ABOVE_BYTES: i64 = 64 * 1024;

/// The row estimate of the top node of `EXPLAIN` `sql` (`… rows=326 width=0)`).
async fn explain_rows(client: &Client, sql: &str) -> Option<i64> {
    let messages = client.simple_query(sql).await.ok()?;
    let top = messages.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
        _ => None,
    })?;
    let after = &top[top.find(" rows=")? + " rows=".len()..];
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// What the database's own statements (owner, privileges, settings), which every target
/// gets, need of the target.
struct DatabaseNeeds {
    /// Roles that the database's own statements (plan only: a run skips those the target
    /// refuses) and the large objects name.
    roles: Vec<String>,
    no_acl: bool,
    /// The owners of large objects, unless `--no-owner`.
    large_object_owners: Vec<String>,
    /// Identities of those only a superuser can run.
    superuser: Vec<String>,
    /// Tables pgsplit cannot copy ([`pgsplit_schema::Catalog::hashed_on_enums`]).
    cannot_copy: Vec<(String, String, String)>,
}

impl DatabaseNeeds {
    /// What `level`, the source database's own statements, and the large objects need of
    /// `line`'s target; sets the facts' database settings. `large_objects`: the roles that
    /// own large objects (true) or were granted on them. `database_roles`: whether the
    /// roles the database's statements name count (a run skips what the target refuses).
    fn of(
        level: &crate::database::DatabaseLevel,
        large_objects: &[(String, bool)],
        database_roles: bool,
        catalog: &pgsplit_schema::Catalog,
        line: &MappingLine,
        options: PlanOptions,
        facts: &mut SourceFacts,
    ) -> DatabaseNeeds {
        facts.database_settings = level
            .settings
            .iter()
            .map(|s| (s.name.clone(), s.identity()))
            .collect();
        // With --no-owner --no-acl the plan names policies' roles only, as before.
        let mut roles = if database_roles && !(options.no_owner && options.no_acl) {
            level.roles(options.no_owner, options.no_acl)
        } else {
            Vec::new()
        };
        roles.extend(
            large_objects
                .iter()
                .filter(|(_, owns)| {
                    if *owns {
                        !options.no_owner
                    } else {
                        !options.no_acl
                    }
                })
                .map(|(role, _)| role.clone()),
        );
        DatabaseNeeds {
            roles,
            no_acl: options.no_acl,
            large_object_owners: large_objects
                .iter()
                .filter(|(_, owns)| *owns && !options.no_owner)
                .map(|(role, _)| role.clone())
                .collect(),
            superuser: level
                .statements(&line.target.dbname, options.no_owner, options.no_acl)
                .into_iter()
                .filter(|s| s.requires_superuser)
                .map(|s| s.identity)
                .collect(),
            cannot_copy: catalog.hashed_on_enums(),
        }
    }

    /// Sets what the target needs for `ddl` (the whole schema or a split line's share) and
    /// the database's statements, and what `ddl` leaves out.
    fn needs_of(&self, ddl: &pgsplit_schema::Ddl, facts: &mut SourceFacts) {
        use pgsplit_schema::{Ddl, ObjectKind};
        // Each statement with whether it needs a superuser, itself or through another.
        let all: Vec<(&pgsplit_schema::Statement, bool)> = [&ddl.pre_data, &ddl.post_data]
            .into_iter()
            .flat_map(|section| {
                section
                    .iter()
                    .zip(Ddl::superuser_needs(section))
                    .map(|(s, need)| (s, need.is_some()))
            })
            .collect();
        facts.owner_statements = all
            .iter()
            .filter_map(|(s, su)| s.owner_role().map(|role| (role, *su)))
            .collect();
        facts.function_parameters = all
            .iter()
            .filter(|(s, _)| s.kind == ObjectKind::Function)
            .flat_map(|(s, _)| {
                set_parameters(&s.sql)
                    .into_iter()
                    .map(|name| (name, s.identity.clone()))
            })
            .collect();
        facts.extension_statements = all
            .iter()
            .filter(|(s, _)| s.kind == ObjectKind::Extension)
            .filter_map(|(s, su)| {
                let name = s.identity.strip_prefix("extension ")?;
                Some((name.to_string(), *su))
            })
            .collect();
        let mut base: Vec<String> = ddl
            .policy_roles
            .iter()
            .chain(&self.roles)
            .cloned()
            .collect();
        if !self.no_acl {
            base.extend(ddl.grantees.iter().cloned());
        }
        base.sort();
        base.dedup();
        let mut roles: Vec<String> = base
            .iter()
            .cloned()
            .chain(facts.owner_statements.iter().map(|(r, _)| r.clone()))
            .collect();
        roles.sort();
        roles.dedup();
        facts.roles = roles;
        facts.base_roles = base;
        facts.policy_roles = ddl.policy_roles.clone();
        facts.large_object_owners = self.large_object_owners.clone();
        facts.superuser_objects = Ddl::describe_superuser_needs(&ddl.pre_data)
            .into_iter()
            .chain(Ddl::describe_superuser_needs(&ddl.post_data))
            .chain(self.superuser.iter().cloned())
            .collect();
        facts.unsupported = ddl.describe_not_copied();
        facts.lz4_users = ddl.lz4_users();
        facts.creates_in_database = all.iter().any(|(s, _)| {
            s.kind == ObjectKind::Extension
                || (s.kind == ObjectKind::Schema && s.sql.starts_with("CREATE SCHEMA"))
        });
        facts.cannot_copy = self
            .cannot_copy
            .iter()
            .filter(|(schema, name, _)| {
                let identity = format!("table {schema}.{name}");
                ddl.pre_data
                    .iter()
                    .any(|s| s.kind == ObjectKind::Table && s.identity == identity)
            })
            .map(|(_, _, why)| why.clone())
            .collect();
    }
}

/// The target's share of the split, and its share of what pgsplit does not copy.
fn split_facts(
    line: &MappingLine,
    catalog: &pgsplit_schema::Catalog,
    tables: &[pgsplit_copy::SourceTable],
    options: PlanOptions,
    whole: &pgsplit_schema::Ddl,
) -> Result<(SplitFacts, pgsplit_schema::Ddl, crate::split::Resolved), String> {
    let resolved = crate::split::resolve(&line.selector, catalog, tables)?;
    let (ddl, cross) = crate::split::render_share(
        catalog,
        &pgsplit_schema::SchemaOptions {
            no_owner: options.no_owner,
            no_acl: options.no_acl,
            target_version: options.target_version,
        },
        &resolved,
        options.data_only,
    )?;
    // A table the run leaves out (a child of a foreign table) copies no rows.
    let copied = |t: &&pgsplit_copy::SourceTable| {
        resolved
            .relations
            .contains(&(t.schema.clone(), t.name.clone()))
            && !ddl.leaves_out_table(&t.schema, &t.name)
    };
    let conditions = shard_conditions(&line.selector, tables);
    let chosen: Vec<SplitTable> = tables
        .iter()
        .filter(copied)
        .map(|t| {
            let filter = resolved
                .predicates
                .get(&(t.schema.clone(), t.name.clone()))
                .cloned();
            SplitTable {
                schema: t.schema.clone(),
                name: t.name.clone(),
                estimated_rows: t.estimated_rows as i64,
                bytes: t.bytes,
                shard: shard_parts(conditions.as_ref(), filter.as_deref()),
                filter,
            }
        })
        .collect();
    let not_taken = tables
        .iter()
        .filter(|t| !copied(t))
        .map(|t| ((t.schema.clone(), t.name.clone()), t.bytes))
        .collect();
    // With --data-only the line writes no schema: the target has what it has.
    let objects_not_taken = if options.data_only {
        Default::default()
    } else {
        let written = standalone_objects(&ddl);
        standalone_objects(whole)
            .into_iter()
            .filter(|o| !written.contains(o))
            .collect()
    };
    let facts = SplitFacts {
        not_taken,
        objects_not_taken,
        sharded: resolved.sharded.clone(),
        objects: ddl.pre_data.len() + ddl.post_data.len(),
        estimated_rows: chosen.iter().map(|t| t.estimated_rows).sum(),
        estimated_bytes: chosen.iter().map(|t| t.bytes).sum(),
        tables: chosen,
        cross_target: cross
            .iter()
            .map(pgsplit_schema::CrossTarget::describe)
            .collect(),
        cross_target_fks: cross
            .iter()
            .filter(|c| c.kind == pgsplit_schema::CrossKind::ForeignKey)
            .map(pgsplit_schema::CrossTarget::describe)
            .collect(),
    };
    Ok((facts, ddl, resolved))
}

/// The shard conditions of `selector` over the source's `tables`: one per type of key
/// column, with the modulus.
fn shard_conditions(
    selector: &crate::split::Selector,
    tables: &[pgsplit_copy::SourceTable],
) -> Option<(u32, Vec<String>)> {
    let shard = selector.shard.as_ref()?;
    let types: std::collections::BTreeSet<&str> = tables
        .iter()
        .flat_map(|t| t.all_columns())
        .filter(|c| c.name == shard.key)
        .map(|c| c.type_name.as_str())
        .collect();
    let conditions = types
        .into_iter()
        .filter_map(|t| {
            crate::split::shard::predicate(&shard.key, t, shard.modulus, shard.remainder)
        })
        .collect();
    Some((shard.modulus, conditions))
}

/// The shard's modulus and those of its `conditions` that `filter` holds (its table's
/// own, or a parent's it follows), if any.
fn shard_parts(
    conditions: Option<&(u32, Vec<String>)>,
    filter: Option<&str>,
) -> Option<(u32, Vec<String>)> {
    let (modulus, conditions) = conditions?;
    let filter = filter?;
    let parts: Vec<String> = conditions
        .iter()
        .filter(|c| filter.contains(c.as_str()))
        .cloned()
        .collect();
    (!parts.is_empty()).then_some((*modulus, parts))
}

/// The identities of the objects `ddl` creates that stand on their own: not tables
/// (listed apart) nor what belongs to one (its indexes, keys, triggers, the sequence it
/// owns), but functions, types, views, standalone sequences, schemas, extensions, ….
pub(crate) fn standalone_objects(ddl: &pgsplit_schema::Ddl) -> std::collections::BTreeSet<String> {
    use pgsplit_schema::ObjectKind as K;
    let statements = || ddl.pre_data.iter().chain(&ddl.post_data);
    let owned: std::collections::BTreeSet<&str> = statements()
        .filter(|s| s.kind == K::SequenceOwnedBy)
        .filter_map(|s| s.identity.split_once(" owned by ").map(|(seq, _)| seq))
        .collect();
    statements()
        .filter(|s| {
            matches!(
                s.kind,
                K::Schema
                    | K::Extension
                    | K::Collation
                    | K::Type
                    | K::Function
                    | K::Aggregate
                    | K::Cast
                    | K::TextSearch
                    | K::Sequence
                    | K::View
                    | K::MatView
                    | K::Publication
                    | K::EventTrigger
            )
        })
        .filter(|s| !owned.contains(s.identity.as_str()))
        // A publication's tables and schemas are added apart: they belong to those.
        .filter(|s| s.kind != K::Publication || s.sql.starts_with("CREATE PUBLICATION"))
        .map(|s| s.identity.clone())
        .collect()
}

pub async fn read_source_facts(client: &Client) -> Result<SourceFacts, tokio_postgres::Error> {
    let row = client
        .query_one(include_str!("source_facts.sql"), &[])
        .await?;
    let mut largest: Vec<TableSize> = client
        .query(include_str!("largest_tables.sql"), &[&LARGEST_TABLES_SHOWN])
        .await?
        .iter()
        .map(|r| TableSize {
            schema: r.get("schema"),
            name: r.get("name"),
            bytes: r.get("bytes"),
            estimated_rows: r.get("estimated_rows"),
        })
        .collect();
    // Never analyzed: no count, but the planner estimates one from the table's size.
    for t in largest
        .iter_mut()
        .filter(|t| t.estimated_rows <= 0 && t.bytes > UNCOUNTED_ABOVE_BYTES)
    {
        let sql = format!(
            "EXPLAIN SELECT FROM ONLY {}",
            pgsplit_pg::quote::qualified(&t.schema, &t.name)
        );
        if let Some(rows) = explain_rows(client, &sql).await {
            t.estimated_rows = rows;
        }
    }
    let extensions = source_extensions(client).await?;
    Ok(SourceFacts {
        server_version: row.get("server_version"),
        server_version_num: row.get("server_version_num"),
        database_bytes: row.get("database_bytes"),
        tables: row.get("tables"),
        lock_slots: crate::session::free_lock_slots(client).await?,
        largest_tables: largest,
        extensions,
        parameters: shown_parameters(client).await?,
        ..SourceFacts::default()
    })
}

/// The roles that own large objects (true) or were granted privileges on them: a run
/// gives every target the source's large objects.
async fn large_object_roles(client: &Client) -> Result<Vec<(String, bool)>, tokio_postgres::Error> {
    Ok(client
        .query(
            "SELECT DISTINCT pg_catalog.pg_get_userbyid(lomowner)::text, true \
               FROM pg_catalog.pg_largeobject_metadata \
             UNION \
             SELECT DISTINCT pg_catalog.pg_get_userbyid(a.grantee)::text, false \
               FROM pg_catalog.pg_largeobject_metadata m, \
                    pg_catalog.aclexplode(m.lomacl) a \
              WHERE a.grantee <> 0",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

async fn source_extensions(client: &Client) -> Result<Vec<Extension>, tokio_postgres::Error> {
    Ok(client
        .query(include_str!("extensions.sql"), &[])
        .await?
        .iter()
        .map(|r| Extension {
            name: r.get("name"),
            version: r.get("version"),
        })
        .collect())
}

async fn target_facts(line: &MappingLine) -> FactResult<TargetFacts> {
    match session::open(&line.target).await {
        Ok(conn) => existing_target(&conn.client)
            .await
            .map_err(failed_on(&conn.server)),
        Err(e) if e.code() == Some(&SqlState::INVALID_CATALOG_NAME) => {
            let maintenance = session::maintenance_db(&line.target);
            let conn = session::open(&maintenance)
                .await
                .map_err(|e| e.to_string())?;
            missing_target(&conn.client)
                .await
                .map_err(failed_on(&conn.server))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The parameters a `CREATE FUNCTION` statement (as `pg_get_functiondef` writes it) sets:
/// its ` SET name TO …` lines before the body.
fn set_parameters(sql: &str) -> Vec<String> {
    sql.lines()
        .take_while(|l| {
            !l.starts_with("AS ") && !l.starts_with("BEGIN") && !l.starts_with("RETURN")
        })
        .filter_map(|l| l.strip_prefix(" SET "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(|name| name.trim_matches('"').to_string())
        .collect()
}

/// The parameters `pg_settings` shows the connected role.
async fn shown_parameters(client: &Client) -> Result<Vec<String>, tokio_postgres::Error> {
    first_column(client, "SELECT name FROM pg_catalog.pg_settings").await
}

/// The roles whose objects the connected role may own: ALTER … OWNER TO needs it to be
/// a member of the new owner (with the SET option, 16+).
/// The roles whose objects the current user may make and then work on: it may give
/// objects to them (`SET`, 16+) and acts with their privileges (`USAGE`: it inherits
/// them), as a run's later statements on those objects (their indexes, keys, grants) need.
async fn member_of(client: &Client, version: i32) -> Result<Vec<String>, tokio_postgres::Error> {
    let set = if version >= 160000 {
        " AND pg_catalog.pg_has_role(current_user, oid, 'SET')"
    } else {
        ""
    };
    let sql = format!(
        "SELECT rolname::text FROM pg_catalog.pg_roles \
         WHERE pg_catalog.pg_has_role(current_user, oid, 'USAGE'){set}"
    );
    first_column(client, &sql).await
}

async fn target_roles(client: &Client) -> Result<Vec<String>, tokio_postgres::Error> {
    first_column(client, "SELECT rolname::text FROM pg_roles").await
}

async fn available_extensions(client: &Client) -> Result<Vec<String>, tokio_postgres::Error> {
    first_column(client, include_str!("available_extensions.sql")).await
}

/// The first column of every row of `sql`, a list of names.
async fn first_column(client: &Client, sql: &str) -> Result<Vec<String>, tokio_postgres::Error> {
    Ok(client
        .query(sql, &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

async fn existing_target(client: &Client) -> Result<TargetFacts, tokio_postgres::Error> {
    let row = client
        .query_one(include_str!("target_facts.sql"), &[])
        .await?;
    let available = available_extensions(client).await?;
    Ok(TargetFacts {
        server_version: row.get("server_version"),
        server_version_num: row.get("server_version_num"),
        database_exists: true,
        user_objects: row.get("user_objects"),
        superuser: row.get("superuser"),
        can_create: row.get("can_create"),
        missing_extensions: Vec::new(),
        missing_roles: Vec::new(),
        available_extensions: available,
        roles: target_roles(client).await?,
        member_of: member_of(client, row.get("server_version_num")).await?,
        lz4: row.get("lz4"),
        creates_databases: row.get("creates_databases"),
        read_only: row.get("read_only"),
        collation_versions: CollationVersions::read(client).await,
        owns_database: row.get("owns_database"),
        parameters: Parameters::read(client, row.get("server_version_num")).await?,
    })
}

/// A partitioned table whose key orders (range, list) or hashes (nondeterministic) text
/// by a collation other than C: which partition a row belongs to depends on the version
/// of the collation's library.
#[derive(Clone, Debug, Default)]
pub struct CollatedKey {
    pub schema: String,
    pub name: String,
    pub collation: String,
    /// `i` ICU, `c` the C library.
    pub provider: String,
}

/// The versions of a server's collation libraries (`None` where it cannot tell).
#[derive(Clone, Debug, Default)]
pub struct CollationVersions {
    pub icu: Option<String>,
    pub libc: Option<String>,
}

impl CollationVersions {
    async fn read(client: &Client) -> CollationVersions {
        let Ok(row) = client
            .query_one(include_str!("collation_versions.sql"), &[])
            .await
        else {
            return CollationVersions::default();
        };
        CollationVersions {
            icu: row.get("icu"),
            libc: row.get("libc"),
        }
    }

    fn of(&self, provider: &str) -> Option<&str> {
        match provider {
            "i" => self.icu.as_deref(),
            "c" => self.libc.as_deref(),
            _ => None,
        }
    }
}

async fn collated_keys(client: &Client, version: i32) -> Vec<CollatedKey> {
    let default_provider = if version >= 150000 {
        "(SELECT datlocprovider::text FROM pg_catalog.pg_database \
          WHERE datname = pg_catalog.current_database())"
    } else {
        "'c'"
    };
    let sql = include_str!("collated_keys.sql").replace("{default_provider}", default_provider);
    let Ok(rows) = client.query(&sql, &[]).await else {
        return Vec::new();
    };
    rows.iter()
        .map(|r| CollatedKey {
            schema: r.get("schema"),
            name: r.get("name"),
            collation: r.get("collation"),
            provider: r.get("provider"),
        })
        .collect()
}

/// Notes on partition keys of `line` whose collation's library is of another version on
/// the target: a row near a bound may belong to another partition there.
fn collation_notes(line: &LinePlan, s: &SourceFacts, t: &TargetFacts) -> Vec<String> {
    let taken = |key: &CollatedKey| match &line.split {
        None => true,
        Some(split) => split
            .tables
            .iter()
            .any(|t| t.schema == key.schema && t.name == key.name),
    };
    s.collated_keys
        .iter()
        .filter(|key| taken(key))
        .filter_map(|key| {
            let (from, to) = (
                s.collation_versions.of(&key.provider)?,
                t.collation_versions.of(&key.provider)?,
            );
            let library = if key.provider == "i" {
                "ICU"
            } else {
                "C library"
            };
            (from != to).then(|| {
                format!(
                    "the partition key of {}.{} puts text in partitions by collation {} \
                     ({library} {from} on the source, {to} on the target): a row near a bound \
                     may belong to another partition there, and the run then fails on it",
                    key.schema, key.name, key.collation
                )
            })
        })
        .collect()
}

async fn missing_target(client: &Client) -> Result<TargetFacts, tokio_postgres::Error> {
    let row = client.query_one(include_str!("creator.sql"), &[]).await?;
    let available = available_extensions(client).await?;
    Ok(TargetFacts {
        server_version: row.get("server_version"),
        server_version_num: row.get("server_version_num"),
        database_exists: false,
        user_objects: 0,
        superuser: row.get("superuser"),
        can_create: row.get("can_create"),
        missing_extensions: Vec::new(),
        missing_roles: Vec::new(),
        available_extensions: available,
        roles: target_roles(client).await?,
        member_of: member_of(client, row.get("server_version_num")).await?,
        lz4: row.get("lz4"),
        creates_databases: row.get("creates_databases"),
        read_only: row.get("read_only"),
        collation_versions: CollationVersions::read(client).await,
        owns_database: row.get("owns_database"),
        parameters: Parameters::read(client, row.get("server_version_num")).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn names(tables: &[&str]) -> BTreeSet<(String, String)> {
        tables
            .iter()
            .map(|t| ("public".to_string(), t.to_string()))
            .collect()
    }

    fn shard_line(shares: &mut Shares, modulus: u32, remainder: u32, cut: &[&str]) {
        let sharded = shares.intern(names(cut));
        shares.add(Share {
            shard: Some(crate::split::Shard {
                key: "tenant_id".into(),
                modulus,
                remainder,
            }),
            sharded,
            ..Share::default()
        });
    }

    #[test]
    fn lines_cutting_the_same_tables_share_one_set_of_names() {
        let mut shares = Shares::default();
        let a = shares.intern(names(&["a", "b"]));
        let b = shares.intern(names(&["a", "b"]));
        let c = shares.intern(names(&["a"]));
        assert!(Tables::ptr_eq(&a, &b));
        assert!(!Tables::ptr_eq(&a, &c));
    }

    #[test]
    fn shards_no_line_takes_are_found_per_table_over_mixed_moduli() {
        let mut shares = Shares::default();
        // orders: 0/2, 1/4, 3/4 cover every row; items: 0/2 and 1/4 leave 3/4.
        shard_line(&mut shares, 2, 0, &["orders", "items"]);
        shard_line(&mut shares, 4, 1, &["orders", "items"]);
        shard_line(&mut shares, 4, 3, &["orders"]);
        let untaken = shares.untaken("src", vec![1, 2, 3]).unwrap();
        assert!(untaken.tables.is_empty() && untaken.objects.is_empty());
        assert_eq!(untaken.shards.len(), 1, "{:?}", untaken.shards);
        let shards = &untaken.shards[0];
        assert_eq!(shards.tables, ["public.items"]);
        assert_eq!((shards.modulus, shards.remainders.clone()), (4, vec![3]));
    }

    #[test]
    fn a_table_one_line_copies_whole_leaves_no_shard_behind() {
        let mut shares = Shares::default();
        shard_line(&mut shares, 2, 0, &["orders"]);
        let sharded = shares.intern(BTreeSet::new());
        shares.add(Share {
            whole: ["public.orders".to_string()].into(),
            sharded,
            ..Share::default()
        });
        assert!(shares.untaken("src", vec![1, 2]).is_none());
    }

    #[test]
    fn only_what_every_line_leaves_is_untaken() {
        let mut shares = Shares::default();
        for (tables, objects) in [(&["x", "y"], &["f", "g"]), (&["y", "z"], &["g", "h"])] {
            let sharded = shares.intern(BTreeSet::new());
            shares.add(Share {
                not_taken: names(tables).into_iter().map(|t| (t, 8192)).collect(),
                objects_not_taken: objects.iter().map(|o| o.to_string()).collect(),
                sharded,
                ..Share::default()
            });
        }
        assert_eq!(shares.len(), 2);
        let untaken = shares.untaken("src", vec![1, 2]).unwrap();
        let tables: Vec<&str> = untaken.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(tables, ["public.y"]);
        assert_eq!(untaken.objects, ["g"]);
        assert!(untaken.shards.is_empty());
    }
}
