#![allow(clippy::print_stdout)]
//! Connections against real servers started by the harness: plain, TLS in every
//! verifying mode, SCRAM passwords from PGPASSWORD and .pgpass, passwords made at each
//! connection, and cluster clean-up.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use pgsplit_pg::testing::{self, Cluster, ClusterOptions, ServerTls};
use pgsplit_pg::wire::WireConn;
use pgsplit_pg::{ConnSettings, Environment, PasswordSource, Secret, connect};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

fn env(pairs: &[(&str, &str)]) -> Environment {
    Environment {
        vars: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
        home: None,
        os_user: None,
    }
}

#[tokio::test]
async fn connects_to_a_fresh_database_with_application_name() {
    let db = testing::shared().create_db("connects");
    let conn = connect(&db.settings()).await.expect("connect");
    let row = conn
        .client
        .query_one(
            "SELECT current_database(), current_setting('application_name')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), db.name);
    assert_eq!(row.get::<_, String>(1), "pgsplit");
}

/// Settings that pin a database ([`ConnSettings::database`]) reach it, on both kinds of
/// connection, only while it is that database on that server.
#[tokio::test]
async fn a_pinned_database_is_checked_on_connecting() {
    let db = testing::shared().create_db("pinned");
    let conn = connect(&db.settings()).await.expect("connect");
    let pin = pgsplit_pg::database_pin(&conn.client, true).await.unwrap();
    assert!(pin.system.is_some(), "{pin}");
    let pinned = |pin: pgsplit_pg::DatabasePin| ConnSettings {
        database: Some(pin),
        ..db.settings()
    };
    connect(&pinned(pin.clone()))
        .await
        .expect("the same database");
    WireConn::connect(&pinned(pin.clone()))
        .await
        .expect("the same database");
    let others = [
        pgsplit_pg::DatabasePin {
            oid: pin.oid + 1,
            ..pin.clone()
        },
        // Another cluster's database of the same OID.
        pgsplit_pg::DatabasePin {
            system: Some("1".into()),
            ..pin.clone()
        },
    ];
    for other in others {
        let err = connect(&pinned(other.clone()))
            .await
            .err()
            .expect("another");
        assert!(
            matches!(err, pgsplit_pg::ConnectFailure::Replaced { .. }),
            "{err:#}"
        );
        assert!(
            err.to_string()
                .contains("is not the one this run wrote into"),
            "{err}"
        );
        let err = WireConn::connect(&pinned(other))
            .await
            .err()
            .expect("another");
        assert!(
            matches!(err, pgsplit_pg::wire::WireError::Replaced(_)),
            "{err:#}"
        );
    }
    // Another database of the server is not held to it.
    let elsewhere = pinned(pin).with_dbname("postgres");
    connect(&elsewhere).await.expect("maintenance database");
}

#[tokio::test]
async fn unreachable_server_names_the_redacted_server() {
    let settings = ConnSettings::parse_with(
        "postgres://u:topsecret@127.0.0.1:1/db?sslmode=disable&connect_timeout=2",
        &env(&[]),
    )
    .unwrap();
    let err = connect(&settings).await.err().expect("must fail");
    let text = format!("{err:#} {err:?}");
    assert!(text.contains("postgres://u@127.0.0.1:1/db"), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
    assert!(!text.contains("topsecret"), "{text}");
}

/// A server that takes the connection and never answers: `connect_timeout` covers the
/// whole start-up, on both kinds of connection (the catalog's hung for good).
#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let settings = ConnSettings::parse_with(
        &format!("postgres://u:topsecret@127.0.0.1:{port}/db?sslmode=disable&connect_timeout=2"),
        &env(&[]),
    )
    .unwrap();
    let limit = std::time::Duration::from_secs(10);
    let err = tokio::time::timeout(limit, connect(&settings))
        .await
        .expect("connect gives up by itself")
        .err()
        .expect("must time out");
    let text = format!("{err:#}");
    assert!(text.contains("no answer within 2s"), "{text}");
    assert!(!text.contains("topsecret"), "{text}");
    let wire = tokio::time::timeout(limit, WireConn::connect(&settings));
    assert!(wire.await.expect("gives up by itself").is_err());
    held.abort();
}

struct Pki {
    ca_pem: String,
    tls: ServerTls,
}

fn make_pki(host: &str) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec![host.to_string()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        tls: ServerTls {
            cert_pem: server.pem(),
            key_pem: server_key.serialize_pem(),
        },
    }
}

#[tokio::test]
async fn tls_modes_check_what_they_promise() {
    let pki = make_pki("localhost");
    let other = make_pki("localhost");
    let mut options = ClusterOptions::system();
    options.tls = Some(pki.tls.clone());
    let cluster = Cluster::start(options).expect("TLS cluster");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let wrong_ca = dir.path().join("wrong-ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    std::fs::write(&wrong_ca, &other.ca_pem).unwrap();
    let port = cluster.port();
    let url = |host: &str, mode: &str, root: &std::path::Path| {
        format!(
            "postgres://postgres@{host}:{port}/postgres?sslmode={mode}&sslrootcert={}",
            root.display()
        )
    };
    const SSL_IN_USE: &str = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    // Both kinds of connection (tokio-postgres for sessions, the lean data-path client)
    // must come to the same answer for every mode.
    let try_connect = |u: String| async move {
        let settings = ConnSettings::parse_with(&u, &env(&[])).unwrap();
        let session = match connect(&settings).await {
            Ok(conn) => {
                let ssl: bool = conn.client.query_one(SSL_IN_USE, &[]).await.unwrap().get(0);
                Ok(ssl)
            }
            Err(e) => Err(format!("{e:#}")),
        };
        let data_path = match WireConn::connect(&settings).await {
            Ok(mut conn) => {
                let rows = conn.simple_query(SSL_IN_USE).await.unwrap();
                Ok(rows[0][0].as_deref() == Some("t"))
            }
            Err(e) => Err(format!("{e:#}")),
        };
        match (&session, &data_path) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{u}"),
            (Err(a), Err(b)) => {
                for word in ["certificate", "sslrootcert"] {
                    assert_eq!(a.contains(word), b.contains(word), "{u}: {a} / {b}");
                }
            }
            _ => panic!("{u}: tokio-postgres {session:?}, data path {data_path:?}"),
        }
        session
    };

    assert_eq!(
        try_connect(url("localhost", "verify-full", &ca)).await,
        Ok(true)
    );
    let err = try_connect(url("localhost", "verify-full", &wrong_ca))
        .await
        .unwrap_err();
    assert!(err.contains("certificate"), "{err}");
    // The certificate names localhost, not 127.0.0.1.
    let err = try_connect(url("127.0.0.1", "verify-full", &ca))
        .await
        .unwrap_err();
    assert!(err.contains("certificate"), "{err}");
    // verify-ca forgives the name but not the chain.
    assert_eq!(
        try_connect(url("127.0.0.1", "verify-ca", &ca)).await,
        Ok(true)
    );
    assert!(
        try_connect(url("127.0.0.1", "verify-ca", &wrong_ca))
            .await
            .is_err()
    );
    // require without a root certificate encrypts without checking.
    let require = format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=require");
    assert_eq!(try_connect(require).await, Ok(true));
    let prefer = format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=prefer");
    assert_eq!(try_connect(prefer).await, Ok(true));
    let disable = format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable");
    assert_eq!(try_connect(disable).await, Ok(false));
    // verify-full without a root certificate is a settings error, not a silent downgrade.
    let no_root = format!("postgres://postgres@localhost:{port}/postgres?sslmode=verify-full");
    let err = try_connect(no_root).await.unwrap_err();
    assert!(err.contains("sslrootcert"), "{err}");

    // channel_binding=require: a SCRAM role binds the exchange to the channel (the server
    // checks the certificate's hash, so a wrong one fails the login); a role the server
    // trusts without a password is refused, as libpq refuses it.
    cluster.create_db("bind").psql(&format!(
        "CREATE ROLE bound LOGIN PASSWORD 'b0und-pw' IN ROLE {}",
        testing::PASSWORD_ROLE
    ));
    for binding in ["require", "prefer", "disable"] {
        let bound = format!(
            "postgres://bound:b0und-pw@127.0.0.1:{port}/postgres?sslmode=require&channel_binding={binding}"
        );
        assert_eq!(try_connect(bound).await, Ok(true), "{binding}");
    }
    let trusted = format!(
        "postgres://postgres@127.0.0.1:{port}/postgres?sslmode=require&channel_binding=require"
    );
    let err = try_connect(trusted).await.unwrap_err();
    assert!(err.contains("channel"), "{err}");

    // A COPY passed between two encrypted data-path sessions arrives whole: rows larger
    // than a TLS record and than one read, cut anywhere.
    let source = cluster.create_db("tls_src");
    let target = cluster.create_db("tls_dst");
    source.psql(
        "CREATE TABLE t AS SELECT i, repeat(md5(i::text), 1 + (i % 5000)) AS body \
           FROM generate_series(1, 3000) i",
    );
    target.psql("CREATE TABLE t (i int, body text)");
    let open = |db: &str| {
        let url = format!("postgres://postgres@127.0.0.1:{port}/{db}?sslmode=require");
        let settings = ConnSettings::parse_with(&url, &env(&[])).unwrap();
        async move { WireConn::connect(&settings).await.unwrap() }
    };
    let (mut from, mut to) = (open(&source.name).await, open(&target.name).await);
    to.start_copy("COPY t FROM STDIN (FORMAT binary)")
        .await
        .unwrap();
    from.start_copy("COPY t TO STDOUT (FORMAT binary)")
        .await
        .unwrap();
    let stored = from
        .pass_copy_into(&mut to, None, |_| Ok::<(), ()>(()))
        .await
        .unwrap();
    assert_eq!(stored, 3000);
    let fingerprint = "SELECT count(*) || md5(string_agg(body, ',' ORDER BY i)) FROM t";
    assert_eq!(source.psql(fingerprint), target.psql(fingerprint));
}

/// A role that logs in with SCRAM and `password` (an SQL literal); its URL without one.
fn scram_role(db: &testing::TestDb<'_>, password: &str) -> (String, String) {
    let role = format!("{}_user", db.name);
    db.psql(&format!(
        "CREATE ROLE \"{role}\" LOGIN PASSWORD {password} IN ROLE {}",
        testing::PASSWORD_ROLE
    ));
    let url = format!(
        "postgres://{role}@127.0.0.1:{}/{}?sslmode=disable",
        testing::shared().port(),
        db.name
    );
    (role, url)
}

#[tokio::test]
async fn scram_password_from_environment_and_pgpass() {
    let cluster = testing::shared();
    let db = cluster.create_db("scram");
    let password = "S3cr:et\\pw";
    let (role, base) = scram_role(&db, "'S3cr:et\\pw'");

    // No password anywhere: the server demands one.
    let settings = ConnSettings::parse_with(&base, &env(&[])).unwrap();
    let err = connect(&settings).await.err().expect("needs a password");
    assert!(format!("{err:#}").contains("password"), "{err:#}");
    let err = WireConn::connect(&settings)
        .await
        .err()
        .expect("needs a password");
    assert!(format!("{err:#}").contains("password"), "{err:#}");

    // PGPASSWORD
    let settings = ConnSettings::parse_with(&base, &env(&[("PGPASSWORD", password)])).unwrap();
    connect(&settings).await.expect("PGPASSWORD works");
    WireConn::connect(&settings)
        .await
        .expect("PGPASSWORD works for the data path");

    // A wrong password fails, and is not printed.
    let settings =
        ConnSettings::parse_with(&base, &env(&[("PGPASSWORD", "wrong-pw-xyz")])).unwrap();
    let err = connect(&settings)
        .await
        .err()
        .expect("wrong password fails");
    let text = format!("{err:#} {err:?}");
    assert!(text.contains("authentication"), "{text}");
    assert!(!text.contains("wrong-pw-xyz"), "{text}");
    let err = WireConn::connect(&settings)
        .await
        .err()
        .expect("wrong password fails on the data path");
    assert_eq!(err.code(), Some("28P01"), "{err}");
    let text = format!("{err:#} {err:?}");
    assert!(text.contains("authentication"), "{text}");
    assert!(!text.contains("wrong-pw-xyz"), "{text}");

    // PGPASSFILE with escapes for ':' and '\'.
    let dir = tempfile::tempdir().unwrap();
    let passfile = dir.path().join("pgpass");
    std::fs::write(
        &passfile,
        format!(
            "127.0.0.1:{}:{}:{role}:S3cr\\:et\\\\pw\n",
            cluster.port(),
            db.name
        ),
    )
    .unwrap();
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    let settings =
        ConnSettings::parse_with(&base, &env(&[("PGPASSFILE", passfile.to_str().unwrap())]))
            .unwrap();
    connect(&settings).await.expect(".pgpass works");
    WireConn::connect(&settings)
        .await
        .expect(".pgpass works for the data path");

    // ~/.pgpass through HOME.
    std::fs::rename(&passfile, dir.path().join(".pgpass")).unwrap();
    let with_home = Environment {
        vars: HashMap::new(),
        home: Some(dir.path().to_path_buf()),
        os_user: None,
    };
    let settings = ConnSettings::parse_with(&base, &with_home).unwrap();
    connect(&settings).await.expect("~/.pgpass works");
    db.psql(&format!("DROP ROLE \"{role}\""));
}

/// An expiring password (an RDS IAM token) is made again for every connection: the
/// source is asked each time, and what it gives is what the server checks.
#[tokio::test]
async fn password_source_is_asked_at_each_connection() {
    let db = testing::shared().create_db("fresh_pw");
    let (role, url) = scram_role(&db, "'token-1'");
    let asked = Arc::new(AtomicUsize::new(0));
    let mut settings = ConnSettings::parse_with(&url, &env(&[])).unwrap();
    // What a run starts with: the first token, then a source for every later connection.
    settings.password = Some(Secret::new("token-1"));
    let counter = Arc::clone(&asked);
    settings.password_source = Some(PasswordSource::new(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move { Ok(Secret::new(format!("token-{}", n.min(2)))) }
    }));

    // First connection of each kind: the source gives token-1, then token-2.
    connect(&settings).await.expect("token-1 works");
    let err = WireConn::connect(&settings)
        .await
        .err()
        .expect("token-2 is not the password yet");
    assert_eq!(err.code(), Some("28P01"), "{err}");
    assert_eq!(asked.load(Ordering::SeqCst), 2);

    // The password changes on the server (a new token): new connections use the new one,
    // though the settings still hold the first.
    db.psql(&format!("ALTER ROLE \"{role}\" PASSWORD 'token-2'"));
    connect(&settings).await.expect("token-2 works");
    WireConn::connect(&settings)
        .await
        .expect("token-2 works for the data path");
    assert_eq!(asked.load(Ordering::SeqCst), 4);

    // A source that fails: its message, nothing of a secret.
    settings.password_source = Some(PasswordSource::new(|| async {
        Err("no credentials in the chain".to_string())
    }));
    let err = connect(&settings).await.err().expect("no password");
    let text = format!("{err:#}");
    assert!(text.contains("no credentials in the chain"), "{text}");
    assert!(!text.contains("token-"), "{text}");
    let err = WireConn::connect(&settings)
        .await
        .err()
        .expect("no password");
    assert!(
        format!("{err:#}").contains("no credentials in the chain"),
        "{err:#}"
    );
    db.psql(&format!("DROP ROLE \"{role}\""));
}

#[test]
fn dropped_cluster_leaves_no_server_behind() {
    let cluster = Cluster::start(ClusterOptions::system()).unwrap();
    let pid_file = cluster.data_dir().join("postmaster.pid");
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let data_dir = cluster.data_dir();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(cluster);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false);
    assert!(!alive, "postmaster {pid} still running");
    assert!(!data_dir.exists());
}

#[test]
fn watchdog_stops_a_server_whose_test_process_died() {
    // A child test process starts a cluster, prints its data folder, and aborts without
    // running any destructor.
    if std::env::var_os("PGSPLIT_WATCHDOG_CHILD").is_some() {
        let cluster = Box::leak(Box::new(Cluster::start(ClusterOptions::system()).unwrap()));
        println!("DATA={}", cluster.data_dir().display());
        std::process::abort();
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "watchdog_stops_a_server_whose_test_process_died",
            "--nocapture",
        ])
        .env("PGSPLIT_WATCHDOG_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let data = stdout
        .lines()
        .find_map(|l| l.strip_prefix("DATA="))
        .unwrap_or_else(|| panic!("child printed no data dir: {stdout}"));
    let folder = std::path::Path::new(data).parent().unwrap().to_path_buf();
    for _ in 0..40 {
        if !folder.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    panic!(
        "{} still exists 10 s after its test process died",
        folder.display()
    );
}

#[tokio::test]
async fn another_major_version_from_npm() {
    if std::env::var_os("PGSPLIT_SKIP_OTHER_VERSIONS").is_some() {
        eprintln!("PGSPLIT_SKIP_OTHER_VERSIONS set: not starting PostgreSQL 17");
        return;
    }
    let cluster = testing::shared_version(17);
    let db = cluster.create_db("v17");
    let conn = connect(&db.settings()).await.unwrap();
    let version: i32 = conn
        .client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version / 10000, 17);
}

/// With `channel_binding=require` no password leaves pgsplit unless the exchange is bound
/// to a TLS channel: over a plain connection, an MD5 or clear-text login is refused before
/// the password is sent, by both kinds of connection.
#[tokio::test]
async fn channel_binding_required_sends_no_unbound_password() {
    let db = testing::shared().create_db("unbound");
    for (role, group) in [
        ("unbound_md5", testing::MD5_ROLE),
        ("unbound_clear", testing::CLEARTEXT_ROLE),
    ] {
        db.psql(&format!(
            "SET password_encryption = 'md5'; CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}' IN ROLE {group}"
        ));
        let url = format!(
            "postgres://{role}:pw-{role}@127.0.0.1:{}/{}?channel_binding=require",
            testing::shared().port(),
            db.name
        );
        let settings = ConnSettings::parse_with(&url, &env(&[])).unwrap();
        let session = connect(&settings).await.err().map(|e| format!("{e:#}"));
        assert!(
            session.is_some(),
            "{role}: tokio-postgres logged in unbound"
        );
        let err = WireConn::connect(&settings)
            .await
            .err()
            .map(|e| e.to_string());
        let err = err.unwrap_or_else(|| panic!("{role}: the data path logged in unbound"));
        assert!(err.contains("channel_binding=require"), "{role}: {err}");
        // Without the requirement both log in.
        let url = url.replace("?channel_binding=require", "?channel_binding=prefer");
        let settings = ConnSettings::parse_with(&url, &env(&[])).unwrap();
        connect(&settings).await.expect("session");
        WireConn::connect(&settings).await.expect("data path");
    }
}

/// `target_session_attrs=read-write` skips a session that cannot write; both kinds of
/// connection agree.
#[tokio::test]
async fn read_write_sessions_only_when_asked() {
    let db = testing::shared().create_db("readonly");
    db.psql(&format!(
        "ALTER DATABASE {} SET default_transaction_read_only = on",
        db.name
    ));
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/{}?sslmode=disable",
        testing::shared().port(),
        db.name
    );
    let any = ConnSettings::parse_with(&url, &env(&[])).unwrap();
    connect(&any).await.expect("any session");
    WireConn::connect(&any).await.expect("any session");
    let rw = ConnSettings::parse_with(&format!("{url}&target_session_attrs=read-write"), &env(&[]))
        .unwrap();
    assert!(connect(&rw).await.is_err());
    let err = WireConn::connect(&rw).await.err().expect("refused");
    assert!(err.to_string().contains("read-only"), "{err}");
}
