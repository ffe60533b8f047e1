//! The pointer file `<path>.dvx`: a small TOML file that git tracks, naming the dataset's root
//! tree (its version id) and carrying the version's metadata (docs/FORMAT.md, "Pointer file").

use std::collections::BTreeMap;

use dvx_id::TreeId;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::limits::MAX_POINTER_LEN;
use crate::tree::validate_name;

/// Pointer format version: the newest this dvx reads. Format 2 adds the `[source]` table of
/// an imported dataset; a pointer without one is still written as format 1, so older dvx
/// versions keep reading it, and refuse an import with a clear "upgrade dvx".
pub const POINTER_FORMAT: u32 = 2;
/// File name suffix of pointer files.
pub const POINTER_SUFFIX: &str = ".dvx";

/// Whether the dataset is a directory or a single file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// A directory: the root tree lists its contents.
    Dir,
    /// A single file: the root tree holds one entry, named like the file.
    File,
}

/// Metadata kept with a version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// Message given to `dvx add -m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When this version was added (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Free key/value pairs from `--meta KEY=VALUE`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// Where an imported dataset came from (`dvx import`): the `[source]` table of its pointer.
/// Only `dvx update` reads it to contact the source again; `pull` falls back to it when this
/// project's remote lacks the data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The source repository, as given (a path, `file://`, `https://`, `ssh://`, scp-style).
    pub url: String,
    /// The revision as given (`None`: the source's HEAD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    /// The commit `rev` resolved to (full hex).
    pub commit: String,
    /// The path in the source (a dataset, a folder or a file inside one).
    pub path: String,
    /// The version id of the source's dataset holding `path` at that commit.
    pub id: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    format: u32,
    path: String,
    kind: DatasetKind,
    id: String,
    files: u64,
    bytes: u64,
    #[serde(default)]
    meta: Meta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<Source>,
}

/// A parsed, validated pointer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pointer {
    /// Repo-relative dataset path with `/` separators (the pointer file is `<path>.dvx`).
    pub path: String,
    /// Directory or single file.
    pub kind: DatasetKind,
    /// Root tree id: the dataset version id.
    pub id: TreeId,
    /// Number of files (and links).
    pub files: u64,
    /// Total bytes.
    pub bytes: u64,
    /// Version metadata.
    pub meta: Meta,
    /// For an imported dataset, where it came from.
    pub source: Option<Source>,
}

/// The pointer file path (repo-relative) for a dataset path.
pub fn pointer_path_for(dataset: &str) -> String {
    format!("{dataset}{POINTER_SUFFIX}")
}

/// Checks a repo-relative path: non-empty, `/`-separated valid components.
fn validate_rel_path(path: &str) -> std::result::Result<(), String> {
    if path.is_empty() || path.starts_with('/') {
        return Err("dataset path must be relative to the repository root".into());
    }
    for comp in path.split('/') {
        validate_name(comp.as_bytes()).map_err(|e| e.to_string())?;
    }
    if path.chars().any(char::is_control) {
        return Err("dataset path contains a control character (newline, tab...)".into());
    }
    Ok(())
}

/// A `[source]` table must name a commit and an id in full and hold no control characters
/// (its fields are shown in messages and passed to git).
fn validate_source(src: &Source) -> std::result::Result<(), String> {
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(&src.commit, 40) && !hex(&src.commit, 64) {
        return Err(format!(
            "[source] commit `{}` is not a full commit id",
            src.commit.escape_debug()
        ));
    }
    if !hex(&src.id, 64) {
        return Err(format!(
            "[source] id `{}` is not a 64-hex dataset id",
            src.id.escape_debug()
        ));
    }
    let fields = [Some(&src.url), src.rev.as_ref(), Some(&src.path)];
    if fields
        .iter()
        .flatten()
        .any(|f| f.is_empty() || f.chars().any(char::is_control))
    {
        return Err(
            "[source] url, rev and path must be non-empty text without control characters".into(),
        );
    }
    if src.url.starts_with('-') || src.rev.as_ref().is_some_and(|r| r.starts_with('-')) {
        return Err("[source] url and rev cannot start with '-'".into());
    }
    Ok(())
}

impl Pointer {
    /// Parses the pointer file at repo-relative `file` (e.g. `data.dvx`). The `path` inside
    /// must match the file's own location, so a pointer cannot aim outside its place.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<Pointer> {
        let bad = |detail: String| Error::BadPointer {
            file: file.to_string(),
            detail,
        };
        if bytes.len() > MAX_POINTER_LEN {
            return Err(bad("file is too large to be a pointer".into()));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))?;
        let raw: Raw = toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
        if raw.format == 0 || raw.format > POINTER_FORMAT {
            return Err(bad(format!(
                "pointer format {} is not supported (this dvx reads {POINTER_FORMAT}); upgrade dvx",
                raw.format
            )));
        }
        validate_rel_path(&raw.path).map_err(bad)?;
        let expected = file.strip_suffix(POINTER_SUFFIX).unwrap_or(file);
        if raw.path != expected {
            return Err(bad(format!(
                "its path `{}` does not match its location (expected `{expected}`)",
                raw.path
            )));
        }
        let id = raw
            .id
            .parse()
            .map_err(|_| bad(format!("id `{}` is not a 64-hex dataset id", raw.id)))?;
        if let Some(src) = &raw.source {
            if raw.format < 2 {
                return Err(bad("a [source] table needs pointer format 2".into()));
            }
            validate_source(src).map_err(bad)?;
        }
        Ok(Pointer {
            path: raw.path,
            kind: raw.kind,
            id,
            files: raw.files,
            bytes: raw.bytes,
            meta: raw.meta,
            source: raw.source,
        })
    }

    /// The TOML text written to the pointer file.
    pub fn to_toml(&self) -> String {
        let raw = Raw {
            format: if self.source.is_some() { 2 } else { 1 },
            path: self.path.clone(),
            kind: self.kind,
            id: self.id.to_hex(),
            files: self.files,
            bytes: self.bytes,
            meta: self.meta.clone(),
            source: self.source.clone(),
        };
        let body = toml::to_string(&raw).expect("pointer fields always serialize");
        format!(
            "# dvx pointer: git tracks this file; the data of `{}` lives in the dvx store.\n# Restore it with `dvx checkout`, fetch it with `dvx pull`.\n{body}",
            self.path.escape_debug()
        )
    }

    /// [`Pointer::to_toml`], checked to be readable: at most [`MAX_POINTER_LEN`] bytes, and
    /// parsed back by [`Pointer::parse`] to the same pointer. Writers use this, so no pointer is
    /// written that a reader would refuse.
    pub fn encode_checked(&self) -> Result<String> {
        let text = self.to_toml();
        let file = self.file();
        if text.len() > MAX_POINTER_LEN {
            return Err(Error::PointerTooLarge {
                file,
                len: text.len(),
                limit: MAX_POINTER_LEN,
            });
        }
        match Pointer::parse(&file, text.as_bytes()) {
            Ok(back) if back == *self => Ok(text),
            Ok(_) => Err(Error::BadPointer {
                file,
                detail: "it does not read back as written".into(),
            }),
            Err(e) => Err(e),
        }
    }

    /// The pointer file's repo-relative path.
    pub fn file(&self) -> String {
        pointer_path_for(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Pointer {
        Pointer {
            path: "data/raw".into(),
            kind: DatasetKind::Dir,
            id: TreeId::of(b"t"),
            files: 3,
            bytes: 100,
            meta: Meta {
                message: Some("raw export \"quoted\"".into()),
                created: Some("2026-11-26T00:00:00Z".into()),
                extra: [("source".to_string(), "s3://x".to_string())].into(),
            },
            source: None,
        }
    }

    #[test]
    fn source_table_round_trips_and_old_pointers_still_parse() {
        let mut p = sample();
        let old = p.to_toml();
        assert!(!old.contains("[source]"));
        p.source = Some(Source {
            url: "../registry".into(),
            rev: Some("v1".into()),
            commit: "a".repeat(40),
            path: "data/images".into(),
            id: TreeId::of(b"s").to_hex(),
        });
        let text = p.encode_checked().expect("encodes");
        assert!(text.contains("[source]"), "{text}");
        assert_eq!(
            Pointer::parse("data/raw.dvx", text.as_bytes()).expect("parse"),
            p
        );
        assert_eq!(
            Pointer::parse("data/raw.dvx", old.as_bytes())
                .expect("old")
                .source,
            None
        );
        // A format-1 pointer as dvx wrote it before format 2 existed still reads.
        let fixture =
            "# dvx pointer: git tracks this file; the data of `data` lives in the dvx store.\n\
            # Restore it with `dvx checkout`, fetch it with `dvx pull`.\n\
            format = 1\npath = \"data\"\nkind = \"dir\"\n\
            id = \"f6d581a799f3258f67364735bd0ef5005735c0a10c21203b6cb03621c2fe0fac\"\n\
            files = 3\nbytes = 300006\n\n[meta]\nmessage = 'first \"q\"'\n\
            created = \"2026-11-27T00:05:49Z\"\n\n[meta.extra]\nk = \"v\"\n";
        let old = Pointer::parse("data.dvx", fixture.as_bytes()).expect("format 1 fixture");
        assert_eq!((old.files, old.source), (3, None));
        // A [source] table in a format-1 pointer is refused.
        let mislabelled = text.replace("format = 2", "format = 1");
        assert!(Pointer::parse("data/raw.dvx", mislabelled.as_bytes()).is_err());
        let bad = text.replace(&"a".repeat(40), "HEAD");
        assert!(Pointer::parse("data/raw.dvx", bad.as_bytes()).is_err());
        let bad = text.replace("rev = \"v1\"", "rev = \"--upload-pack=x\"");
        assert!(Pointer::parse("data/raw.dvx", bad.as_bytes()).is_err());
    }

    #[test]
    fn round_trip() {
        let p = sample();
        let text = p.to_toml();
        assert_eq!(
            Pointer::parse("data/raw.dvx", text.as_bytes()).expect("parse"),
            p
        );
    }

    #[test]
    fn rejects_bad_pointers() {
        let text = sample().to_toml();
        assert!(Pointer::parse("other.dvx", text.as_bytes()).is_err());
        for (from, to) in [
            ("path = \"data/raw\"", "path = \"../etc\""),
            ("path = \"data/raw\"", "path = \"/etc\""),
            ("path = \"data/raw\"", "path = \".git/hooks\""),
            ("format = 1", "format = 9"),
            ("kind = \"dir\"", "kind = \"blob\""),
        ] {
            let evil = text.replace(from, to);
            assert_ne!(evil, text);
            assert!(
                Pointer::parse("data/raw.dvx", evil.as_bytes()).is_err(),
                "{to}"
            );
        }
        let err = Pointer::parse("data.dvx", b"garbage = [").expect_err("garbage");
        assert!(err.to_string().contains("data.dvx"));
        let bad_id = text.replace(&TreeId::of(b"t").to_hex(), "1234");
        assert!(Pointer::parse("data/raw.dvx", bad_id.as_bytes()).is_err());
    }

    /// A pointer `encode_checked` accepts is one `parse` reads, up to the same byte.
    #[test]
    fn writer_and_reader_share_the_size_limit() {
        let mut p = sample();
        let fill = |p: &mut Pointer, n: usize| p.meta.message = Some("m".repeat(n));
        fill(&mut p, 0);
        let empty = p.to_toml().len();
        fill(&mut p, MAX_POINTER_LEN - empty);
        let text = p.encode_checked().expect("exactly at the limit");
        assert_eq!(text.len(), MAX_POINTER_LEN);
        assert_eq!(
            Pointer::parse("data/raw.dvx", text.as_bytes()).expect("reads"),
            p
        );
        fill(&mut p, MAX_POINTER_LEN - empty + 1);
        assert!(matches!(
            p.encode_checked(),
            Err(Error::PointerTooLarge { .. })
        ));
        assert!(Pointer::parse("data/raw.dvx", p.to_toml().as_bytes()).is_err());
    }
}
