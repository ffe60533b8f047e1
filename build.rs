//! Decides whether the S3 tests (tests/remote_s3.rs) run or are reported as skipped.
//!
//! They need the server of `scripts/s3-server.sh`, named by `DVX_TEST_S3_ENDPOINT` (and its
//! bucket and keys). Without it they are `#[ignore]`d with the reason, so the test runner
//! reports them as skipped instead of passing them; under `CI=true` they always run (and fail
//! when the server is missing). Cargo rebuilds the tests when either variable changes.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(dvx_s3_tests)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=DVX_TEST_S3_ENDPOINT");
    println!("cargo::rerun-if-env-changed=CI");
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if ci || set("DVX_TEST_S3_ENDPOINT") {
        println!("cargo::rustc-cfg=dvx_s3_tests");
    }
}
