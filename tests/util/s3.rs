//! The S3 test server the remote tests talk to (see `scripts/s3-server.sh`).
//!
//! [`S3Env::get`] reads `DVX_TEST_S3_ENDPOINT`, `DVX_TEST_S3_BUCKET`, `DVX_TEST_S3_ACCESS_KEY`
//! and `DVX_TEST_S3_SECRET_KEY`; a test that runs without them fails with one message saying
//! how to start the server. Whether the tests run at all is decided when they are built
//! (build.rs): without `DVX_TEST_S3_ENDPOINT` they are ignored, so the runner reports them as
//! skipped, with the reason; under `CI=true` they always run.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::TestRepo;

/// Connection settings of the test S3 server.
#[derive(Clone, Debug)]
pub struct S3Env {
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl S3Env {
    /// The server from the environment. Panics, saying how to start one, when it is not
    /// configured: a test that needs it was asked to run (built with `DVX_TEST_S3_ENDPOINT`
    /// set, under `CI=true`, or with `--run-ignored`), and must not pass without it.
    pub fn get() -> S3Env {
        let env = (|| {
            Some(S3Env {
                endpoint: var("DVX_TEST_S3_ENDPOINT")?,
                bucket: var("DVX_TEST_S3_BUCKET")?,
                access_key: var("DVX_TEST_S3_ACCESS_KEY")?,
                secret_key: var("DVX_TEST_S3_SECRET_KEY")?,
            })
        })();
        env.unwrap_or_else(|| {
            panic!(
                "no S3 test server: DVX_TEST_S3_ENDPOINT, DVX_TEST_S3_BUCKET, \
                 DVX_TEST_S3_ACCESS_KEY and DVX_TEST_S3_SECRET_KEY must be set; run \
                 `scripts/s3-server.sh start && eval \"$(scripts/s3-server.sh env)\"` \
                 (.ci/run does this)"
            )
        })
    }

    /// `s3://<bucket>/<test>-<unique suffix>`: a prefix no other test (or earlier run) uses.
    pub fn unique_url(&self, test: &str) -> String {
        format!("s3://{}/{}", self.bucket, unique_name(test))
    }

    /// The `AWS_*` variables a dvx process needs to reach the server with the right
    /// credentials, as `(key, value)` pairs.
    pub fn aws_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
            ("AWS_REGION", "us-east-1".to_string()),
        ]
    }

    /// Sets the `AWS_*` variables for every later dvx process of `repo` (and of its clones),
    /// and clears the ones that could point elsewhere (profiles, session tokens).
    pub fn apply(&self, repo: &TestRepo) {
        for k in [
            "AWS_ENDPOINT_URL_S3",
            "AWS_DEFAULT_REGION",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_CONFIG_FILE",
        ] {
            repo.unset_env(k);
        }
        for (k, v) in self.aws_vars() {
            repo.set_env(k, &v);
        }
    }

    /// Object keys and sizes below `prefix` (listed with `scripts/s3-check.py`, which needs
    /// only python3). `None` if the listing failed.
    pub fn list(&self, prefix: &str) -> Option<Vec<(String, u64)>> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/s3-check.py");
        let out = Command::new("python3")
            .arg(script)
            .args([
                "ls",
                &self.endpoint,
                &self.bucket,
                &self.access_key,
                &self.secret_key,
                prefix,
            ])
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        Some(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| {
                    let (size, key) = l.split_once('\t')?;
                    Some((key.to_string(), size.parse().ok()?))
                })
                .collect(),
        )
    }

    /// The bytes of the object `key` (read with `scripts/s3-check.py`). `None` if it failed.
    pub fn get_object(&self, key: &str) -> Option<Vec<u8>> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/s3-check.py");
        let out = Command::new("python3")
            .arg(script)
            .args([
                "get",
                &self.endpoint,
                &self.bucket,
                &self.access_key,
                &self.secret_key,
                key,
            ])
            .output()
            .ok()?;
        out.status.success().then_some(out.stdout)
    }
}

/// `<test>-<pid hex>-<nanoseconds hex>-<counter>`: unique across processes and runs.
pub fn unique_name(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!(
        "{test}-{:x}-{nanos:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
