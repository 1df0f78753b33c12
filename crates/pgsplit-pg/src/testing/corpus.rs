//! The third-party sample databases in `../shared/corpora` (next to the repository),
//! and `pg_dump` as a test oracle. A user's fresh clone has no `../shared`: callers skip
//! corpus tests when [`corpora_dir`] is `None`.

use std::path::{Path, PathBuf};

use super::cluster::{SUPERUSER, TestDb};

/// Every corpus by folder name.
pub const CORPORA: &[&str] = &["pagila", "chinook", "northwind", "adventureworks"];

/// `<repo>/../shared/corpora`, when it exists.
pub fn corpora_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora");
    dir.is_dir().then(|| dir.canonicalize().unwrap_or(dir))
}

/// Loads a corpus into `db`. `Ok(false)` when the corpora are not there (skip the test).
pub fn load_corpus(db: &TestDb<'_>, name: &str) -> Result<bool, String> {
    let Some(root) = corpora_dir() else {
        return Ok(false);
    };
    let dir = root.join(name);
    let files: Vec<PathBuf> = match name {
        "pagila" => vec![dir.join("pagila-schema.sql"), dir.join("pagila-data.sql")],
        "northwind" => vec![dir.join("northwind.sql")],
        "adventureworks" => vec![dir.join("install-schema-only.sql")],
        "chinook" => vec![without_database_switch(
            &dir.join("Chinook_PostgreSql.sql"),
        )?],
        other => return Err(format!("unknown corpus {other}")),
    };
    for file in files {
        db.psql_file(&file)?;
    }
    Ok(true)
}

/// Chinook's script drops, creates and connects to its own database; keep the rest so it
/// loads into the test's database.
fn without_database_switch(script: &Path) -> Result<PathBuf, String> {
    let text = std::fs::read_to_string(script).map_err(|e| format!("{}: {e}", script.display()))?;
    let kept: String = text
        .lines()
        .filter(|l| {
            let t = l.trim_start().to_ascii_uppercase();
            !(t.starts_with("DROP DATABASE")
                || t.starts_with("CREATE DATABASE")
                || t.starts_with("\\C "))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let out = std::env::temp_dir().join(format!(
        "pgsplit-chinook-{}-{}.sql",
        std::process::id(),
        super::unique_name("c")
    ));
    std::fs::write(&out, kept).map_err(|e| e.to_string())?;
    Ok(out)
}

/// `pg_dump` of a test database with `extra` arguments (e.g. `--schema-only`), minus the
/// random `\restrict`/`\unrestrict` key lines newer pg_dump versions print.
pub fn pg_dump(db: &TestDb<'_>, extra: &[&str]) -> String {
    let out = std::process::Command::new(db.cluster.binaries().client("pg_dump"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &db.cluster.port().to_string(),
            "-U",
            SUPERUSER,
        ])
        .args(extra)
        .arg(&db.name)
        .env("PGSSLMODE", "disable")
        .output()
        .expect("run pg_dump");
    assert!(
        out.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// A readable unified diff of two texts (empty when they are equal).
pub fn diff(left: &str, right: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (dir.path().join("source"), dir.path().join("target"));
    std::fs::write(&a, left).expect("write");
    std::fs::write(&b, right).expect("write");
    let out = std::process::Command::new("diff")
        .arg("-u")
        .arg(&a)
        .arg(&b)
        .output()
        .expect("run diff");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Per table: row count and md5 of the sorted row texts, computed by SQL — an oracle
/// independent of pgsplit's own digest. Sorted by table name.
pub fn table_fingerprints(db: &TestDb<'_>) -> Vec<String> {
    let tables = db.psql(
        "SELECT format('%I.%I', n.nspname, c.relname), c.relkind <> 'm' OR c.relispopulated FROM pg_class c \
           JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE c.relkind IN ('r', 'p', 'm') \
            AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
            AND n.nspname NOT LIKE 'pg\\_toast%' \
            AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
                              AND d.objid = c.oid AND d.deptype = 'e') \
          ORDER BY 1",
    );
    tables
        .lines()
        .filter(|t| !t.is_empty())
        .map(|line| {
            let (t, populated) = line.split_once('|').unwrap_or((line, "t"));
            if populated != "t" {
                return format!("{t} not populated");
            }
            let fp = db.psql(&format!(
                "SELECT count(*) || ' ' || md5(coalesce(string_agg(oracle_row::text, E'\\n' ORDER BY oracle_row::text), '')) FROM {t} oracle_row"
            ));
            format!("{t} {}", fp.trim())
        })
        .collect()
}
