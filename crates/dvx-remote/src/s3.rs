//! S3-compatible storage (AWS S3, MinIO, SeaweedFS, Ceph, R2, GCS in S3 mode) via the
//! `object_store` crate, driven from synchronous code through a small tokio runtime.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;

use crate::cloud::{client_options, endpoint_password, retry_config, CloudBackend, Provider};

/// Connection settings resolved by the caller (config files, environment, profiles).
#[derive(Clone, Default)]
pub struct S3Settings {
    /// Endpoint URL for non-AWS services (`http://127.0.0.1:8333`); None = AWS.
    pub endpoint: Option<String>,
    /// Region (default us-east-1).
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Session token for temporary credentials.
    pub session_token: Option<String>,
    /// Allow plain HTTP (implied by an `http://` endpoint).
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Settings {
    // Never print secrets, not even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field(
                "endpoint",
                &self.endpoint.as_deref().map(crate::redact_userinfo),
            )
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id.as_ref().map(|_| "***"))
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// An S3 bucket (and key prefix) used as a remote.
pub type S3Backend = CloudBackend;

/// Connects lazily (no request is made here).
pub(crate) fn open(
    bucket: &str,
    prefix: &str,
    s: &S3Settings,
) -> Result<CloudBackend, crate::Error> {
    let url = if prefix.is_empty() {
        format!("s3://{bucket}")
    } else {
        format!("s3://{bucket}/{prefix}")
    };
    let setup = |why: String| crate::Error::Setup {
        remote: url.clone(),
        why: crate::redact_userinfo(&why),
    };
    let mut b = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(s.region.clone().unwrap_or_else(|| "us-east-1".into()))
        // Object stores other than AWS rarely support virtual-hosted buckets.
        .with_virtual_hosted_style_request(false)
        .with_retry(retry_config())
        .with_client_options(client_options(
            s.allow_http
                || s.endpoint
                    .as_deref()
                    .is_some_and(|e| e.starts_with("http://")),
        ));
    if let Some(e) = &s.endpoint {
        b = b.with_endpoint(e);
    }
    match (&s.access_key_id, &s.secret_access_key) {
        (Some(k), Some(sec)) => {
            b = b.with_access_key_id(k).with_secret_access_key(sec);
            if let Some(t) = &s.session_token {
                b = b.with_token(t);
            }
        }
        // No credentials: anonymous requests (public buckets) instead of probing the
        // instance metadata service, which hangs outside cloud VMs.
        _ => b = b.with_skip_signature(true),
    }
    let store = b.build().map_err(|e| setup(e.to_string()))?;
    let secrets = [
        s.secret_access_key.clone(),
        s.session_token.clone(),
        s.access_key_id.clone(),
        endpoint_password(s.endpoint.as_deref()),
    ]
    .into_iter()
    .flatten()
    .collect();
    CloudBackend::new(Arc::new(store), Provider::S3, prefix, url, secrets)
}
