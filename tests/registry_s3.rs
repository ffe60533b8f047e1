//! Sources whose data is on S3: `dvx get` / `import` read the source's committed S3 remote
//! with this machine's credentials, and a wrong key fails clearly without printing it. Needs
//! the S3 test server (see tests/remote_s3.rs); skipped without it.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod util;

use util::s3::S3Env;
use util::*;

#[test]
#[cfg_attr(
    not(dvx_s3_tests),
    ignore = "needs the S3 test server: scripts/s3-server.sh start && eval \"$(scripts/s3-server.sh env)\""
)]
fn a_source_on_s3_is_read_with_this_machines_credentials_and_a_wrong_key_fails_clearly() {
    let env = S3Env::get();
    let reg = TestRepo::new();
    let cache = reg.tmp().join("cache");
    reg.set_env("DVX_CACHE_DIR", &cache.to_string_lossy());
    env.apply(&reg);
    let mut g = Gen::new(77);
    g.tree(&reg.path("data"), 2, 4, 120_000);
    reg.dvx(&["add", "data"]).ok();
    reg.dvx(&[
        "remote",
        "add",
        "origin",
        &env.unique_url("registry-source"),
    ])
    .ok();
    reg.commit("v1");
    reg.dvx(&["push"]).ok();
    let want = reg.snapshot("data");

    let p = TestRepo::new();
    p.set_env("DVX_CACHE_DIR", &cache.to_string_lossy());
    env.apply(&p);
    let url = reg.root().to_string_lossy().into_owned();
    // A wrong secret: denied, exit 1, no secret in the output, nothing written.
    let bad = "WrongSecretKey/0123456789abcdefXYZ";
    let run = p.dvx_in_env(
        p.root(),
        &[("AWS_SECRET_ACCESS_KEY", bad)],
        &["import", &url, "data"],
    );
    run.code_is(1);
    let err = run.stderr_str().to_lowercase();
    assert!(
        [
            "denied",
            "forbidden",
            "403",
            "signature",
            "credential",
            "access key"
        ]
        .iter()
        .any(|k| err.contains(k)),
        "says what is wrong\n{run}"
    );
    for secret in [bad, env.secret_key.as_str()] {
        assert!(
            !run.stderr_str().contains(secret),
            "a secret is printed\n{run}"
        );
    }
    assert!(!p.path("data").exists() && !p.path("data.dvx").exists());
    // The right key (from the environment): the import works.
    p.dvx(&["import", &url, "data"]).ok();
    assert_snapshot_eq("imported from S3", &want, &p.snapshot("data"));
    p.dvx(&["get", &url, "data/d1", "-o", "d1"]).ok();
    assert_snapshot_eq("got d1", &reg.snapshot("data/d1"), &p.snapshot("d1"));
}
