//! What `dvx add` checks about a scanned dataset before it stores a byte: the bounds every
//! reader applies (`dvx_manifest::limits`), valid names, and no other dataset inside it. A
//! version that breaks one would be stored and then refused by checkout, with the working copy
//! as the only copy left.

use dvx_manifest::limits::{
    link_entry_len, min_dir_entry_len, min_file_entry_len, tree_depth, tree_header_len, MAX_CHUNKS,
    MAX_DEPTH, MAX_ENTRIES, MAX_FILES, MAX_LINK, MAX_TREE_LEN,
};
use dvx_manifest::{Pointer, POINTER_SUFFIX};

use crate::error::{Error, Result};
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

/// Checks entries as a scan finds them against every bound a reader applies, and refuses a
/// nested dataset. The entries of a directory come together, before or after those of its
/// subdirectories but never split by them (the order of a depth-first walk), so only the
/// directories on the way to the current entry are held.
pub(crate) struct Checker<'a> {
    ds: &'a Dataset,
    /// The chunker's largest chunk: a file has at least `size / max_chunk` chunks.
    max_chunk: u32,
    /// The directories on the way to the current entry, outermost (the root, `""`) first:
    /// their path, entry count and least encoded length.
    open: Vec<(Vec<u8>, u64, u64)>,
    files: u64,
}

impl<'a> Checker<'a> {
    pub(crate) fn new(ds: &'a Dataset, max_chunk: u32) -> Checker<'a> {
        Checker {
            ds,
            max_chunk,
            open: vec![(Vec::new(), 0, 0)],
            files: 0,
        }
    }

    /// Checks one entry of a dataset of the workspace `ws`.
    pub(crate) fn push(&mut self, ws: &Workspace, rel: &[u8], shape: Shape) -> Result<()> {
        let ds = self.ds;
        check_entry(self, rel, shape, &mut |rel| nested_pointer(ws, ds, rel))
    }

    /// Checks what needs every entry: the file count, and the directories still open.
    pub(crate) fn finish(mut self) -> Result<()> {
        if self.files > MAX_FILES {
            return Err(over(
                self.ds,
                b"",
                format!(
                    "{} files; a version may hold at most {MAX_FILES}",
                    self.files
                ),
                "split it into several datasets",
            ));
        }
        while !self.open.is_empty() {
            self.close()?;
        }
        Ok(())
    }

    /// Checks the innermost open directory's totals and leaves it.
    fn close(&mut self) -> Result<()> {
        let (dir, count, len) = self.open.pop().expect("a directory is open");
        if count > MAX_ENTRIES {
            return Err(over(
                self.ds,
                &dir,
                format!(
                    "{count} entries in one directory; a directory may hold at most {MAX_ENTRIES}"
                ),
                "spread the files over subdirectories",
            ));
        }
        if len.saturating_add(tree_header_len(count)) > MAX_TREE_LEN {
            return Err(over(
                self.ds,
                &dir,
                format!("the directory's listing would take more than {MAX_TREE_LEN} bytes, the most a tree may hold"),
                "spread the files over subdirectories",
            ));
        }
        Ok(())
    }
}

fn over(ds: &Dataset, rel: &[u8], problem: String, advice: &str) -> Error {
    Error::OverLimit {
        path: ds.display(&String::from_utf8_lossy(rel)),
        problem,
        advice: advice.to_string(),
    }
}

/// Whether `path` is the directory `dir` or lies below it (`""`: the root).
fn within(path: &[u8], dir: &[u8]) -> bool {
    dir.is_empty() || path.starts_with(dir) && (path.len() == dir.len() || path[dir.len()] == b'/')
}

/// One entry's bounds. `is_pointer` says whether a file named `*.dvx` is the pointer of
/// another dataset (its error, if any, is returned as is).
fn check_entry(
    c: &mut Checker<'_>,
    rel: &[u8],
    shape: Shape,
    is_pointer: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let ds = c.ds;
    let (parent, name) = match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&rel[..0], rel),
    };
    dvx_manifest::validate_name(name).map_err(|e| {
        over(
            ds,
            rel,
            e.to_string(),
            "rename it, or list it in the dataset's .dvxignore",
        )
    })?;
    let depth = tree_depth(rel, matches!(shape, Shape::Dir));
    if depth > MAX_DEPTH {
        return Err(over(
            ds,
            rel,
            format!("directories nested {depth} deep; a version may nest at most {MAX_DEPTH}"),
            "flatten the layout, or add a deeper folder as a dataset of its own",
        ));
    }
    let entry_len = match shape {
        Shape::Dir => min_dir_entry_len(name.len()),
        Shape::File(size) => {
            c.files += 1;
            let least = size.div_ceil(u64::from(c.max_chunk.max(1)));
            if least > MAX_CHUNKS {
                return Err(over(
                    ds,
                    rel,
                    format!("a file of {size} bytes makes more than {MAX_CHUNKS} chunks, the most a file may have"),
                    "split the file, or list it in the dataset's .dvxignore",
                ));
            }
            if name.ends_with(POINTER_SUFFIX.as_bytes()) && name.len() > POINTER_SUFFIX.len() {
                is_pointer(rel)?;
            }
            min_file_entry_len(name.len(), size, c.max_chunk)
        }
        Shape::Link(len) => {
            c.files += 1;
            if len == 0 || len > MAX_LINK {
                return Err(over(
                    ds,
                    rel,
                    format!("a symlink target of {len} bytes; targets hold 1 to {MAX_LINK}"),
                    "shorten the link, or list it in the dataset's .dvxignore",
                ));
            }
            link_entry_len(name.len(), len)
        }
    };
    // Leave the directories the entry is not in; enter those on the way to its parent.
    while c.open.len() > 1 && !within(parent, &c.open[c.open.len() - 1].0) {
        c.close()?;
    }
    while c.open[c.open.len() - 1].0.as_slice() != parent {
        let top = &c.open[c.open.len() - 1].0;
        let from = if top.is_empty() { 0 } else { top.len() + 1 };
        let end = parent[from..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(parent.len(), |i| from + i);
        c.open.push((parent[..end].to_vec(), 0, 0));
    }
    let d = c.open.last_mut().expect("the root is open");
    d.1 += 1;
    d.2 = d.2.saturating_add(entry_len);
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
    use crate::scan::{FlatEntry, Listing};
    use dvx_manifest::DatasetKind;

    fn ds() -> Dataset {
        Dataset {
            path: "data".into(),
            kind: DatasetKind::Dir,
        }
    }

    fn check(entries: &[(Vec<u8>, Shape)]) -> Result<()> {
        let ds = ds();
        let mut c = Checker::new(&ds, 256 * 1024);
        for (rel, shape) in entries {
            check_entry(&mut c, rel, *shape, &mut |_| Ok(()))?;
        }
        c.finish()
    }

    /// A directory's totals are checked when the walk leaves it, and at the end for those
    /// still open.
    #[test]
    fn tree_length_per_directory() {
        // Each file's least entry takes about 600 MB (its chunk list): two make a tree over
        // the bound, one does not.
        let big = Shape::File(MAX_CHUNKS * 256 * 1024);
        let entries = |dir: &str, n: usize| -> Vec<(Vec<u8>, Shape)> {
            (0..n)
                .map(|i| (format!("{dir}{i}").into_bytes(), big))
                .collect()
        };
        let mut v = entries("a/", 1);
        v.extend(entries("b/", 1));
        check(&v).expect("one per directory fits");
        let mut v = entries("a/", 2);
        v.extend(entries("b/", 1));
        let err = check(&v).expect_err("left over the bound");
        assert!(
            err.to_string().contains("the most a tree may hold"),
            "{err}"
        );
        assert!(err.to_string().contains("data/a"), "{err}");
        assert!(check(&entries("a/b/", 2)).is_err(), "still open at the end");
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
