//! End-to-end tests against a real moto server (RDS, KMS and EC2 emulation), started once
//! for this test binary. Each test works in its own pair of regions, so tests run in
//! parallel on one server without resetting each other's state.
//!
//! `moto_server` comes from `MOTO_SERVER`, `PATH`, or `.venv-moto/bin` at the repository
//! root (`scripts/install-moto.sh`). Without it the tests fail, unless `PGSPLIT_SKIP_MOTO=1`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_rds::Client;
use aws_sdk_rds::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_rds::operation::create_db_instance::builders::CreateDBInstanceFluentBuilder;
use pgsplit_rds::{
    AwsSettings, Error, InstanceOutcome, MigrateOptions, Report, Step, StepOutcome, WaitSettings,
    migrate,
};

// ---------------------------------------------------------------------------------------
// The moto server
// ---------------------------------------------------------------------------------------

/// The running server. It is started by a shell that kills it as soon as this process's end
/// of its stdin closes, which happens however the test binary ends (pass, panic, signal):
/// statics are never dropped, so a `Drop` impl alone could not promise that.
struct Moto {
    port: u16,
    _child: Child,
    _lifeline: ChildStdin,
}

static MOTO: OnceLock<Option<Mutex<Moto>>> = OnceLock::new();

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn find_moto_server() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        return Some(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("moto_server"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let venv = repo_root().join(".venv-moto/bin/moto_server");
        venv.is_file().then_some(venv)
    })
}

fn start_moto() -> Option<Mutex<Moto>> {
    let Some(bin) = find_moto_server() else {
        if std::env::var("PGSPLIT_SKIP_MOTO").as_deref() == Ok("1") {
            eprintln!("moto_server not found; skipping (PGSPLIT_SKIP_MOTO=1)");
            return None;
        }
        panic!(
            "moto_server not found (looked at $MOTO_SERVER, $PATH and {}): run \
             scripts/install-moto.sh, or set MOTO_SERVER, or set PGSPLIT_SKIP_MOTO=1 to skip",
            repo_root().join(".venv-moto/bin").display()
        );
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let log = std::env::temp_dir().join(format!("pgsplit-rds-moto-{port}.log"));
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(
            r#""$0" -H 127.0.0.1 -p "$1" >"$2" 2>&1 & pid=$!; read _ignored; kill $pid; wait $pid"#,
        )
        .arg(&bin)
        .arg(port.to_string())
        .arg(&log)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let lifeline = child.stdin.take().expect("piped stdin");
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("moto_server exited ({status}); log: {}", log.display());
        }
        assert!(
            Instant::now() < deadline,
            "moto_server did not listen within 60 s; log: {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(Mutex::new(Moto {
        port,
        _child: child,
        _lifeline: lifeline,
    }))
}

/// The server's port, or `None` when skipping.
fn moto_port() -> Option<u16> {
    MOTO.get_or_init(start_moto)
        .as_ref()
        .map(|m| m.lock().unwrap_or_else(|e| e.into_inner()).port)
}

macro_rules! moto_or_skip {
    () => {
        match moto_port() {
            Some(port) => port,
            None => return,
        }
    };
}

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

fn credentials() -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Credentials::new("testing", "testing", None, None, "test"))
}

fn endpoint(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

async fn rds(port: u16, region: &str) -> Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint(port))
        .credentials_provider(credentials())
        .load()
        .await;
    Client::new(&config)
}

/// One raw call to a moto service that pgsplit has no SDK for (KMS, EC2). moto takes the
/// region from the credential scope and does not check signatures.
fn raw_call(
    port: u16,
    region: &str,
    service: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to moto");
    let mut request = format!(
        "POST / HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20240101/{region}/{service}/aws4_request, \
         SignedHeaders=host, Signature=0\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    assert!(
        response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"),
        "{response}"
    );
    response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// Every `<tag>value</tag>` in an XML answer.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(v, _)| v.to_owned()))
        .collect()
}

/// Creates a KMS key in `region`; returns its ARN.
fn create_kms_key(port: u16, region: &str) -> String {
    let body = raw_call(
        port,
        region,
        "kms",
        &[
            ("X-Amz-Target", "TrentService.CreateKey"),
            ("Content-Type", "application/x-amz-json-1.1"),
        ],
        "{}",
    );
    let json: serde_json::Value = serde_json::from_str(&body).expect("KMS JSON");
    json["KeyMetadata"]["Arn"]
        .as_str()
        .expect("key ARN")
        .to_owned()
}

fn ec2(port: u16, region: &str, query: &str) -> String {
    raw_call(
        port,
        region,
        "ec2",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &format!("{query}&Version=2016-11-15"),
    )
}

/// The target network: a DB subnet group over the default VPC's subnets and two security
/// groups. Returns the security group ids.
async fn create_target_network(port: u16, region: &str, subnet_group: &str) -> Vec<String> {
    let subnets = ec2(port, region, "Action=DescribeSubnets");
    let subnet_ids = xml_values(&subnets, "subnetId");
    let vpc = xml_values(&subnets, "vpcId")
        .into_iter()
        .next()
        .expect("default VPC");
    assert!(subnet_ids.len() >= 2, "{subnets}");
    rds(port, region)
        .await
        .create_db_subnet_group()
        .db_subnet_group_name(subnet_group)
        .db_subnet_group_description("pgsplit test")
        .set_subnet_ids(Some(subnet_ids))
        .send()
        .await
        .expect("create subnet group");
    ["app", "admin"]
        .iter()
        .map(|name| {
            let out = ec2(
                port,
                region,
                &format!("Action=CreateSecurityGroup&GroupName=pgsplit-{name}&GroupDescription=test&VpcId={vpc}"),
            );
            xml_values(&out, "groupId").into_iter().next().expect("group id")
        })
        .collect()
}

/// The request for a small PostgreSQL source instance; more settings may follow.
fn source_instance(client: &Client, id: &str) -> CreateDBInstanceFluentBuilder {
    client
        .create_db_instance()
        .db_instance_identifier(id)
        .engine("postgres")
        .engine_version("16.3")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("postgres")
        .master_user_password("not-a-secret-1")
}

async fn create_source_instance(client: &Client, id: &str, encrypted: bool) {
    source_instance(client, id)
        .storage_encrypted(encrypted)
        .send()
        .await
        .expect("create source instance");
}

fn options(port: u16, source: &str, target: &str) -> MigrateOptions {
    let mut o = MigrateOptions::new(target);
    o.source_region = Some(source.to_owned());
    o.aws = AwsSettings {
        endpoint_url: Some(endpoint(port)),
        credentials: Some(credentials()),
        ..AwsSettings::default()
    };
    o.wait = WaitSettings {
        max_wait: Duration::from_secs(20),
        poll_interval: Duration::from_millis(20),
    };
    o
}

/// Manual snapshots (moto also lists the automated `rds:…` ones it makes with an instance).
async fn snapshot_ids(client: &Client) -> Vec<String> {
    let out = client
        .describe_db_snapshots()
        .send()
        .await
        .expect("describe snapshots");
    let mut ids: Vec<String> = out
        .db_snapshots()
        .iter()
        .filter_map(|s| s.db_snapshot_identifier().map(str::to_owned))
        .filter(|id| !id.starts_with("rds:"))
        .collect();
    ids.sort();
    ids
}

async fn instance_ids(client: &Client) -> Vec<String> {
    let out = client
        .describe_db_instances()
        .send()
        .await
        .expect("describe instances");
    let mut ids: Vec<String> = out
        .db_instances()
        .iter()
        .filter_map(|i| i.db_instance_identifier().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

fn outcomes(report: &Report, instance: &str) -> Vec<(Step, StepOutcome)> {
    report
        .instance(instance)
        .unwrap_or_else(|| panic!("{instance} not in report: {report:#?}"))
        .steps
        .iter()
        .map(|s| (s.step, s.outcome))
        .collect()
}

use Step::*;
use StepOutcome::{Done, Failed, Planned, Reused};

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// Three instances, one excluded, one encrypted with a key of the target region: both
/// others land in the target region with the class, subnet group, security groups and AZ
/// asked for, and every step is timed in the report.
#[tokio::test]
async fn migrates_instances_across_regions() {
    let port = moto_or_skip!();
    let (src, dst) = ("us-east-1", "eu-west-1");
    let source = rds(port, src).await;
    create_source_instance(&source, "orders", false).await;
    create_source_instance(&source, "billing", true).await;
    create_source_instance(&source, "scratch", false).await;
    let key = create_kms_key(port, dst);
    let security_groups = create_target_network(port, dst, "target-subnets").await;

    let mut o = options(port, src, dst);
    o.selection.exclude = vec!["scratch".into()];
    o.target_kms_key_id = Some(key.clone());
    o.restore.instance_class = Some("db.t3.small".into());
    o.restore.db_subnet_group = Some("target-subnets".into());
    o.restore.vpc_security_group_ids = security_groups.clone();
    o.restore.availability_zone = Some("eu-west-1b".into());
    o.parallel = 2;
    let report = migrate(&o).await.expect("migration runs");

    assert!(!report.any_failed(), "{report:#?}");
    assert_eq!(report.instances.len(), 2, "{report:#?}");
    for id in ["orders", "billing"] {
        assert_eq!(
            outcomes(&report, id),
            [
                (Check, Done),
                (Snapshot, Done),
                (Copy, Done),
                (Restore, Done),
                (Validate, Done)
            ]
        );
        assert_eq!(
            report.instance(id).unwrap().outcome,
            InstanceOutcome::Succeeded
        );
    }
    assert!(report.instance("scratch").is_none());

    let target = rds(port, dst).await;
    assert_eq!(
        instance_ids(&target).await,
        ["billing-migrated", "orders-migrated"]
    );
    for (id, encrypted) in [("orders-migrated", false), ("billing-migrated", true)] {
        let out = target
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .unwrap();
        let db = &out.db_instances()[0];
        assert_eq!(db.db_instance_class(), Some("db.t3.small"), "{db:#?}");
        assert_eq!(
            db.db_subnet_group().and_then(|g| g.db_subnet_group_name()),
            Some("target-subnets")
        );
        let mut groups: Vec<_> = db
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id())
            .collect();
        groups.sort();
        let mut want: Vec<_> = security_groups.iter().map(String::as_str).collect();
        want.sort();
        assert_eq!(groups, want);
        assert_eq!(db.availability_zone(), Some("eu-west-1b"));
        assert_eq!(db.multi_az(), Some(false));
        assert_eq!(db.storage_encrypted(), Some(encrypted));
        assert_eq!(db.engine_version(), Some("16.3"));
    }
    // The encrypted copy was re-encrypted with the target-region key.
    let copy = target
        .describe_db_snapshots()
        .db_snapshot_identifier("billing-pgsplit-eu-west-1")
        .send()
        .await
        .unwrap();
    assert_eq!(copy.db_snapshots()[0].kms_key_id(), Some(key.as_str()));

    // The JSON report carries per-step timings.
    let json = serde_json::to_value(&report).unwrap();
    let steps = json["instances"][0]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 5);
    assert!(
        steps.iter().all(|s| s["duration_secs"].as_f64().is_some()),
        "{json:#}"
    );
    assert_eq!(json["source_region"], src);
}

/// A subnet group missing in the target region is found before anything starts. A first
/// run then fails part-way (no key for the encrypted instance; an unrelated instance holds
/// the target name); the re-run reuses the snapshots the first made and finishes without
/// duplicates; a third run with `--cleanup-snapshots` reuses everything and removes the
/// snapshots.
#[tokio::test]
async fn failed_run_then_rerun_reuses_snapshots() {
    let port = moto_or_skip!();
    let (src, dst) = ("us-east-2", "eu-west-2");
    let source = rds(port, src).await;
    let target = rds(port, dst).await;
    create_source_instance(&source, "plain", false).await;
    create_source_instance(&source, "secret", true).await;

    let mut o = options(port, src, dst);
    o.restore.db_subnet_group = Some("late-subnets".into());
    o.restore.multi_az = Some(true);
    let refused = migrate(&o).await.expect_err("no subnet group yet");
    assert!(refused.is_bad_input(), "{refused}");
    assert!(
        refused
            .to_string()
            .contains("no DB subnet group late-subnets in eu-west-2"),
        "{refused}"
    );
    assert_eq!(snapshot_ids(&source).await, Vec::<String>::new());
    create_target_network(port, dst, "late-subnets").await;
    create_source_instance(&target, "plain-migrated", false).await;
    let first = migrate(&o).await.expect("first run runs");
    assert!(first.any_failed());
    assert_eq!(outcomes(&first, "secret"), [(Check, Failed)]);
    let why = first.instance("secret").unwrap().error.as_deref().unwrap();
    assert!(
        why.contains("secret") && why.contains("--target-kms-key-id") && why.contains(dst),
        "{why}"
    );
    // The instance in the way is found by the check, before any snapshot is taken (it
    // was found at the restore, after the snapshot and the copy).
    assert_eq!(outcomes(&first, "plain"), [(Check, Failed)]);
    let why = first.instance("plain").unwrap().error.as_deref().unwrap();
    assert!(
        why.starts_with("plain: restore: instance plain-migrated in eu-west-2 already exists"),
        "{why}"
    );
    assert_eq!(snapshot_ids(&source).await, Vec::<String>::new());
    assert_eq!(snapshot_ids(&target).await, Vec::<String>::new());

    target
        .delete_db_instance()
        .db_instance_identifier("plain-migrated")
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap();
    o.target_kms_key_id = Some(create_kms_key(port, dst));
    let second = migrate(&o).await.expect("second run runs");
    assert!(!second.any_failed(), "{second:#?}");
    assert_eq!(
        outcomes(&second, "plain"),
        [
            (Check, Done),
            (Snapshot, Done),
            (Copy, Done),
            (Restore, Done),
            (Validate, Done)
        ]
    );
    assert_eq!(
        outcomes(&second, "secret"),
        [
            (Check, Done),
            (Snapshot, Done),
            (Copy, Done),
            (Restore, Done),
            (Validate, Done)
        ]
    );
    assert_eq!(
        snapshot_ids(&source).await,
        ["plain-pgsplit", "secret-pgsplit"]
    );
    assert_eq!(
        snapshot_ids(&target).await,
        ["plain-pgsplit-eu-west-2", "secret-pgsplit-eu-west-2"]
    );
    let out = target
        .describe_db_instances()
        .db_instance_identifier("plain-migrated")
        .send()
        .await
        .unwrap();
    assert_eq!(out.db_instances()[0].multi_az(), Some(true));

    // The copy made again (as an interrupted cleanup leaves it: the copy deleted first) of
    // the snapshot the instance was restored from: the instance is still that snapshot's
    // (it was called restored "before snapshot … was copied"). moto works in an instant:
    // the copy is made again seconds after the restore, as on AWS.
    tokio::time::sleep(Duration::from_secs(2)).await;
    target
        .delete_db_snapshot()
        .db_snapshot_identifier("plain-pgsplit-eu-west-2")
        .send()
        .await
        .unwrap();
    let again = migrate(&o).await.expect("the run after a lost copy runs");
    assert!(!again.any_failed(), "{again:#?}");
    assert_eq!(
        outcomes(&again, "plain"),
        [
            (Check, Done),
            (Snapshot, Reused),
            (Copy, Done),
            (Restore, Reused),
            (Validate, Done)
        ]
    );
    // A copy encrypted with another key than asked for now is not reused (the report said
    // the new key while the instance had the old one).
    let key = o.target_kms_key_id.replace(create_kms_key(port, dst));
    let other_key = migrate(&o).await.expect("the run with another key runs");
    assert_eq!(outcomes(&other_key, "secret"), [(Check, Failed)]);
    let why = other_key
        .instance("secret")
        .unwrap()
        .error
        .as_deref()
        .unwrap();
    assert!(why.contains("encrypted with KMS key"), "{why}");
    o.target_kms_key_id = key;

    o.cleanup_snapshots = true;
    let third = migrate(&o).await.expect("third run runs");
    assert!(!third.any_failed(), "{third:#?}");
    assert_eq!(
        outcomes(&third, "plain"),
        [
            (Check, Done),
            (Snapshot, Reused),
            (Copy, Reused),
            (Restore, Reused),
            (Validate, Done),
            (Cleanup, Done)
        ]
    );
    assert_eq!(snapshot_ids(&source).await, Vec::<String>::new());
    assert_eq!(snapshot_ids(&target).await, Vec::<String>::new());
    assert_eq!(
        instance_ids(&target).await,
        ["plain-migrated", "secret-migrated"]
    );
}

#[tokio::test]
async fn unknown_instance_is_a_clear_error() {
    let port = moto_or_skip!();
    let (src, dst) = ("us-west-1", "us-west-2");
    let source = rds(port, src).await;
    create_source_instance(&source, "known", false).await;
    let mut o = options(port, src, dst);
    o.selection.instances = vec!["known".into(), "nope".into()];
    let err = migrate(&o).await.unwrap_err();
    assert!(matches!(err, Error::UnknownInstances { .. }), "{err:?}");
    assert!(err.is_bad_input());
    assert_eq!(err.to_string(), "unknown DB instance(s) in us-west-1: nope");
    assert_eq!(snapshot_ids(&source).await, Vec::<String>::new());
}

/// `--dry-run` lists the plan and changes nothing in either region.
/// A key the target region does not have (here: one of the source region) is bad input
/// found before any snapshot (the copy failed after the snapshot, exit 1).
#[tokio::test]
async fn a_kms_key_the_target_region_lacks_is_bad_input() {
    let port = moto_or_skip!();
    let (src, dst) = ("ap-south-1", "ap-northeast-1");
    let source = rds(port, src).await;
    create_source_instance(&source, "locked", true).await;
    let mut o = options(port, src, dst);
    let key = create_kms_key(port, src);
    o.target_kms_key_id = Some(key.clone());
    for dry_run in [true, false] {
        o.dry_run = dry_run;
        let refused = migrate(&o)
            .await
            .expect_err("no such key in the target region");
        assert!(refused.is_bad_input(), "{refused}");
        assert_eq!(
            refused.to_string(),
            format!("invalid option --target-kms-key-id: there is no KMS key {key} in {dst}")
        );
    }
    assert_eq!(snapshot_ids(&source).await, Vec::<String>::new());
    o.target_kms_key_id = Some(create_kms_key(port, dst));
    let report = migrate(&o).await.expect("with a key of the target region");
    assert!(!report.any_failed(), "{report:#?}");
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let port = moto_or_skip!();
    let (src, dst) = ("ap-southeast-1", "ap-southeast-2");
    let source = rds(port, src).await;
    let target = rds(port, dst).await;
    create_source_instance(&source, "alpha", false).await;
    create_source_instance(&source, "beta", true).await;
    let state = || async {
        (
            instance_ids(&source).await,
            snapshot_ids(&source).await,
            instance_ids(&target).await,
            snapshot_ids(&target).await,
        )
    };
    let before = state().await;

    let mut o = options(port, src, dst);
    o.dry_run = true;
    o.cleanup_snapshots = true;
    let report = migrate(&o).await.expect("dry run");
    assert!(report.dry_run);
    assert_eq!(
        outcomes(&report, "alpha"),
        [
            (Check, Planned),
            (Snapshot, Planned),
            (Copy, Planned),
            (Restore, Planned),
            (Validate, Planned),
            (Cleanup, Planned)
        ]
    );
    // Still checked: the encrypted instance without a target key would fail.
    assert_eq!(outcomes(&report, "beta"), [(Check, Failed)]);
    assert!(report.any_failed());

    assert_eq!(state().await, before);
}

/// A migration rehearsed earlier left its snapshots and instance behind: a later run must
/// not restore old data from them. Each is refused in turn (too old; copied from an older
/// snapshot; restored before today's copy), and once they are gone the run finishes.
#[tokio::test]
async fn an_earlier_migrations_snapshots_and_instance_are_not_reused() {
    let port = moto_or_skip!();
    let (src, dst) = ("ca-central-1", "sa-east-1");
    let source = rds(port, src).await;
    let target = rds(port, dst).await;
    create_source_instance(&source, "rehearsed", false).await;
    let mut o = options(port, src, dst);
    let first = migrate(&o).await.expect("first run runs");
    assert!(!first.any_failed(), "{first:#?}");
    let error_of = |report: &Report| {
        report
            .instance("rehearsed")
            .and_then(|i| i.error.clone())
            .unwrap_or_default()
    };

    // Seconds later, with --reuse-within 1s, the source snapshot counts as old.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    o.reuse_within = Duration::from_secs(1);
    // Found by the check, before anything is made (and by a dry run).
    let old_snapshot = migrate(&o).await.expect("runs");
    assert_eq!(outcomes(&old_snapshot, "rehearsed"), [(Check, Failed)]);
    o.dry_run = true;
    let dry = migrate(&o).await.expect("runs");
    assert!(dry.any_failed(), "{dry:#?}");
    o.dry_run = false;
    let why = error_of(&old_snapshot);
    assert!(
        why.starts_with("rehearsed: snapshot: snapshot rehearsed-pgsplit in ca-central-1 is from an earlier migration: taken ")
            && why.contains("--reuse-within"),
        "{why}"
    );

    // A new source snapshot; the copy in the target region is of the old one.
    o.reuse_within = pgsplit_rds::options::DEFAULT_REUSE_WITHIN;
    source
        .delete_db_snapshot()
        .db_snapshot_identifier("rehearsed-pgsplit")
        .send()
        .await
        .unwrap();
    // No new snapshot is taken: the copy would be refused after it.
    let old_copy = migrate(&o).await.expect("runs");
    assert_eq!(outcomes(&old_copy, "rehearsed"), [(Check, Failed)]);
    assert!(
        error_of(&old_copy).contains("snapshot rehearsed-pgsplit-sa-east-1 in sa-east-1")
            && error_of(&old_copy).contains("before the snapshot this run restores from"),
        "{}",
        error_of(&old_copy)
    );
    assert!(snapshot_ids(&source).await.is_empty());

    // Without the old copy: the instance was restored from the old snapshot.
    target
        .delete_db_snapshot()
        .db_snapshot_identifier("rehearsed-pgsplit-sa-east-1")
        .send()
        .await
        .unwrap();
    let old_instance = migrate(&o).await.expect("runs");
    assert_eq!(outcomes(&old_instance, "rehearsed"), [(Check, Failed)]);
    assert!(
        error_of(&old_instance).contains("instance rehearsed-migrated in sa-east-1"),
        "{}",
        error_of(&old_instance)
    );
    assert!(snapshot_ids(&source).await.is_empty());

    // Without the old instance the run restores from today's snapshots.
    target
        .delete_db_instance()
        .db_instance_identifier("rehearsed-migrated")
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap();
    let fresh = migrate(&o).await.expect("runs");
    assert!(!fresh.any_failed(), "{fresh:#?}");
    assert_eq!(
        outcomes(&fresh, "rehearsed"),
        [
            (Check, Done),
            (Snapshot, Done),
            (Copy, Done),
            (Restore, Done),
            (Validate, Done)
        ]
    );
    // An instance of that name that is no pgsplit migration's: found by the check.
    create_source_instance(&source, "taken", false).await;
    source_instance(&target, "taken-migrated")
        .send()
        .await
        .unwrap();
    o.selection.instances = vec!["taken".into()];
    let taken = migrate(&o).await.expect("runs");
    assert_eq!(outcomes(&taken, "taken"), [(Check, Failed)]);
    assert!(
        taken
            .instance("taken")
            .and_then(|i| i.error.clone())
            .unwrap_or_default()
            .contains("belongs to no pgsplit migration"),
        "{taken:#?}"
    );
    assert!(
        !snapshot_ids(&source)
            .await
            .iter()
            .any(|s| s.starts_with("taken"))
    );
}

/// A Multi-AZ, private, deletion-protected source with IAM logins comes back the same
/// unless told otherwise, and validation holds the restored instance to it.
#[tokio::test]
async fn the_restored_instance_keeps_the_sources_deployment_settings() {
    let port = moto_or_skip!();
    let (src, dst) = ("eu-north-1", "eu-south-1");
    let source = rds(port, src).await;
    let target = rds(port, dst).await;
    source_instance(&source, "guarded")
        .multi_az(true)
        .publicly_accessible(false)
        .deletion_protection(true)
        .enable_iam_database_authentication(true)
        .send()
        .await
        .expect("create source instance");
    let o = options(port, src, dst);
    let report = migrate(&o).await.expect("runs");
    assert!(!report.any_failed(), "{report:#?}");
    let db = target
        .describe_db_instances()
        .db_instance_identifier("guarded-migrated")
        .send()
        .await
        .unwrap()
        .db_instances()[0]
        .clone();
    assert_eq!(db.multi_az(), Some(true));
    assert_eq!(db.publicly_accessible(), Some(false));
    assert_eq!(db.deletion_protection(), Some(true));
    assert_eq!(db.iam_database_authentication_enabled(), Some(true));
    // (Asking for single-AZ cannot be shown here: moto's restore ignores overrides that
    // are false. `validate::tests` covers what is expected then.)
}
