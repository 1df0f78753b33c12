//! Connection settings from a URL (`postgres://…`) or a libpq `key=value` string, with
//! the defaults libpq takes from `PG*` variables and `~/.pgpass`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use percent_encoding::percent_decode_str;

use crate::error::SettingsError;
use crate::pgpass;
use crate::secret::{PasswordSource, Secret, redact_text};

/// The parameters pgsplit understands, as libpq names them.
const KNOWN_PARAMS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "user",
    "password",
    "dbname",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "connect_timeout",
    "application_name",
    "options",
    "passfile",
    "target_session_attrs",
    "keepalives",
    "channel_binding",
    "gssencmode",
];

const DEFAULT_PORT: u16 = 5432;
const DEFAULT_APPLICATION_NAME: &str = "pgsplit";

/// Where a server listens: a TCP host name or address, or a Unix-socket directory.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    Tcp(String),
    Unix(PathBuf),
}

impl Host {
    fn parse(text: &str) -> Host {
        if text.starts_with('/') {
            Host::Unix(PathBuf::from(text))
        } else {
            Host::Tcp(text.to_string())
        }
    }

    /// The name `.pgpass` matches on: libpq uses `localhost` for socket connections.
    pub fn pgpass_name(&self) -> &str {
        match self {
            Host::Tcp(name) => name,
            Host::Unix(_) => "localhost",
        }
    }

    fn normalized(&self) -> String {
        match self {
            Host::Tcp(name) => match name.to_ascii_lowercase().as_str() {
                "localhost" | "127.0.0.1" | "::1" => "localhost".to_string(),
                other => other.to_string(),
            },
            Host::Unix(path) => path.display().to_string(),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Tcp(name) if name.contains(':') => write!(f, "[{name}]"),
            Host::Tcp(name) => f.write_str(name),
            Host::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// libpq's `sslmode`, all six values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// libpq's `channel_binding`: whether SCRAM binds the exchange to the TLS channel
/// (`SCRAM-SHA-256-PLUS`), so that a server in the middle cannot relay it. `require`
/// also refuses every way of sending the password that does not bind it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChannelBinding {
    Disable,
    /// Bind when the connection is TLS and the server offers it.
    #[default]
    Prefer,
    Require,
}

impl ChannelBinding {
    fn parse(value: &str) -> Result<ChannelBinding, SettingsError> {
        Ok(match value {
            "disable" => ChannelBinding::Disable,
            "prefer" => ChannelBinding::Prefer,
            "require" => ChannelBinding::Require,
            other => {
                return Err(SettingsError::InvalidValue {
                    key: "channel_binding".into(),
                    value: other.into(),
                    reason: "expected disable, prefer or require".into(),
                });
            }
        })
    }
}

/// libpq's `target_session_attrs`, as far as pgsplit honours it: with several hosts,
/// `read-write` (and `primary`, taken as it) skips those whose sessions are read-only (a
/// standby). `read-only`, `standby` and `prefer-standby` are taken as `any`, with a
/// warning: pgsplit takes the first host that answers (it only reads a source, and a
/// standby refuses a target's writes with its own error).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SessionAttrs {
    #[default]
    Any,
    ReadWrite,
}

impl SessionAttrs {
    fn parse(value: &str) -> Result<SessionAttrs, SettingsError> {
        match value {
            "any" => Ok(SessionAttrs::Any),
            "read-write" | "primary" => Ok(SessionAttrs::ReadWrite),
            "read-only" | "standby" | "prefer-standby" => {
                tracing::warn!(
                    "target_session_attrs={value}: pgsplit does not choose a standby; it \
                     connects to the first host that answers"
                );
                Ok(SessionAttrs::Any)
            }
            other => Err(SettingsError::InvalidValue {
                key: "target_session_attrs".into(),
                value: other.into(),
                reason: "expected any, read-write, read-only, primary, standby or \
                         prefer-standby"
                    .into(),
            }),
        }
    }
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, SettingsError> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(SettingsError::InvalidValue {
                    key: "sslmode".into(),
                    value: other.into(),
                    reason: "expected disable, allow, prefer, require, verify-ca or verify-full"
                        .into(),
                });
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// The process environment as connection defaults see it; tests build their own.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    pub vars: HashMap<String, String>,
    pub home: Option<PathBuf>,
    /// The name of the process's effective user, libpq's default user name.
    pub os_user: Option<String>,
}

impl Environment {
    pub fn from_process() -> Environment {
        let vars: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("PG") || k == "USER" || k == "LOGNAME")
            .collect();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Environment {
            vars,
            home,
            os_user: effective_user_name(),
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Everything needed to open one connection. `Display` is the redacted URL.
#[derive(Clone, Debug)]
pub struct ConnSettings {
    pub hosts: Vec<(Host, u16)>,
    pub user: String,
    pub password: Option<Secret>,
    pub dbname: String,
    pub sslmode: SslMode,
    pub sslrootcert: Option<PathBuf>,
    pub sslcert: Option<PathBuf>,
    pub sslkey: Option<PathBuf>,
    pub channel_binding: ChannelBinding,
    pub target_session_attrs: SessionAttrs,
    pub connect_timeout: Option<Duration>,
    pub application_name: String,
    pub options: Option<String>,
    pub keepalives: bool,
    /// When set, every new connection takes its password from here instead of
    /// `password` (which then holds the last one made, for checks before a run).
    pub password_source: Option<PasswordSource>,
    /// When set, a connection checks that its database is still this one: a run's later
    /// sessions must reach the database it wrote into, not another one made under the
    /// same name since ([`crate::ConnectFailure::Replaced`]).
    pub database: Option<crate::DatabasePin>,
}

/// The longest database name a server keeps whole (NAMEDATALEN - 1).
const MAX_IDENTIFIER_BYTES: usize = 63;

impl ConnSettings {
    /// Parses a URL or `key=value` string, filling what it leaves out from the
    /// process environment the way libpq does.
    pub fn parse(text: &str) -> Result<ConnSettings, SettingsError> {
        ConnSettings::parse_with(text, &Environment::from_process())
    }

    pub fn parse_with(text: &str, env: &Environment) -> Result<ConnSettings, SettingsError> {
        let text = text.trim();
        let params = if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            parse_url(text)?
        } else if text.contains('=') {
            parse_keywords(text)?
        } else {
            return Err(SettingsError::Unparsable(redact_text(text)));
        };
        ConnSettings::from_params(params, env)
    }

    fn from_params(
        params: BTreeMap<String, String>,
        env: &Environment,
    ) -> Result<ConnSettings, SettingsError> {
        for (key, value) in &params {
            if !KNOWN_PARAMS.contains(&key.as_str()) {
                return Err(SettingsError::UnknownParameter(key.clone()));
            }
            // The protocol's strings end at a NUL: libpq refuses them too.
            if value.contains('\0') {
                return Err(SettingsError::InvalidValue {
                    key: key.clone(),
                    value: "***".into(),
                    reason: "contains a NUL character (%00)".into(),
                });
            }
        }
        let param = |key: &str, var: &str| -> Option<String> {
            params
                .get(key)
                .filter(|v| !v.is_empty())
                .cloned()
                .or_else(|| env.get(var).map(str::to_string))
        };

        let host_text = param("host", "PGHOST").unwrap_or_else(default_host);
        let port_text = param("port", "PGPORT").unwrap_or_default();
        let hosts = pair_hosts_and_ports(&host_text, &port_text)?;

        let user = param("user", "PGUSER").unwrap_or_else(|| os_user(env));
        let dbname = param("dbname", "PGDATABASE").unwrap_or_else(|| user.clone());
        // The server cuts longer names to this length (NAMEDATALEN - 1): two names that
        // differ past it are one database.
        if dbname.len() > MAX_IDENTIFIER_BYTES {
            return Err(SettingsError::InvalidValue {
                key: "dbname".into(),
                value: dbname,
                reason: format!(
                    "longer than {MAX_IDENTIFIER_BYTES} bytes: PostgreSQL would cut it short"
                ),
            });
        }
        let sslmode = SslMode::parse(&param("sslmode", "PGSSLMODE").unwrap_or("prefer".into()))?;
        let channel_binding = match param("channel_binding", "PGCHANNELBINDING") {
            Some(value) => ChannelBinding::parse(&value)?,
            None => ChannelBinding::default(),
        };
        if channel_binding == ChannelBinding::Require && sslmode == SslMode::Disable {
            return Err(SettingsError::InvalidValue {
                key: "channel_binding".into(),
                value: "require".into(),
                reason: "channel binding needs TLS, which sslmode=disable turns off".into(),
            });
        }
        let target_session_attrs = match param("target_session_attrs", "PGTARGETSESSIONATTRS") {
            Some(value) => SessionAttrs::parse(&value)?,
            None => SessionAttrs::default(),
        };
        // Settings pgsplit cannot honour are refused, not ignored: each promises
        // something (an encrypted channel, a fixed address) the connection would not keep.
        match param("gssencmode", "PGGSSENCMODE").as_deref() {
            None | Some("disable" | "prefer") => {}
            Some("require") => {
                return Err(SettingsError::InvalidValue {
                    key: "gssencmode".into(),
                    value: "require".into(),
                    reason: "pgsplit does not encrypt with GSSAPI; use sslmode instead".into(),
                });
            }
            Some(other) => {
                return Err(SettingsError::InvalidValue {
                    key: "gssencmode".into(),
                    value: other.into(),
                    reason: "expected disable, prefer or require".into(),
                });
            }
        }
        if let Some(addr) = param("hostaddr", "PGHOSTADDR") {
            return Err(SettingsError::InvalidValue {
                key: "hostaddr".into(),
                value: addr,
                reason: "pgsplit does not take hostaddr: give the address as host (with \
                         sslmode=verify-full, the name the certificate holds)"
                    .into(),
            });
        }
        let connect_timeout = match param("connect_timeout", "PGCONNECT_TIMEOUT") {
            None => None,
            Some(text) => {
                let secs: i64 = text
                    .trim()
                    .parse()
                    .map_err(|_| SettingsError::InvalidValue {
                        key: "connect_timeout".into(),
                        value: text.clone(),
                        reason: "expected whole seconds".into(),
                    })?;
                // libpq: zero or negative waits forever; below 2 s it uses 2 s.
                (secs > 0).then(|| Duration::from_secs(secs.max(2) as u64))
            }
        };
        let keepalives = match params.get("keepalives").map(String::as_str) {
            None | Some("1") => true,
            Some("0") => false,
            Some(other) => {
                return Err(SettingsError::InvalidValue {
                    key: "keepalives".into(),
                    value: other.into(),
                    reason: "expected 0 or 1".into(),
                });
            }
        };

        let mut settings = ConnSettings {
            hosts,
            user,
            password: param("password", "PGPASSWORD").map(Secret::new),
            dbname,
            sslmode,
            channel_binding,
            target_session_attrs,
            sslrootcert: param("sslrootcert", "PGSSLROOTCERT").map(PathBuf::from),
            sslcert: param("sslcert", "PGSSLCERT").map(PathBuf::from),
            sslkey: param("sslkey", "PGSSLKEY").map(PathBuf::from),
            connect_timeout,
            application_name: params
                .get("application_name")
                .cloned()
                .unwrap_or_else(|| DEFAULT_APPLICATION_NAME.to_string()),
            options: param("options", "PGOPTIONS"),
            keepalives,
            password_source: None,
            database: None,
        };

        if settings.password.is_none() {
            let passfile = param("passfile", "PGPASSFILE")
                .map(PathBuf::from)
                .or_else(|| env.home.as_ref().map(|h| h.join(".pgpass")));
            if let Some(path) = passfile {
                settings.password = pgpass::lookup(&path, &settings).map(Secret::new);
            }
        }
        Ok(settings)
    }

    /// The settings to open a connection with: with a [`PasswordSource`], a copy holding
    /// a password made now.
    pub async fn for_connecting(&self) -> Result<Cow<'_, ConnSettings>, SettingsError> {
        let Some(source) = &self.password_source else {
            return Ok(Cow::Borrowed(self));
        };
        let password = source.password().await.map_err(SettingsError::Password)?;
        Ok(Cow::Owned(ConnSettings {
            password: Some(password),
            ..self.clone()
        }))
    }

    /// The first host and port, for messages and `.pgpass`.
    pub fn primary(&self) -> (&Host, u16) {
        let (host, port) = &self.hosts[0];
        (host, *port)
    }

    /// The same settings pointing at another database on the same server.
    pub fn with_dbname(&self, dbname: &str) -> ConnSettings {
        ConnSettings {
            dbname: dbname.to_string(),
            database: None,
            ..self.clone()
        }
    }

    /// True when both name the same database on the same server (as far as the
    /// strings can tell: `localhost`, `127.0.0.1` and `::1` count as one host).
    pub fn same_database(&self, other: &ConnSettings) -> bool {
        let key = |s: &ConnSettings| -> Vec<(String, u16)> {
            let mut v: Vec<_> = s.hosts.iter().map(|(h, p)| (h.normalized(), *p)).collect();
            v.sort();
            v
        };
        self.dbname == other.dbname && key(self) == key(other)
    }

    /// The tokio-postgres configuration; TLS is set up by [`crate::connect`].
    pub fn to_config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        for (host, port) in &self.hosts {
            match host {
                Host::Tcp(name) => config.host(name),
                Host::Unix(path) => config.host_path(path),
            };
            config.port(*port);
        }
        config
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name(&self.application_name)
            .keepalives(self.keepalives);
        if let Some(password) = &self.password {
            config.password(password.expose());
        }
        if let Some(timeout) = self.connect_timeout {
            config.connect_timeout(timeout);
        }
        if let Some(options) = &self.options {
            config.options(options);
        }
        config.channel_binding(match self.channel_binding {
            ChannelBinding::Disable => tokio_postgres::config::ChannelBinding::Disable,
            ChannelBinding::Prefer => tokio_postgres::config::ChannelBinding::Prefer,
            ChannelBinding::Require => tokio_postgres::config::ChannelBinding::Require,
        });
        config.target_session_attrs(match self.target_session_attrs {
            SessionAttrs::Any => tokio_postgres::config::TargetSessionAttrs::Any,
            SessionAttrs::ReadWrite => tokio_postgres::config::TargetSessionAttrs::ReadWrite,
        });
        config.ssl_mode(match self.sslmode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
        config
    }
}

/// What a URL's user, socket folder and database name escape: all but the characters
/// RFC 3986 leaves unreserved (`shop_eu` stays as it is).
const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl fmt::Display for ConnSettings {
    /// `postgres://user@host:port/dbname`: never the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, ESCAPED).to_string();
        write!(f, "postgres://{}@", enc(&self.user))?;
        for (i, (host, port)) in self.hosts.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match host {
                Host::Unix(path) => write!(f, "{}", enc(&path.display().to_string()))?,
                tcp => write!(f, "{tcp}")?,
            }
            write!(f, ":{port}")?;
        }
        write!(f, "/{}", enc(&self.dbname))
    }
}

fn default_host() -> String {
    // Debian's libpq default; other systems use /tmp. Fall back to TCP localhost.
    for dir in ["/var/run/postgresql", "/tmp"] {
        if Path::new(dir).join(".s.PGSQL.5432").exists() {
            return dir.to_string();
        }
    }
    "localhost".to_string()
}

/// libpq's default user: the effective user's name from the password database (not
/// `$USER`, which `su` or a container may leave unset or stale); `$USER` or `$LOGNAME`
/// only when it has none.
fn os_user(env: &Environment) -> String {
    env.os_user
        .as_deref()
        .or_else(|| env.get("USER"))
        .or_else(|| env.get("LOGNAME"))
        .unwrap_or("postgres")
        .to_string()
}

/// The effective user's name from the password database (`getpwuid_r(geteuid())`, as
/// libpq), if it has one.
fn effective_user_name() -> Option<String> {
    whoami::username().ok().filter(|name| !name.is_empty())
}

fn pair_hosts_and_ports(hosts: &str, ports: &str) -> Result<Vec<(Host, u16)>, SettingsError> {
    let hosts: Vec<&str> = hosts.split(',').map(str::trim).collect();
    let ports: Vec<&str> = if ports.is_empty() {
        vec![]
    } else {
        ports.split(',').map(str::trim).collect()
    };
    if ports.len() > 1 && ports.len() != hosts.len() {
        return Err(SettingsError::InvalidValue {
            key: "port".into(),
            value: ports.join(","),
            reason: format!("{} ports for {} hosts", ports.len(), hosts.len()),
        });
    }
    hosts
        .iter()
        .enumerate()
        .map(|(i, host)| {
            if host.is_empty() {
                return Err(SettingsError::InvalidValue {
                    key: "host".into(),
                    value: String::new(),
                    reason: "empty host name".into(),
                });
            }
            let port_text = ports.get(i).or(ports.first()).copied().unwrap_or("");
            let port = parse_port(port_text)?;
            Ok((Host::parse(host), port))
        })
        .collect()
}

fn parse_port(text: &str) -> Result<u16, SettingsError> {
    if text.is_empty() {
        return Ok(DEFAULT_PORT);
    }
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        // Not a number: a password whose '@' was not encoded (`user:pass` read as
        // `host:port`) is not echoed.
        _ => Err(SettingsError::InvalidValue {
            key: "port".into(),
            value: if text.bytes().all(|b| b.is_ascii_digit()) {
                text.into()
            } else {
                "***".into()
            },
            reason: "expected a number from 1 to 65535; percent-encode '@' in passwords as %40"
                .into(),
        }),
    }
}

fn decode(text: &str, url: &str) -> Result<String, SettingsError> {
    // A '%' not followed by two hex digits: libpq refuses it rather than guess.
    let bytes = text.as_bytes();
    let bad_escape = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && !bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if bad_escape {
        return Err(SettingsError::InvalidUrl {
            url: redact_text(url),
            reason: "a '%' not followed by two hex digits (write a '%' as %25)".into(),
        });
    }
    percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| SettingsError::InvalidUrl {
            url: redact_text(url),
            reason: "percent-encoding does not decode to UTF-8".into(),
        })
}

/// `postgres[ql]://[user[:password]@][host[:port][,…]][/dbname][?key=value&…]`
fn parse_url(url: &str) -> Result<BTreeMap<String, String>, SettingsError> {
    let invalid = |reason: &str| SettingsError::InvalidUrl {
        url: redact_text(url),
        reason: reason.to_string(),
    };
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    if rest.chars().any(char::is_whitespace) {
        return Err(invalid("contains white space"));
    }
    // The user and password end at an '@' before the first '/' (as libpq reads them),
    // the last such '@' before the host's '?', so that a password holding an unencoded
    // '@' still works. A '?' before that '@' may be a password's or begin a query whose
    // value holds the '@' (`?user=admin@server`): which cannot be told, and a wrong guess
    // would show a password as a host or user name, so it is refused unshown.
    let mut params = BTreeMap::new();
    let before_path = &rest[..rest.find('/').unwrap_or(rest.len())];
    if let (Some(at), Some(question)) = (before_path.find('@'), before_path.find('?'))
        && question < at
    {
        return Err(SettingsError::InvalidUrl {
            url: "(not shown)".into(),
            reason: "an '@' follows a '?' before the database name: percent-encode '?' in a \
                     password (%3F), or '@' in a parameter's value (%40)"
                .into(),
        });
    }
    let userinfo_given = before_path.contains('@');
    let rest = match before_path.find('@') {
        Some(first) => {
            let after = &before_path[first + 1..];
            let host_end = first + 1 + after.find('?').unwrap_or(after.len());
            let at = before_path[..host_end].rfind('@').unwrap_or(first);
            let userinfo = &rest[..at];
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                params.insert("user".into(), decode(user, url)?);
            }
            if let Some(p) = password {
                params.insert("password".into(), decode(p, url)?);
            }
            &rest[at + 1..]
        }
        None => rest,
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let (hostspec, path) = match before_query.find('/') {
        Some(i) => (&before_query[..i], Some(&before_query[i + 1..])),
        None => (before_query, None),
    };
    if !hostspec.is_empty() {
        let mut hosts = Vec::new();
        let mut ports = Vec::new();
        for part in hostspec.split(',') {
            let (host, port) = split_host_port(part).ok_or_else(|| {
                invalid("bad host:port (one ':' before the port; an IPv6 address in brackets)")
            })?;
            hosts.push(decode(host, url)?);
            ports.push(port.to_string());
        }
        if hosts.iter().any(|h| !h.is_empty()) {
            params.insert("host".into(), hosts.join(","));
        }
        if ports.iter().any(|p| !p.is_empty()) {
            params.insert("port".into(), ports.join(","));
        }
    }
    if let Some(path) = path.filter(|p| !p.is_empty()) {
        if path.contains('/') {
            return Err(invalid(
                "the database name must not contain '/' (percent-encode '/' in a password as %2F)",
            ));
        }
        // Without a user part, likely the rest of a password holding an unencoded '/':
        // not shown.
        if path.contains('@') && !userinfo_given {
            return Err(SettingsError::InvalidUrl {
                url: "(not shown)".into(),
                reason: "the database name holds '@': percent-encode '/' and '@' in a \
                         password (%2F, %40), and '@' in a database name (%40)"
                    .into(),
            });
        }
        params.insert("dbname".into(), decode(path, url)?);
    }
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| invalid("query parameter without '='"))?;
        params.insert(decode(key, url)?, decode(value, url)?);
    }
    Ok(params)
}

fn split_host_port(part: &str) -> Option<(&str, &str)> {
    if let Some(rest) = part.strip_prefix('[') {
        let close = rest.find(']')?;
        let host = &rest[..close];
        let after = &rest[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => p,
            None if after.is_empty() => "",
            None => return None,
        };
        return Some((host, port));
    }
    // An IPv6 address goes in brackets: `h:5432:77` is a mistake, not a host `h:5432`.
    match part.rsplit_once(':') {
        Some((h, _)) if h.contains(':') => None,
        Some((h, p)) => Some((h, p)),
        None => Some((part, "")),
    }
}

/// libpq's `key=value key='quoted value'` form.
fn parse_keywords(text: &str) -> Result<BTreeMap<String, String>, SettingsError> {
    let mut params = BTreeMap::new();
    let mut chars = text.chars().peekable();
    let mut unquoted_password = false;
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        // After an unquoted password, a word that is no parameter is likely the rest of
        // a password holding a space: not shown.
        if unquoted_password && !KNOWN_PARAMS.contains(&key.as_str()) {
            return Err(SettingsError::InvalidValue {
                key: "password".into(),
                value: "***".into(),
                reason: "is followed by a word that is no parameter: put a password holding \
                         spaces in single quotes (password='…')"
                    .into(),
            });
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(SettingsError::Unparsable(redact_text(text)));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        unquoted_password = key == "password" && chars.peek() != Some(&'\'');
        if chars.next_if_eq(&'\'').is_some() {
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '\'' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(SettingsError::Unparsable(redact_text(text)));
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        params.insert(key, value);
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment {
            vars: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            home: None,
            os_user: None,
        }
    }

    #[test]
    fn a_password_may_hold_what_libpq_lets_it_hold_and_is_never_shown() {
        let e = env(&[]);
        // An unencoded '@' in a password; '?' and '@' percent-encoded.
        for (url, password) in [
            ("postgres://erin:a@b@h:5433/db?sslmode=disable", "a@b"),
            (
                "postgres://erin:Xk9%3FPw7Secret=3@h:5433/db",
                "Xk9?Pw7Secret=3",
            ),
            ("postgres://erin:p%3Fq%40r@h:5433", "p?q@r"),
        ] {
            let s = ConnSettings::parse_with(url, &e).unwrap();
            assert_eq!(
                s.password.as_ref().map(|p| p.expose()),
                Some(password),
                "{url}"
            );
            assert_eq!((s.user.as_str(), s.primary().1), ("erin", 5433), "{url}");
        }
        // A query's '@' is not the user's, with a path or without, with a user or without.
        for (url, user, app) in [
            ("postgres://erin@h/db?application_name=a@b", "erin", "a@b"),
            ("postgres://erin@h?application_name=a@b", "erin", "a@b"),
            (
                "postgres://h/db?user=admin@srv&application_name=x",
                "admin@srv",
                "x",
            ),
        ] {
            let s = ConnSettings::parse_with(url, &e).unwrap();
            assert_eq!(
                (s.user.as_str(), s.application_name.as_str()),
                (user, app),
                "{url}"
            );
        }
        // A database name may hold '@' after a user part.
        let s = ConnSettings::parse_with("postgres://erin@h/my@db", &e).unwrap();
        assert_eq!(s.dbname, "my@db");
        // '?' before an '@' and no path: a password's '?' or a query value's '@'; never
        // guessed (a wrong guess shows the password as a name), never shown.
        for (url, secret) in [
            ("postgres://erin:Xk9?Pw7Secret=3@h:5433/db", "Pw7Secret"),
            (
                "postgres://erin:5432?sslmode=Secret77@h:5433/db",
                "Secret77",
            ),
            ("postgres://h?password=S3cr@etTail", "etTail"),
            (
                "postgres://db.example.com:5432?user=admin@myserver&sslmode=require",
                "myserver",
            ),
        ] {
            let err = ConnSettings::parse_with(url, &e).err().unwrap().to_string();
            assert!(err.contains("%3F") && !err.contains(secret), "{url}: {err}");
        }
        // An unencoded '/' in a password: refused without showing what follows it.
        let err = ConnSettings::parse_with("postgres://alice:5432/SecretDb88@h:1", &e)
            .err()
            .unwrap()
            .to_string();
        assert!(!err.contains("SecretDb88") && err.contains("%2F"), "{err}");
        // key=value: the rest of an unquoted passphrase is not named.
        let err = ConnSettings::parse_with("host=h user=a password=Open Sesame=1 dbname=d", &e)
            .err()
            .unwrap()
            .to_string();
        assert!(!err.contains("Sesame") && err.contains("quotes"), "{err}");
        let quoted =
            ConnSettings::parse_with("host=h user=a password='Open Sesame=1' dbname=d", &e)
                .unwrap();
        assert_eq!(quoted.password.unwrap().expose(), "Open Sesame=1");
    }

    #[test]
    fn settings_pgsplit_cannot_keep_are_refused() {
        let e = env(&[]);
        let refused = |url: &str| match ConnSettings::parse_with(url, &e) {
            Err(err) => err.to_string(),
            Ok(_) => panic!("{url} accepted"),
        };
        let err = refused("postgres://u@h/db?sslmode=disable&channel_binding=require");
        assert!(
            err.contains("channel_binding") && err.contains("TLS"),
            "{err}"
        );
        assert!(refused("postgres://u@h/db?channel_binding=maybe").contains("expected"));
        assert!(refused("postgres://u@h/db?gssencmode=require").contains("GSSAPI"));
        assert!(refused("postgres://u@h/db?hostaddr=10.0.0.1").contains("hostaddr"));
        let err = refused("postgres://u@h/db?target_session_attrs=primary-ish");
        assert!(err.contains("read-write"), "{err}");
        for (value, attrs) in [
            ("primary", SessionAttrs::ReadWrite),
            ("standby", SessionAttrs::Any),
            ("read-only", SessionAttrs::Any),
        ] {
            let url = format!("postgres://u@h/db?target_session_attrs={value}");
            let parsed = ConnSettings::parse_with(&url, &e).unwrap();
            assert_eq!(parsed.target_session_attrs, attrs, "{value}");
        }
        let ok = ConnSettings::parse_with(
            "postgres://u@h/db?channel_binding=require&gssencmode=prefer&target_session_attrs=read-write",
            &e,
        )
        .unwrap();
        assert_eq!(ok.channel_binding, ChannelBinding::Require);
        assert_eq!(ok.target_session_attrs, SessionAttrs::ReadWrite);
        let from_env = ConnSettings::parse_with(
            "postgres://u@h/db",
            &env(&[("PGCHANNELBINDING", "require")]),
        )
        .unwrap();
        assert_eq!(from_env.channel_binding, ChannelBinding::Require);
    }

    #[test]
    fn parses_full_url_with_percent_encoding() {
        let s = ConnSettings::parse_with(
            "postgresql://app%40corp:p%40ss%3Aw0rd@db.example.com:6543/my%20db?sslmode=verify-full&sslrootcert=/ca.pem&connect_timeout=7",
            &env(&[]),
        )
        .unwrap();
        assert_eq!(s.user, "app@corp");
        assert_eq!(s.password.as_ref().unwrap().expose(), "p@ss:w0rd");
        assert_eq!(s.hosts, vec![(Host::Tcp("db.example.com".into()), 6543)]);
        assert_eq!(s.dbname, "my db");
        assert_eq!(s.sslmode, SslMode::VerifyFull);
        assert_eq!(s.sslrootcert.as_deref(), Some(Path::new("/ca.pem")));
        assert_eq!(s.connect_timeout, Some(Duration::from_secs(7)));
        assert_eq!(s.application_name, "pgsplit");
        let shown = s.to_string();
        assert_eq!(shown, "postgres://app%40corp@db.example.com:6543/my%20db");
        assert!(!format!("{s:?}").contains("w0rd"));
        let plain = ConnSettings::parse_with("postgres://app_ro@db/shop_eu-1.v2~x", &env(&[]));
        assert_eq!(
            plain.unwrap().to_string(),
            "postgres://app_ro@db:5432/shop_eu-1.v2~x"
        );
    }

    #[test]
    fn environment_fills_the_gaps() {
        let e = env(&[
            ("PGHOST", "envhost"),
            ("PGPORT", "5999"),
            ("PGUSER", "envuser"),
            ("PGPASSWORD", "envpw"),
            ("PGDATABASE", "envdb"),
            ("PGSSLMODE", "require"),
            ("PGCONNECT_TIMEOUT", "1"),
        ]);
        let s = ConnSettings::parse_with("postgres://", &e).unwrap();
        assert_eq!(s.hosts, vec![(Host::Tcp("envhost".into()), 5999)]);
        assert_eq!((s.user.as_str(), s.dbname.as_str()), ("envuser", "envdb"));
        assert_eq!(s.password.unwrap().expose(), "envpw");
        assert_eq!(s.sslmode, SslMode::Require);
        assert_eq!(s.connect_timeout, Some(Duration::from_secs(2)));
        // URL values win over the environment.
        let s = ConnSettings::parse_with("postgres://u@h/d?sslmode=disable", &e).unwrap();
        assert_eq!((s.user.as_str(), s.dbname.as_str()), ("u", "d"));
        assert_eq!(s.sslmode, SslMode::Disable);
    }

    #[test]
    fn dbname_defaults_to_user() {
        let s = ConnSettings::parse_with("postgres://alice@h", &env(&[])).unwrap();
        assert_eq!(s.dbname, "alice");
        assert_eq!(s.hosts[0].1, 5432);
    }

    /// As libpq: the effective user's name, not `$USER` (which `su` leaves as it was);
    /// `$USER` only when the password database has no name.
    #[test]
    fn the_default_user_is_the_effective_users_name() {
        let mut environment = env(&[("USER", "stale")]);
        let user = |environment: &Environment| {
            ConnSettings::parse_with("postgres://h/d", environment)
                .unwrap()
                .user
        };
        assert_eq!(user(&environment), "stale");
        environment.os_user = Some("runner".into());
        assert_eq!(user(&environment), "runner");
        assert_eq!(
            Environment::from_process().os_user.as_deref(),
            whoami::username().ok().as_deref()
        );
    }

    #[test]
    fn socket_hosts_and_multiple_hosts() {
        let s = ConnSettings::parse_with("postgres://u@%2Fvar%2Frun%2Fpostgresql/db", &env(&[]))
            .unwrap();
        assert_eq!(s.hosts[0].0, Host::Unix("/var/run/postgresql".into()));
        let s = ConnSettings::parse_with("postgres://u@a:1,[::1]:2/db", &env(&[])).unwrap();
        assert_eq!(
            s.hosts,
            vec![(Host::Tcp("a".into()), 1), (Host::Tcp("::1".into()), 2)]
        );
        assert_eq!(s.to_string(), "postgres://u@a:1,[::1]:2/db");
        let err = ConnSettings::parse_with("postgres://u:p%zzw@h/db", &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("two hex digits") && !err.contains("p%zzw"),
            "{err}"
        );
        // Two ports, or an IPv6 address without brackets: refused, as libpq does.
        let err = ConnSettings::parse_with("postgres://u:pw@127.0.0.1:5432:77/db", &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad host:port") && !err.contains("pw"),
            "{err}"
        );
    }

    #[test]
    fn keyword_form() {
        let s = ConnSettings::parse_with(
            "host=h port=7 user=u password='a b\\'c' dbname=d sslmode=verify-ca",
            &env(&[]),
        )
        .unwrap();
        assert_eq!(s.password.unwrap().expose(), "a b'c");
        assert_eq!(s.hosts, vec![(Host::Tcp("h".into()), 7)]);
        assert_eq!(s.sslmode, SslMode::VerifyCa);
    }

    #[test]
    fn rejects_bad_input_without_leaking_the_password() {
        let cases = [
            "mysql://u:secretpw@h/db",
            "postgres://u:secretpw@h:99999/db",
            "postgres://u:secretpw@h/db?sslmode=maybe",
            "postgres://u:secretpw@h/db?bogus=1",
            "postgres://u:secretpw@h/a/b",
            "postgres://u:secretpw@h/db?connect_timeout=soon",
            "postgres://u:secretpw@h /db",
            "host=h password=secretpw dbname",
        ];
        for case in cases {
            let err = ConnSettings::parse_with(case, &env(&[])).unwrap_err();
            let text = err.to_string();
            assert!(!text.contains("secretpw"), "{case}: {text}");
        }
    }

    #[test]
    fn nul_characters_and_names_the_server_would_cut_are_refused() {
        for url in [
            "postgres://u@h/db%00x",
            "postgres://u:pw%00@h/db",
            "postgres://u@h/db?application_name=a%00",
        ] {
            let err = ConnSettings::parse_with(url, &env(&[]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("NUL character"), "{url}: {err}");
            assert!(!err.contains("pw"), "{err}");
        }
        let long = format!("postgres://u@h/{}", "a".repeat(64));
        let err = ConnSettings::parse_with(&long, &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("longer than 63 bytes"), "{err}");
        let fits = format!("postgres://u@h/{}", "a".repeat(63));
        assert!(ConnSettings::parse_with(&fits, &env(&[])).is_ok());
    }

    #[test]
    fn same_database_treats_loopback_names_alike() {
        let a = ConnSettings::parse_with("postgres://u@localhost:5432/db", &env(&[])).unwrap();
        let b = ConnSettings::parse_with("postgres://v:pw@127.0.0.1/db", &env(&[])).unwrap();
        let c = ConnSettings::parse_with("postgres://u@localhost:5432/other", &env(&[])).unwrap();
        assert!(a.same_database(&b));
        assert!(!a.same_database(&c));
    }
}
