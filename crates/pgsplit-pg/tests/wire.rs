//! The lean data-path client against a real server: the password exchanges tokio-postgres
//! is not tested with here (MD5, clear text), Unix sockets, COPY passed between two
//! sessions (rows of every size arrive as sent), errors on either side of a COPY, and
//! cancelling a running statement. TLS and SCRAM are covered beside tokio-postgres in
//! `connect.rs`.

use std::time::{Duration, Instant};

use pgsplit_pg::testing::{self, CLEARTEXT_ROLE, MD5_ROLE, TestDb};
use pgsplit_pg::wire::{self, PassFault, WireConn, WireError};
use pgsplit_pg::{ConnSettings, Environment};

fn settings(text: &str, password: Option<&str>) -> ConnSettings {
    let env = Environment {
        vars: password
            .map(|p| ("PGPASSWORD".to_string(), p.to_string()))
            .into_iter()
            .collect(),
        home: None,
        os_user: None,
    };
    ConnSettings::parse_with(text, &env).unwrap()
}

async fn one_value(conn: &mut WireConn, sql: &str) -> Option<String> {
    let rows = match conn.simple_query(sql).await {
        Ok(rows) => rows,
        Err(e) => panic!("{sql}: {e}\n{}", testing::shared().server_log()),
    };
    rows.into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten())
}

/// A role of `group` with a password stored as `encryption`, its URL without password.
fn password_role(db: &TestDb<'_>, group: &str, encryption: &str) -> String {
    let role = format!("{}_{group}", db.name);
    db.psql(&format!(
        "SET password_encryption = '{encryption}'; \
         CREATE ROLE \"{role}\" LOGIN PASSWORD 'pw-Right-1' IN ROLE {group}"
    ));
    format!(
        "postgres://{role}@127.0.0.1:{}/{}?sslmode=disable",
        testing::shared().port(),
        db.name
    )
}

#[tokio::test]
async fn md5_and_cleartext_passwords() {
    let db = testing::shared().create_db("wire_auth");
    for (group, encryption) in [(MD5_ROLE, "md5"), (CLEARTEXT_ROLE, "scram-sha-256")] {
        let url = password_role(&db, group, encryption);
        let mut conn = WireConn::connect(&settings(&url, Some("pw-Right-1")))
            .await
            .unwrap_or_else(|e| panic!("{group}: {e}"));
        let user = one_value(&mut conn, "SELECT current_user").await;
        assert!(user.unwrap().ends_with(group), "{group}");
        let err = WireConn::connect(&settings(&url, Some("pw-Wrong-2")))
            .await
            .err()
            .expect("a wrong password is refused");
        assert_eq!(err.code(), Some("28P01"), "{group}: {err}");
        assert!(!format!("{err:?}").contains("pw-Wrong-2"), "{err:?}");
    }
}

#[tokio::test]
async fn unix_socket_and_statement_errors() {
    let cluster = testing::shared();
    let db = cluster.create_db("wire_unix");
    let text = format!(
        "host={} port={} dbname={} user=postgres",
        cluster.socket_dir().display(),
        cluster.port(),
        db.name
    );
    let mut conn = WireConn::connect(&settings(&text, None)).await.unwrap();
    // No TCP peer address: the session came over the socket.
    assert_eq!(
        one_value(&mut conn, "SELECT inet_client_addr()").await,
        None
    );
    let err = conn
        .simple_query("SELECT 1; SELECT * FROM no_such_table; SELECT 3")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("42P01"), "{err}");
    assert!(err.to_string().contains("no_such_table"), "{err}");
    // The session is in step again after an error.
    assert_eq!(
        one_value(&mut conn, "SELECT 41 + 1").await.as_deref(),
        Some("42")
    );
}

async fn pair(db_source: &TestDb<'_>, db_target: &TestDb<'_>) -> (WireConn, WireConn) {
    let source = WireConn::connect(&db_source.settings()).await.unwrap();
    let target = WireConn::connect(&db_target.settings()).await.unwrap();
    (source, target)
}

/// Passes the COPY started on `source` into the one started on `target`, unobserved.
async fn pass(
    source: &mut WireConn,
    target: &mut WireConn,
    then: Option<&str>,
) -> Result<u64, PassFault<()>> {
    source
        .pass_copy_into(target, then, |_| Ok::<(), ()>(()))
        .await
}

/// Which side a failed pass blames ("source" or "target") and the server's SQLSTATE.
/// A fresh pair with `COPY t FROM STDIN` started on the target and `copy_out` on the
/// source.
async fn copy_started(
    db_source: &TestDb<'_>,
    db_target: &TestDb<'_>,
    copy_out: &str,
) -> (WireConn, WireConn) {
    let (mut source, mut target) = pair(db_source, db_target).await;
    target.start_copy("COPY t FROM STDIN").await.unwrap();
    source.start_copy(copy_out).await.unwrap();
    (source, target)
}

/// The rows of `t` the session sees.
async fn rows_of_t(conn: &mut WireConn) -> Option<String> {
    one_value(conn, "SELECT count(*) FROM t").await
}

fn blamed(fault: &PassFault<()>) -> (&'static str, Option<&str>) {
    match fault {
        PassFault::Source(e) => ("source", e.code()),
        PassFault::Target(e) => ("target", e.code()),
        PassFault::Observer(()) => ("observer", None),
    }
}

/// Count and md5 of the sorted row texts of table `t`.
fn fingerprint(db: &TestDb<'_>, t: &str) -> String {
    db.psql(&format!(
        "SELECT count(*) || ' ' || md5(coalesce(string_agg(r::text, ',' ORDER BY r::text), '')) FROM {t} r"
    ))
}

#[tokio::test]
async fn copy_passes_rows_of_every_size_unchanged() {
    let cluster = testing::shared();
    let source_db = cluster.create_db("wire_src");
    let target_db = cluster.create_db("wire_dst");
    let ddl = "CREATE TABLE t (id int, body text, raw bytea)";
    source_db.psql(ddl);
    target_db.psql(ddl);
    // Many small rows, then rows far larger than one read (256 kB) and than one message.
    source_db.psql(
        "INSERT INTO t SELECT i, md5(i::text), decode(md5(i::text), 'hex') \
           FROM generate_series(1, 100000) i; \
         INSERT INTO t SELECT 100000 + i, repeat(md5(i::text), 200000), \
                decode(repeat(md5(i::text), 20000), 'hex') FROM generate_series(1, 3) i",
    );
    for format in ["binary", "text"] {
        target_db.psql("TRUNCATE t");
        let (mut source, mut target) = pair(&source_db, &target_db).await;
        target
            .start_copy(&format!("COPY t FROM STDIN (FORMAT {format})"))
            .await
            .unwrap();
        source
            .start_copy(&format!("COPY t TO STDOUT (FORMAT {format})"))
            .await
            .unwrap();
        let mut observed = 0usize;
        let stored = source
            .pass_copy_into(&mut target, None, |piece| {
                observed += piece.len();
                Ok::<(), ()>(())
            })
            .await
            .unwrap();
        assert_eq!(stored, 100_003, "{format}");
        assert!(
            observed > 3 * 6_400_000,
            "{format}: observed {observed} bytes"
        );
        assert_eq!(
            fingerprint(&source_db, "t"),
            fingerprint(&target_db, "t"),
            "{format}"
        );
        // Both sessions are ready for the next statement.
        assert_eq!(
            one_value(&mut source, "SELECT 1").await.as_deref(),
            Some("1")
        );
        assert_eq!(
            one_value(&mut target, "SELECT count(*) FROM t")
                .await
                .as_deref(),
            Some("100003")
        );
    }
}

#[tokio::test]
async fn copy_errors_name_their_side_and_leave_nothing_behind() {
    let cluster = testing::shared();
    let source_db = cluster.create_db("wire_err_src");
    let target_db = cluster.create_db("wire_err_dst");
    target_db.psql("CREATE TABLE t (i int, x int CHECK (x <> 7))");

    // The source fails half-way (division by zero at row 50 000).
    let (mut source, mut target) = copy_started(
        &source_db,
        &target_db,
        "COPY (SELECT i, 100 / (i - 50000) FROM generate_series(1, 100000) i) TO STDOUT",
    )
    .await;
    let fault = pass(&mut source, &mut target, None).await.unwrap_err();
    assert_eq!(blamed(&fault), ("source", Some("22012")), "{fault:?}");
    assert_eq!(rows_of_t(&mut target).await.as_deref(), Some("0"));
    assert_eq!(
        one_value(&mut source, "SELECT 2").await.as_deref(),
        Some("2")
    );

    // The target refuses a row near the start of a long stream: the pass stops long
    // before the source has sent everything.
    let (mut source, mut target) = copy_started(
        &source_db,
        &target_db,
        "COPY (SELECT i, i FROM generate_series(1, 5000000) i) TO STDOUT",
    )
    .await;
    let mut observed = 0usize;
    let fault = source
        .pass_copy_into(&mut target, None, |piece| {
            observed += piece.len();
            Ok::<(), ()>(())
        })
        .await
        .unwrap_err();
    assert_eq!(blamed(&fault), ("target", Some("23514")), "{fault:?}");
    // About 62 MB would have come; the check happens every 4 MB.
    assert!(observed < 31_000_000, "observed {observed} bytes");
    assert_eq!(rows_of_t(&mut target).await.as_deref(), Some("0"));

    // The observer refuses a piece half-way: nothing of what it refused reaches the
    // target, which can still end the COPY cleanly and go on.
    let (mut source, mut target) = copy_started(
        &source_db,
        &target_db,
        "COPY (SELECT i, 1 FROM generate_series(1, 1000000) i) TO STDOUT",
    )
    .await;
    let mut observed = 0usize;
    let fault = source
        .pass_copy_into(&mut target, None, |piece| {
            observed += piece.len();
            if observed > 1_000_000 {
                Err(())
            } else {
                Ok(())
            }
        })
        .await
        .unwrap_err();
    assert_eq!(blamed(&fault), ("observer", None), "{fault:?}");
    target.fail_copy("the observer refused").await.unwrap();
    assert_eq!(rows_of_t(&mut target).await.as_deref(), Some("0"));

    // A COPY the target refuses at once leaves both sessions in step.
    let (mut source, mut target) = pair(&source_db, &target_db).await;
    let err = target
        .start_copy("COPY missing FROM STDIN")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("42P01"));
    assert_eq!(
        one_value(&mut target, "SELECT 3").await.as_deref(),
        Some("3")
    );
    assert_eq!(
        one_value(&mut source, "SELECT 4").await.as_deref(),
        Some("4")
    );
}

#[tokio::test]
async fn statements_ride_along_with_the_start_and_the_end_of_a_copy() {
    let cluster = testing::shared();
    let source_db = cluster.create_db("wire_steps_src");
    let target_db = cluster.create_db("wire_steps_dst");
    target_db.psql("CREATE TABLE t (i int, x int CHECK (x <> 7)); INSERT INTO t VALUES (0, 0)");
    let mut watcher = WireConn::connect(&target_db.settings()).await.unwrap();

    // BEGIN; TRUNCATE; COPY in one message, COMMIT with the end of the COPY.
    let (mut source, mut target) = pair(&source_db, &target_db).await;
    target
        .start_copy("BEGIN; TRUNCATE t; COPY t FROM STDIN")
        .await
        .unwrap();
    source
        .start_copy("COPY (SELECT i, i * 10 FROM generate_series(1, 1000) i) TO STDOUT")
        .await
        .unwrap();
    let stored = pass(&mut source, &mut target, Some("COMMIT"))
        .await
        .unwrap();
    assert_eq!(stored, 1000);
    // Committed: another session sees the new rows only.
    assert_eq!(
        one_value(&mut watcher, "SELECT count(*) || ',' || min(i) FROM t")
            .await
            .as_deref(),
        Some("1000,1")
    );

    // A statement before the COPY fails: nothing starts, and the failed transaction
    // block can be rolled back.
    let err = target
        .start_copy("BEGIN; TRUNCATE missing; COPY t FROM STDIN")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("42P01"));
    target.execute("ROLLBACK").await.unwrap();

    // The COPY fails at its end (a CHECK on the last row): the COMMIT sent with it rolls
    // the transaction back, and the COPY's error is the one reported.
    target
        .start_copy("BEGIN; TRUNCATE t; COPY t FROM STDIN")
        .await
        .unwrap();
    source
        .start_copy("COPY (SELECT i, CASE WHEN i = 20 THEN 7 ELSE i END FROM generate_series(1, 20) i) TO STDOUT")
        .await
        .unwrap();
    let fault = pass(&mut source, &mut target, Some("COMMIT"))
        .await
        .unwrap_err();
    assert_eq!(blamed(&fault), ("target", Some("23514")), "{fault:?}");
    assert_eq!(
        one_value(&mut target, "SELECT count(*) FROM t")
            .await
            .as_deref(),
        Some("1000"),
        "the TRUNCATE was rolled back with the COPY"
    );
}

#[tokio::test]
async fn rows_sent_before_the_target_accepts_the_copy() {
    let cluster = testing::shared();
    let source_db = cluster.create_db("wire_at_once_src");
    let target_db = cluster.create_db("wire_at_once_dst");
    target_db.psql("CREATE TABLE t (i int, x int)");
    let (mut source, mut target) = pair(&source_db, &target_db).await;
    let rows = "COPY (SELECT i, i * 10 FROM generate_series(1, 1000) i) TO STDOUT";

    // Accepted: the rows were on their way before the answer came, and all arrive.
    target
        .send_copy_in("BEGIN; COPY t FROM STDIN")
        .await
        .unwrap();
    source.start_copy(rows).await.unwrap();
    let stored = pass(&mut source, &mut target, Some("COMMIT"))
        .await
        .unwrap();
    assert_eq!(stored, 1000);

    // Refused: the server drops the rows and the end of the COPY, the COMMIT ends the
    // failed transaction, the refusal is the error, and both sessions go on.
    target
        .send_copy_in("BEGIN; TRUNCATE missing; COPY t FROM STDIN")
        .await
        .unwrap();
    source.start_copy(rows).await.unwrap();
    let fault = pass(&mut source, &mut target, Some("COMMIT"))
        .await
        .unwrap_err();
    assert_eq!(blamed(&fault), ("target", Some("42P01")), "{fault:?}");
    assert_eq!(
        one_value(&mut target, "SELECT count(*) || ',' || sum(x) FROM t")
            .await
            .as_deref(),
        Some("1000,5005000")
    );
    assert_eq!(
        one_value(&mut source, "SELECT 2").await.as_deref(),
        Some("2")
    );

    // The source fails to start: the target's COPY, accepted meanwhile, is ended.
    target.send_copy_in("COPY t FROM STDIN").await.unwrap();
    let err = source
        .start_copy("COPY missing TO STDOUT")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("42P01"));
    target
        .fail_copy("the source refused the COPY")
        .await
        .unwrap();
    assert_eq!(
        one_value(&mut target, "SELECT count(*) FROM t")
            .await
            .as_deref(),
        Some("1000")
    );
}

#[tokio::test]
async fn copies_passed_before_earlier_ones_are_answered() {
    let cluster = testing::shared();
    let source_db = cluster.create_db("wire_unanswered_src");
    let target_db = cluster.create_db("wire_unanswered_dst");
    target_db.psql("CREATE TABLE a (i int); CREATE TABLE c (i int)");
    let (mut source, mut target) = pair(&source_db, &target_db).await;
    // Three loads go out back to back; the second names a table the target lacks.
    for (table, n) in [("a", 10), ("b", 20), ("c", 30)] {
        target
            .send_copy_in(&format!("BEGIN; COPY {table} FROM STDIN"))
            .await
            .unwrap();
        source
            .start_copy(&format!("COPY (SELECT generate_series(1, {n})) TO STDOUT"))
            .await
            .unwrap();
        source
            .pass_copy_unanswered(&mut target, Some("COMMIT"), false, |_| Ok::<(), ()>(()))
            .await
            .unwrap();
    }
    // The answers come in order, each with its own outcome.
    assert_eq!(target.copy_in_answer(true).await.unwrap(), 10);
    let refused = target.copy_in_answer(true).await.unwrap_err();
    assert_eq!(refused.code(), Some("42P01"), "{refused}");
    assert_eq!(target.copy_in_answer(true).await.unwrap(), 30);
    assert_eq!(
        one_value(
            &mut target,
            "SELECT (SELECT count(*) FROM a) || ',' || (SELECT count(*) FROM c)"
        )
        .await
        .as_deref(),
        Some("10,30")
    );
}

#[tokio::test]
async fn cancel_stops_a_running_statement() {
    let db = testing::shared().create_db("wire_cancel");
    let settings = db.settings();
    let mut conn = WireConn::connect(&settings).await.unwrap();
    let key = conn.cancel_key().expect("the server sent its key");
    let started = Instant::now();
    let running = tokio::spawn(async move {
        let outcome = conn.simple_query("SELECT pg_sleep(60)").await;
        (outcome, conn)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    wire::cancel(&settings, &key).await.unwrap();
    let (outcome, mut conn) = running.await.unwrap();
    let err: WireError = outcome.unwrap_err();
    assert_eq!(err.code(), Some("57014"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(one_value(&mut conn, "SELECT 5").await.as_deref(), Some("5"));
}
