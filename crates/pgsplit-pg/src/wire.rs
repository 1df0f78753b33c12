//! A lean client for the data path: one socket, the simple query protocol, and COPY
//! passed from one server to another as the protocol bytes they are.
//!
//! tokio-postgres parses every CopyData message into its own buffer and hands it across
//! a channel between tasks; at one message per row that costs more CPU than the rest of
//! the client together. Here a COPY TO's messages are read 256 kB at a time, and the row
//! data of each read goes to the COPY FROM as one CopyData message (the data of a COPY is
//! a stream of bytes in both directions; message boundaries need not match rows): the
//! client only walks the 5-byte message headers, and shows each row's bytes to an
//! observer (row counting and hashing) before they leave. The server receiving one
//! message per read instead of one per row spends less time per row.
//!
//! Everything else of a session uses tokio-postgres (see [`crate::connect`]); this type
//! takes the same [`ConnSettings`]: every host in turn, Unix sockets, each `sslmode` with
//! the same rustls configuration, passwords in clear, MD5 or SCRAM-SHA-256.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use fallible_iterator::FallibleIterator;
use futures::FutureExt;
use postgres_protocol::authentication::{md5_hash, sasl};
use postgres_protocol::message::backend::{ErrorResponseBody, Message};
use postgres_protocol::message::frontend;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use crate::error::SettingsError;
use crate::settings::{ChannelBinding, ConnSettings, Host, SessionAttrs, SslMode};
use crate::tls;

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 256 * 1024;
/// How often (in bytes passed) a COPY checks whether the target has already refused it.
const TARGET_CHECK_BYTES: usize = 4 * 1024 * 1024;

/// An error the server sent (ErrorResponse).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerError {
    pub severity: String,
    /// The SQLSTATE.
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, "\nDETAIL: {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nHINT: {hint}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{0}")]
    Server(Box<ServerError>),
    #[error("connection: {0}")]
    Io(#[from] io::Error),
    #[error("the server closed the connection")]
    Closed,
    #[error("unexpected message from the server: {0}")]
    Protocol(String),
    #[error("authentication: {0}")]
    Auth(String),
    #[error(transparent)]
    Settings(Box<SettingsError>),
    #[error(transparent)]
    Replaced(Box<crate::Replaced>),
}

impl From<SettingsError> for WireError {
    fn from(e: SettingsError) -> WireError {
        WireError::Settings(Box::new(e))
    }
}

impl WireError {
    /// The SQLSTATE when the server answered with an error.
    pub fn code(&self) -> Option<&str> {
        match self {
            WireError::Server(e) => Some(&e.code),
            _ => None,
        }
    }

    /// The connection failed or closed without the server saying why.
    pub fn is_connection(&self) -> bool {
        matches!(self, WireError::Io(_) | WireError::Closed)
    }
}

/// Why passing a COPY from one connection to another failed.
#[derive(Debug)]
pub enum PassFault<E> {
    Source(WireError),
    Target(WireError),
    /// The observer refused a piece of row data.
    Observer(E),
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl Stream {
    fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// RFC 5929's `tls-server-end-point` of a TLS stream: the server certificate hashed
    /// with its signature's hash (SHA-256 for SHA-1 and MD5), as SCRAM-SHA-256-PLUS binds
    /// it. `None` without TLS, or for a signature with no such hash (Ed25519).
    fn server_end_point(&self) -> Option<Vec<u8>> {
        use sha2::Digest;
        use x509_cert::der::Decode;
        use x509_cert::der::oid::db::rfc5912::{
            ECDSA_WITH_SHA_256, ECDSA_WITH_SHA_384, ECDSA_WITH_SHA_512, ID_SHA_1, ID_SHA_256,
            ID_SHA_384, ID_SHA_512, SHA_1_WITH_RSA_ENCRYPTION, SHA_256_WITH_RSA_ENCRYPTION,
            SHA_384_WITH_RSA_ENCRYPTION, SHA_512_WITH_RSA_ENCRYPTION,
        };
        let Stream::Tls(tls) = self else {
            return None;
        };
        let der = tls.get_ref().1.peer_certificates()?.first()?;
        let certificate = x509_cert::Certificate::from_der(der).ok()?;
        Some(match certificate.signature_algorithm.oid {
            ID_SHA_1
            | ID_SHA_256
            | SHA_1_WITH_RSA_ENCRYPTION
            | SHA_256_WITH_RSA_ENCRYPTION
            | ECDSA_WITH_SHA_256 => sha2::Sha256::digest(der).to_vec(),
            ID_SHA_384 | SHA_384_WITH_RSA_ENCRYPTION | ECDSA_WITH_SHA_384 => {
                sha2::Sha384::digest(der).to_vec()
            }
            ID_SHA_512 | SHA_512_WITH_RSA_ENCRYPTION | ECDSA_WITH_SHA_512 => {
                sha2::Sha512::digest(der).to_vec()
            }
            _ => return None,
        })
    }
}

/// What a cancel request needs: where the session's server is, and its key.
#[derive(Clone, Debug)]
pub struct CancelKey {
    host: Host,
    port: u16,
    process_id: i32,
    secret: i32,
}

/// One session on one server.
pub struct WireConn {
    stream: Stream,
    read: BytesMut,
    write: BytesMut,
    cancel: Option<CancelKey>,
}

impl WireConn {
    /// Connects to the first of the settings' hosts that answers, as libpq does.
    pub async fn connect(settings: &ConnSettings) -> Result<WireConn, WireError> {
        let settings = &*settings.for_connecting().await?;
        let mut last = None;
        for (host, port) in &settings.hosts {
            let attempt = async {
                let stream = open_stream(settings, host, *port).await?;
                let conn = WireConn::start(stream, settings, host, *port).await?;
                match settings.target_session_attrs {
                    SessionAttrs::ReadWrite => conn.read_write().await,
                    SessionAttrs::Any => Ok(conn),
                }
            };
            let result = match settings.connect_timeout {
                Some(limit) => tokio::time::timeout(limit, attempt)
                    .await
                    .unwrap_or_else(|_| {
                        Err(WireError::Io(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "timed out connecting",
                        )))
                    }),
                None => attempt.await,
            };
            match result {
                Ok(conn) if settings.database.is_some() => return conn.checked(settings).await,
                Ok(conn) => return Ok(conn),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| WireError::Protocol("no host to connect to".into())))
    }

    /// The session, if it may write (`target_session_attrs=read-write`): a standby's is
    /// refused, so that the next host is tried.
    async fn read_write(mut self) -> Result<WireConn, WireError> {
        let rows = self.simple_query("SHOW transaction_read_only").await?;
        let read_only = rows.first().and_then(|r| r.first()).cloned().flatten();
        if read_only.as_deref() == Some("on") {
            return Err(WireError::Protocol(
                "the session is read-only (target_session_attrs=read-write)".into(),
            ));
        }
        Ok(self)
    }

    /// The session, if its database is the one `settings` pin ([`ConnSettings::database`]).
    async fn checked(mut self, settings: &ConnSettings) -> Result<WireConn, WireError> {
        let Some(pin) = &settings.database else {
            return Ok(self);
        };
        let first = |rows: Vec<Vec<Option<String>>>| -> Option<String> {
            rows.into_iter().next()?.into_iter().next()?
        };
        let oid = first(
            self.simple_query(crate::connect::CURRENT_DATABASE_OID)
                .await?,
        )
        .and_then(|oid| oid.parse::<u32>().ok())
        .ok_or_else(|| WireError::Protocol("no OID for the current database".into()))?;
        let system = match pin.system {
            Some(_) => first(self.simple_query(crate::connect::SYSTEM_IDENTIFIER).await?),
            None => None,
        };
        let found = crate::DatabasePin { oid, system };
        crate::Replaced::check(settings, found).map_err(|e| WireError::Replaced(Box::new(e)))?;
        Ok(self)
    }

    async fn start(
        stream: Stream,
        settings: &ConnSettings,
        host: &Host,
        port: u16,
    ) -> Result<WireConn, WireError> {
        let mut conn = WireConn {
            stream,
            read: BytesMut::with_capacity(READ_CHUNK),
            write: BytesMut::new(),
            cancel: None,
        };
        let mut params = vec![
            ("user", settings.user.as_str()),
            ("database", settings.dbname.as_str()),
            ("application_name", settings.application_name.as_str()),
            ("client_encoding", "UTF8"),
        ];
        if let Some(options) = &settings.options {
            params.push(("options", options.as_str()));
        }
        frontend::startup_message(params, &mut conn.write)?;
        conn.flush().await?;
        conn.authenticate(settings).await?;
        loop {
            match conn.next_message().await? {
                Message::BackendKeyData(key) => {
                    conn.cancel = Some(CancelKey {
                        host: host.clone(),
                        port,
                        process_id: key.process_id(),
                        secret: key.secret_key(),
                    });
                }
                Message::ReadyForQuery(_) => return Ok(conn),
                Message::ErrorResponse(body) => return Err(server_error(&body)),
                Message::ParameterStatus(_) | Message::NoticeResponse(_) => {}
                other => return Err(unexpected(&other)),
            }
        }
    }

    async fn authenticate(&mut self, settings: &ConnSettings) -> Result<(), WireError> {
        let password = || {
            settings
                .password
                .as_ref()
                .map(|p| p.expose().as_bytes())
                .ok_or_else(|| {
                    WireError::Auth(
                        "the server asks for a password and none was given \
                         (URL, PGPASSWORD or ~/.pgpass)"
                            .into(),
                    )
                })
        };
        let require = settings.channel_binding == ChannelBinding::Require;
        // Without binding, the password (or a hash good for this server) would go to
        // whoever answers: with channel_binding=require only SCRAM-SHA-256-PLUS will do.
        let unbound = |what: &str| {
            WireError::Auth(format!(
                "channel_binding=require, but the server asks for {what}: pgsplit does not \
                 send it"
            ))
        };
        let mut authenticated = false;
        loop {
            match self.next_message().await? {
                Message::AuthenticationOk if require && !authenticated => {
                    return Err(unbound("no password (it trusts the connection)"));
                }
                Message::AuthenticationOk => return Ok(()),
                Message::AuthenticationCleartextPassword if require => {
                    return Err(unbound("a password in clear"));
                }
                Message::AuthenticationCleartextPassword => {
                    frontend::password_message(password()?, &mut self.write)?;
                    self.flush().await?;
                }
                Message::AuthenticationMd5Password(_) if require => {
                    return Err(unbound("an MD5 password"));
                }
                Message::AuthenticationMd5Password(body) => {
                    let hash = md5_hash(settings.user.as_bytes(), password()?, body.salt());
                    frontend::password_message(hash.as_bytes(), &mut self.write)?;
                    self.flush().await?;
                }
                Message::AuthenticationSasl(body) => {
                    let mut offered = body.mechanisms();
                    let (mut scram, mut plus) = (false, false);
                    while let Some(mechanism) = offered.next()? {
                        scram |= mechanism == sasl::SCRAM_SHA_256;
                        plus |= mechanism == sasl::SCRAM_SHA_256_PLUS;
                    }
                    let binding = match settings.channel_binding {
                        ChannelBinding::Disable => None,
                        _ => self.stream.server_end_point(),
                    };
                    match binding {
                        Some(hash) if plus => {
                            let binding = sasl::ChannelBinding::tls_server_end_point(hash);
                            self.scram(password()?, sasl::SCRAM_SHA_256_PLUS, binding)
                                .await?;
                        }
                        _ if require => {
                            return Err(unbound(if self.stream.is_tls() {
                                "a SCRAM exchange it cannot bind to this TLS channel"
                            } else {
                                "a password over a connection without TLS"
                            }));
                        }
                        // Bound where the channel could be, unbound where not: the
                        // header tells the server which, so it can refuse a downgrade.
                        Some(_) if scram => {
                            let binding = sasl::ChannelBinding::unrequested();
                            self.scram(password()?, sasl::SCRAM_SHA_256, binding)
                                .await?;
                        }
                        _ if scram => {
                            let binding = sasl::ChannelBinding::unsupported();
                            self.scram(password()?, sasl::SCRAM_SHA_256, binding)
                                .await?;
                        }
                        _ => {
                            return Err(WireError::Auth(
                                "the server offers no SASL mechanism pgsplit knows".into(),
                            ));
                        }
                    }
                    authenticated = true;
                }
                Message::ErrorResponse(body) => return Err(server_error(&body)),
                _ => {
                    return Err(WireError::Auth(
                        "the server asks for an authentication method pgsplit does not \
                         support (Kerberos, GSSAPI or SSPI)"
                            .into(),
                    ));
                }
            }
        }
    }

    async fn scram(
        &mut self,
        password: &[u8],
        mechanism: &str,
        binding: sasl::ChannelBinding,
    ) -> Result<(), WireError> {
        let mut client = sasl::ScramSha256::new(password, binding);
        frontend::sasl_initial_response(mechanism, client.message(), &mut self.write)?;
        self.flush().await?;
        match self.next_message().await? {
            Message::AuthenticationSaslContinue(body) => client.update(body.data())?,
            Message::ErrorResponse(body) => return Err(server_error(&body)),
            other => return Err(unexpected(&other)),
        }
        frontend::sasl_response(client.message(), &mut self.write)?;
        self.flush().await?;
        match self.next_message().await? {
            Message::AuthenticationSaslFinal(body) => client.finish(body.data())?,
            Message::ErrorResponse(body) => return Err(server_error(&body)),
            other => return Err(unexpected(&other)),
        }
        Ok(())
    }

    /// What [`cancel`] needs to stop this session's statement from elsewhere.
    pub fn cancel_key(&self) -> Option<CancelKey> {
        self.cancel.clone()
    }

    /// The process id of the server process behind this session.
    pub fn backend_pid(&self) -> Option<i32> {
        self.cancel.as_ref().map(|k| k.process_id)
    }

    /// Runs statements with the simple query protocol; returns the rows of their results
    /// as text. An error of any statement is returned once the server is ready again.
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, WireError> {
        frontend::query(sql, &mut self.write)?;
        self.flush().await?;
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            match self.next_message().await? {
                Message::DataRow(row) => {
                    let buffer = row.buffer();
                    let mut values = Vec::new();
                    let mut ranges = row.ranges();
                    while let Some(range) = ranges.next()? {
                        values
                            .push(range.map(|r| String::from_utf8_lossy(&buffer[r]).into_owned()));
                    }
                    rows.push(values);
                }
                Message::ErrorResponse(body) => error = Some(server_error(&body)),
                Message::CopyInResponse(_) => {
                    frontend::copy_fail("COPY FROM STDIN is not expected here", &mut self.write)?;
                    self.flush().await?;
                }
                Message::CopyOutResponse(_) | Message::CopyData(_) | Message::CopyDone => {
                    error.get_or_insert_with(|| {
                        WireError::Protocol("COPY TO STDOUT in a plain query".into())
                    });
                }
                Message::ReadyForQuery(_) => {
                    return match error {
                        Some(e) => Err(e),
                        None => Ok(rows),
                    };
                }
                _ => {}
            }
        }
    }

    /// Runs statements that return nothing of interest.
    pub async fn execute(&mut self, sql: &str) -> Result<(), WireError> {
        self.simple_query(sql).await.map(drop)
    }

    /// Reads the answer to statements already sent, up to the server being ready.
    async fn execute_answer(&mut self) -> Result<(), WireError> {
        let mut error = None;
        loop {
            match self.next_message().await? {
                Message::ErrorResponse(body) => error = Some(server_error(&body)),
                Message::ReadyForQuery(_) => return error.map_or(Ok(()), Err),
                _ => {}
            }
        }
    }

    /// Sends a `COPY … TO STDOUT` or `COPY … FROM STDIN` and waits until the server is in
    /// COPY mode. `sql` may start with other statements (`BEGIN; TRUNCATE …; COPY …`): one
    /// round trip for all of them. A refused statement leaves the session ready for the
    /// next one (inside a failed transaction block if `sql` opened one).
    pub async fn start_copy(&mut self, sql: &str) -> Result<(), WireError> {
        self.start_copy_after_query(sql).await.map(drop)
    }

    /// [`start_copy`](Self::start_copy) where a statement before the COPY returns a
    /// value: the first column of the last row returned before the COPY started.
    pub async fn start_copy_after_query(&mut self, sql: &str) -> Result<Option<String>, WireError> {
        self.queue_query(sql)?;
        self.send_queued().await?;
        self.copy_started().await
    }

    /// Adds statements to the ones [`send_queued`](Self::send_queued) sends. Sent
    /// statements run one after the other without waiting for the client: a `COPY … TO
    /// STDOUT` among them starts as soon as the server gets to it, and its rows wait in
    /// the connection until read. Their answers are read in the order sent
    /// ([`copy_started`](Self::copy_started) for a COPY).
    pub fn queue_query(&mut self, sql: &str) -> Result<(), WireError> {
        frontend::query(sql, &mut self.write)?;
        Ok(())
    }

    /// Bytes of statements added by [`queue_query`](Self::queue_query), not yet sent.
    pub fn queued_bytes(&self) -> usize {
        self.write.len()
    }

    /// Sends the statements [`queue_query`](Self::queue_query) added.
    pub async fn send_queued(&mut self) -> Result<(), WireError> {
        self.flush().await
    }

    /// Reads the answer to statements sent earlier that end in a COPY, up to the server
    /// being in COPY mode: the first column of the last row returned before that, as
    /// [`start_copy_after_query`](Self::start_copy_after_query). A refused statement
    /// leaves the session ready for the next statement sent.
    pub async fn copy_started(&mut self) -> Result<Option<String>, WireError> {
        let mut value = None;
        loop {
            match self.next_message().await? {
                Message::CopyOutResponse(_) | Message::CopyInResponse(_) => return Ok(value),
                Message::ErrorResponse(body) => return Err(self.error_then_ready(&body).await),
                Message::DataRow(row) => {
                    let buffer = row.buffer();
                    value = row
                        .ranges()
                        .next()?
                        .flatten()
                        .map(|r| String::from_utf8_lossy(&buffer[r]).into_owned());
                }
                Message::NoticeResponse(_)
                | Message::ParameterStatus(_)
                | Message::RowDescription(_)
                | Message::CommandComplete(_)
                | Message::EmptyQueryResponse => {}
                other => return Err(unexpected(&other)),
            }
        }
    }

    /// Sends a `COPY … FROM STDIN` (possibly after other statements, as for
    /// [`start_copy`](Self::start_copy)) without waiting for the server's answer: the data
    /// may follow at once, a round trip sooner. The answer is read while the data passes
    /// ([`pass_copy_into`](Self::pass_copy_into)) or at its end. If the server refused,
    /// it drops the data and the end of the COPY that follow (the protocol has it ignore
    /// them once a COPY failed), and the refusal is the error the pass returns.
    pub async fn send_copy_in(&mut self, sql: &str) -> Result<(), WireError> {
        self.queue_query(sql)?;
        self.send_queued().await
    }

    /// Passes the rest of a started COPY TO on `self` into a started COPY FROM on
    /// `target`, row data bytes as they are. `observe` sees every piece of row data (a
    /// row may come in several pieces) before it is sent. Returns the number of rows the
    /// target reports stored. On success both sessions are ready for the next
    /// statement. After an error of the source, or a refusal by the target, the target is
    /// ready for the next statement; the source session is, too, when the source failed.
    /// In any other case drop the sessions. `then`: statements sent to the target with the
    /// end of the COPY (saving a round trip, e.g. the `COMMIT`), run even if the COPY
    /// failed at its end (a `COMMIT` then rolls back); an error of theirs is returned
    /// unless the COPY's own came first.
    pub async fn pass_copy_into<E>(
        &mut self,
        target: &mut WireConn,
        then: Option<&str>,
        observe: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<u64, PassFault<E>> {
        self.pass_copy_unanswered(target, then, true, observe)
            .await?;
        target
            .copy_in_answer(then.is_some())
            .await
            .map_err(PassFault::Target)
    }

    /// [`pass_copy_into`](Self::pass_copy_into) without reading the target's answer at
    /// the end: [`copy_in_answer`](Self::copy_in_answer) reads it, and the target session
    /// may first be sent the next statements (the answers come in the order sent).
    /// `watch`: check every few MB whether the target refused the COPY (and stop then);
    /// only when no answer to an earlier statement may be on its way.
    pub async fn pass_copy_unanswered<E>(
        &mut self,
        target: &mut WireConn,
        then: Option<&str>,
        watch: bool,
        mut observe: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), PassFault<E>> {
        // Payload bytes of the current CopyData message not yet walked over.
        let mut remaining = 0usize;
        let mut since_check = 0usize;
        loop {
            debug_assert!(
                target.write.is_empty(),
                "statements to the target are flushed at once"
            );
            // The row data of this read leaves as one message: on an error, none of it.
            let walked = walk_row_data(&self.read, &mut remaining, &mut target.write, &mut observe);
            let Walked {
                consumed,
                other_message,
            } = walked.inspect_err(|_| target.write.clear())?;
            self.read.advance(consumed);
            if !target.write.is_empty() {
                since_check += target.write.len();
                target.flush().await.map_err(PassFault::Target)?;
                if watch && since_check >= TARGET_CHECK_BYTES {
                    since_check = 0;
                    // Every message sent is complete: after a refusal the server finds
                    // the start of the next statement by itself.
                    target.check_refused().await.map_err(PassFault::Target)?;
                }
            }
            if other_message {
                match self.next_message().await.map_err(PassFault::Source)? {
                    Message::CopyDone => break,
                    Message::NoticeResponse(_) | Message::ParameterStatus(_) => continue,
                    Message::ErrorResponse(body) => {
                        let error = server_error(&body);
                        // The source ends the COPY; make the target end it too, then
                        // leave both sessions ready.
                        let _ = target.fail_copy("the source failed").await;
                        let _ = self.until_ready().await;
                        return Err(PassFault::Source(error));
                    }
                    other => return Err(PassFault::Source(unexpected(&other))),
                }
            } else {
                self.fill().await.map_err(PassFault::Source)?;
            }
        }
        self.until_ready().await.map_err(PassFault::Source)?;
        frontend::copy_done(&mut target.write);
        if let Some(sql) = then {
            frontend::query(sql, &mut target.write).map_err(|e| PassFault::Target(e.into()))?;
        }
        target.flush().await.map_err(PassFault::Target)
    }

    /// The target's answer to a COPY passed by
    /// [`pass_copy_unanswered`](Self::pass_copy_unanswered) (and to the statements sent
    /// with its end, `then`): the rows stored.
    pub async fn copy_in_answer(&mut self, then: bool) -> Result<u64, WireError> {
        let stored = self.finish_copy_in().await;
        let after = match then {
            true => self.execute_answer().await,
            false => Ok(()),
        };
        let stored = stored?;
        after?;
        Ok(stored)
    }

    /// Ends a COPY FROM with an error (CopyFail) and waits until the session is ready.
    pub async fn fail_copy(&mut self, why: &str) -> Result<(), WireError> {
        frontend::copy_fail(why, &mut self.write)?;
        self.flush().await?;
        self.until_ready().await
    }

    /// After CopyDone: the rows stored, from the command tag, once the server is ready.
    async fn finish_copy_in(&mut self) -> Result<u64, WireError> {
        let mut stored = None;
        let mut error = None;
        loop {
            match self.next_message().await? {
                Message::CommandComplete(body) => {
                    // Statements sent before the COPY end with their own tags.
                    if let Some(n) = body.tag()?.strip_prefix("COPY ") {
                        stored = n.trim().parse::<u64>().ok();
                    }
                }
                Message::ErrorResponse(body) => error = Some(server_error(&body)),
                Message::ReadyForQuery(_) => break,
                Message::NoticeResponse(_)
                | Message::ParameterStatus(_)
                | Message::CopyInResponse(_) => {}
                other => return Err(unexpected(&other)),
            }
        }
        if let Some(e) = error {
            return Err(e);
        }
        stored.ok_or_else(|| WireError::Protocol("COPY ended without a row count".into()))
    }

    /// During a COPY FROM: has the server already refused it? Reads what has arrived,
    /// without waiting; an error the server sent is returned.
    async fn check_refused(&mut self) -> Result<(), WireError> {
        self.read.reserve(1024);
        if let Some(read) = self.stream.read_buf(&mut self.read).now_or_never() {
            if read? == 0 {
                return Err(WireError::Closed);
            }
            while let Some(message) = Message::parse(&mut self.read)? {
                match message {
                    // The server left COPY mode: it ignores the rest of the data and is
                    // ready for the next statement once it has said so.
                    Message::ErrorResponse(body) => return Err(self.error_then_ready(&body).await),
                    // The answers to a COPY sent without waiting (`send_copy_in`).
                    Message::CommandComplete(_) | Message::CopyInResponse(_) => {}
                    Message::NoticeResponse(_) | Message::ParameterStatus(_) => {}
                    other => return Err(unexpected(&other)),
                }
            }
        }
        Ok(())
    }

    /// The server's error, once the server is ready for the next statement again.
    async fn error_then_ready(&mut self, body: &ErrorResponseBody) -> WireError {
        let error = server_error(body);
        match self.until_ready().await {
            Ok(()) => error,
            Err(e) => e,
        }
    }

    async fn until_ready(&mut self) -> Result<(), WireError> {
        loop {
            if let Message::ReadyForQuery(_) = self.next_message().await? {
                return Ok(());
            }
        }
    }

    async fn next_message(&mut self) -> Result<Message, WireError> {
        loop {
            if let Some(message) = Message::parse(&mut self.read)? {
                return Ok(message);
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> Result<(), WireError> {
        self.read.reserve(READ_CHUNK);
        if self.stream.read_buf(&mut self.read).await? == 0 {
            return Err(WireError::Closed);
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), WireError> {
        self.stream.write_all(&self.write).await?;
        self.stream.flush().await?;
        self.write.clear();
        Ok(())
    }
}

/// How far [`walk_row_data`] got in a read.
struct Walked {
    /// Bytes of the read walked over (whole messages and pieces of row data).
    consumed: usize,
    /// The read goes on with a message other than CopyData.
    other_message: bool,
}

/// Walks the CopyData messages at the start of `buffered`, showing each piece of row data
/// to `observe`, and puts all of it into `out` as one CopyData message (left empty if
/// there was none). `remaining`: payload bytes of the message under way, before and after.
/// On an error `out` may hold part of a message: the caller clears it.
fn walk_row_data<E>(
    buffered: &[u8],
    remaining: &mut usize,
    out: &mut BytesMut,
    observe: &mut impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<Walked, PassFault<E>> {
    const HEADER: usize = 5;
    out.extend_from_slice(&[b'd', 0, 0, 0, 0]);
    let mut pos = 0;
    let mut other_message = false;
    loop {
        if *remaining > 0 {
            let take = (*remaining).min(buffered.len() - pos);
            if take == 0 {
                break;
            }
            let piece = &buffered[pos..pos + take];
            observe(piece).map_err(PassFault::Observer)?;
            out.extend_from_slice(piece);
            pos += take;
            *remaining -= take;
        } else if buffered.len() - pos < HEADER {
            break;
        } else if buffered[pos] == b'd' {
            let len = i32::from_be_bytes([
                buffered[pos + 1],
                buffered[pos + 2],
                buffered[pos + 3],
                buffered[pos + 4],
            ]);
            *remaining = usize::try_from(len)
                .ok()
                .and_then(|l| l.checked_sub(4))
                .ok_or_else(|| {
                    PassFault::Source(WireError::Protocol(format!(
                        "CopyData message of length {len}"
                    )))
                })?;
            pos += HEADER;
        } else {
            other_message = true;
            break;
        }
    }
    if out.len() == HEADER {
        out.clear();
    } else {
        let length = i32::try_from(out.len() - 1).expect("a read chunk is far below 2 GB");
        out[1..HEADER].copy_from_slice(&length.to_be_bytes());
    }
    Ok(Walked {
        consumed: pos,
        other_message,
    })
}

/// Asks the server to stop what the session behind `key` runs.
pub async fn cancel(settings: &ConnSettings, key: &CancelKey) -> Result<(), WireError> {
    let mut stream = open_stream(settings, &key.host, key.port).await?;
    let mut buf = BytesMut::new();
    frontend::cancel_request(key.process_id, key.secret, &mut buf);
    stream.write_all(&buf).await?;
    stream.flush().await?;
    // The server closes the connection when it has taken the request.
    let _ = stream.read(&mut [0u8; 1]).await;
    Ok(())
}

/// A socket to one host, with TLS negotiated per `sslmode` (Unix sockets never use TLS,
/// as with libpq).
async fn open_stream(settings: &ConnSettings, host: &Host, port: u16) -> Result<Stream, WireError> {
    let name = match host {
        Host::Unix(dir) => {
            let path = dir.join(format!(".s.PGSQL.{port}"));
            return Ok(Stream::Unix(UnixStream::connect(path).await?));
        }
        Host::Tcp(name) => name,
    };
    let mut tcp = TcpStream::connect((name.as_str(), port)).await?;
    tcp.set_nodelay(true)?;
    if settings.keepalives {
        socket2::SockRef::from(&tcp).set_keepalive(true)?;
    }
    let Some(config) = tls::client_config(settings)? else {
        return Ok(Stream::Tcp(tcp));
    };
    let mut request = BytesMut::new();
    frontend::ssl_request(&mut request);
    tcp.write_all(&request).await?;
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await?;
    match answer[0] {
        b'S' => {
            let server_name = rustls::pki_types::ServerName::try_from(name.clone())
                .map_err(|e| WireError::Protocol(format!("TLS server name {name:?}: {e}")))?;
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(server_name, tcp)
                .await?;
            Ok(Stream::Tls(Box::new(tls)))
        }
        b'N' if matches!(settings.sslmode, SslMode::Allow | SslMode::Prefer) => {
            Ok(Stream::Tcp(tcp))
        }
        b'N' => Err(WireError::Io(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!(
                "the server does not support TLS, which sslmode={} requires",
                settings.sslmode.as_str()
            ),
        ))),
        other => Err(WireError::Protocol(format!(
            "answer {other:#04x} to the TLS request"
        ))),
    }
}

fn server_error(body: &ErrorResponseBody) -> WireError {
    let mut error = ServerError {
        severity: String::new(),
        code: String::new(),
        message: String::new(),
        detail: None,
        hint: None,
    };
    let mut fields = body.fields();
    while let Ok(Some(field)) = fields.next() {
        let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
        match field.type_() {
            b'S' => error.severity = value,
            b'C' => error.code = value,
            b'M' => error.message = value,
            b'D' => error.detail = Some(value),
            b'H' => error.hint = Some(value),
            _ => {}
        }
    }
    WireError::Server(Box::new(error))
}

fn unexpected(message: &Message) -> WireError {
    let name = match message {
        Message::CopyData(_) => "CopyData",
        Message::CopyDone => "CopyDone",
        Message::CopyInResponse(_) => "CopyInResponse",
        Message::CopyOutResponse(_) => "CopyOutResponse",
        Message::CommandComplete(_) => "CommandComplete",
        Message::DataRow(_) => "DataRow",
        Message::RowDescription(_) => "RowDescription",
        Message::ReadyForQuery(_) => "ReadyForQuery",
        Message::EmptyQueryResponse => "EmptyQueryResponse",
        _ => "another message",
    };
    WireError::Protocol(name.into())
}
