//! `dvx pull`: fetch, then checkout.

use std::path::PathBuf;

use super::fetch::fetch_targets;
use super::TransferReport;
use crate::audit::AuditOperation;
use crate::checkout::checkout_targets;
use crate::config::CloudEnv;
use crate::error::{Error, ErrorKind, Result};
use crate::import::fetch_from_source;
use crate::progress::Progress;
use crate::targets::select;
use crate::workspace::Workspace;

/// Options of `pull`.
#[derive(Clone, Debug, Default)]
pub struct PullOptions {
    /// Revision (default: the worktree's pointers).
    pub rev: Option<String>,
    /// Datasets or paths inside them.
    pub paths: Vec<PathBuf>,
    /// Directory paths are relative to.
    pub cwd: PathBuf,
    /// Remote name.
    pub remote: Option<String>,
    /// Overwrite unsaved changes.
    pub force: bool,
    /// The user cache (source mirrors): when set, an imported dataset this project's remote
    /// lacks is fetched from its source instead.
    pub cache_dir: Option<PathBuf>,
}

/// Fetch, then checkout.
pub fn pull(
    ws: &Workspace,
    opts: &PullOptions,
    env: &CloudEnv,
    progress: &dyn Progress,
) -> Result<TransferReport> {
    // One choice for both steps: the checkout restores exactly what was fetched.
    let targets = select(ws, opts.rev.as_deref(), &opts.paths, &opts.cwd)?;
    let commit = opts
        .rev
        .as_deref()
        .map(|r| ws.resolve(r))
        .transpose()?
        .map(|c| c.id);
    let (imported, own): (Vec<_>, Vec<_>) = targets
        .iter()
        .cloned()
        .partition(|t| t.pointer.source.is_some() && opts.cache_dir.is_some());
    let mut report = if own.is_empty() && !imported.is_empty() {
        TransferReport::default()
    } else {
        let commits = vec![commit.clone(); own.len()];
        fetch_targets(
            ws,
            &own,
            &commits,
            AuditOperation::Pull,
            opts.remote.as_deref(),
            env,
            progress,
        )?
    };
    // Imported datasets one by one: the remote may lack one, which then comes from its source.
    for t in &imported {
        let fetched = fetch_targets(
            ws,
            std::slice::from_ref(t),
            std::slice::from_ref(&commit),
            AuditOperation::Pull,
            opts.remote.as_deref(),
            env,
            progress,
        );
        let lacks =
            |e: &Error| matches!(e.kind(), ErrorKind::MissingObject | ErrorKind::NoSuchRemote);
        let r = match fetched {
            Err(e) if lacks(&e) => {
                let cache = opts.cache_dir.as_deref().expect("partitioned on it");
                let r = fetch_from_source(ws, &t.pointer, cache, env, progress)?;
                let src = t.pointer.source.as_ref().expect("partitioned on it");
                report.fallbacks.push(format!(
                    "{}: this project's remote lacks it; fetched from its source {} (commit {})",
                    t.pointer.path,
                    src.url,
                    &src.commit[..12.min(src.commit.len())]
                ));
                r
            }
            r => r?,
        };
        report.datasets += r.datasets;
        report.files += r.files;
        report.bytes += r.bytes;
        report.transferred += r.transferred;
        report.objects += r.objects;
        report.requests += r.requests;
        report.chunks += r.chunks;
    }
    report.checkout = Some(checkout_targets(ws, targets, opts.force, progress)?);
    Ok(report)
}
