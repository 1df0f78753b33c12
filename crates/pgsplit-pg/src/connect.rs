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
}

impl ConnectFailure {
    /// The SQLSTATE when the server answered with an error.
    pub fn code(&self) -> Option<&tokio_postgres::error::SqlState> {
        match self {
            ConnectFailure::Connect(e) => e.code(),
            ConnectFailure::Settings { .. } => None,
        }
    }
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
    let (client, task) = match connector {
        None => {
            let (client, connection) = config.connect(NoTls).await.map_err(wrap)?;
            (client, spawn(connection, &server))
        }
        Some(tls) => {
            let (client, connection) = config.connect(tls).await.map_err(wrap)?;
            (client, spawn(connection, &server))
        }
    };
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
