//! A folder remote served by a web server or CDN (`https://host/path`, `http://` too), read
//! only. A static server cannot list a folder, so listings come from the catalogue the
//! writers keep at the remote's root (`catalogue.txt`, docs/FORMAT.md): every other object
//! is read by its name.

use std::sync::{Arc, Mutex};

use dvx_store::{Backend, BackendError, ObjectInfo};
use object_store::http::HttpBuilder;

use crate::cloud::{client_options, endpoint_password, retry_config, CloudBackend, Provider};

/// The name of the catalogue at a remote's root.
pub const CATALOGUE: &str = "catalogue.txt";
/// The largest catalogue read (about a million objects).
pub const MAX_CATALOGUE_LEN: u64 = 128 << 20;

/// A read-only remote over HTTP(S).
pub struct HttpBackend {
    inner: CloudBackend,
    url: String,
    /// The catalogue, read once per process: nothing changes it through this backend.
    catalogue: Mutex<Option<Arc<Vec<ObjectInfo>>>>,
}

impl HttpBackend {
    /// Connects lazily (no request is made here). `base` has no trailing `/`; a
    /// `user:password@` in it is sent as basic authentication and never shown.
    pub fn new(base: &str) -> Result<HttpBackend, crate::Error> {
        let url = crate::redact_userinfo(base);
        let store = HttpBuilder::new()
            .with_url(base)
            .with_retry(retry_config())
            .with_client_options(client_options(base.starts_with("http://")))
            .build()
            .map_err(|e| crate::Error::Setup {
                remote: url.clone(),
                why: crate::redact_userinfo(&e.to_string()),
            })?;
        let secrets = endpoint_password(Some(base)).into_iter().collect();
        Ok(HttpBackend {
            inner: CloudBackend::new(Arc::new(store), Provider::Http, "", url.clone(), secrets)?,
            url,
            catalogue: Mutex::new(None),
        })
    }

    fn read_only(&self) -> BackendError {
        BackendError::ReadOnly {
            message: format!(
                "{} is read-only (a web server): dvx cannot write or delete objects there; \
                 push to the folder or bucket that server publishes (add it with `dvx remote \
                 add <name> <path or URL>` and `dvx push -r <name>`), and run gc there",
                self.url
            ),
        }
    }

    /// The catalogue's entries (fetched on first use).
    fn catalogue(&self) -> Result<Arc<Vec<ObjectInfo>>, BackendError> {
        let mut slot = self.catalogue.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let text = match self.inner.get(CATALOGUE, MAX_CATALOGUE_LEN) {
            Ok(t) => t,
            Err(BackendError::NotFound { .. }) => {
                return Err(BackendError::NoRemote {
                    message: format!(
                        "no dvx remote at {}: {}/{CATALOGUE} does not exist (is the URL \
                         right? the folder it serves gets its catalogue with the next `dvx \
                         push` to it)",
                        self.url, self.url
                    ),
                })
            }
            Err(e) => return Err(e),
        };
        let entries = parse_catalogue(&text).map_err(|why| BackendError::Permanent {
            key: CATALOGUE.into(),
            message: format!(
                "{}/{CATALOGUE} is damaged ({why}); a `dvx push` to the folder it serves \
                 writes it again",
                self.url
            ),
        })?;
        let entries = Arc::new(entries);
        *slot = Some(entries.clone());
        Ok(entries)
    }
}

/// Parses a catalogue: a header line `dvx-catalogue 1`, then one `<size> <key>` per object.
/// Keys are object names of the layout: letters, digits, `.`, `-`, `_` and `/`, no `..`.
pub fn parse_catalogue(bytes: &[u8]) -> Result<Vec<ObjectInfo>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8".to_string())?;
    let mut lines = text.lines();
    if lines.next() != Some(CATALOGUE_HEADER) {
        return Err(format!("its first line is not `{CATALOGUE_HEADER}`"));
    }
    let mut out = Vec::new();
    for (n, line) in lines.enumerate() {
        let bad = || format!("line {} is not `<size> <key>`", n + 2);
        let (size, key) = line.split_once(' ').ok_or_else(bad)?;
        let size: u64 = size.parse().map_err(|_| bad())?;
        let valid = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/'))
            && key
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..");
        if !valid {
            return Err(bad());
        }
        out.push(ObjectInfo {
            key: key.to_string(),
            size,
        });
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// The first line of a catalogue (its format version).
pub const CATALOGUE_HEADER: &str = "dvx-catalogue 1";

/// The text of a catalogue of `objects`.
pub fn render_catalogue(objects: &[ObjectInfo]) -> String {
    let mut sorted: Vec<&ObjectInfo> = objects.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut out = format!("{CATALOGUE_HEADER}\n");
    for o in sorted {
        out.push_str(&format!("{} {}\n", o.size, o.key));
    }
    out
}

impl Backend for HttpBackend {
    fn describe(&self) -> String {
        self.url.clone()
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, BackendError> {
        Ok(self
            .catalogue()?
            .iter()
            .filter(|o| o.key.starts_with(prefix))
            .cloned()
            .collect())
    }

    fn get(&self, key: &str, max_len: u64) -> Result<Vec<u8>, BackendError> {
        self.inner.get(key, max_len)
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>, BackendError> {
        self.inner.get_range(key, offset, len)
    }

    fn put(&self, _key: &str, _data: bytes::Bytes) -> Result<(), BackendError> {
        Err(self.read_only())
    }

    fn head(&self, key: &str) -> Result<Option<u64>, BackendError> {
        self.inner.head(key)
    }

    fn delete(&self, _key: &str) -> Result<(), BackendError> {
        Err(self.read_only())
    }

    fn check_reachable(&self) -> Result<(), BackendError> {
        self.catalogue().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_roundtrip_and_hostile_keys() {
        let objs = vec![
            ObjectInfo {
                key: "trees/ab/abcd".into(),
                size: 40,
            },
            ObjectInfo {
                key: "index/ff.idx".into(),
                size: 100,
            },
        ];
        let text = render_catalogue(&objs);
        let back = parse_catalogue(text.as_bytes()).expect("parses");
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].key, "index/ff.idx");
        for bad in [
            "dvx-catalogue 1\n10 ../x\n",
            "dvx-catalogue 1\n10 a//b\n",
            "dvx-catalogue 1\nx a\n",
            "dvx-catalogue 1\n10 a b\n",
            "something else\n",
        ] {
            assert!(parse_catalogue(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
