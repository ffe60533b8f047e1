//! Fetching from another local store instead of a remote: the store of a local source
//! repository that has no remote (`dvx get ../registry data`). The same walk as a fetch
//! ([`super::wanted`]), every chunk and tree verified as it is read.

use std::path::Path;
use std::time::Instant;

use dvx_store::Store;

use super::fetch::{needed_chunks, TreeSource};
use super::wanted::{files_needing, walk_selected, PendingTrees, Walk};
use super::TransferReport;
use crate::error::{Error, Result};
use crate::progress::{Progress, Unit};
use crate::targets::Target;
use crate::treeio::read_tree;

/// Copies what `targets` need from `src` into `dst`: trees of the datasets, chunks of the
/// selected parts; trees written last, children first, so a root tree present in `dst` is
/// complete. `label` names the source store in the report; temporary files go to `spool_dir`.
pub(crate) fn copy_from_store(
    src: &Store,
    dst: &Store,
    spool_dir: &Path,
    targets: &[Target],
    label: &str,
    progress: &dyn Progress,
) -> Result<TransferReport> {
    let started = Instant::now();
    let mut report = TransferReport {
        remote: label.to_string(),
        ..TransferReport::default()
    };
    let mut pending = PendingTrees::new(spool_dir)?;
    let (needed, count) = needed_chunks(
        dst,
        TreeSource::Store(src),
        targets,
        &mut pending,
        spool_dir,
    )?;
    for t in targets {
        report.add_version(&t.pointer);
    }
    report.objects += pending.len() as u64;
    progress.begin("copying", Some(count), Unit::Items);
    let writer = dst.writer().cached();
    let copied = (|| {
        let mut ids = needed.iter()?;
        while let Some(c) = ids.next()? {
            let data = match src.read_chunk(&c) {
                Ok(d) => d,
                Err(e) => {
                    let files = files_needing(targets, dst, &pending, &mut |x| Ok(*x == c))?;
                    return Err(Error::DamagedFile {
                        file: files.into_iter().next().unwrap_or_default(),
                        source: e,
                    });
                }
            };
            report.transferred += data.len() as u64;
            report.objects += 1;
            report.chunks += 1;
            writer.add_chunk_with_id(c, &data)?;
            progress.advance(1);
        }
        Ok(())
    })();
    progress.end();
    // Keep what was copied, even after an error.
    let finished = writer.finish();
    copied?;
    finished?;
    pending.write_to(dst)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// True when `store` already holds everything `targets` need (every tree, every chunk of the
/// selected parts): then no remote needs to be opened at all (`dvx get --offline` of a version
/// fetched before, with the source's remote out of reach).
pub(crate) fn complete_locally(store: &Store, targets: &[Target]) -> Result<bool> {
    let complete = std::cell::Cell::new(true);
    walk_selected(
        targets,
        Walk::Load,
        &mut |_, dir| {
            if !store.has_tree(&dir.id) {
                complete.set(false);
                return Ok(None);
            }
            read_tree(store, &dir.id).map(Some)
        },
        &mut |f| {
            for c in f.chunks {
                if !store.readable(&c.id)? {
                    complete.set(false);
                }
            }
            Ok(())
        },
    )?;
    Ok(complete.get())
}
