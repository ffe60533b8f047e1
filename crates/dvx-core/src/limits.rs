//! What `dvx add` checks about a scanned dataset before it stores a byte: the bounds every
//! reader applies (`dvx_manifest::limits`), valid names, and no other dataset inside it. A
//! version that breaks one would be stored and then refused by checkout, with the working copy
//! as the only copy left.

use std::collections::HashMap;

use dvx_manifest::limits::{
    link_entry_len, min_dir_entry_len, min_file_entry_len, tree_depth, tree_header_len, MAX_CHUNKS,
    MAX_DEPTH, MAX_ENTRIES, MAX_FILES, MAX_LINK, MAX_TREE_LEN,
};
use dvx_manifest::{Pointer, POINTER_SUFFIX};

use crate::error::{Error, Result};
use crate::scan::{FlatEntry, Listing};
use crate::workspace::{Dataset, Workspace};

/// What the limits need to know of an entry.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Shape {
    /// A directory.
    Dir,
    /// A regular file of this size.
    File(u64),
    /// A symlink whose target has this length.
    Link(usize),
}

/// Checks the entries found by a scan (`listing`, plus the files still to be hashed with
/// their sizes) against every bound a reader applies, and refuses a nested dataset.
/// `max_chunk` is the chunker's largest chunk (a file has at least `size / max_chunk` chunks).
pub(crate) fn check_scan<'a>(
    ws: &Workspace,
    ds: &Dataset,
    listing: &'a Listing,
    pending: impl Iterator<Item = (&'a [u8], u64)>,
    max_chunk: u32,
) -> Result<()> {
    let shaped = listing
        .iter()
        .map(|(rel, e)| {
            let shape = match e {
                FlatEntry::Dir => Shape::Dir,
                FlatEntry::File { size, .. } => Shape::File(*size),
                FlatEntry::Symlink { target } => Shape::Link(target.len()),
            };
            (rel.as_slice(), shape)
        })
        .chain(pending.map(|(rel, size)| (rel, Shape::File(size))));
    check_entries(ds, shaped, max_chunk, &mut |rel| {
        nested_pointer(ws, ds, rel)
    })
}

/// The bounds, over entries in any order. `is_pointer` says whether a file named `*.dvx` is
/// the pointer of another dataset (its error, if any, is returned as is).
pub(crate) fn check_entries<'a>(
    ds: &Dataset,
    entries: impl Iterator<Item = (&'a [u8], Shape)>,
    max_chunk: u32,
    is_pointer: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let over = |rel: &[u8], problem: String, advice: &str| Error::OverLimit {
        path: ds.display(&String::from_utf8_lossy(rel)),
        problem,
        advice: advice.to_string(),
    };
    // Per directory (by its path; b"" = the root tree): entry count and least encoded length.
    let mut dirs: HashMap<&[u8], (u64, u64)> = HashMap::new();
    let mut files = 0u64;
    for (rel, shape) in entries {
        let (parent, name) = match rel.iter().rposition(|&b| b == b'/') {
            Some(i) => (&rel[..i], &rel[i + 1..]),
            None => (&rel[..0], rel),
        };
        dvx_manifest::validate_name(name).map_err(|e| {
            over(
                rel,
                e.to_string(),
                "rename it, or list it in the dataset's .dvxignore",
            )
        })?;
        let depth = tree_depth(rel, matches!(shape, Shape::Dir));
        if depth > MAX_DEPTH {
            return Err(over(
                rel,
                format!("directories nested {depth} deep; a version may nest at most {MAX_DEPTH}"),
                "flatten the layout, or add a deeper folder as a dataset of its own",
            ));
        }
        let entry_len = match shape {
            Shape::Dir => min_dir_entry_len(name.len()),
            Shape::File(size) => {
                files += 1;
                let least = size.div_ceil(u64::from(max_chunk.max(1)));
                if least > MAX_CHUNKS {
                    return Err(over(
                        rel,
                        format!("a file of {size} bytes makes more than {MAX_CHUNKS} chunks, the most a file may have"),
                        "split the file, or list it in the dataset's .dvxignore",
                    ));
                }
                if name.ends_with(POINTER_SUFFIX.as_bytes()) && name.len() > POINTER_SUFFIX.len() {
                    is_pointer(rel)?;
                }
                min_file_entry_len(name.len(), size, max_chunk)
            }
            Shape::Link(len) => {
                files += 1;
                if len == 0 || len > MAX_LINK {
                    return Err(over(
                        rel,
                        format!("a symlink target of {len} bytes; targets hold 1 to {MAX_LINK}"),
                        "shorten the link, or list it in the dataset's .dvxignore",
                    ));
                }
                link_entry_len(name.len(), len)
            }
        };
        let d = dirs.entry(parent).or_insert((0, 0));
        d.0 += 1;
        d.1 = d.1.saturating_add(entry_len);
    }
    if files > MAX_FILES {
        return Err(over(
            b"",
            format!("{files} files; a version may hold at most {MAX_FILES}"),
            "split it into several datasets",
        ));
    }
    for (dir, (count, len)) in dirs {
        if count > MAX_ENTRIES {
            return Err(over(
                dir,
                format!(
                    "{count} entries in one directory; a directory may hold at most {MAX_ENTRIES}"
                ),
                "spread the files over subdirectories",
            ));
        }
        if len.saturating_add(tree_header_len(count)) > MAX_TREE_LEN {
            return Err(over(
                dir,
                format!("the directory's listing would take more than {MAX_TREE_LEN} bytes, the most a tree may hold"),
                "spread the files over subdirectories",
            ));
        }
    }
    Ok(())
}

/// Refuses when the file at `rel` (below the dataset base) is the pointer of another
/// dataset: its data would be stored twice, once in each.
fn nested_pointer(ws: &Workspace, ds: &Dataset, rel: &[u8]) -> Result<()> {
    let rel = String::from_utf8_lossy(rel);
    let file = ds.display(&rel);
    let path = ws.abs(&file);
    // Read no more than a pointer can hold: a big data file of that name is plain data.
    let bytes = match crate::fsx::read_small(&path, dvx_manifest::limits::MAX_POINTER_LEN) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Ok(()),
        // Gone since the walk: the scan that follows reports it with its path.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    // A file named `*.dvx` that is not a pointer is plain data.
    if let Ok(p) = Pointer::parse(&file, &bytes) {
        return Err(Error::NestedDataset {
            outer: ds.path.clone(),
            inner: p.path,
            pointer: file,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dvx_manifest::DatasetKind;

    fn ds() -> Dataset {
        Dataset {
            path: "data".into(),
            kind: DatasetKind::Dir,
        }
    }

    fn check(entries: &[(Vec<u8>, Shape)]) -> Result<()> {
        check_entries(
            &ds(),
            entries.iter().map(|(r, s)| (r.as_slice(), *s)),
            256 * 1024,
            &mut |_| Ok(()),
        )
    }

    fn nested(depth: usize) -> Vec<(Vec<u8>, Shape)> {
        let mut out = Vec::new();
        let mut p = Vec::new();
        for _ in 0..depth {
            if !p.is_empty() {
                p.push(b'/');
            }
            p.push(b'd');
            out.push((p.clone(), Shape::Dir));
        }
        p.extend_from_slice(b"/f");
        out.push((p, Shape::File(1)));
        out
    }

    #[test]
    fn depth_limit_is_the_readers() {
        check(&nested(MAX_DEPTH)).expect("the deepest nesting readers accept");
        let err = check(&nested(MAX_DEPTH + 1)).expect_err("one level deeper");
        assert!(
            err.to_string().contains(&format!("at most {MAX_DEPTH}")),
            "{err}"
        );
    }

    #[test]
    fn names_links_and_chunks() {
        assert!(check(&[(b"a\\b".to_vec(), Shape::File(1))]).is_err());
        assert!(check(&[(b"x/.GIT".to_vec(), Shape::Dir)]).is_err());
        check(&[(b"l".to_vec(), Shape::Link(MAX_LINK))]).expect("longest link");
        assert!(check(&[(b"l".to_vec(), Shape::Link(MAX_LINK + 1))]).is_err());
        let biggest = MAX_CHUNKS * 256 * 1024;
        check(&[(b"f".to_vec(), Shape::File(biggest))]).expect("fits");
        assert!(check(&[(b"f".to_vec(), Shape::File(biggest + 1))]).is_err());
    }

    /// The nesting `add` accepts is the nesting a reader loads, and one level more is refused
    /// by both.
    #[test]
    fn depth_accepted_by_add_is_loaded_by_readers() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store =
            dvx_store::Store::open_or_create(tmp.path(), &Default::default()).expect("store");
        let listing = |depth: usize| -> Listing {
            nested(depth)
                .into_iter()
                .map(|(rel, shape)| {
                    let e = match shape {
                        Shape::Dir => FlatEntry::Dir,
                        _ => FlatEntry::Symlink {
                            target: b"t".to_vec(),
                        },
                    };
                    (rel, e)
                })
                .collect()
        };
        let ok = listing(MAX_DEPTH);
        let (id, _, _) = crate::treeio::write_trees(&store, &ok).expect("write");
        assert_eq!(crate::treeio::load_listing(&store, &id).expect("load"), ok);
        let deep = listing(MAX_DEPTH + 1);
        let (id, _, _) = crate::treeio::write_trees(&store, &deep).expect("write");
        assert!(crate::treeio::load_listing(&store, &id).is_err());
        assert!(check(&nested(MAX_DEPTH + 1)).is_err());
    }
}
