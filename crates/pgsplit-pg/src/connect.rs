//! Opening a connection: TLS per `sslmode`, the connection task spawned on the runtime,
//! errors that name the redacted server.

use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

use crate::error::{ConnectError, SettingsError};
use crate::settings::ConnSettings;
use crate::tls;

/// A connected client and the task that drives its socket. Dropping the client closes
/// the connection; the task then ends by itself.
pub struct Connection {
    pub client: Client,
    pub task: JoinHandle<()>,
    /// The redacted server string, for messages.
    pub server: String,
}

/// Why [`connect`] failed: the settings could not be turned into a connector, or the
/// server could not be reached or refused us.
#[derive(Debug, thiserror::Error)]
pub enum ConnectFailure {
    #[error("{server}: {source}")]
    Settings {
        server: String,
        #[source]
        source: SettingsError,
    },
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The server took the connection but did not finish the start-up (TLS, log-in) in
    /// time: tokio-postgres's own timeout covers only the socket's connect.
    #[error("{server}: no answer within {}s of connecting (connect_timeout)", .after.as_secs())]
    TimedOut {
        server: String,
        after: std::time::Duration,
    },
    #[error("{server}: {replaced}")]
    Replaced { server: String, replaced: Replaced },
}

/// Which database a session must reach ([`ConnSettings::database`]): its OID, and its
/// server's system identifier where the role may read it (a new cluster gives its first
/// databases the same OIDs as the old one did).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DatabasePin {
    pub oid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
}

impl DatabasePin {
    /// The same database: the same OID, on the same server where both tell theirs.
    pub fn same_as(&self, other: &DatabasePin) -> bool {
        self.oid == other.oid
            && match (&self.system, &other.system) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl std::fmt::Display for DatabasePin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.system {
            Some(system) => write!(f, "OID {} on server {system}", self.oid),
            None => write!(f, "OID {}", self.oid),
        }
    }
}

/// The database answering to a name is another than [`ConnSettings::database`]: dropped
/// and made again since a run first reached it, or on another server at that address.
#[derive(Debug, thiserror::Error)]
#[error(
    "database {dbname} is not the one this run wrote into (was {expected}, now {found}): it \
     was dropped and made again meanwhile, or another server answers at its address; the \
     run stops rather than write into it"
)]
pub struct Replaced {
    pub dbname: String,
    pub expected: DatabasePin,
    pub found: DatabasePin,
}

impl Replaced {
    /// `found`, the session's database, against what `settings` pin.
    pub fn check(settings: &ConnSettings, found: DatabasePin) -> Result<(), Replaced> {
        match &settings.database {
            Some(expected) if !expected.same_as(&found) => Err(Replaced {
                dbname: settings.dbname.clone(),
                expected: expected.clone(),
                found,
            }),
            _ => Ok(()),
        }
    }
}

impl ConnectFailure {
    /// The SQLSTATE when the server answered with an error.
    pub fn code(&self) -> Option<&tokio_postgres::error::SqlState> {
        match self {
            ConnectFailure::Connect(e) => e.code(),
            ConnectFailure::Settings { .. }
            | ConnectFailure::TimedOut { .. }
            | ConnectFailure::Replaced { .. } => None,
        }
    }
}

/// The OID of the session's database ([`ConnSettings::database`]).
pub const CURRENT_DATABASE_OID: &str = "SELECT d.oid FROM pg_catalog.pg_database d \
     WHERE d.datname = pg_catalog.current_database()";

/// The server's system identifier; not every role may read it.
pub const SYSTEM_IDENTIFIER: &str =
    "SELECT system_identifier::text FROM pg_catalog.pg_control_system()";

/// The database `client` is on: its OID, and its server's system identifier if
/// `with_system` and the role may read it.
pub async fn database_pin(
    client: &tokio_postgres::Client,
    with_system: bool,
) -> Result<DatabasePin, tokio_postgres::Error> {
    let oid = client.query_one(CURRENT_DATABASE_OID, &[]).await?.get(0);
    let system = if with_system {
        client
            .query_one(SYSTEM_IDENTIFIER, &[])
            .await
            .ok()
            .map(|row| row.get(0))
    } else {
        None
    };
    Ok(DatabasePin { oid, system })
}

pub async fn connect(settings: &ConnSettings) -> Result<Connection, ConnectFailure> {
    let server = settings.to_string();
    let failed = |source| ConnectFailure::Settings {
        server: server.clone(),
        source,
    };
    let settings = settings.for_connecting().await.map_err(failed)?;
    let config = settings.to_config();
    let connector = tls::connector(&settings).map_err(failed)?;
    let wrap = |source| ConnectError {
        server: server.clone(),
        source,
    };
    let handshake = async {
        Ok::<_, ConnectFailure>(match connector {
            None => {
                let (client, connection) = config.connect(NoTls).await.map_err(wrap)?;
                (client, spawn(connection, &server))
            }
            Some(tls) => {
                let (client, connection) = config.connect(tls).await.map_err(wrap)?;
                (client, spawn(connection, &server))
            }
        })
    };
    // The whole start-up, each host its `connect_timeout`, as libpq has it.
    let (client, task) = match settings.connect_timeout {
        Some(limit) => {
            let hosts = u32::try_from(settings.hosts.len().max(1)).unwrap_or(u32::MAX);
            tokio::time::timeout(limit.saturating_mul(hosts), handshake)
                .await
                .map_err(|_| ConnectFailure::TimedOut {
                    server: server.clone(),
                    after: limit,
                })??
        }
        None => handshake.await?,
    };
    if let Some(pin) = &settings.database {
        let found = database_pin(&client, pin.system.is_some())
            .await
            .map_err(wrap)?;
        Replaced::check(&settings, found).map_err(|replaced| ConnectFailure::Replaced {
            server: server.clone(),
            replaced,
        })?;
    }
    Ok(Connection {
        client,
        task,
        server,
    })
}

fn spawn<F>(connection: F, server: &str) -> JoinHandle<()>
where
    F: std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
{
    let server = server.to_string();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("connection to {server} ended: {e}");
        }
    })
}

/// Asks the server to cancel whatever the connection behind `token` is running (a COPY,
/// an index build), over a fresh connection with the same TLS settings.
pub async fn cancel_query(
    settings: &ConnSettings,
    token: &tokio_postgres::CancelToken,
) -> Result<(), ConnectFailure> {
    let wrap = |source| ConnectError {
        server: settings.to_string(),
        source,
    };
    match tls::connector(settings).map_err(|source| ConnectFailure::Settings {
        server: settings.to_string(),
        source,
    })? {
        None => token.cancel_query(NoTls).await.map_err(wrap)?,
        Some(tls) => token.cancel_query(tls).await.map_err(wrap)?,
    }
    Ok(())
}
