//! Remotes, S3 backend: the scenarios of `tests/remote.rs` against the S3 server of
//! `scripts/s3-server.sh` (SeaweedFS), plus credential, bucket and network errors.
//!
//! Needs `DVX_TEST_S3_ENDPOINT`, `DVX_TEST_S3_BUCKET`, `DVX_TEST_S3_ACCESS_KEY`,
//! `DVX_TEST_S3_SECRET_KEY` (`eval "$(scripts/s3-server.sh env)"`). Built without
//! `DVX_TEST_S3_ENDPOINT` (see build.rs), the tests that need the server are ignored, so the
//! runner reports them as skipped, with the reason; under `CI=true` they always run, and fail
//! when the server is missing.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod remote_common;
mod util;

use std::time::{Duration, Instant};

use remote_common::*;
use util::s3::S3Env;
use util::*;

/// Errors must come within this bound (retries included).
const ERROR_DEADLINE: Duration = Duration::from_secs(60);

fn s3_ctx(test: &str) -> Ctx {
    let env = S3Env::get();
    let repo = TestRepo::new();
    let remote = Remote::s3(&repo, &env, test);
    Ctx { repo, remote }
}

#[test]
#[cfg_attr(
    not(dvx_s3_tests),
    ignore = "needs the S3 test server: scripts/s3-server.sh start && eval \"$(scripts/s3-server.sh env)\""
)]
fn s3_roundtrip_push_all_revs_then_pull_in_clones() {
    let ctx = s3_ctx("roundtrip-all-revs");
    roundtrip_all_revs(&ctx);
}

#[test]
#[cfg_attr(
    not(dvx_s3_tests),
    ignore = "needs the S3 test server: scripts/s3-server.sh start && eval \"$(scripts/s3-server.sh env)\""
)]
fn s3_roundtrip_push_after_each_version() {
    let ctx = s3_ctx("roundtrip-each");
    roundtrip_push_each(&ctx);
}

#[test]
#[cfg_attr(
    not(dvx_s3_tests),
    ignore = "needs the S3 test server: scripts/s3-server.sh start && eval \"$(scripts/s3-server.sh env)\""
)]
fn s3_encrypted_roundtrip_push_all_revs_then_pull_in_clones() {
    let mut ctx = s3_ctx("enc-roundtrip");
    ctx.remote = ctx.remote.encrypted(&ctx.repo, "s3 passphrase");
    roundtrip_all_revs(&ctx);
}

#[test]
#[cfg_attr(
    not(dvx_s3_tests),
    ignore = "needs the S3 test server: scripts/s3-server.sh start && eval \"$(scripts/s3-server.sh env)\""
)]
fn s3_encrypted_remote_holds_no_plaintext_ids_or_names() {
    let mut ctx = s3_ctx("enc-leaks");
    ctx.remote = ctx.remote.encrypted(&ctx.repo, "s3 passphrase");
    remote_common::leaks::nothing_leaks(&ctx);
}

#[test]
#[cfg_attr(
    not(dvx_s3_tests),
    ignore = "needs the S3 test server: scripts/s3-server.sh start && eval \"$(scripts/s3-server.sh env)\""
)]
fn s3_encrypted_interrupted_push_and_pull_recover_and_gc_keeps_live_versions() {
    let mut ctx = s3_ctx("enc-interrupted");
    ctx.remote = ctx.remote.encrypted(&ctx.repo, "s3 passphrase");
    interrupted_transfers(&ctx);
    let mut ctx = s3_ctx("enc-gc");
    ctx.remote = ctx.remote.encrypted(&ctx.repo, "s3 passphrase");
    fsck_and_gc(&ctx);
}

#[test]
#[cfg_attr(
    not(dvx_s3_tests),
    ignore = "needs the S3 test server: scripts/s3-server.sh start && eval \"$(scripts/s3-server.sh env)\""
)]
fn s3_two_encrypted_remotes_under_prefixes_of_one_bucket_are_independent() {
    let env = S3Env::get();
    let repo = TestRepo::new();
    env.apply(&repo);
    let mut g = Gen::new(0x5e4c);
    g.tree(&repo.path("data"), 2, 4, 50_000);
    repo.dvx(&["add", "data"]).ok();
    let base = env.unique_url("enc-teams");
    let (a, b) = (format!("{base}/team-a"), format!("{base}/team-b"));
    for (name, url, pass) in [("a", &a, "alpha"), ("b", &b, "beta")] {
        repo.dvx_in_env(
            repo.root(),
            &[("DVX_PASSPHRASE", pass)],
            &["remote", "add", name, url, "--encrypt"],
        )
        .ok();
    }
    repo.commit("two remotes");
    repo.dvx_in_env(
        repo.root(),
        &[("DVX_PASSPHRASE", "alpha")],
        &["push", "-r", "a"],
    )
    .ok();
    repo.dvx_in_env(
        repo.root(),
        &[("DVX_PASSPHRASE", "beta")],
        &["push", "-r", "b"],
    )
    .ok();
    let want = repo.snapshot("data");
    for (remote, pass, other) in [("a", "alpha", "b"), ("b", "beta", "a")] {
        let clone = repo.clone_to(&format!("team-{remote}"), &[]);
        repo.dvx_in_env(&clone, &[("DVX_PASSPHRASE", pass)], &["pull", "-r", other])
            .code_is(1)
            .stderr_has("cannot open its key");
        assert!(!clone.join("data").exists());
        repo.dvx_in_env(&clone, &[("DVX_PASSPHRASE", pass)], &["pull", "-r", remote])
            .ok();
        assert_snapshot_eq("own remote", &want, &snap_in(&clone, "data"));
    }
}

#[test]
#[cfg_attr(
    not(dvx_s3_tests),
    ignore = "needs the S3 test server: scripts/s3-server.sh start && eval \"$(scripts/s3-server.sh env)\""
)]
fn s3_interrupted_push_and_pull_recover() {
    let ctx = s3_ctx("interrupted");
    interrupted_transfers(&ctx);
}

#[test]
#[cfg_attr(
    not(dvx_s3_tests),
    ignore = "needs the S3 test server: scripts/s3-server.sh start && eval \"$(scripts/s3-server.sh env)\""
)]
fn s3_fsck_and_two_phase_gc() {
    fsck_and_gc(&s3_ctx("fsck-gc"));
}

/// A small committed dataset with `origin` configured (not pushed).
fn small_dataset(ctx: &Ctx) {
    let mut g = Gen::new(0xe77);
    g.tree(&ctx.repo.path("data"), 2, 4, 50_000);
    ctx.repo.dvx(&["add", "data", "-m", "small"]).ok();
    ctx.add_origin();
    ctx.repo.commit("small");
}

/// Runs dvx in `dir` with `envs`, expects exit 1 within the deadline, an `error:` line that
/// mentions one of `keywords` (case-insensitive), and none of `secrets` anywhere.
#[track_caller]
fn expect_failure(
    repo: &TestRepo,
    dir: &std::path::Path,
    envs: &[(&str, &str)],
    args: &[&str],
    keywords: &[&str],
    secrets: &[&str],
) -> Run {
    let t = Instant::now();
    let r = repo.dvx_in_env(dir, envs, args);
    let took = t.elapsed();
    r.code_is(1).stderr_is_error();
    assert!(
        took < ERROR_DEADLINE,
        "took {took:?} to fail (bound: {ERROR_DEADLINE:?})\n{r}"
    );
    let err = r.stderr_str().to_lowercase();
    assert!(
        keywords.iter().any(|k| err.contains(&k.to_lowercase())),
        "stderr should say what is wrong (one of {keywords:?})\n{r}"
    );
    for s in secrets {
        assert!(
            !r.stderr_str().contains(s) && !r.stdout_str().contains(s),
            "a secret appears in the output\n{r}"
        );
    }
    eprintln!("{:?}: failed in {took:?} with:\n{}", args, r.stderr_str());
    r
}

#[test]
#[cfg_attr(
    not(dvx_s3_tests),
    ignore = "needs the S3 test server: scripts/s3-server.sh start && eval \"$(scripts/s3-server.sh env)\""
)]
fn s3_wrong_secret_key_fails_cleanly() {
    let ctx = s3_ctx("wrong-secret");
    small_dataset(&ctx);
    let real = ctx.remote.secret().unwrap().to_string();
    let bad = "WrongSecretKey/0123456789abcdefXYZ";
    let keywords = [
        "denied",
        "forbidden",
        "403",
        "credential",
        "signature",
        "access key",
        "invalidaccesskeyid",
        "unauthori",
    ];
    let envs = [("AWS_SECRET_ACCESS_KEY", bad)];
    let root = ctx.repo.root().to_path_buf();
    expect_failure(&ctx.repo, &root, &envs, &["push"], &keywords, &[bad, &real]);

    // Pushed with the right key, pulled with a wrong one.
    let want = ctx.repo.snapshot("data");
    ctx.push(&[]);
    let clone = ctx.repo.clone_to("clone", &[]);
    expect_failure(
        &ctx.repo,
        &clone,
        &envs,
        &["pull"],
        &keywords,
        &[bad, &real],
    );
    assert_partial_ok(&want, &snap_in(&clone, "data"), "pull with a wrong key");
    // An unknown access key id too.
    let envs2 = [("AWS_ACCESS_KEY_ID", "NOSUCHACCESSKEY")];
    expect_failure(&ctx.repo, &clone, &envs2, &["fetch"], &keywords, &[&real]);
}

#[test]
#[cfg_attr(
    not(dvx_s3_tests),
    ignore = "needs the S3 test server: scripts/s3-server.sh start && eval \"$(scripts/s3-server.sh env)\""
)]
fn s3_missing_bucket_fails_cleanly() {
    let env = S3Env::get();
    let repo = TestRepo::new();
    env.apply(&repo);
    let mut g = Gen::new(0xb0c);
    g.tree(&repo.path("data"), 2, 4, 50_000);
    repo.dvx(&["add", "data"]).ok();
    repo.dvx(&["remote", "add", "origin", "s3://no-such-bucket-xyz/p"])
        .ok();
    repo.commit("data");
    let keywords = ["no-such-bucket-xyz", "bucket"];
    let root = repo.root().to_path_buf();
    expect_failure(&repo, &root, &[], &["push"], &keywords, &[&env.secret_key]);
    let clone = repo.clone_to("clone", &[]);
    expect_failure(&repo, &clone, &[], &["pull"], &keywords, &[&env.secret_key]);
    assert!(
        !clone.join("data").exists(),
        "pull from a missing bucket wrote data/"
    );
}

/// Needs no server: nothing listens on 127.0.0.1:9.
#[test]
fn s3_unreachable_endpoint_fails_within_bounded_time() {
    let repo = TestRepo::new();
    let secret = "UnreachableSecret/abcdef0123456789";
    for (k, v) in [
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("AWS_ACCESS_KEY_ID", "AKIDUNREACHABLE"),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_REGION", "us-east-1"),
    ] {
        repo.set_env(k, v);
    }
    for k in ["AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"] {
        repo.unset_env(k);
    }
    let mut g = Gen::new(0x9);
    g.tree(&repo.path("data"), 2, 4, 50_000);
    repo.dvx(&["add", "data"]).ok();
    repo.dvx(&["remote", "add", "origin", "s3://some-bucket/p"])
        .ok();
    repo.commit("data");
    let keywords = ["127.0.0.1:9", "connect", "unreachable", "refused"];
    let root = repo.root().to_path_buf();
    expect_failure(&repo, &root, &[], &["push"], &keywords, &[secret]);
    let clone = repo.clone_to("clone", &[]);
    expect_failure(&repo, &clone, &[], &["pull"], &keywords, &[secret]);
    assert!(!clone.join("data").exists());
    // status --remote cannot tell either: an error, not a wrong answer.
    let r = repo.dvx(&["status", "--remote"]);
    assert_ne!(
        r.code(),
        Some(0),
        "status --remote with an unreachable remote\n{r}"
    );
    assert!(!r.stderr_str().contains(secret) && !r.stdout_str().contains(secret));
}

#[test]
#[cfg_attr(
    not(dvx_s3_tests),
    ignore = "needs the S3 test server: scripts/s3-server.sh start && eval \"$(scripts/s3-server.sh env)\""
)]
fn s3_objects_follow_the_layout() {
    let ctx = s3_ctx("layout");
    let repo = &ctx.repo;
    let mut g = Gen::new(0x1a);
    for i in 0..300 {
        let n = 500 + g.range(0..2500);
        g.file(&repo.path(&format!("data/d{}/f{i}.bin", i % 6)), n);
    }
    repo.dvx(&["add", "data"]).ok();
    ctx.add_origin();
    repo.commit("data");
    let s = ctx.push(&[]);
    let objs = ctx.objects();
    check_object_count(&objs, s.transferred, 1);
    assert!(objs.trees.len() <= 7, "{objs:#?}");
}

#[test]
#[cfg_attr(
    not(dvx_s3_tests),
    ignore = "needs the S3 test server: scripts/s3-server.sh start && eval \"$(scripts/s3-server.sh env)\""
)]
fn s3_settings_from_config_local_toml() {
    let env = S3Env::get();
    let repo = TestRepo::new();
    // No AWS_* in the environment at all: everything comes from .dvx/config.local.toml.
    for k in [
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
    ] {
        repo.unset_env(k);
    }
    // No ~/.aws/credentials either.
    repo.set_env("HOME", repo.outside().to_str().unwrap());
    let url = env.unique_url("config-local");
    let local = format!(
        "[remotes.origin]\nendpoint = \"{}\"\nregion = \"us-east-1\"\naccess_key_id = \"{}\"\n\
         secret_access_key = \"{}\"\nallow_http = true\n",
        env.endpoint, env.access_key, env.secret_key
    );
    let mut g = Gen::new(0xc0f);
    g.tree(&repo.path("data"), 2, 4, 50_000);
    repo.dvx(&["add", "data"]).ok();
    repo.dvx(&["remote", "add", "origin", &url]).ok();
    repo.write(".dvx/config.local.toml", local.as_bytes());
    repo.commit("data");
    let ctx = Ctx {
        repo,
        remote: Remote {
            url,
            folder: None,
            s3: Some((env.clone(), String::new())),
            emu: None,
            encrypt: false,
        },
    };
    let r = ctx.dvx(&["push"]);
    r.ok();
    summary_line(&r, "pushed");
    // config.local.toml is ignored by git, never committed.
    let porcelain = ctx.repo.git_out(&["status", "--porcelain", "--ignored"]);
    assert!(
        !ctx.repo.staged().iter().any(|s| s.contains("config.local")),
        "config.local.toml staged"
    );
    assert!(
        porcelain.contains("!! .dvx/config.local.toml") || porcelain.contains("!! .dvx/"),
        "config.local.toml should be ignored:\n{porcelain}"
    );
    let want = ctx.repo.snapshot("data");
    let clone = ctx.repo.clone_to("clone", &[]);
    write_file(&clone.join(".dvx/config.local.toml"), local.as_bytes());
    ctx.dvx_in(&clone, &["pull"]).ok();
    assert_snapshot_eq(
        "pull with config.local.toml settings",
        &want,
        &snap_in(&clone, "data"),
    );
    // A wrong secret there: access denied, and that secret is not printed either.
    let bad = "ConfigLocalWrongSecret/123456789";
    let clone2 = ctx.repo.clone_to("clone2", &[]);
    write_file(
        &clone2.join(".dvx/config.local.toml"),
        local.replace(&env.secret_key, bad).as_bytes(),
    );
    let r = ctx.dvx_in(&clone2, &["pull"]);
    r.code_is(1).stderr_is_error();
    assert!(!r.stderr_str().contains(bad), "{r}");
}
