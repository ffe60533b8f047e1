//! Remote backends of dvx: a plain folder ([`DirBackend`]), object storage through the
//! `object_store` crate ([`CloudBackend`]: S3-compatible, Google Cloud Storage, Azure Blob)
//! and a read-only web server ([`HttpBackend`]), all implementing the store's
//! [`dvx_store::Backend`] trait, plus [`Retrying`] for transient failures.
//!
//! [`RemoteUrl`] parses what users write (`/mnt/nas/datasets`, `s3://bucket/prefix`,
//! `gs://bucket/prefix`, `az://container/prefix`, `https://host/prefix`) and [`open`] turns it
//! and explicit [`Settings`] into a backend. Nothing here reads the environment; the binary
//! resolves credentials and passes them in.
#![warn(missing_docs)]

mod azure;
mod cloud;
mod dir;
mod gcs;
mod http;
mod retry;
mod s3;

use std::path::PathBuf;

pub use azure::AzureSettings;
pub use cloud::CloudBackend;
pub use dir::DirBackend;
use dvx_store::Backend;
pub use gcs::{GcsBackend, GcsSettings};
pub use http::{parse_catalogue, render_catalogue, HttpBackend, CATALOGUE, MAX_CATALOGUE_LEN};
pub use retry::Retrying;
pub use s3::{S3Backend, S3Settings};

/// The settings of every kind of remote; [`open`] uses those of the URL's kind.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// For `s3://`.
    pub s3: S3Settings,
    /// For `gs://`.
    pub gcs: GcsSettings,
    /// For `az://`.
    pub azure: AzureSettings,
}

/// Whether a bucket or container name is valid for its service.
type NameCheck = fn(&str) -> bool;

/// Where a remote lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteUrl {
    /// A local or mounted folder.
    Dir(PathBuf),
    /// S3-compatible storage: bucket and key prefix (no leading or trailing `/`).
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix inside the bucket ("" for the whole bucket).
        prefix: String,
    },
    /// Google Cloud Storage: bucket and object name prefix.
    Gcs {
        /// Bucket name.
        bucket: String,
        /// Name prefix inside the bucket ("" for the whole bucket).
        prefix: String,
    },
    /// Azure Blob Storage: container and blob name prefix.
    Azure {
        /// Container name.
        container: String,
        /// Name prefix inside the container ("" for the whole container).
        prefix: String,
    },
    /// A folder remote served by a web server, read-only: the base URL without a trailing
    /// `/` (`https://host/path`).
    Http(String),
}

impl RemoteUrl {
    /// Whether dvx can only read this remote (objects cannot be written over plain HTTP).
    pub fn is_read_only(&self) -> bool {
        matches!(self, RemoteUrl::Http(_))
    }
}

/// Why a remote cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL is not understood.
    #[error("invalid remote URL `{url}`: {why}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        why: String,
    },
    /// The backend could not be set up.
    #[error("cannot open remote {remote}: {why}")]
    Setup {
        /// The remote (without credentials).
        remote: String,
        /// Why.
        why: String,
    },
}

impl RemoteUrl {
    /// Parses `s3://bucket[/prefix]`, `gs://bucket[/prefix]`, `az://container[/prefix]`,
    /// `https://host[/path]` (or `http://`), `file:///path`, or a path. A relative path is taken
    /// relative to `base`, the repository root (never the current directory), and a folder
    /// at or below `base` is refused: the objects would sit in the worktree, where git and
    /// dvx scans see them. Empty URLs, URLs with spaces around them or control characters in
    /// them are refused too (a typo there would create a stray folder).
    pub fn parse(url: &str, base: &std::path::Path) -> Result<RemoteUrl, Error> {
        let bad = |why: &str| Error::BadUrl {
            url: url.escape_debug().to_string(),
            why: why.to_string(),
        };
        if url.trim().is_empty() {
            return Err(bad(
                "it is empty; give a folder path, s3://bucket/prefix, gs://bucket/prefix, \
                 az://container/prefix or https://host/prefix",
            ));
        }
        if url.trim() != url {
            return Err(bad(
                "it starts or ends with white space; give the path without spaces around it",
            ));
        }
        if url.chars().any(char::is_control) {
            return Err(bad(
                "it contains control characters (a newline, a tab, ...)",
            ));
        }
        let buckets: [(&str, &str, NameCheck); 3] = [
            ("s3://", "bucket", |b| {
                (3..=63).contains(&b.len())
                    && b.bytes().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.'
                    })
            }),
            ("gs://", "bucket", |b| {
                (3..=63).contains(&b.len())
                    && b.bytes().all(|c| {
                        c.is_ascii_lowercase()
                            || c.is_ascii_digit()
                            || matches!(c, b'-' | b'.' | b'_')
                    })
            }),
            ("az://", "container", |b| {
                (3..=63).contains(&b.len())
                    && b.bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
            }),
        ];
        for (scheme, holder, valid) in buckets {
            let Some(rest) = url.strip_prefix(scheme) else {
                continue;
            };
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if !valid(bucket) {
                return Err(bad(&format!(
                    "the {holder} name must be 3-63 lower-case letters, digits{}",
                    match scheme {
                        "s3://" => ", '-' or '.'",
                        "gs://" => ", '-', '_' or '.'",
                        _ => " or '-'",
                    }
                )));
            }
            let prefix = prefix.trim_matches('/').to_string();
            if prefix.split('/').any(|c| c == ".." || c == ".") {
                return Err(bad(
                    "the key prefix must not contain `.` or `..` components",
                ));
            }
            let bucket = bucket.to_string();
            return Ok(match scheme {
                "s3://" => RemoteUrl::S3 { bucket, prefix },
                "gs://" => RemoteUrl::Gcs { bucket, prefix },
                _ => RemoteUrl::Azure {
                    container: bucket,
                    prefix,
                },
            });
        }
        if url.starts_with("https://") || url.starts_with("http://") {
            let (scheme, rest) = url.split_once("://").expect("checked above");
            let host = rest.split('/').next().unwrap_or("");
            if host.is_empty() {
                return Err(bad("no host after the scheme"));
            }
            if rest.contains(['?', '#']) {
                return Err(bad(
                    "a query (`?`) or fragment (`#`) cannot be part of a remote's base URL",
                ));
            }
            if rest.split('/').any(|c| c == ".." || c == ".") {
                return Err(bad("the path must not contain `.` or `..` components"));
            }
            return Ok(RemoteUrl::Http(format!(
                "{scheme}://{}",
                rest.trim_end_matches('/')
            )));
        }
        if url.contains("://") && !url.starts_with("file://") {
            return Err(bad(
                "use a folder path, s3://bucket/prefix, gs://bucket/prefix, \
                 az://container/prefix or https://host/prefix",
            ));
        }
        let path = url.strip_prefix("file://").unwrap_or(url);
        if path.is_empty() {
            return Err(bad("empty path"));
        }
        let p = PathBuf::from(path);
        let p = if p.is_absolute() { p } else { base.join(p) };
        if is_within(&p, base) {
            return Err(bad(&format!(
                "the folder is inside the repository {} (a relative path is taken from the \
                 repository root, and `~` is not expanded); keep the remote outside the \
                 worktree, e.g. ../{}-remote or an absolute path",
                base.display(),
                base.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "data".into())
            )));
        }
        Ok(RemoteUrl::Dir(p))
    }
}

/// True when `path` is `base` or below it, after resolving `..` and the symlinks of the part
/// of `path` that exists.
fn is_within(path: &std::path::Path, base: &std::path::Path) -> bool {
    let resolved = resolve(path);
    let base_resolved = resolve(base);
    resolved.starts_with(&base_resolved) || lexical(path).starts_with(lexical(base))
}

/// `..` and `.` removed without touching the file system.
fn lexical(path: &std::path::Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// The canonical form of the longest existing prefix of `path` with the rest appended.
fn resolve(path: &std::path::Path) -> PathBuf {
    let path = lexical(path);
    let mut existing = path.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(canon) = std::fs::canonicalize(existing) {
            let mut out = canon;
            out.extend(rest.iter().rev());
            return out;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return path,
        }
    }
}

/// `text` with the user-info of every URL in it (`https://user:password@host`) replaced by
/// `***`, for anything that is displayed: an endpoint may carry a password.
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>') || c.is_whitespace()
            })
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(i) => {
                out.push_str("***");
                out.push_str(&authority[i..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Opens a backend for `url`, wrapped in [`Retrying`].
pub fn open(url: &RemoteUrl, settings: &Settings) -> Result<Box<dyn Backend>, Error> {
    Ok(match url {
        RemoteUrl::Dir(p) => Box::new(Retrying::new(DirBackend::new(p.clone()))),
        RemoteUrl::S3 { bucket, prefix } => {
            Box::new(Retrying::new(s3::open(bucket, prefix, &settings.s3)?))
        }
        RemoteUrl::Gcs { bucket, prefix } => {
            Box::new(Retrying::new(gcs::open(bucket, prefix, &settings.gcs)?))
        }
        RemoteUrl::Azure { container, prefix } => Box::new(Retrying::new(azure::open(
            container,
            prefix,
            &settings.azure,
        )?)),
        RemoteUrl::Http(base) => Box::new(Retrying::new(HttpBackend::new(base)?)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let base = std::path::Path::new("/repo");
        assert_eq!(
            RemoteUrl::parse("s3://team-bucket/datasets/x/", base).expect("valid"),
            RemoteUrl::S3 {
                bucket: "team-bucket".into(),
                prefix: "datasets/x".into()
            }
        );
        assert_eq!(
            RemoteUrl::parse("../nas", base).expect("valid"),
            RemoteUrl::Dir("/repo/../nas".into())
        );
        assert_eq!(
            RemoteUrl::parse("file:///mnt/nas", base).expect("valid"),
            RemoteUrl::Dir("/mnt/nas".into())
        );
        assert!(RemoteUrl::parse("s3://A/x", base).is_err());
        for nonsense in [
            "",
            " ",
            "\t",
            " /mnt/nas",
            "/mnt/nas ",
            "/mnt/\nnas",
            "file://",
        ] {
            assert!(RemoteUrl::parse(nonsense, base).is_err(), "{nonsense:?}");
        }
        for inside in [
            "remote",
            "./x/../remote",
            "~/nas",
            "/repo",
            "/repo/sub/",
            "../repo/r",
        ] {
            assert!(RemoteUrl::parse(inside, base).is_err(), "{inside:?}");
        }
        assert!(RemoteUrl::parse("/repository-remote", base).is_ok());
        assert_eq!(
            RemoteUrl::parse("gs://team_bucket/x/", base).expect("valid"),
            RemoteUrl::Gcs {
                bucket: "team_bucket".into(),
                prefix: "x".into()
            }
        );
        assert_eq!(
            RemoteUrl::parse("az://data/a/b", base).expect("valid"),
            RemoteUrl::Azure {
                container: "data".into(),
                prefix: "a/b".into()
            }
        );
        assert!(RemoteUrl::parse("az://Data/x", base).is_err());
        assert!(RemoteUrl::parse("az://a_b/x", base).is_err());
        assert_eq!(
            RemoteUrl::parse("https://cdn.example.com/ds/", base).expect("valid"),
            RemoteUrl::Http("https://cdn.example.com/ds".into())
        );
        assert!(RemoteUrl::parse("http://x/y", base)
            .expect("valid")
            .is_read_only());
        assert!(RemoteUrl::parse("https:///y", base).is_err());
        assert!(RemoteUrl::parse("https://h/a/../b", base).is_err());
        assert!(RemoteUrl::parse("https://h/a?x=1", base).is_err());
        assert!(RemoteUrl::parse("ftp://x/y", base).is_err());
        assert!(RemoteUrl::parse("s3://bucket/../x", base).is_err());
    }

    #[test]
    fn userinfo_is_redacted() {
        assert_eq!(
            redact_userinfo("GET http://ak:s3cr3t@127.0.0.1:9/b/k failed; see https://x.io/a@b"),
            "GET http://***@127.0.0.1:9/b/k failed; see https://x.io/a@b"
        );
        assert_eq!(
            redact_userinfo("endpoint = \"https://u:p@h\""),
            "endpoint = \"https://***@h\""
        );
        assert_eq!(redact_userinfo("/mnt/nas"), "/mnt/nas");
    }
}
