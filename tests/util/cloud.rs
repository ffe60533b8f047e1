//! The cloud storage emulators the remote tests talk to: fake-gcs-server for `gs://` and
//! Azurite for `az://` (see `scripts/emulator-server.sh`).
//!
//! [`EmuEnv::get`] reads `DVX_TEST_GCS_ENDPOINT` / `DVX_TEST_GCS_BUCKET` or
//! `DVX_TEST_AZURE_ENDPOINT` / `DVX_TEST_AZURE_BUCKET`; a test that runs without them fails
//! with one message saying how to start the emulator. Whether the tests run at all is decided
//! when they are built (build.rs), as for S3.

use std::path::Path;
use std::process::Command;

use super::s3::unique_name;
use super::TestRepo;

/// Which emulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gcs,
    Azure,
}

/// Azurite's well-known development account key (public; in Azure's documentation).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Every variable that could point a dvx process at another GCS or Azure service.
const CLOUD_VARS: &[&str] = &[
    "DVX_GCS_ENDPOINT",
    "STORAGE_EMULATOR_HOST",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "CLOUDSDK_CONFIG",
    "DVX_AZURE_ENDPOINT",
    "AZURE_STORAGE_ENDPOINT",
    "AZURE_STORAGE_ACCOUNT_NAME",
    "AZURE_STORAGE_ACCOUNT",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_CONNECTION_STRING",
];

/// A running emulator.
#[derive(Clone, Debug)]
pub struct EmuEnv {
    pub kind: Kind,
    pub endpoint: String,
    pub bucket: String,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl EmuEnv {
    /// The emulator from the environment; panics, saying how to start it, when it is not
    /// configured (a test that needs it was asked to run and must not pass without it).
    pub fn get(kind: Kind) -> EmuEnv {
        let (up, script) = match kind {
            Kind::Gcs => ("GCS", "gcs"),
            Kind::Azure => ("AZURE", "azure"),
        };
        let env = (|| {
            Some(EmuEnv {
                kind,
                endpoint: var(&format!("DVX_TEST_{up}_ENDPOINT"))?,
                bucket: var(&format!("DVX_TEST_{up}_BUCKET"))?,
            })
        })();
        env.unwrap_or_else(|| {
            panic!(
                "no {script} emulator: DVX_TEST_{up}_ENDPOINT and DVX_TEST_{up}_BUCKET must be \
                 set; run `scripts/{script}-server.sh start && eval \
                 \"$(scripts/{script}-server.sh env)\"` (.ci/run does this)"
            )
        })
    }

    /// `gs://<bucket>/<test>-<unique>` or `az://<bucket>/<test>-<unique>`.
    pub fn unique_url(&self, test: &str) -> String {
        let scheme = match self.kind {
            Kind::Gcs => "gs",
            Kind::Azure => "az",
        };
        format!("{scheme}://{}/{}", self.bucket, unique_name(test))
    }

    /// The variables a dvx process needs to reach the emulator (Azure: with `key`).
    pub fn vars_with_key(&self, key: &str) -> Vec<(&'static str, String)> {
        match self.kind {
            Kind::Gcs => vec![("DVX_GCS_ENDPOINT", self.endpoint.clone())],
            Kind::Azure => vec![
                ("DVX_AZURE_ENDPOINT", self.endpoint.clone()),
                ("AZURE_STORAGE_ACCOUNT_NAME", "devstoreaccount1".into()),
                ("AZURE_STORAGE_ACCOUNT_KEY", key.into()),
            ],
        }
    }

    /// Sets the variables for every later dvx process of `repo`, and clears the others.
    pub fn apply(&self, repo: &TestRepo) {
        for k in CLOUD_VARS {
            repo.unset_env(k);
        }
        // No gcloud credentials of this machine either.
        repo.set_env("CLOUDSDK_CONFIG", repo.outside().to_str().unwrap());
        for (k, v) in self.vars_with_key(AZURITE_KEY) {
            repo.set_env(k, &v);
        }
    }

    /// Object names and sizes below `prefix`, listed with `scripts/emulator-check.py`.
    pub fn list(&self, prefix: &str) -> Option<Vec<(String, u64)>> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/emulator-check.py");
        let cmd = match self.kind {
            Kind::Gcs => "gcs-ls",
            Kind::Azure => "az-ls",
        };
        let out = Command::new("python3")
            .arg(script)
            .args([cmd, &self.endpoint, &self.bucket, prefix])
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
}
