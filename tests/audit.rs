//! The audit trail of a remote (`audit/` objects, `dvx audit`): records of push, pull and
//! gc from two users listed, filtered and checked field by field; concurrent pushes all
//! recorded; reads a remote cannot record (a web server, a read-only S3 identity) still pull,
//! with one warning; `audit_reads = false`; CI jobs; unreadable records named; a push whose
//! record cannot be written fails without losing data. Folder remotes, and S3 (SeaweedFS of
//! `scripts/s3-server.sh`, gated as in tests/remote_s3.rs).
#![cfg(unix)]
#![allow(clippy::unwrap_used)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod remote_common;
mod util;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use remote_common::*;
use serde_json::Value;
use util::s3::S3Env;
use util::web::WebServer;
use util::*;

/// Every variable by which dvx recognises a CI job: cleared, so that a test run inside CI
/// records what the test sets, and nothing of the real job.
const CI_VARS: &[&str] = &[
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "BUILDKITE",
    "BUILDKITE_JOB_ID",
    "CIRCLECI",
    "CIRCLE_BUILD_NUM",
    "JENKINS_URL",
    "TF_BUILD",
    "BITBUCKET_BUILD_NUMBER",
];

fn no_ci(repo: &TestRepo) {
    for v in CI_VARS {
        repo.unset_env(v);
    }
}

fn folder_ctx() -> Ctx {
    let repo = TestRepo::new();
    no_ci(&repo);
    let remote = Remote::folder(&repo, "remote", true);
    Ctx { repo, remote }
}

/// A clone of the repository whose git `user.email` is `email`.
fn clone_as(ctx: &Ctx, name: &str, email: &str) -> PathBuf {
    let dir = ctx.repo.clone_to(name, &[]);
    ctx.repo.git_in(&dir, &["config", "user.email", email]).ok();
    dir
}

/// `dvx audit --json <args>` in `dir`, which must succeed: the records.
#[track_caller]
fn records_in(ctx: &Ctx, dir: &Path, args: &[&str]) -> Vec<Value> {
    let mut a = vec!["audit", "--json"];
    a.extend_from_slice(args);
    let r = ctx.dvx_in(dir, &a);
    r.ok();
    let v = r.json();
    assert_eq!(v["problems"], Value::Array(vec![]), "{r}");
    v["records"].as_array().unwrap().clone()
}

fn ops(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["operation"].as_str().unwrap(),
                r["who"]["git_email"].as_str().unwrap_or("-")
            )
        })
        .collect()
}

/// The datasets of a record as path -> (id, commit).
fn datasets(record: &Value) -> BTreeMap<String, (String, Value)> {
    record["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["path"].as_str().unwrap().to_string(),
                (d["id"].as_str().unwrap().to_string(), d["commit"].clone()),
            )
        })
        .collect()
}

/// The fields every record has, checked against what the test knows.
#[track_caller]
fn check_common(rec: &Value, ctx: &Ctx, op: &str, email: &str, os_user: &str) {
    assert_eq!(rec["format"], 1, "{rec:#}");
    assert_eq!(rec["operation"], op, "{rec:#}");
    assert_eq!(rec["remote"]["name"], "origin", "{rec:#}");
    assert_eq!(rec["remote"]["url"], ctx.remote.url.as_str(), "{rec:#}");
    assert_eq!(rec["dvx_version"], env!("CARGO_PKG_VERSION"), "{rec:#}");
    assert_eq!(rec["who"]["git_email"], email, "{rec:#}");
    assert_eq!(rec["who"]["os_user"], os_user, "{rec:#}");
    assert!(
        rec["who"]["host"].as_str().is_some_and(|h| !h.is_empty()),
        "no host: {rec:#}"
    );
    assert_eq!(rec["who"]["ci"], Value::Null, "{rec:#}");
    let started = rec["started"].as_str().unwrap();
    let finished = rec["finished"].as_str().unwrap();
    // `YYYY-MM-DDTHH:MM:SS.mmmZ`: text order is time order.
    assert_eq!(started.len(), 24, "{started}");
    assert!(started.ends_with('Z') && finished.ends_with('Z'), "{rec:#}");
    assert!(started <= finished, "{rec:#}");
    let key = rec["key"].as_str().unwrap();
    let compact: String = started
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    assert!(
        key.starts_with(&format!("audit/{}/{compact}-", &started[..4])) && key.ends_with(".json"),
        "key {key} does not name the start time {started}"
    );
}

/// Alice pushes `data` and `models`; Bob (another clone, another email and OS user) pulls
/// `data` and runs `gc --remote`. The three records are listed in order, checked field by
/// field, and filtered by dataset and time.
fn two_users(ctx: &Ctx) {
    let repo = &ctx.repo;
    repo.set_env("USER", "alice-os");
    repo.git(&["config", "user.email", "alice@example.com"])
        .ok();
    let mut g = Gen::new(0xa0d1_0001);
    g.tree(&repo.path("data"), 2, 5, 50_000);
    g.tree(&repo.path("models"), 1, 3, 30_000);
    repo.dvx(&["add", "data", "models"]).ok();
    ctx.add_origin();
    let c1 = repo.commit("v1");
    let pushed = ctx.push(&[]);
    let (data, models) = (repo.pointer("data.dvx"), repo.pointer("models.dvx"));

    let bob = clone_as(ctx, "bob", "bob@example.com");
    let pull = repo.dvx_in_env(&bob, &[("USER", "bob-os")], &["pull", "data", "--json"]);
    pull.ok();
    let pulled = summary(&pull);
    repo.dvx_in_env(
        &bob,
        &[("USER", "bob-os")],
        &["gc", "--remote", "--keep-days", "0"],
    )
    .ok();

    let all = records_in(ctx, repo.root(), &[]);
    assert_eq!(
        ops(&all),
        [
            "push alice@example.com",
            "pull bob@example.com",
            "gc bob@example.com"
        ],
        "{all:#?}"
    );
    let (push, pullr, gc) = (&all[0], &all[1], &all[2]);

    check_common(push, ctx, "push", "alice@example.com", "alice-os");
    assert_eq!(push["commit"], c1.as_str());
    let want: BTreeMap<String, (String, Value)> = [
        (
            "data".to_string(),
            (data.id().to_string(), Value::from(c1.as_str())),
        ),
        (
            "models".to_string(),
            (models.id().to_string(), Value::from(c1.as_str())),
        ),
    ]
    .into();
    assert_eq!(datasets(push), want, "{push:#}");
    assert_eq!(push["files"], data.num("files") + models.num("files"));
    assert_eq!(push["bytes"], data.num("bytes") + models.num("bytes"));
    assert_eq!(push["transferred"], pushed.transferred, "{push:#}");
    assert_eq!(push["objects"], pushed.objects, "{push:#}");
    assert_eq!(push["gc"], Value::Null);

    check_common(pullr, ctx, "pull", "bob@example.com", "bob-os");
    assert_eq!(pullr["commit"], c1.as_str());
    let want: BTreeMap<String, (String, Value)> =
        [("data".to_string(), (data.id().to_string(), Value::Null))].into();
    assert_eq!(datasets(pullr), want, "{pullr:#}");
    assert_eq!(pullr["files"], data.num("files"));
    assert_eq!(pullr["bytes"], data.num("bytes"));
    assert_eq!(pullr["transferred"], pulled.transferred, "{pullr:#}");
    assert!(pullr["chunks"].as_u64().unwrap() > 0, "{pullr:#}");

    check_common(gc, ctx, "gc", "bob@example.com", "bob-os");
    assert_eq!(gc["datasets"], Value::Array(vec![]));
    assert_eq!(gc["gc"]["dry_run"], false, "{gc:#}");
    assert!(gc["gc"]["versions"].as_u64().unwrap() >= 2, "{gc:#}");
    assert_eq!(gc["gc"]["packs_deleted"], 0, "{gc:#}");

    // Filters: by dataset (a dataset, a path inside one), by time.
    let only = |args: &[&str]| ops(&records_in(ctx, &bob, args));
    assert_eq!(only(&["--dataset", "models"]), ["push alice@example.com"]);
    assert_eq!(
        only(&["--dataset", "data"]),
        ["push alice@example.com", "pull bob@example.com"]
    );
    let pull_started = pullr["started"].as_str().unwrap();
    let push_started = push["started"].as_str().unwrap();
    assert_eq!(
        only(&["--since", pull_started]),
        ["pull bob@example.com", "gc bob@example.com"]
    );
    assert_eq!(only(&["--until", push_started]), ["push alice@example.com"]);
    assert_eq!(
        only(&["--since", pull_started, "--dataset", "data"]),
        ["pull bob@example.com"]
    );
    assert_eq!(only(&["--since", "2000-01-01"]).len(), 3);
    assert!(only(&["--since", "2999-01-01"]).is_empty());
    assert!(only(&["--until", "2000-01-01"]).is_empty());
    ctx.dvx(&["audit", "--since", "last week"])
        .code_is(2)
        .stderr_has("--since");

    // The table: one line per record, in order, saying who.
    let table = ctx.dvx(&["audit"]);
    table.ok();
    let lines: Vec<String> = table.stdout_str().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3, "{table}");
    for (line, (op, who)) in lines.iter().zip([
        ("push", "alice@example.com"),
        ("pull", "bob@example.com"),
        ("gc", "bob@example.com"),
    ]) {
        assert!(line.contains(op) && line.contains(who), "{line:?}\n{table}");
    }
    assert!(lines[0].contains(&data.id()[..12]), "{table}");

    // Listing and reading records is not itself recorded.
    assert_eq!(ctx.objects().audits.len(), 3, "{:?}", ctx.objects());
}

#[test]
fn folder_push_pull_gc_of_two_users_are_recorded_and_filtered() {
    two_users(&folder_ctx());
}

#[test]
#[cfg_attr(
    not(dvx_s3_tests),
    ignore = "needs the S3 test server: scripts/s3-server.sh start && eval \"$(scripts/s3-server.sh env)\""
)]
fn s3_push_pull_gc_of_two_users_are_recorded_and_filtered() {
    let env = S3Env::get();
    let repo = TestRepo::new();
    no_ci(&repo);
    let remote = Remote::s3(&repo, &env, "audit-two-users");
    two_users(&Ctx { repo, remote });
}

/// A repository with `data` pushed to origin by alice; returns the first commit.
fn pushed_repo(ctx: &Ctx, seed: u64) -> String {
    let repo = &ctx.repo;
    repo.git(&["config", "user.email", "alice@example.com"])
        .ok();
    Gen::new(seed).tree(&repo.path("data"), 1, 4, 40_000);
    repo.dvx(&["add", "data"]).ok();
    ctx.add_origin();
    let c = repo.commit("v1");
    ctx.push(&[]);
    c
}

#[test]
fn concurrent_pushes_from_several_clones_are_all_recorded() {
    let ctx = folder_ctx();
    pushed_repo(&ctx, 0xa0d1_0002);
    let users = [
        "u1@example.com",
        "u2@example.com",
        "u3@example.com",
        "u4@example.com",
    ];
    let clones: Vec<PathBuf> = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let dir = clone_as(&ctx, &format!("c{i}"), u);
            // A push sends HEAD's versions too: the clone needs their data.
            ctx.dvx_in(&dir, &["pull"]).ok();
            let name = format!("set{i}");
            Gen::new(0xa0d1_0100 + i as u64).tree(&dir.join(&name), 1, 6, 60_000);
            ctx.dvx_in(&dir, &["add", &name]).ok();
            dir
        })
        .collect();
    let children: Vec<Child> = clones
        .iter()
        .map(|dir| {
            ctx.repo
                .dvx_cmd_in(dir, &["push"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a concurrent push failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let all: Vec<Value> = records_in(&ctx, ctx.repo.root(), &[])
        .into_iter()
        .filter(|r| r["operation"] != "pull")
        .collect();
    let mut pushers: Vec<String> = all
        .iter()
        .map(|r| {
            assert_eq!(r["operation"], "push", "{r:#}");
            r["who"]["git_email"].as_str().unwrap().to_string()
        })
        .collect();
    pushers.sort();
    let mut want = vec!["alice@example.com".to_string()];
    want.extend(users.iter().map(|u| u.to_string()));
    assert_eq!(pushers, want, "a record was lost");
    for (i, r) in all.iter().skip(1).enumerate() {
        let paths: Vec<String> = datasets(r).into_keys().collect();
        assert!(
            paths.iter().any(|p| p.starts_with("set")),
            "record {i} names none of the new datasets: {r:#}"
        );
    }
    // One push and four pulls before, four pushes now.
    assert_eq!(ctx.objects().audits.len(), 9);
    // Each clone sees every record too.
    assert_eq!(records_in(&ctx, &clones[0], &[]).len(), 9);
}

/// The one warning line of a read that was not recorded.
#[track_caller]
fn assert_unrecorded_warning(r: &Run, remote: &str) {
    let warnings: Vec<String> = r
        .stderr_str()
        .lines()
        .filter(|l| l.contains("not recorded"))
        .map(str::to_string)
        .collect();
    assert_eq!(warnings.len(), 1, "expected one warning\n{r}");
    assert!(
        warnings[0].starts_with("warning: ") && warnings[0].contains(remote),
        "{:?}\n{r}",
        warnings[0]
    );
}

#[test]
fn a_read_only_web_remote_pulls_with_a_warning_and_records_nothing() {
    let ctx = folder_ctx();
    pushed_repo(&ctx, 0xa0d1_0003);
    let want = ctx.repo.snapshot("data");
    let folder = ctx.remote.folder.clone().unwrap();
    let web = WebServer::serve(&folder);
    let before = ctx.objects().audits;
    assert_eq!(before.len(), 1);

    let reader = clone_as(&ctx, "reader", "reader@example.com");
    ctx.dvx_in(&reader, &["remote", "add", "web", &web.url])
        .ok();
    let r = ctx.dvx_in(&reader, &["pull", "-r", "web"]);
    r.ok();
    assert_unrecorded_warning(&r, &web.url);
    assert_snapshot_eq("pull over http", &want, &snap_in(&reader, "data"));
    assert_eq!(ctx.objects().audits, before, "a record appeared");

    // The trail cannot be listed through the web server; the folder lists it.
    ctx.dvx_in(&reader, &["audit", "-r", "web"])
        .code_is(2)
        .stderr_has("web server");
    assert_eq!(records_in(&ctx, &reader, &[]).len(), 1);
}

#[test]
fn audit_reads_false_skips_read_records_but_never_write_records() {
    let ctx = folder_ctx();
    pushed_repo(&ctx, 0xa0d1_0004);
    let bob = clone_as(&ctx, "bob", "bob@example.com");
    ctx.dvx_in(&bob, &["config", "remotes.origin.audit_reads", "false"])
        .ok();
    let r = ctx.dvx_in(&bob, &["pull"]);
    r.ok();
    assert!(!r.stderr_str().contains("not recorded"), "{r}");
    assert_eq!(
        ops(&records_in(&ctx, &bob, &[])),
        ["push alice@example.com"]
    );

    // A push from the same clone is recorded all the same.
    Gen::new(0xa0d1_0005).tree(&bob.join("more"), 1, 3, 20_000);
    ctx.dvx_in(&bob, &["add", "more"]).ok();
    ctx.dvx_in(&bob, &["push"]).ok();
    ctx.dvx_in(&bob, &["gc", "--remote", "--dry-run"]).ok();
    assert_eq!(
        ops(&records_in(&ctx, &bob, &[])),
        [
            "push alice@example.com",
            "push bob@example.com",
            "gc bob@example.com"
        ]
    );
    // There is no setting that turns write records off.
    for key in ["remotes.origin.audit_writes", "remotes.origin.audit"] {
        ctx.dvx_in(&bob, &["config", key, "false"])
            .code_is(2)
            .stderr_is_error();
        ctx.dvx_in(&bob, &["config", "--local", key, "false"])
            .code_is(2)
            .stderr_has("not a setting");
    }

    // This machine's setting overrides the committed one: a third clone reads unrecorded.
    let carol = clone_as(&ctx, "carol", "carol@example.com");
    ctx.dvx_in(
        &carol,
        &["config", "--local", "remotes.origin.audit_reads", "false"],
    )
    .ok();
    ctx.dvx_in(&carol, &["pull"]).ok();
    let dave = clone_as(&ctx, "dave", "dave@example.com");
    ctx.dvx_in(&dave, &["pull"]).ok();
    assert_eq!(
        ops(&records_in(&ctx, &bob, &[])),
        [
            "push alice@example.com",
            "push bob@example.com",
            "gc bob@example.com",
            "pull dave@example.com"
        ]
    );
}

#[test]
fn a_ci_job_is_recorded() {
    let ctx = folder_ctx();
    let repo = &ctx.repo;
    for (k, v) in [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_RUN_ID", "4242"),
        ("GITHUB_RUN_ATTEMPT", "3"),
        ("GITHUB_JOB", "train"),
        ("GITHUB_REPOSITORY", "acme/data"),
        ("GITHUB_SERVER_URL", "https://github.example"),
    ] {
        repo.set_env(k, v);
    }
    pushed_repo(&ctx, 0xa0d1_0006);
    for k in ["GITHUB_ACTIONS", "GITHUB_RUN_ID"] {
        repo.unset_env(k);
    }
    let clone = repo.clone_to("ci", &[]);
    repo.dvx_in_env(
        &clone,
        &[
            ("GITLAB_CI", "true"),
            ("CI_JOB_ID", "777"),
            ("CI_JOB_NAME", "fetch-data"),
            ("CI_PROJECT_PATH", "acme/ml"),
            ("CI_JOB_URL", "https://gitlab.example/acme/ml/-/jobs/777"),
        ],
        &["pull"],
    )
    .ok();
    let all = records_in(&ctx, repo.root(), &[]);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_eq!(
        all[0]["who"]["ci"],
        serde_json::json!({
            "system": "github_actions",
            "job_id": "4242/3",
            "job": "train",
            "project": "acme/data",
            "url": "https://github.example/acme/data/actions/runs/4242",
        })
    );
    assert_eq!(
        all[1]["who"]["ci"],
        serde_json::json!({
            "system": "gitlab",
            "job_id": "777",
            "job": "fetch-data",
            "project": "acme/ml",
            "url": "https://gitlab.example/acme/ml/-/jobs/777",
        })
    );
    let table = ctx.dvx(&["audit"]);
    table
        .ok()
        .stdout_has("github_actions job 4242/3")
        .stdout_has("gitlab job 777");
}

#[test]
fn unreadable_records_are_named_and_fail_the_listing() {
    let ctx = folder_ctx();
    pushed_repo(&ctx, 0xa0d1_0007);
    let folder = ctx.remote.folder.clone().unwrap();
    let good = ctx.objects().audits;
    let bad = [
        (
            "audit/2026/20260101T000000.000Z-0123456789abcdef.json",
            "not json".to_string(),
        ),
        (
            "audit/2026/20260101T000001.000Z-0123456789abcdef.json",
            r#"{"format": 99, "operation": "push"}"#.to_string(),
        ),
        ("audit/notes.txt", "hello".to_string()),
    ];
    for (k, text) in &bad {
        write_file(&folder.join(k), text.as_bytes());
    }
    // A valid record whose name was changed (moved to another time).
    let moved = "audit/2025/20250101T000000.000Z-00000000000000aa.json";
    write_file(
        &folder.join(moved),
        &fs::read(folder.join(&good[0])).unwrap(),
    );

    let r = ctx.dvx(&["audit"]);
    r.code_is(1);
    for (k, _) in &bad {
        r.stderr_has(k);
    }
    r.stderr_has(moved)
        .stderr_has("is not JSON")
        .stderr_has("newer than this dvx")
        .stderr_has("not an audit record's name")
        .stderr_has("its name says otherwise");
    assert_eq!(
        r.stdout_str().lines().count(),
        1,
        "the good record is listed\n{r}"
    );
    r.stdout_has("push");

    let j = ctx.dvx(&["audit", "--json"]);
    j.code_is(1);
    let v = j.json();
    assert_eq!(v["records"].as_array().unwrap().len(), 1);
    let keys: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 4, "{v:#}");
    // Outside the time range asked for, a record with a good name is not even read.
    let r = ctx.dvx(&["audit", "--since", "2026-06-01"]);
    r.code_is(1).stderr_has("audit/notes.txt");
    assert!(!r.stderr_str().contains("20260101T000000"), "{r}");
}

#[test]
fn a_push_that_cannot_record_fails_and_loses_nothing() {
    let ctx = folder_ctx();
    let repo = &ctx.repo;
    let folder = ctx.remote.folder.clone().unwrap();
    // A file where the audit folder should be: every record write fails.
    write_file(&folder.join("audit"), b"in the way");
    Gen::new(0xa0d1_0008).tree(&repo.path("data"), 1, 4, 40_000);
    repo.dvx(&["add", "data"]).ok();
    ctx.add_origin();
    repo.commit("v1");
    let want = repo.snapshot("data");
    let r = ctx.dvx(&["push"]);
    r.code_is(1)
        .stderr_is_error()
        .stderr_has("audit trail")
        .stderr_has("nothing was lost");
    let objs = ctx.objects();
    assert!(!objs.packs.is_empty() && !objs.trees.is_empty(), "{objs:?}");

    // The data is there: a clone pulls it (the read is not recorded, with a warning).
    let clone = repo.clone_to("reader", &[]);
    let p = ctx.dvx_in(&clone, &["pull"]);
    p.ok();
    assert_unrecorded_warning(&p, &ctx.remote.url);
    assert_snapshot_eq(
        "pull after unrecorded push",
        &want,
        &snap_in(&clone, "data"),
    );
    ctx.dvx(&["gc", "--remote", "--dry-run"])
        .code_is(1)
        .stderr_has("audit trail");

    // Once records can be written, the rerun pushes nothing and records.
    fs::remove_file(folder.join("audit")).unwrap();
    let again = ctx.push(&[]);
    assert_eq!(again.objects, 0);
    let all = records_in(&ctx, repo.root(), &[]);
    assert_eq!(ops(&all), ["push tests@dvx.invalid"]);
}

#[test]
#[cfg_attr(
    not(dvx_s3_tests),
    ignore = "needs the S3 test server: scripts/s3-server.sh start && eval \"$(scripts/s3-server.sh env)\""
)]
fn s3_a_read_only_identity_pulls_with_a_warning_and_records_nothing() {
    let env = S3Env::get();
    let repo = TestRepo::new();
    no_ci(&repo);
    let remote = Remote::s3(&repo, &env, "audit-reader");
    let ctx = Ctx { repo, remote };
    pushed_repo(&ctx, 0xa0d1_0009);
    let want = ctx.repo.snapshot("data");
    let before = ctx.objects().audits;
    assert_eq!(before.len(), 1);

    let var = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| {
            panic!("{k} is not set: restart the server (scripts/s3-server.sh stop && start)")
        })
    };
    let (key, secret) = (
        var("DVX_TEST_S3_READ_ACCESS_KEY"),
        var("DVX_TEST_S3_READ_SECRET_KEY"),
    );
    let reader = ctx.repo.clone_to("reader", &[]);
    let creds = [
        ("AWS_ACCESS_KEY_ID", key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
    ];
    let r = ctx.repo.dvx_in_env(&reader, &creds, &["pull"]);
    r.ok();
    assert_unrecorded_warning(&r, &ctx.remote.url);
    assert_snapshot_eq("pull as a reader", &want, &snap_in(&reader, "data"));
    assert_eq!(ctx.objects().audits, before, "a record appeared");
    // The reader cannot push either: the remote refuses, and says so.
    Gen::new(0xa0d1_000a).tree(&reader.join("more"), 1, 2, 10_000);
    ctx.repo.dvx_in(&reader, &["add", "more"]).ok();
    ctx.repo
        .dvx_in_env(&reader, &creds, &["push"])
        .code_is(1)
        .stderr_is_error();
    // The reader can list the trail.
    let list = ctx.repo.dvx_in_env(&reader, &creds, &["audit", "--json"]);
    list.ok();
    assert_eq!(list.json()["records"].as_array().unwrap().len(), 1);
}

#[test]
fn get_and_import_reads_are_recorded_on_the_source_remote() {
    let ctx = folder_ctx();
    let c1 = pushed_repo(&ctx, 0xa0d1_000b);
    let id = ctx.repo.pointer("data.dvx").id().to_string();
    let url = ctx.repo.root().to_string_lossy().into_owned();
    // Two projects: the second would find the data in the first's store otherwise.
    for (n, (cmd, email)) in [
        ("get", "getter@example.com"),
        ("import", "importer@example.com"),
    ]
    .into_iter()
    .enumerate()
    {
        let project = TestRepo::new();
        no_ci(&project);
        project.set_env(
            "DVX_CACHE_DIR",
            &project.tmp().join("cache").to_string_lossy(),
        );
        project.git(&["config", "user.email", email]).ok();
        project
            .dvx(&[cmd, &url, "data", "-o", &format!("copy{n}")])
            .ok();
    }
    let all = records_in(&ctx, ctx.repo.root(), &[]);
    assert_eq!(
        ops(&all),
        [
            "push alice@example.com",
            "get getter@example.com",
            "import importer@example.com"
        ]
    );
    for r in &all[1..] {
        assert_eq!(r["remote"]["name"], "source origin", "{r:#}");
        assert_eq!(r["remote"]["url"], ctx.remote.url.as_str(), "{r:#}");
        assert_eq!(r["commit"], Value::Null, "{r:#}");
        let want: BTreeMap<String, (String, Value)> =
            [("data".to_string(), (id.clone(), Value::from(c1.as_str())))].into();
        assert_eq!(datasets(r), want, "{r:#}");
        assert!(r["transferred"].as_u64().unwrap() > 0, "{r:#}");
    }
}
