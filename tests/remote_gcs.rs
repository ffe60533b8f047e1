//! Remotes, Google Cloud Storage: the shared remote scenarios against fake-gcs-server
//! (`scripts/gcs-server.sh`), plus bucket, credentials-file and network errors.
//!
//! Needs `DVX_TEST_GCS_ENDPOINT` and `DVX_TEST_GCS_BUCKET` (`eval "$(scripts/gcs-server.sh
//! env)"`). Built without `DVX_TEST_GCS_ENDPOINT` (see build.rs), the tests that need the
//! emulator are ignored, so the runner reports them as skipped, with the reason; under
//! `CI=true` they always run, and fail when it is missing. fake-gcs-server checks no
//! credentials, so refused credentials are tested on Azurite (tests/remote_azure.rs) and S3.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod remote_common;
mod util;

use remote_common::*;
use util::cloud::{EmuEnv, Kind};
use util::*;

fn gcs_ctx(test: &str) -> Ctx {
    let env = EmuEnv::get(Kind::Gcs);
    let repo = TestRepo::new();
    let remote = Remote::emulated(&repo, &env, test);
    Ctx { repo, remote }
}

#[test]
#[cfg_attr(
    not(dvx_gcs_tests),
    ignore = "needs fake-gcs-server (scripts/gcs-server.sh)"
)]
fn gcs_roundtrip_push_all_revs_then_pull_in_clones() {
    roundtrip_all_revs(&gcs_ctx("roundtrip-all-revs"));
}

#[test]
#[cfg_attr(
    not(dvx_gcs_tests),
    ignore = "needs fake-gcs-server (scripts/gcs-server.sh)"
)]
fn gcs_roundtrip_push_after_each_version() {
    roundtrip_push_each(&gcs_ctx("roundtrip-each"));
}

#[test]
#[cfg_attr(
    not(dvx_gcs_tests),
    ignore = "needs fake-gcs-server (scripts/gcs-server.sh)"
)]
fn gcs_interrupted_push_and_pull_recover() {
    interrupted_transfers(&gcs_ctx("interrupted"));
}

#[test]
#[cfg_attr(
    not(dvx_gcs_tests),
    ignore = "needs fake-gcs-server (scripts/gcs-server.sh)"
)]
fn gcs_fsck_and_two_phase_gc() {
    fsck_and_gc(&gcs_ctx("fsck-gc"));
}

/// A small committed dataset with `url` as `origin`.
fn small_repo(url: &str) -> TestRepo {
    let repo = TestRepo::new();
    let mut g = Gen::new(0x6c5);
    g.tree(&repo.path("data"), 2, 4, 50_000);
    repo.dvx(&["add", "data"]).ok();
    repo.dvx(&["remote", "add", "origin", url]).ok();
    repo.commit("data");
    repo
}

#[test]
#[cfg_attr(
    not(dvx_gcs_tests),
    ignore = "needs fake-gcs-server (scripts/gcs-server.sh)"
)]
fn gcs_missing_bucket_fails_cleanly() {
    let env = EmuEnv::get(Kind::Gcs);
    let repo = small_repo("gs://no-such-bucket-xyz/p");
    env.apply(&repo);
    let r = repo.dvx(&["push"]);
    r.code_is(1).stderr_is_error();
    r.stderr_has("no-such-bucket-xyz")
        .stderr_has("does not exist");
    let clone = repo.clone_to("clone", &[]);
    let r = repo.dvx_in(&clone, &["pull"]);
    r.code_is(1).stderr_has("no-such-bucket-xyz");
    assert!(
        !clone.join("data").exists(),
        "pull from a missing bucket wrote data/"
    );
}

#[test]
#[cfg_attr(
    not(dvx_gcs_tests),
    ignore = "needs fake-gcs-server (scripts/gcs-server.sh)"
)]
fn gcs_bad_credentials_file_fails_before_any_request() {
    let env = EmuEnv::get(Kind::Gcs);
    let repo = small_repo(&env.unique_url("bad-creds"));
    env.apply(&repo);
    let secret = "-----BEGIN PRIVATE KEY-----\nMIIsecretsecretsecret\n-----END PRIVATE KEY-----\n";
    let file = repo.outside().join("sa.json");
    write_file(
        &file,
        format!(
            "{{\"type\": \"service_account\", \"private_key\": {:?}, \"client_email\": \"x@y\"}}",
            secret
        )
        .as_bytes(),
    );
    repo.set_env("GOOGLE_APPLICATION_CREDENTIALS", file.to_str().unwrap());
    let r = repo.dvx(&["push"]);
    r.code_is(1).stderr_is_error();
    r.stderr_has("gs://")
        .stderr_has("GOOGLE_APPLICATION_CREDENTIALS");
    assert!(
        !r.stderr_str().contains("MIIsecret") && !r.stdout_str().contains("MIIsecret"),
        "the key appears in the output\n{r}"
    );
    let missing = repo.outside().join("no-such-file.json");
    repo.set_env("GOOGLE_APPLICATION_CREDENTIALS", missing.to_str().unwrap());
    repo.dvx(&["push"])
        .code_is(1)
        .stderr_has("GOOGLE_APPLICATION_CREDENTIALS");
}

/// Needs no emulator: nothing listens on 127.0.0.1:9.
#[test]
fn gcs_unreachable_endpoint_fails_within_bounded_time() {
    let repo = small_repo("gs://some-bucket/p");
    repo.unset_env("GOOGLE_APPLICATION_CREDENTIALS");
    repo.set_env("CLOUDSDK_CONFIG", repo.outside().to_str().unwrap());
    repo.set_env("DVX_GCS_ENDPOINT", "http://127.0.0.1:9");
    let t = std::time::Instant::now();
    let r = repo.dvx(&["push"]);
    r.code_is(1).stderr_is_error();
    r.stderr_has("gs://some-bucket/p")
        .stderr_has("cannot reach");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(120),
        "{:?}",
        t.elapsed()
    );
}
