//! `dvx pull`: fetch, then checkout.

use std::path::PathBuf;

use super::fetch::fetch_targets;
use super::TransferReport;
use crate::checkout::checkout_targets;
use crate::config::CloudEnv;
use crate::error::Result;
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
    let mut report = fetch_targets(ws, &targets, opts.remote.as_deref(), env, progress)?;
    report.checkout = Some(checkout_targets(ws, targets, opts.force, progress)?);
    Ok(report)
}
