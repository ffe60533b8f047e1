//! Decides whether the remote tests that need a server (tests/remote_s3.rs, remote_gcs.rs,
//! remote_azure.rs) run or are reported as skipped.
//!
//! They need the servers of `scripts/s3-server.sh`, `scripts/gcs-server.sh` and
//! `scripts/azure-server.sh`, named by `DVX_TEST_S3_ENDPOINT`, `DVX_TEST_GCS_ENDPOINT` and
//! `DVX_TEST_AZURE_ENDPOINT`. Without its variable a file's tests are `#[ignore]`d with the
//! reason, so the test runner reports them as skipped instead of passing them; under
//! `CI=true` they always run (and fail when the server is missing). Cargo rebuilds the tests
//! when any of these variables changes.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CI");
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    for (cfg, var) in [
        ("dvx_s3_tests", "DVX_TEST_S3_ENDPOINT"),
        ("dvx_gcs_tests", "DVX_TEST_GCS_ENDPOINT"),
        ("dvx_azure_tests", "DVX_TEST_AZURE_ENDPOINT"),
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-env-changed={var}");
        if ci || set(var) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
