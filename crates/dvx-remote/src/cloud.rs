//! What S3, Google Cloud Storage and Azure Blob remotes share: an `object_store` store driven
//! from synchronous code through a small tokio runtime, keys below a prefix, and errors
//! classified (and redacted) the same way for each provider.

use std::sync::Arc;
use std::time::Duration;

use dvx_store::{Backend, BackendError, ObjectInfo};
use futures::TryStreamExt;
use object_store::path::Path as OPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};

/// Which service a [`CloudBackend`] talks to: the words its messages use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Provider {
    S3,
    Gcs,
    Azure,
    /// A web server (read-only, [`crate::HttpBackend`]).
    Http,
}

impl Provider {
    /// What holds the objects ("bucket", "container").
    fn holder(self) -> &'static str {
        match self {
            Provider::S3 | Provider::Gcs => "bucket",
            Provider::Azure => "container",
            Provider::Http => "folder",
        }
    }

    /// Where the credentials come from, for "access denied" messages.
    fn credentials_hint(self) -> &'static str {
        match self {
            Provider::S3 => {
                "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and the bucket \
                 policy"
            }
            Provider::Gcs => {
                "check GOOGLE_APPLICATION_CREDENTIALS (a service account key file) and the \
                 account's role on the bucket"
            }
            Provider::Azure => {
                "check AZURE_STORAGE_ACCOUNT_NAME / AZURE_STORAGE_ACCOUNT_KEY (or \
                 AZURE_STORAGE_CONNECTION_STRING / AZURE_STORAGE_SAS_TOKEN) and the account's \
                 access to the container"
            }
            Provider::Http => {
                "if the server needs a password, give it in the URL in .dvx/config.local.toml \
                 (`dvx config --local remotes.<name>.url https://user:password@host/path`)"
            }
        }
    }

    /// Whether an error text says the bucket or container itself is missing.
    fn says_no_holder(self, text: &str) -> bool {
        let lower = text.to_ascii_lowercase();
        match self {
            Provider::S3 => text.contains("NoSuchBucket"),
            Provider::Gcs => {
                lower.contains("bucket does not exist")
                    || lower.contains("bucket not found")
                    // fake-gcs-server's answer (a 500)
                    || lower.contains("no bucket named")
                    || text.contains("NoSuchBucket")
            }
            Provider::Azure => text.contains("ContainerNotFound"),
            Provider::Http => false,
        }
    }

    /// Whether an error text says the credentials were refused (when the HTTP status alone
    /// did not).
    fn says_denied(self, text: &str) -> bool {
        let lower = text.to_ascii_lowercase();
        lower.contains("403 forbidden")
            || lower.contains("401 unauthorized")
            || match self {
                Provider::S3 => {
                    text.contains("InvalidAccessKeyId")
                        || text.contains("SignatureDoesNotMatch")
                        || text.contains("AccessDenied")
                }
                Provider::Gcs => lower.contains("invalid_grant") || lower.contains("unauthorized"),
                Provider::Azure => {
                    text.contains("AuthenticationFailed")
                        || text.contains("AuthorizationFailure")
                        || text.contains("AuthorizationPermissionMismatch")
                }
                Provider::Http => false,
            }
    }
}

/// The retry and timeout policy every cloud store gets: short, because [`crate::Retrying`]
/// retries whole calls too.
pub(crate) fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: 2,
        retry_timeout: Duration::from_secs(20),
    }
}

/// Client options: bounded connect time (a server that is down fails fast), long transfers.
pub(crate) fn client_options(allow_http: bool) -> ClientOptions {
    ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(3))
        .with_timeout(Duration::from_secs(300))
        .with_allow_http(allow_http)
}

/// The password of an endpoint URL (`https://user:password@host`), which may also appear on
/// its own in a message.
pub(crate) fn endpoint_password(endpoint: Option<&str>) -> Option<String> {
    let authority = endpoint?.split_once("://")?.1.split('/').next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    Some(
        userinfo
            .split_once(':')
            .map_or(userinfo, |(_, p)| p)
            .to_string(),
    )
}

/// A bucket or container (and key prefix) used as a remote.
pub struct CloudBackend {
    store: Arc<dyn ObjectStore>,
    provider: Provider,
    prefix: String,
    url: String,
    secrets: Vec<String>,
    rt: tokio::runtime::Runtime,
}

impl CloudBackend {
    /// Wraps a built store. `secrets` are replaced by `***` in every message (values shorter
    /// than 4 characters are ignored: replacing them would garble messages).
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        provider: Provider,
        prefix: &str,
        url: String,
        secrets: Vec<String>,
    ) -> Result<CloudBackend, crate::Error> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| crate::Error::Setup {
                remote: url.clone(),
                why: format!("cannot start the I/O runtime: {e}"),
            })?;
        let secrets = secrets.into_iter().filter(|v| v.len() >= 4).collect();
        Ok(CloudBackend {
            store,
            provider,
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
        // Errors quote the request URL, which may carry an endpoint's user:password.
        crate::redact_userinfo(&s)
    }

    /// Runs a future on this backend's runtime.
    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// The error of a request made outside `object_store` that answered `status` with `body`.
    pub(crate) fn status_error(&self, key: &str, status: u16, body: &str) -> BackendError {
        let text = self.redact(format!("HTTP {status}: {body}"));
        match status {
            404 => self.no_holder(),
            401 | 403 => BackendError::Denied {
                key: key.to_string(),
                message: format!(
                    "access denied by {}: {}",
                    self.url,
                    self.provider.credentials_hint()
                ),
            },
            400..=499 => BackendError::Permanent {
                key: key.to_string(),
                message: text,
            },
            _ => BackendError::Transient {
                key: key.to_string(),
                message: text,
            },
        }
    }

    /// The error of a request made outside `object_store` that got no answer.
    pub(crate) fn request_error(&self, key: &str, e: impl std::fmt::Display) -> BackendError {
        BackendError::Transient {
            key: key.to_string(),
            message: format!(
                "cannot reach {}: {} (is the server up? is the endpoint right?)",
                self.url,
                self.redact(e.to_string())
            ),
        }
    }

    fn no_holder(&self) -> BackendError {
        let holder = self.provider.holder();
        BackendError::NoRemote {
            message: format!(
                "the {holder} of {} does not exist: create it or fix the remote URL",
                self.url
            ),
        }
    }

    fn map_err(&self, key: &str, e: object_store::Error) -> BackendError {
        let text = self.redact(e.to_string());
        let key = key.to_string();
        let denied = |code: Option<&str>| BackendError::Denied {
            key: key.clone(),
            message: format!(
                "access denied by {}{}: {}",
                self.url,
                code.map(|c| format!(" ({c})")).unwrap_or_default(),
                self.provider.credentials_hint()
            ),
        };
        if self.provider.says_no_holder(&text) {
            return self.no_holder();
        }
        match e {
            object_store::Error::NotFound { .. } => BackendError::NotFound { key },
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => denied(xml_code(&text)),
            _ if self.provider.says_denied(&text) => denied(xml_code(&text)),
            _ => {
                // Every retried error quotes the `retry_timeout` setting: not a timeout.
                let lower = text.to_ascii_lowercase().replace("retry_timeout", "");
                if lower.contains("connect")
                    || lower.contains("error sending request")
                    || lower.contains("timed out")
                    || lower.contains("timeout")
                {
                    BackendError::Transient {
                        key,
                        message: format!(
                            "cannot reach {}: {text} (is the server up? is the endpoint right?)",
                            self.url
                        ),
                    }
                } else {
                    BackendError::Transient { key, message: text }
                }
            }
        }
    }
}

impl CloudBackend {
    /// `len` bytes at `offset` read from a whole-object GET, which stops at the range's end.
    fn get_range_streamed(
        &self,
        key: &str,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, BackendError> {
        use futures::StreamExt;
        let path = self.path(key);
        let end = offset.saturating_add(len);
        let got = self.rt.block_on(async {
            let r = self.store.get(&path).await?;
            let mut out = Vec::new();
            let mut pos = 0u64;
            let mut stream = r.into_stream();
            while let Some(part) = stream.next().await {
                let part = part?;
                let (start, stop) = (pos, pos + part.len() as u64);
                pos = stop;
                if stop > offset && start < end {
                    let from = offset.saturating_sub(start) as usize;
                    let to = (end.min(stop) - start) as usize;
                    out.extend_from_slice(&part[from..to]);
                }
                if pos >= end {
                    break;
                }
            }
            Ok::<_, object_store::Error>(out)
        });
        got.map_err(|e| self.map_err(key, e))
    }
}

/// The `<Code>` of an S3 or Azure XML error body, if any.
fn xml_code(text: &str) -> Option<&str> {
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    Some(&text[start..start + len])
}

impl Backend for CloudBackend {
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
                BackendError::NotFound { .. } => self.no_holder(),
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
        let data = match self
            .rt
            .block_on(self.store.get_range(&path, offset..offset + len))
        {
            Ok(d) => d,
            // A web server without range requests (`python3 -m http.server`) sends the whole
            // object: read it up to the range's end and keep the range.
            Err(e)
                if e.to_string().contains("non-partial response")
                    || e.to_string().contains("Range request not supported") =>
            {
                return self.get_range_streamed(key, offset, len)
            }
            Err(e) => return Err(self.map_err(key, e)),
        };
        if data.len() as u64 > len {
            return Err(dvx_store::too_large(key, data.len() as u64, len));
        }
        Ok(data.to_vec())
    }

    fn put(&self, key: &str, data: bytes::Bytes) -> Result<(), BackendError> {
        let path = self.path(key);
        self.rt
            .block_on(self.store.put(&path, PutPayload::from(data)))
            .map(|_| ())
            .map_err(|e| match self.map_err(key, e) {
                // Nothing is "not found" about a new object: its bucket is.
                BackendError::NotFound { .. } => self.no_holder(),
                other => other,
            })
    }

    fn head(&self, key: &str) -> Result<Option<u64>, BackendError> {
        let path = self.path(key);
        match self.rt.block_on(self.store.head(&path)) {
            Ok(m) => Ok(Some(m.size)),
            Err(e) => match self.map_err(key, e) {
                BackendError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    fn delete(&self, key: &str) -> Result<(), BackendError> {
        let path = self.path(key);
        match self.rt.block_on(self.store.delete(&path)) {
            Ok(()) => Ok(()),
            Err(e) => match self.map_err(key, e) {
                BackendError::NotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_holders_and_refusals_are_recognised_per_provider() {
        assert!(Provider::Azure.says_no_holder("<Code>ContainerNotFound</Code>"));
        assert!(!Provider::Azure.says_no_holder("<Code>BlobNotFound</Code>"));
        assert!(Provider::Gcs.says_no_holder("404: The specified bucket does not exist."));
        assert!(Provider::S3.says_no_holder("<Code>NoSuchBucket</Code>"));
        assert!(Provider::Azure.says_denied("<Code>AuthenticationFailed</Code>"));
        assert!(Provider::Gcs.says_denied("HTTP 401 Unauthorized"));
        assert_eq!(
            xml_code("x <Code>AccessDenied</Code> y"),
            Some("AccessDenied")
        );
        assert_eq!(
            endpoint_password(Some("http://u:pw@h:1/x")).as_deref(),
            Some("pw")
        );
        assert_eq!(endpoint_password(Some("http://h:1/x")), None);
    }
}
