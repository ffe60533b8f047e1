//! Phase 1 of a checkout for one dataset: the disk and the target version merged entry by
//! entry ([`merge_with_version`]), everything that could stop the checkout half-way checked,
//! and the steps of phase 2 written to a spool in walk order. Nothing on disk is changed.

use std::io::Read;
use std::path::Path;

use dvx_store::Store;

use super::{io_path, saved, Plan};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::scan::merge::{merge_with_version, Sides};
use crate::scan::{hash_file, is_below, rel_str, scan_dataset, FlatEntry, Listing};
use crate::spool::{self, array, get_bytes, put_bytes, Record};
use crate::statcache::StatCache;
use crate::targets::Target;
use crate::workspace::{Dataset, Workspace};

/// Files at least this big are written first, largest first (held in memory: there are few
/// of them), so that none starts last and runs alone; the others are written in walk order.
pub(super) const BIG: u64 = 1 << 20;

/// One step of phase 2, in walk order.
#[derive(Debug)]
pub(super) enum Step {
    /// Remove the file or link at this path.
    RemoveFile(Vec<u8>),
    /// Remove the directory at this path, once what is below it is gone.
    RemoveDir(Vec<u8>),
    /// Make (or keep) the directory at this path.
    MakeDir(Vec<u8>),
    /// Write a file or link smaller than [`BIG`] over what is on disk now.
    Write(Write),
}

/// A file or link to write.
#[derive(Debug)]
pub(super) struct Write {
    pub(super) rel: Vec<u8>,
    pub(super) target: FlatEntry,
    /// What the disk holds there now (its chunks may be copied from it).
    pub(super) current: Option<FlatEntry>,
}

impl Step {
    pub(super) fn rel(&self) -> &[u8] {
        match self {
            Step::RemoveFile(rel) | Step::RemoveDir(rel) | Step::MakeDir(rel) => rel,
            Step::Write(w) => &w.rel,
        }
    }
}

impl Record for Step {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Step::RemoveFile(rel) => {
                out.push(0);
                put_bytes(out, rel);
            }
            Step::RemoveDir(rel) => {
                out.push(1);
                put_bytes(out, rel);
            }
            Step::MakeDir(rel) => {
                out.push(2);
                put_bytes(out, rel);
            }
            Step::Write(w) => {
                out.push(3);
                put_bytes(out, &w.rel);
                w.target.encode(out);
                w.current.encode(out);
            }
        }
    }

    fn decode(r: &mut impl Read) -> std::io::Result<Step> {
        Ok(match array::<1>(r)?[0] {
            0 => Step::RemoveFile(get_bytes(r)?),
            1 => Step::RemoveDir(get_bytes(r)?),
            2 => Step::MakeDir(get_bytes(r)?),
            _ => Step::Write(Write {
                rel: get_bytes(r)?,
                target: FlatEntry::decode(r)?,
                current: Option::decode(r)?,
            }),
        })
    }
}

/// A tracked directory the target replaces by a file or link: it must empty completely when
/// its tracked entries go. The scan's entries below it are counted as the merge passes them.
struct Watch {
    rel: Vec<u8>,
    want: &'static str,
    scanned: u64,
}

/// Plans the checkout of `target`, its steps pushed to `steps`.
pub(super) fn plan(
    ws: &Workspace,
    store: &Store,
    cache: &StatCache,
    target: Target,
    force: bool,
    steps: &mut spool::Writer<Step>,
    progress: &dyn Progress,
) -> Result<Plan> {
    let Target {
        pointer,
        raw: raw_pointer,
        below,
    } = target;
    // Restoring a part of a dataset leaves its pointer alone.
    let raw_pointer = if below.is_empty() { raw_pointer } else { None };
    if !store.has_tree(&pointer.id) {
        return Err(Error::MissingVersion {
            path: pointer.path.clone(),
            id: pointer.id,
        });
    }
    let ds = Dataset::of(&pointer);
    // Refuse early (before anything is written) if a directory above the dataset is a link.
    check_parents(ws, &ds)?;
    let base = ws.abs(&ds.base());
    let only = ds.only();
    // A file or link where the dataset's directory belongs holds no dataset files; with
    // --force it is replaced (a link is its target string: nothing is lost). Without, the
    // scan refuses it.
    let disk = !(force && only.is_none() && crate::fsx::lstat(&base)?.is_some_and(|m| !m.is_dir()));
    let mut p = Planner {
        ws,
        store,
        cache,
        ds: &ds,
        base: &base,
        steps,
        plan: Plan {
            part: (!below.is_empty()).then(|| ds.display(&below)),
            ds: ds.clone(),
            pointer: pointer.clone(),
            raw_pointer,
            run: Default::default(),
            big: Vec::new(),
            writes: 0,
            write_bytes: 0,
            unchanged: 0,
            unsaved: Vec::new(),
        },
        watch: None,
    };
    let (mut found_below, mut stored, mut foreign) = (false, 0u64, false);
    let sides = Sides { disk, chunks: true };
    merge_with_version(
        ws,
        &ds,
        store,
        &pointer.id,
        cache,
        sides,
        progress,
        &mut |pair| {
            let rel = pair.rel;
            if let Some(only) = &only {
                if pair.stored.is_some() {
                    stored += 1;
                    foreign |= rel != *only;
                }
            }
            found_below |= !below.is_empty() && rel == below.as_bytes() && pair.stored.is_some();
            let cur = pair.disk.map(|s| s.entry).filter(|_| in_part(&rel, &below));
            let tgt = pair.stored.map(|s| s.entry).filter(|t| {
                in_part(&rel, &below) || (above_part(&rel, &below) && matches!(t, FlatEntry::Dir))
            });
            p.visit(rel, cur, tgt)
        },
    )?;
    p.end_watch()?;
    if only.is_some() && (stored != 1 || foreign) {
        return Err(Error::Store(dvx_store::Error::CorruptTree {
            id: pointer.id,
            detail: format!(
                "a single-file dataset must hold exactly the entry {:?}",
                rel_str(&only.unwrap_or_default())
            ),
        }));
    }
    if !below.is_empty() && !found_below {
        return Err(Error::NoSuchPath {
            path: ds.display(&below),
            place: format!("in dataset {} at that version", ds.path),
            hint: String::new(),
        });
    }
    let mut plan = p.plan;
    plan.run = p.steps.mark();
    plan.big.sort_by_key(|w| std::cmp::Reverse(w.target.size()));
    Ok(plan)
}

struct Planner<'a> {
    ws: &'a Workspace,
    store: &'a Store,
    cache: &'a StatCache,
    ds: &'a Dataset,
    base: &'a Path,
    steps: &'a mut spool::Writer<Step>,
    plan: Plan,
    watch: Option<Watch>,
}

impl Planner<'_> {
    /// One path: `cur` on disk (as scanned), `tgt` in the target.
    fn visit(
        &mut self,
        rel: Vec<u8>,
        cur: Option<FlatEntry>,
        tgt: Option<FlatEntry>,
    ) -> Result<()> {
        if let Some(w) = &mut self.watch {
            if is_below(&rel, &w.rel) {
                w.scanned += u64::from(cur.is_some());
            } else {
                self.end_watch()?;
            }
        }
        match (cur, tgt) {
            (None, None) => Ok(()),
            (Some(cur), tgt) => {
                let replaced = match &tgt {
                    None => true,
                    Some(t) => {
                        !t.same_content(&cur)
                            && !matches!((t, &cur), (FlatEntry::File { digest: a, .. }, FlatEntry::File { digest: b, .. }) if a == b)
                    }
                };
                if replaced && !saved(self.store, &cur)? {
                    self.plan.unsaved.push(self.ds.display(&rel_str(&rel)));
                }
                let dir = matches!(cur, FlatEntry::Dir);
                let kind_changes = tgt
                    .as_ref()
                    .is_none_or(|t| std::mem::discriminant(t) != std::mem::discriminant(&cur));
                if kind_changes {
                    self.steps.push(&if dir {
                        Step::RemoveDir(rel.clone())
                    } else {
                        Step::RemoveFile(rel.clone())
                    })?;
                }
                match tgt {
                    None => Ok(()),
                    Some(FlatEntry::Dir) => self.steps.push(&Step::MakeDir(rel)),
                    Some(t) => {
                        if dir {
                            self.watch = Some(Watch {
                                rel: rel.clone(),
                                want: kind_name(&t),
                                scanned: 0,
                            });
                        }
                        if cur.same_content(&t) {
                            self.plan.unchanged += 1;
                            Ok(())
                        } else {
                            self.write(rel, t, Some(cur))
                        }
                    }
                }
            }
            (None, Some(t)) => {
                self.in_the_way(&rel, &t)?;
                match t {
                    FlatEntry::Dir => self.steps.push(&Step::MakeDir(rel)),
                    t => self.write(rel, t, None),
                }
            }
        }
    }

    fn write(&mut self, rel: Vec<u8>, target: FlatEntry, current: Option<FlatEntry>) -> Result<()> {
        self.plan.writes += 1;
        self.plan.write_bytes += target.size();
        let w = Write {
            rel,
            target,
            current,
        };
        if w.target.size() >= BIG {
            self.plan.big.push(w);
            Ok(())
        } else {
            self.steps.push(&Step::Write(w))
        }
    }

    /// What the scan did not see (ignored by .dvxignore) but stands where the target writes
    /// `t`. Files the user keeps out of dvx are never removed, with or without --force; a
    /// conflict found only in phase 2 would leave the dataset half-changed, with its
    /// .dvxignore perhaps gone, so that a rerun no longer saw those files as ignored.
    fn in_the_way(&mut self, rel: &[u8], t: &FlatEntry) -> Result<()> {
        let ds = self.ds;
        let path = io_path(self.base, rel)?;
        let Some(m) = crate::fsx::lstat(&path)? else {
            return Ok(());
        };
        match t {
            // An ignored folder where the version has a folder: they merge.
            FlatEntry::Dir if m.is_dir() => Ok(()),
            FlatEntry::Dir => Err(Error::IgnoredInTheWay {
                path: ds.display(&rel_str(rel)),
                want: "directory",
                files: vec![ds.display(&rel_str(rel))],
            }),
            // The scan listed nothing below it.
            _ if m.is_dir() => Err(Error::IgnoredInTheWay {
                path: ds.display(&rel_str(rel)),
                want: kind_name(t),
                files: untracked_below(&path, ds, rel, &Listing::new())?,
            }),
            _ if m.is_file() => {
                let (digest, chunks, size) =
                    hash_file(&path, self.store.config().chunker, None, &crate::NoProgress)?;
                let e = FlatEntry::File {
                    size,
                    digest,
                    executable: false,
                    chunks,
                };
                if !saved(self.store, &e)? {
                    self.plan.unsaved.push(ds.display(&rel_str(rel)));
                }
                Ok(())
            }
            // An ignored link is its target string: replacing it loses nothing.
            _ => Ok(()),
        }
    }

    /// Checks the watched directory, all of whose scanned entries have passed: anything more
    /// on disk below it was not listed by the scan (ignored, or a temporary file of a dvx
    /// process still running) and would keep it from being removed.
    fn end_watch(&mut self) -> Result<()> {
        let Some(w) = self.watch.take() else {
            return Ok(());
        };
        let path = io_path(self.base, &w.rel)?;
        if count_below(&path)? <= w.scanned {
            return Ok(());
        }
        // Rare: name the entries, from a listing of the whole scan.
        let listing = scan_dataset(
            self.ws,
            self.ds,
            self.store,
            self.cache,
            None,
            &crate::NoProgress,
        )?;
        let files = untracked_below(&path, self.ds, &w.rel, &listing)?;
        if files.is_empty() {
            return Ok(());
        }
        Err(Error::IgnoredInTheWay {
            path: self.ds.display(&rel_str(&w.rel)),
            want: w.want,
            files,
        })
    }
}

fn kind_name(e: &FlatEntry) -> &'static str {
    match e {
        FlatEntry::File { .. } => "file",
        FlatEntry::Symlink { .. } => "symlink",
        FlatEntry::Dir => "directory",
    }
}

/// How many entries the directory `path` holds, at any depth (links are not followed).
fn count_below(path: &Path) -> Result<u64> {
    let mut n = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, e))?;
        for ent in entries {
            let ent = ent.map_err(|e| Error::io("list", &dir, e))?;
            n += 1;
            if ent
                .file_type()
                .map_err(|e| Error::io("stat", ent.path(), e))?
                .is_dir()
            {
                stack.push(ent.path());
            }
        }
    }
    Ok(n)
}

/// The entries below the directory `path` (dataset-relative `rel`) that `listed` does not
/// hold: ignored by .dvxignore, or temporary files of a dvx process still running.
fn untracked_below(path: &Path, ds: &Dataset, rel: &[u8], listed: &Listing) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![(path.to_path_buf(), rel.to_vec())];
    while let Some((dir, rel)) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, e))?;
        for ent in entries {
            let ent = ent.map_err(|e| Error::io("list", &dir, e))?;
            let mut child = rel.clone();
            child.push(b'/');
            child.extend_from_slice(&crate::fsx::os_bytes(&ent.file_name())?);
            let is_dir = ent
                .file_type()
                .map_err(|e| Error::io("stat", ent.path(), e))?
                .is_dir();
            if !listed.contains_key(&child) {
                out.push(ds.display(&rel_str(&child)));
            } else if is_dir {
                stack.push((ent.path(), child));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Every directory above the dataset's own directory (and, for a single-file dataset, its
/// parent) must be a real directory if it exists: never write or delete through a link.
fn check_parents(ws: &Workspace, ds: &Dataset) -> Result<()> {
    let mut above = ws.root().to_path_buf();
    let base_rel = ds.base();
    let comps: Vec<&str> = base_rel.split('/').filter(|c| !c.is_empty()).collect();
    let upto = if ds.only().is_some() {
        comps.len()
    } else {
        comps.len().saturating_sub(1)
    };
    for c in &comps[..upto] {
        above.push(c);
        if let Some(m) = crate::fsx::lstat(&above)? {
            if !m.is_dir() {
                return Err(Error::UnsafeParent { path: above });
            }
        }
    }
    Ok(())
}

/// `rel` is `below` or inside it (everything is inside an empty `below`).
fn in_part(rel: &[u8], below: &str) -> bool {
    below.is_empty() || rel == below.as_bytes() || is_below(rel, below.as_bytes())
}

/// `rel` is a directory on the way to `below`.
fn above_part(rel: &[u8], below: &str) -> bool {
    is_below(below.as_bytes(), rel)
}
