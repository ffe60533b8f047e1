//! Google Cloud Storage (`gs://bucket/prefix`) via `object_store`'s GCS client, with an
//! endpoint override for emulators (fake-gcs-server).

use std::sync::Arc;

use object_store::gcp::GoogleCloudStorageBuilder;

use crate::cloud::{client_options, endpoint_password, retry_config, CloudBackend, Provider};

/// Connection settings resolved by the caller (config files, environment).
#[derive(Clone, Default)]
pub struct GcsSettings {
    /// Base URL of an emulator or proxy (`http://127.0.0.1:4443`); None = Google.
    pub endpoint: Option<String>,
    /// A credentials file: a service account key or `gcloud auth application-default
    /// login`'s file (`GOOGLE_APPLICATION_CREDENTIALS`).
    pub credentials_file: Option<String>,
    /// A service account key itself (JSON text).
    pub service_account_key: Option<String>,
    /// Allow plain HTTP (implied by an `http://` endpoint).
    pub allow_http: bool,
}

impl std::fmt::Debug for GcsSettings {
    // Never print secrets, not even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsSettings")
            .field(
                "endpoint",
                &self.endpoint.as_deref().map(crate::redact_userinfo),
            )
            .field("credentials_file", &self.credentials_file)
            .field(
                "service_account_key",
                &self.service_account_key.as_ref().map(|_| "***"),
            )
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// Connects lazily (no request is made here; a credentials file is read now).
pub(crate) fn open(
    bucket: &str,
    prefix: &str,
    s: &GcsSettings,
) -> Result<CloudBackend, crate::Error> {
    let url = if prefix.is_empty() {
        format!("gs://{bucket}")
    } else {
        format!("gs://{bucket}/{prefix}")
    };
    let setup = |why: String| crate::Error::Setup {
        remote: url.clone(),
        why: crate::redact_userinfo(&why),
    };
    let mut b = GoogleCloudStorageBuilder::new()
        .with_bucket_name(bucket)
        .with_retry(retry_config())
        .with_client_options(client_options(
            s.allow_http
                || s.endpoint
                    .as_deref()
                    .is_some_and(|e| e.starts_with("http://")),
        ));
    if let Some(e) = &s.endpoint {
        b = b.with_base_url(e.trim_end_matches('/'));
    }
    match (&s.service_account_key, &s.credentials_file) {
        (Some(key), _) => b = b.with_service_account_key(key),
        (None, Some(file)) => b = b.with_application_credentials(file),
        // No credentials: anonymous requests (public buckets, emulators) instead of asking
        // the instance metadata service, which hangs outside cloud VMs.
        (None, None) => b = b.with_skip_signature(true),
    }
    let store = b.build().map_err(|e| {
        setup(format!(
            "{e}; GOOGLE_APPLICATION_CREDENTIALS (or `credentials_file` in \
             .dvx/config.local.toml) must name a readable service account key file"
        ))
    })?;
    let secrets = [endpoint_password(s.endpoint.as_deref())]
        .into_iter()
        .flatten()
        .collect();
    CloudBackend::new(Arc::new(store), Provider::Gcs, prefix, url, secrets)
}
