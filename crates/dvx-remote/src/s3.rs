//! S3-compatible storage (AWS S3, MinIO, SeaweedFS, Ceph, R2, GCS in S3 mode) via the
//! `object_store` crate, driven from synchronous code through a small tokio runtime.

use std::time::Duration;

use dvx_store::{Backend, BackendError, ObjectInfo};
use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as OPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};

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

/// A bucket (and key prefix) used as a remote.
pub struct S3Backend {
    store: AmazonS3,
    prefix: String,
    url: String,
    secrets: Vec<String>,
    rt: tokio::runtime::Runtime,
}

impl S3Backend {
    /// Connects lazily (no request is made here).
    pub fn new(bucket: &str, prefix: &str, s: &S3Settings) -> Result<S3Backend, crate::Error> {
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
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(200),
                    max_backoff: Duration::from_secs(5),
                    base: 2.0,
                },
                // Our own Retrying layer retries whole calls too; keep this layer short.
                max_retries: 2,
                retry_timeout: Duration::from_secs(20),
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(3))
                    .with_timeout(Duration::from_secs(300))
                    .with_allow_http(
                        s.allow_http
                            || s.endpoint
                                .as_deref()
                                .is_some_and(|e| e.starts_with("http://")),
                    ),
            );
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
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| setup(format!("cannot start the I/O runtime: {e}")))?;
        // An endpoint's password may also appear on its own (decoded) in a message.
        let endpoint_password = s.endpoint.as_deref().and_then(|e| {
            let authority = e.split_once("://")?.1.split('/').next()?;
            let userinfo = authority.rsplit_once('@')?.0;
            Some(
                userinfo
                    .split_once(':')
                    .map_or(userinfo, |(_, p)| p)
                    .to_string(),
            )
        });
        let secrets = [
            &s.secret_access_key,
            &s.session_token,
            &s.access_key_id,
            &endpoint_password,
        ]
        .into_iter()
        .flatten()
        .filter(|v| v.len() >= 4)
        .cloned()
        .collect();
        Ok(S3Backend {
            store,
            prefix: prefix.to_string(),
            url,
            secrets,
            rt,
        })
    }

    fn path(&self, key: &str) -> OPath {
        if self.prefix.is_empty() {
            OPath::from(key)
        } else {
            OPath::from(format!("{}/{key}", self.prefix))
        }
    }

    fn redact(&self, mut s: String) -> String {
        for secret in &self.secrets {
            s = s.replace(secret.as_str(), "***");
        }
        // Errors quote the request URL, which carries an endpoint's user:password.
        crate::redact_userinfo(&s)
    }

    fn map_err(&self, key: &str, e: object_store::Error) -> BackendError {
        let text = self.redact(e.to_string());
        let key = key.to_string();
        match e {
            object_store::Error::NotFound { .. } if text.contains("NoSuchBucket") => BackendError::NoRemote {
                message: format!("the bucket of {} does not exist: create it or fix the remote URL", self.url),
            },
            object_store::Error::NotFound { .. } => BackendError::NotFound { key },
            object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
                BackendError::Denied {
                    key,
                    message: format!(
                        "access denied by {}{}: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and the bucket policy",
                        self.url,
                        s3_code(&text).map(|c| format!(" ({c})")).unwrap_or_default()
                    ),
                }
            }
            _ => {
                let lower = text.to_ascii_lowercase();
                if text.contains("NoSuchBucket") {
                    BackendError::NoRemote {
                        message: format!("the bucket of {} does not exist: create it or fix the remote URL", self.url),
                    }
                } else if text.contains("InvalidAccessKeyId")
                    || text.contains("SignatureDoesNotMatch")
                    || text.contains("AccessDenied")
                    || lower.contains("403 forbidden")
                {
                    BackendError::Denied {
                        key,
                        message: format!(
                            "access denied by {}: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)",
                            self.url
                        ),
                    }
                } else if lower.contains("connect") || lower.contains("timed out") || lower.contains("timeout") {
                    BackendError::Transient {
                        key,
                        message: format!("cannot reach {}: {text}", self.url),
                    }
                } else {
                    BackendError::Transient { key, message: text }
                }
            }
        }
    }
}

/// The `<Code>` of an S3 XML error body, if any.
fn s3_code(text: &str) -> Option<&str> {
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    Some(&text[start..start + len])
}

impl Backend for S3Backend {
    fn describe(&self) -> String {
        self.url.clone()
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, BackendError> {
        let base = self.path(prefix.trim_end_matches('/'));
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let metas: Vec<object_store::ObjectMeta> = self
            .rt
            .block_on(self.store.list(Some(&base)).try_collect())
            .map_err(|e| match self.map_err(prefix, e) {
                // Listing a bucket that is not there.
                BackendError::NotFound { .. } => BackendError::NoRemote {
                    message: format!(
                        "the bucket of {} does not exist: create it or fix the remote URL",
                        self.url
                    ),
                },
                other => other,
            })?;
        let mut out: Vec<ObjectInfo> = metas
            .into_iter()
            .filter_map(|m| {
                let full = m.location.to_string();
                let key = full.strip_prefix(&strip).unwrap_or(&full).to_string();
                key.starts_with(prefix)
                    .then_some(ObjectInfo { key, size: m.size })
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn get(&self, key: &str, max_len: u64) -> Result<Vec<u8>, BackendError> {
        use futures::StreamExt;
        let path = self.path(key);
        // The declared size is checked before the body is read, and the body is read with
        // the same cap: a server may send more than it declared.
        let body = self.rt.block_on(async {
            let r = self.store.get(&path).await?;
            if r.meta.size > max_len {
                return Ok(Err(r.meta.size));
            }
            let mut out = Vec::with_capacity(r.meta.size as usize);
            let mut stream = r.into_stream();
            while let Some(part) = stream.next().await {
                let part = part?;
                if (out.len() + part.len()) as u64 > max_len {
                    return Ok(Err((out.len() + part.len()) as u64));
                }
                out.extend_from_slice(&part);
            }
            Ok(Ok(out))
        });
        match body {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(size)) => Err(dvx_store::too_large(key, size, max_len)),
            Err(e) => Err(self.map_err(key, e)),
        }
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>, BackendError> {
        let path = self.path(key);
        let data = self
            .rt
            .block_on(self.store.get_range(&path, offset..offset + len))
            .map_err(|e| self.map_err(key, e))?;
        if data.len() as u64 > len {
            return Err(dvx_store::too_large(key, data.len() as u64, len));
        }
        Ok(data.to_vec())
    }

    fn put(&self, key: &str, data: Vec<u8>) -> Result<(), BackendError> {
        let path = self.path(key);
        self.rt
            .block_on(self.store.put(&path, PutPayload::from(data)))
            .map(|_| ())
            .map_err(|e| self.map_err(key, e))
    }

    fn head(&self, key: &str) -> Result<Option<u64>, BackendError> {
        let path = self.path(key);
        match self.rt.block_on(self.store.head(&path)) {
            Ok(m) => Ok(Some(m.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.map_err(key, e)),
        }
    }

    fn delete(&self, key: &str) -> Result<(), BackendError> {
        let path = self.path(key);
        match self.rt.block_on(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.map_err(key, e)),
        }
    }
}
