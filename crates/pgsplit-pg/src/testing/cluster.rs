//! One throwaway PostgreSQL cluster: initdb, start, a watchdog, databases, stop.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use super::binaries::PgBinaries;
use super::os_user::{OsUser, server_user};
use super::unique_name;
use crate::settings::{ConnSettings, Environment};

/// The superuser every harness cluster has.
pub const SUPERUSER: &str = "postgres";
/// Members of this role must log in over TCP with a SCRAM password.
pub const PASSWORD_ROLE: &str = "password_users";
/// Members of this role log in over TCP with an MD5 password exchange.
pub const MD5_ROLE: &str = "md5_users";
/// Members of this role log in over TCP sending their password in clear.
pub const CLEARTEXT_ROLE: &str = "cleartext_users";

/// A server certificate and key (PEM) to turn `ssl = on`.
#[derive(Clone, Debug)]
pub struct ServerTls {
    pub cert_pem: String,
    pub key_pem: String,
}

#[derive(Clone, Debug)]
pub struct ClusterOptions {
    pub binaries: PgBinaries,
    pub tls: Option<ServerTls>,
    /// Extra `postgresql.conf` lines.
    pub settings: Vec<(String, String)>,
}

impl ClusterOptions {
    pub fn new(binaries: PgBinaries) -> ClusterOptions {
        ClusterOptions {
            binaries,
            tls: None,
            settings: Vec::new(),
        }
    }

    /// The system's binaries, the usual case.
    pub fn system() -> ClusterOptions {
        ClusterOptions::new(PgBinaries::system().expect("PostgreSQL server binaries"))
    }
}

/// A running cluster. Dropping it stops the server and removes its files.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    port: u16,
    binaries: PgBinaries,
    user: Option<OsUser>,
    watchdog: Option<Child>,
}

impl Cluster {
    pub fn start(options: ClusterOptions) -> Result<Cluster, String> {
        let mut last_error = String::new();
        // A free port can be taken between our probe and the server's bind: retry.
        for _ in 0..3 {
            match Cluster::try_start(&options) {
                Ok(cluster) => return Ok(cluster),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    fn try_start(options: &ClusterOptions) -> Result<Cluster, String> {
        let user = server_user();
        let dir = tempfile::Builder::new()
            .prefix("pgsplit-pg-")
            .tempdir()
            .map_err(|e| format!("temporary folder: {e}"))?
            .keep();
        let mut cluster = Cluster {
            dir,
            port: free_port()?,
            binaries: options.binaries.clone(),
            user,
            watchdog: None,
        };
        std::fs::create_dir_all(cluster.socket_dir()).map_err(|e| e.to_string())?;
        cluster.give_to_server_user(&cluster.dir)?;
        cluster.give_to_server_user(&cluster.socket_dir())?;
        cluster.initdb()?;
        cluster.configure(options)?;
        cluster.start_server()?;
        cluster.watchdog = Some(cluster.spawn_watchdog()?);
        cluster.psql(
            "postgres",
            &format!(
                "CREATE ROLE {PASSWORD_ROLE} NOLOGIN; CREATE ROLE {MD5_ROLE} NOLOGIN; \
                 CREATE ROLE {CLEARTEXT_ROLE} NOLOGIN"
            ),
        )?;
        Ok(cluster)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn major(&self) -> u32 {
        self.binaries.major
    }

    pub fn binaries(&self) -> &PgBinaries {
        &self.binaries
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn socket_dir(&self) -> PathBuf {
        self.dir.join("sock")
    }

    /// `postgres://postgres@127.0.0.1:PORT/DB?sslmode=disable`
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "postgres://{SUPERUSER}@127.0.0.1:{}/{dbname}?sslmode=disable",
            self.port
        )
    }

    /// Settings for `url(dbname)`, not influenced by the test process's `PG*` variables.
    pub fn settings(&self, dbname: &str) -> ConnSettings {
        ConnSettings::parse_with(&self.url(dbname), &Environment::default())
            .expect("harness URL parses")
    }

    /// Runs SQL through `psql` as the superuser; returns unaligned, tuples-only output.
    pub fn psql(&self, dbname: &str, sql: &str) -> Result<String, String> {
        let out = self.psql_command(dbname).arg("-c").arg(sql).output();
        check_output(out, "psql")
    }

    /// Runs a SQL file through `psql` (stops at the first error).
    pub fn psql_file(&self, dbname: &str, file: &Path) -> Result<String, String> {
        let out = self.psql_command(dbname).arg("-f").arg(file).output();
        check_output(out, &format!("psql -f {}", file.display()))
    }

    /// A `psql` command for this cluster, to add arguments to.
    pub fn psql_command(&self, dbname: &str) -> Command {
        let mut cmd = Command::new(self.binaries.client("psql"));
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
            ])
            .args(["-d", dbname])
            .env_remove("PGPASSWORD")
            .env_remove("PGSSLMODE")
            .env("PGSSLMODE", "disable");
        cmd
    }

    /// A fresh database, dropped when the guard is dropped.
    pub fn create_db(&self, hint: &str) -> TestDb<'_> {
        let name = unique_name(hint);
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        TestDb {
            cluster: self,
            name,
        }
    }

    fn as_server_user(&self, program: PathBuf) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.dir).env("LC_ALL", "C.UTF-8");
        if let Some(user) = self.user {
            cmd.uid(user.uid).gid(user.gid);
        }
        cmd
    }

    fn give_to_server_user(&self, path: &Path) -> Result<(), String> {
        if let Some(user) = self.user {
            std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
                .map_err(|e| format!("chown {}: {e}", path.display()))?;
        }
        Ok(())
    }

    fn initdb(&self) -> Result<(), String> {
        let out = self
            .as_server_user(self.binaries.tool("initdb"))
            .arg("-D")
            .arg(self.data_dir())
            .args([
                "--no-sync",
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--no-locale",
                "-E",
                "UTF8",
            ])
            .output();
        check_output(out, "initdb").map(drop)
    }

    fn configure(&self, options: &ClusterOptions) -> Result<(), String> {
        let data = self.data_dir();
        let mut conf = String::new();
        let mut set = |k: &str, v: &str| writeln!(conf, "{k} = {v}").expect("write to String");
        set("port", &self.port.to_string());
        set("listen_addresses", "'127.0.0.1'");
        set(
            "unix_socket_directories",
            &format!("'{}'", self.socket_dir().display()),
        );
        set("fsync", "off");
        set("synchronous_commit", "off");
        set("full_page_writes", "off");
        set("wal_level", "logical");
        set("max_replication_slots", "10");
        set("max_wal_senders", "10");
        set("max_connections", "200");
        set("password_encryption", "'scram-sha-256'");
        if let Some(tls) = &options.tls {
            self.write_private(&data.join("server.crt"), &tls.cert_pem)?;
            self.write_private(&data.join("server.key"), &tls.key_pem)?;
            set("ssl", "on");
            set("ssl_cert_file", "'server.crt'");
            set("ssl_key_file", "'server.key'");
        }
        for (k, v) in &options.settings {
            set(k, v);
        }
        append(&data.join("postgresql.conf"), &conf)?;
        let hba = format!(
            "local all all trust\n\
             host all +{PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n\
             host all +{MD5_ROLE} 127.0.0.1/32 md5\n\
             host all +{CLEARTEXT_ROLE} 127.0.0.1/32 password\n\
             host all all 127.0.0.1/32 trust\n\
             host replication all 127.0.0.1/32 trust\n"
        );
        self.write_private(&data.join("pg_hba.conf"), &hba)
    }

    fn write_private(&self, path: &Path, text: &str) -> Result<(), String> {
        std::fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
        self.give_to_server_user(path)
    }

    fn start_server(&self) -> Result<(), String> {
        let out = self
            .as_server_user(self.binaries.tool("pg_ctl"))
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "60", "start"])
            .stdin(Stdio::null())
            .output();
        check_output(out, "pg_ctl start")
            .map(drop)
            .map_err(|e| format!("{e}\nserver log:\n{}", self.server_log()))
    }

    /// The server's log so far, for failure messages.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Stops the server once the test process has exited, however it exited, or once the
    /// cluster is dropped (a `dropped` marker; a stop alone, as in `restart`, is not
    /// enough), and removes the cluster's files. A plain shell loop: nothing to install.
    fn spawn_watchdog(&self) -> Result<Child, String> {
        let script = r#"
            while kill -0 "$1" 2>/dev/null && [ ! -e "$2/dropped" ]; do sleep 0.5; done
            if [ -f "$2/data/postmaster.pid" ]; then
                kill -QUIT "$(head -n 1 "$2/data/postmaster.pid")" 2>/dev/null
                sleep 1
            fi
            rm -rf "$2"
        "#;
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("watchdog")
            .arg(std::process::id().to_string())
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start the cluster watchdog: {e}"))
    }

    /// Restarts the server (for fault tests); the port stays the same.
    pub fn restart(&self) -> Result<(), String> {
        let out = self
            .as_server_user(self.binaries.tool("pg_ctl"))
            .arg("-D")
            .arg(self.data_dir())
            .args(["-w", "-t", "60", "-m", "fast", "stop"])
            .stdin(Stdio::null())
            .output();
        check_output(out, "pg_ctl stop").map(drop)?;
        // The old postmaster's port can take a moment to be free again.
        let mut last = String::new();
        for _ in 0..5 {
            match self.start_server() {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        Err(last)
    }

    /// Stops the server immediately.
    pub fn stop(&self) {
        let _ = self
            .as_server_user(self.binaries.tool("pg_ctl"))
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "stop"])
            .stdin(Stdio::null())
            .output();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
        // Tells the watchdog the cluster is done with (a mere stop is not: `restart`).
        let _ = std::fs::write(self.dir.join("dropped"), b"");
        if let Some(mut watchdog) = self.watchdog.take() {
            // It sees the marker, removes the folder and exits.
            let _ = watchdog.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A database that lives as long as this guard.
pub struct TestDb<'a> {
    pub cluster: &'a Cluster,
    pub name: String,
}

impl TestDb<'_> {
    pub fn url(&self) -> String {
        self.cluster.url(&self.name)
    }

    pub fn settings(&self) -> ConnSettings {
        self.cluster.settings(&self.name)
    }

    pub fn psql(&self, sql: &str) -> String {
        self.cluster
            .psql(&self.name, sql)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn psql_file(&self, file: &Path) -> Result<String, String> {
        self.cluster.psql_file(&self.name, file)
    }
}

impl Drop for TestDb<'_> {
    fn drop(&mut self) {
        let drop_sql = if self.cluster.major() >= 13 {
            format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)
        } else {
            format!("DROP DATABASE IF EXISTS \"{}\"", self.name)
        };
        let _ = self.cluster.psql("postgres", &drop_sql);
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

fn append(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| format!("open {}: {e}", path.display()))?;
    file.write_all(text.as_bytes()).map_err(|e| e.to_string())
}

fn check_output(out: std::io::Result<Output>, what: &str) -> Result<String, String> {
    let out = out.map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ))
    }
}
