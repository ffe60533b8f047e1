//! Fetching from another local store instead of a remote: the store of a local source
//! repository that has no remote (`dvx get ../registry data`). The same choice of chunks as a
//! fetch ([`super::fetch::needed_chunks`]), every chunk and tree verified as it is read.

use std::collections::HashMap;
use std::time::Instant;

use dvx_manifest::Tree;
use dvx_store::{Store, TreeId};

use super::fetch::needed_chunks;
use super::TransferReport;
use crate::error::{Error, Result};
use crate::progress::{Progress, Unit};
use crate::targets::Target;
use crate::treeio::{read_tree, TreeWalk};

/// Copies what `targets` need from `src` into `dst`: trees of the datasets, chunks of the
/// selected parts; trees written last, children first, so a root tree present in `dst` is
/// complete. `label` names the source store in the report.
pub(crate) fn copy_from_store(
    src: &Store,
    dst: &Store,
    targets: &[Target],
    label: &str,
    progress: &dyn Progress,
) -> Result<TransferReport> {
    let started = Instant::now();
    let mut report = TransferReport {
        remote: label.to_string(),
        ..TransferReport::default()
    };
    let mut trees: HashMap<TreeId, Tree> = HashMap::new();
    let mut copied: Vec<(TreeId, Vec<u8>)> = Vec::new();
    for t in targets {
        let mut walk = TreeWalk::new([t.pointer.id]);
        while let Some(dir) = walk.next()? {
            if trees.contains_key(&dir.id) {
                continue;
            }
            let tree = if dst.has_tree(&dir.id) {
                read_tree(dst, &dir.id)?
            } else {
                let tree = read_tree(src, &dir.id)?;
                copied.push((dir.id, src.tree_object_bytes(&dir.id)?));
                report.objects += 1;
                tree
            };
            walk.enter_all(&dir, &tree);
            trees.insert(dir.id, tree);
        }
        report.add_version(&t.pointer);
    }
    let needed = needed_chunks(dst, &trees, targets)?;
    progress.begin("copying", Some(needed.len() as u64), Unit::Items);
    let writer = dst.writer().cached();
    let mut result = Ok(());
    for (c, files) in &needed {
        let data = match src.read_chunk(c) {
            Ok(d) => d,
            Err(e) => {
                result = Err(Error::DamagedFile {
                    file: files.first().cloned().unwrap_or_default(),
                    source: e,
                });
                break;
            }
        };
        report.transferred += data.len() as u64;
        report.objects += 1;
        report.chunks += 1;
        if let Err(e) = writer.add_chunk_with_id(*c, &data) {
            result = Err(e.into());
            break;
        }
        progress.advance(1);
    }
    progress.end();
    // Keep what was copied, even after an error.
    let finished = writer.finish();
    result?;
    finished?;
    for (id, obj) in copied.iter().rev() {
        dst.put_tree_object(id, obj)?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// True when `store` already holds everything `targets` need (every tree, every chunk of the
/// selected parts): then no remote needs to be opened at all (`dvx get --offline` of a version
/// fetched before, with the source's remote out of reach).
pub(crate) fn complete_locally(store: &Store, targets: &[Target]) -> Result<bool> {
    let mut trees: HashMap<TreeId, Tree> = HashMap::new();
    for t in targets {
        let mut walk = TreeWalk::new([t.pointer.id]);
        while let Some(dir) = walk.next()? {
            if trees.contains_key(&dir.id) {
                continue;
            }
            if !store.has_tree(&dir.id) {
                return Ok(false);
            }
            let tree = read_tree(store, &dir.id)?;
            walk.enter_all(&dir, &tree);
            trees.insert(dir.id, tree);
        }
    }
    Ok(needed_chunks(store, &trees, targets)?.is_empty())
}
