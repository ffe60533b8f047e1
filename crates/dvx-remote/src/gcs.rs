//! Google Cloud Storage (`gs://bucket/prefix`) via `object_store`'s GCS client, with an
//! endpoint override for emulators (fake-gcs-server).

use std::sync::Arc;

use dvx_store::{Backend, BackendError, ObjectInfo};
use object_store::client::{HttpClient, HttpConnector, ReqwestConnector};
use object_store::gcp::{GoogleCloudStorage, GoogleCloudStorageBuilder};

use crate::cloud::{client_options, endpoint_password, retry_config, CloudBackend, Provider};

/// Google's storage service.
const GOOGLE: &str = "https://storage.googleapis.com";

/// A GCS bucket (and prefix) used as a remote: `object_store` for everything but uploads,
/// which use the JSON API's single-request media upload (what Google's client libraries
/// do; object_store's XML-API PUT is not served by fake-gcs-server, the emulator the tests
/// run against).
pub struct GcsBackend {
    inner: CloudBackend,
    store: Arc<GoogleCloudStorage>,
    client: HttpClient,
    base: String,
    bucket: String,
    prefix: String,
}

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
) -> Result<GcsBackend, crate::Error> {
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
        // the instance metadata service, which hangs outside cloud VMs. object_store skips
        // the signature of reads only; writes still ask for a token, so they get an empty
        // one (an emulator ignores it, Google refuses it: access denied).
        (None, None) => {
            b = b.with_skip_signature(true).with_credentials(Arc::new(
                object_store::StaticCredentialProvider::new(object_store::gcp::GcpCredential {
                    bearer: String::new(),
                }),
            ))
        }
    }
    let options = client_options(
        s.allow_http
            || s.endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://")),
    );
    let client = ReqwestConnector::default()
        .connect(&options)
        .map_err(|e| setup(e.to_string()))?;
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
    let store = Arc::new(store);
    Ok(GcsBackend {
        inner: CloudBackend::new(store.clone(), Provider::Gcs, prefix, url, secrets)?,
        store,
        client,
        base: s
            .endpoint
            .as_deref()
            .unwrap_or(GOOGLE)
            .trim_end_matches('/')
            .to_string(),
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
    })
}

/// `s` with everything but unreserved characters percent-encoded (a query value).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Backend for GcsBackend {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, BackendError> {
        self.inner.list(prefix)
    }
    fn get(&self, key: &str, max_len: u64) -> Result<Vec<u8>, BackendError> {
        self.inner.get(key, max_len)
    }
    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>, BackendError> {
        self.inner.get_range(key, offset, len)
    }
    fn head(&self, key: &str) -> Result<Option<u64>, BackendError> {
        self.inner.head(key)
    }
    fn delete(&self, key: &str) -> Result<(), BackendError> {
        self.inner.delete(key)
    }

    /// One request: the object appears whole or not at all.
    fn put(&self, key: &str, data: bytes::Bytes) -> Result<(), BackendError> {
        let name = if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        };
        let uri = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=media&name={}",
            self.base,
            encode(&self.bucket),
            encode(&name)
        );
        let len = data.len();
        let result = self.inner.block_on(async {
            let credential = self
                .store
                .credentials()
                .get_credential()
                .await
                .map_err(|e| self.inner.request_error(key, e))?;
            let mut req = http::Request::builder()
                .method(http::Method::POST)
                .uri(&uri)
                .header(http::header::CONTENT_TYPE, "application/octet-stream")
                .header(http::header::CONTENT_LENGTH, len);
            if !credential.bearer.is_empty() {
                req = req.header(
                    http::header::AUTHORIZATION,
                    format!("Bearer {}", credential.bearer),
                );
            }
            let req = req
                .body(data.into())
                .map_err(|e| self.inner.request_error(key, e))?;
            let resp = self
                .client
                .execute(req)
                .await
                .map_err(|e| self.inner.request_error(key, e))?;
            let status = resp.status().as_u16();
            if (200..300).contains(&status) {
                return Ok(());
            }
            let body = match resp.into_body().bytes().await {
                Ok(b) => String::from_utf8_lossy(&b[..b.len().min(2000)]).into_owned(),
                Err(e) => format!("(the error body could not be read: {e})"),
            };
            Err(self.inner.status_error(key, status, &body))
        });
        result
    }
}
