//! Choosing what a command works on: a revision (or the worktree) and user paths become the
//! datasets' pointers and the parts of them asked for. Shared by checkout, fetch / pull and
//! `ls`, so they agree on what a path names and on the error for one that names no dataset.

use std::path::{Path, PathBuf};

use dvx_manifest::Pointer;

use crate::error::{Error, Result};
use crate::workspace::Workspace;

/// One dataset chosen.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// Its pointer at the revision (or in the worktree).
    pub pointer: Pointer,
    /// The pointer file's bytes at the revision (None in the worktree).
    pub raw: Option<Vec<u8>>,
    /// The part asked for, below the dataset's base (`""` = the whole dataset).
    pub below: String,
}

/// Where a dataset was looked for, as messages say it.
pub(crate) fn place(rev: Option<&str>) -> String {
    match rev {
        Some(r) => format!("at revision {r}"),
        None => "in the worktree".into(),
    }
}

/// The datasets `paths` (relative to `cwd`) name at `rev`, or in the worktree when `rev` is
/// None; every dataset there when `paths` is empty. A path inside no dataset is an error.
pub(crate) fn select(
    ws: &Workspace,
    rev: Option<&str>,
    paths: &[PathBuf],
    cwd: &Path,
) -> Result<Vec<Target>> {
    let commit = rev.map(|r| ws.repo.resolve(r)).transpose()?;
    let whole = |pointer, raw| Target {
        pointer,
        raw,
        below: String::new(),
    };
    if paths.is_empty() {
        return Ok(match &commit {
            Some(c) => ws
                .pointers_at(c)?
                .into_iter()
                .map(|(p, raw)| whole(p, Some(raw)))
                .collect(),
            None => ws
                .all_worktree_pointers()?
                .into_iter()
                .map(|p| whole(p, None))
                .collect(),
        });
    }
    let mut out = Vec::with_capacity(paths.len());
    for p in paths {
        let rel = ws.dataset_path(cwd, p)?;
        let (pointer, raw, below) =
            ws.find_dataset(commit.as_ref(), &rel)?
                .ok_or_else(|| Error::NotADataset {
                    pointer: dvx_manifest::pointer_path_for(&rel),
                    path: rel.clone(),
                    place: place(rev),
                })?;
        out.push(Target {
            pointer,
            raw,
            below,
        });
    }
    Ok(out)
}
