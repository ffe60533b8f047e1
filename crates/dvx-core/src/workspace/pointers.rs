//! Finding pointers: in the worktree (walk plus git's index) and at a commit, with the
//! overlap check every reader applies.

use std::path::Path;

use dvx_manifest::{pointer_path_for, Pointer, POINTER_SUFFIX};

use dvx_manifest::DatasetKind;

use super::{join_rel, Found, Workspace};
use crate::error::{Error, Result};
use crate::fsx;

impl Workspace {
    /// Pointer files (repo-relative) in the worktree, sorted: the files named `*.dvx` the walk
    /// finds (honouring `.gitignore`s, so ignored folders such as the datasets themselves are
    /// not walked), plus every pointer in git's index that is in the worktree, since an ignore
    /// rule must not hide a pointer dvx staged.
    pub fn worktree_pointers(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let walker = ignore::WalkBuilder::new(&self.root)
            .hidden(false)
            .parents(false)
            .git_global(false)
            .require_git(false)
            .filter_entry(|e| {
                let n = e.file_name();
                n != ".git" && n != ".dvx"
            })
            .build();
        for ent in walker {
            let ent = ent.map_err(|e| walk_error(self.root(), e))?;
            // Anything but a folder named `*.dvx` is a pointer: one that is a link or a FIFO
            // is refused when read, never silently skipped.
            if ent.file_type().is_none_or(|t| t.is_dir()) {
                continue;
            }
            let name = ent.file_name().to_string_lossy();
            if !name.ends_with(POINTER_SUFFIX) || name.len() == POINTER_SUFFIX.len() {
                continue;
            }
            if let Ok(rel) = ent.path().strip_prefix(&self.root) {
                if let Some(s) = rel.to_str() {
                    out.push(s.replace('\\', "/"));
                }
            }
        }
        for f in self.repo.index_paths_with_suffix(POINTER_SUFFIX)? {
            if is_pointer_name(&f) && matches!(fsx::lstat(&self.abs(&f))?, Some(m) if !m.is_dir()) {
                out.push(f);
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Reads the worktree's pointer of a dataset, if present.
    pub fn worktree_pointer(&self, dataset: &str) -> Result<Option<Pointer>> {
        let file = dvx_manifest::pointer_path_for(dataset);
        let path = self.abs(&file);
        match fsx::read_small(&path, dvx_manifest::limits::MAX_POINTER_LEN) {
            Ok(bytes) => Ok(Some(Pointer::parse(&file, &bytes)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    /// Every pointer in the worktree, parsed; refuses two that track overlapping paths
    /// ([`Error::OverlappingDatasets`]), which no command can apply both of.
    pub fn all_worktree_pointers(&self) -> Result<Vec<Pointer>> {
        let out = self.all_worktree_pointers_unchecked()?;
        check_overlap(out.iter(), "in the worktree")?;
        Ok(out)
    }

    /// Every pointer in the worktree, parsed, overlapping or not (gc and fsck must see every
    /// version).
    pub fn all_worktree_pointers_unchecked(&self) -> Result<Vec<Pointer>> {
        let mut out = Vec::new();
        for f in self.worktree_pointers()? {
            let path = self.abs(&f);
            let bytes = fsx::read_small(&path, dvx_manifest::limits::MAX_POINTER_LEN)
                .map_err(|e| Error::io("read", &path, e))?;
            out.push(Pointer::parse(&f, &bytes)?);
        }
        Ok(out)
    }

    /// The pointer of a dataset at a commit, if present there.
    pub fn pointer_at(
        &self,
        commit: &dvx_git::Commit,
        dataset: &str,
    ) -> Result<Option<(Pointer, Vec<u8>)>> {
        let file = dvx_manifest::pointer_path_for(dataset);
        match self.repo.read_file(commit, &file)? {
            Some(bytes) => Ok(Some((Pointer::parse(&file, &bytes)?, bytes))),
            None => Ok(None),
        }
    }

    /// Finds the dataset holding repo-relative `path` (the dataset itself or anything below
    /// it) in the worktree (`commit` None) or at a commit. Returns the pointer, its raw bytes
    /// (at a commit) and the path below the dataset's base ("" for the whole dataset).
    pub fn find_dataset(
        &self,
        commit: Option<&dvx_git::Commit>,
        path: &str,
    ) -> Result<Option<Found>> {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        for n in (1..=parts.len()).rev() {
            let prefix = parts[..n].join("/");
            let found = match commit {
                Some(c) => self.pointer_at(c, &prefix)?.map(|(p, raw)| (p, Some(raw))),
                None => self.worktree_pointer(&prefix)?.map(|p| (p, None)),
            };
            if let Some((p, raw)) = found {
                self.refuse_outer(commit, &parts[..n], &p)?;
                let below = parts[n..].join("/");
                let rel = match p.kind {
                    DatasetKind::Dir => below,
                    DatasetKind::File if below.is_empty() => String::new(),
                    DatasetKind::File => join_rel(parts[n - 1], &below),
                };
                return Ok(Some((p, raw, rel)));
            }
        }
        Ok(None)
    }

    /// Refuses when a dataset above `inner` (whose path is `parts`) also has a pointer.
    fn refuse_outer(
        &self,
        commit: Option<&dvx_git::Commit>,
        parts: &[&str],
        inner: &Pointer,
    ) -> Result<()> {
        for n in (1..parts.len()).rev() {
            let outer = parts[..n].join("/");
            let file = pointer_path_for(&outer);
            let present = match commit {
                Some(c) => self.repo.read_file(c, &file)?.is_some(),
                None => fsx::lstat(&self.abs(&file))?.is_some_and(|m| m.is_file()),
            };
            if present {
                return Err(Error::OverlappingDatasets {
                    outer,
                    outer_pointer: file,
                    inner: inner.path.clone(),
                    inner_pointer: inner.file(),
                    place: match commit {
                        Some(c) => format!("at {}", c.id),
                        None => "in the worktree".into(),
                    },
                });
            }
        }
        Ok(())
    }

    /// Every pointer at a commit; refuses two that track overlapping paths
    /// ([`Error::OverlappingDatasets`]).
    pub fn pointers_at(&self, commit: &dvx_git::Commit) -> Result<Vec<(Pointer, Vec<u8>)>> {
        let out = self.pointers_at_unchecked(commit)?;
        check_overlap(out.iter().map(|(p, _)| p), &format!("at {}", commit.id))?;
        Ok(out)
    }

    /// Every pointer at a commit, overlapping or not (gc and fsck must see every version).
    pub fn pointers_at_unchecked(
        &self,
        commit: &dvx_git::Commit,
    ) -> Result<Vec<(Pointer, Vec<u8>)>> {
        let mut out = Vec::new();
        for f in self.repo.list_files_with_suffix(commit, POINTER_SUFFIX)? {
            if !is_pointer_name(&f) {
                continue;
            }
            if let Some(bytes) = self.repo.read_file(commit, &f)? {
                out.push((Pointer::parse(&f, &bytes)?, bytes));
            }
        }
        Ok(out)
    }
}

/// True for a pointer file path: named `<something>.dvx`, not just `.dvx`.
fn is_pointer_name(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.len() > POINTER_SUFFIX.len() && name.ends_with(POINTER_SUFFIX)
}

/// Refuses pointers of which one tracks a path inside another's (`data.dvx` and
/// `data/sub.dvx`): both would be applied to the same files.
fn check_overlap<'a>(pointers: impl Iterator<Item = &'a Pointer>, place: &str) -> Result<()> {
    let mut paths: Vec<&Pointer> = pointers.collect();
    paths.sort_by(|a, b| a.path.cmp(&b.path));
    // Sorted, a dataset's nested ones follow it, possibly after unrelated siblings such as
    // `data-x` (`-` sorts before `/`): compare each with every earlier one still a prefix.
    let mut open: Vec<&Pointer> = Vec::new();
    for p in paths {
        while let Some(top) = open.last() {
            if p.path.starts_with(&format!("{}/", top.path)) {
                return Err(Error::OverlappingDatasets {
                    outer: top.path.clone(),
                    outer_pointer: top.file(),
                    inner: p.path.clone(),
                    inner_pointer: p.file(),
                    place: place.to_string(),
                });
            }
            if p.path.starts_with(top.path.as_str()) {
                break;
            }
            open.pop();
        }
        open.push(p);
    }
    Ok(())
}

/// A failed step of a directory walk, as the I/O error it wraps (with the path it names).
pub(crate) fn walk_error(base: &Path, e: ignore::Error) -> Error {
    let path = walk_error_path(&e).unwrap_or(base).to_path_buf();
    let detail = e.to_string();
    match e.into_io_error() {
        Some(io) => Error::io("list", path, io),
        None => Error::io("list", path, std::io::Error::other(detail)),
    }
}

fn walk_error_path(e: &ignore::Error) -> Option<&Path> {
    match e {
        ignore::Error::WithPath { path, .. } => Some(path),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            walk_error_path(err)
        }
        _ => None,
    }
}
