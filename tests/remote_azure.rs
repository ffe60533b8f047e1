//! Remotes, Azure Blob Storage: the shared remote scenarios against Azurite
//! (`scripts/azure-server.sh`), plus refused keys, connection strings, a missing container
//! and network errors.
//!
//! Needs `DVX_TEST_AZURE_ENDPOINT` and `DVX_TEST_AZURE_BUCKET` (`eval
//! "$(scripts/azure-server.sh env)"`). Built without `DVX_TEST_AZURE_ENDPOINT` (see build.rs),
//! the tests that need the emulator are ignored, so the runner reports them as skipped, with
//! the reason; under `CI=true` they always run, and fail when it is missing.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod remote_common;
mod util;

use remote_common::*;
use util::cloud::{EmuEnv, Kind, AZURITE_KEY};
use util::*;

fn az_ctx(test: &str) -> Ctx {
    let env = EmuEnv::get(Kind::Azure);
    let repo = TestRepo::new();
    let remote = Remote::emulated(&repo, &env, test);
    Ctx { repo, remote }
}

#[test]
#[cfg_attr(
    not(dvx_azure_tests),
    ignore = "needs Azurite (scripts/azure-server.sh)"
)]
fn azure_roundtrip_push_all_revs_then_pull_in_clones() {
    roundtrip_all_revs(&az_ctx("roundtrip-all-revs"));
}

#[test]
#[cfg_attr(
    not(dvx_azure_tests),
    ignore = "needs Azurite (scripts/azure-server.sh)"
)]
fn azure_roundtrip_push_after_each_version() {
    roundtrip_push_each(&az_ctx("roundtrip-each"));
}

#[test]
#[cfg_attr(
    not(dvx_azure_tests),
    ignore = "needs Azurite (scripts/azure-server.sh)"
)]
fn azure_interrupted_push_and_pull_recover() {
    interrupted_transfers(&az_ctx("interrupted"));
}

#[test]
#[cfg_attr(
    not(dvx_azure_tests),
    ignore = "needs Azurite (scripts/azure-server.sh)"
)]
fn azure_fsck_and_two_phase_gc() {
    fsck_and_gc(&az_ctx("fsck-gc"));
}

/// A small committed dataset with `url` as `origin`.
fn small_repo(url: &str) -> TestRepo {
    let repo = TestRepo::new();
    let mut g = Gen::new(0xa2e);
    g.tree(&repo.path("data"), 2, 4, 50_000);
    repo.dvx(&["add", "data"]).ok();
    repo.dvx(&["remote", "add", "origin", url]).ok();
    repo.commit("data");
    repo
}

/// Panics if `secret` appears in the run's output.
#[track_caller]
fn no_secret(r: &Run, secret: &str) {
    assert!(
        !r.stderr_str().contains(secret) && !r.stdout_str().contains(secret),
        "a secret appears in the output\n{r}"
    );
}

#[test]
#[cfg_attr(
    not(dvx_azure_tests),
    ignore = "needs Azurite (scripts/azure-server.sh)"
)]
fn azure_wrong_key_is_denied_without_printing_it() {
    let env = EmuEnv::get(Kind::Azure);
    let repo = small_repo(&env.unique_url("wrong-key"));
    env.apply(&repo);
    // A well-formed key (base64) that is not the account's.
    let bad = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXk=";
    repo.set_env("AZURE_STORAGE_ACCOUNT_KEY", bad);
    let r = repo.dvx(&["push"]);
    r.code_is(1).stderr_is_error();
    r.stderr_has("access denied")
        .stderr_has("az://")
        .stderr_has("AZURE_STORAGE_ACCOUNT_KEY");
    no_secret(&r, bad);
    no_secret(&r, AZURITE_KEY);
    // Pushed with the right key, pulled with the wrong one.
    repo.set_env("AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY);
    repo.dvx(&["push"]).ok();
    let clone = repo.clone_to("clone", &[]);
    repo.set_env("AZURE_STORAGE_ACCOUNT_KEY", bad);
    let r = repo.dvx_in(&clone, &["pull"]);
    r.code_is(1).stderr_has("access denied");
    no_secret(&r, bad);
    assert!(!clone.join("data").exists(), "a denied pull wrote data/");
}

#[test]
#[cfg_attr(
    not(dvx_azure_tests),
    ignore = "needs Azurite (scripts/azure-server.sh)"
)]
fn azure_connection_string_and_config_local_work() {
    let env = EmuEnv::get(Kind::Azure);
    let url = env.unique_url("conn-string");
    let repo = small_repo(&url);
    env.apply(&repo);
    for k in [
        "DVX_AZURE_ENDPOINT",
        "AZURE_STORAGE_ACCOUNT_NAME",
        "AZURE_STORAGE_ACCOUNT_KEY",
    ] {
        repo.unset_env(k);
    }
    let conn = format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};\
         BlobEndpoint={};",
        env.endpoint
    );
    repo.set_env("AZURE_STORAGE_CONNECTION_STRING", &conn);
    let r = repo.dvx(&["push"]);
    r.ok();
    no_secret(&r, AZURITE_KEY);
    let want = repo.snapshot("data");
    // Everything from .dvx/config.local.toml in a clone, nothing in the environment.
    repo.unset_env("AZURE_STORAGE_CONNECTION_STRING");
    let clone = repo.clone_to("clone", &[]);
    write_file(
        &clone.join(".dvx/config.local.toml"),
        format!(
            "[remotes.origin]\nendpoint = \"{}\"\naccount_name = \"devstoreaccount1\"\n\
             account_key = \"{AZURITE_KEY}\"\n",
            env.endpoint
        )
        .as_bytes(),
    );
    repo.dvx_in(&clone, &["pull"]).ok();
    assert_eq!(
        snapshot(&clone.join("data")),
        want,
        "pull with config.local.toml"
    );
    // `dvx config` never shows the key.
    let r = repo.dvx_in(&clone, &["config", "--local", "--list"]);
    no_secret(&r, AZURITE_KEY);
}

#[test]
#[cfg_attr(
    not(dvx_azure_tests),
    ignore = "needs Azurite (scripts/azure-server.sh)"
)]
fn azure_missing_container_fails_cleanly() {
    let env = EmuEnv::get(Kind::Azure);
    let repo = small_repo("az://no-such-container-xyz/p");
    env.apply(&repo);
    let r = repo.dvx(&["push"]);
    r.code_is(1).stderr_is_error();
    r.stderr_has("no-such-container-xyz")
        .stderr_has("does not exist");
    no_secret(&r, AZURITE_KEY);
    let clone = repo.clone_to("clone", &[]);
    repo.dvx_in(&clone, &["pull"])
        .code_is(1)
        .stderr_has("no-such-container-xyz");
    assert!(!clone.join("data").exists());
}

/// Needs no emulator: nothing listens on 127.0.0.1:9.
#[test]
fn azure_unreachable_endpoint_fails_within_bounded_time() {
    let repo = small_repo("az://some-container/p");
    let secret = "VW5yZWFjaGFibGVTZWNyZXRLZXkwMTIzNDU2Nzg5";
    repo.set_env("DVX_AZURE_ENDPOINT", "http://127.0.0.1:9/devstoreaccount1");
    repo.set_env("AZURE_STORAGE_ACCOUNT_NAME", "devstoreaccount1");
    repo.set_env("AZURE_STORAGE_ACCOUNT_KEY", secret);
    repo.unset_env("AZURE_STORAGE_CONNECTION_STRING");
    let t = std::time::Instant::now();
    let r = repo.dvx(&["push"]);
    r.code_is(1).stderr_is_error();
    r.stderr_has("az://some-container/p")
        .stderr_has("cannot reach");
    no_secret(&r, secret);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(120),
        "{:?}",
        t.elapsed()
    );
    // No account at all: a usage-like setup error that says what to set.
    repo.unset_env("AZURE_STORAGE_ACCOUNT_NAME");
    repo.dvx(&["push"])
        .code_is(1)
        .stderr_has("AZURE_STORAGE_ACCOUNT_NAME");
}
