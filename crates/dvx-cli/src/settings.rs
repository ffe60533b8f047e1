//! Parse, then resolve: flags and environment become [`Settings`] before any library call.

use std::path::PathBuf;

use crate::args::Cli;

/// A usage error found while resolving settings (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Everything commands need to know about how they were invoked.
#[derive(Clone)]
pub struct Settings {
    /// Working directory (after `-C`).
    pub cwd: PathBuf,
    /// Draw progress bars.
    pub progress: bool,
    /// Store override (`DVX_STORE`).
    pub store: Option<PathBuf>,
    /// Cloud settings from `AWS_*` (and the shared credentials file), `GOOGLE_*` and
    /// `AZURE_STORAGE_*` variables.
    pub cloud: dvx_core::CloudEnv,
    /// The user cache (mirrors of import sources, the store of `dvx get` outside a
    /// repository): `$DVX_CACHE_DIR`, else `$XDG_CACHE_HOME/dvx`, else `~/.cache/dvx`.
    pub cache_dir: PathBuf,
}

impl Settings {
    /// Resolves flags and environment.
    pub fn resolve(cli: &Cli) -> anyhow::Result<Settings> {
        let base = std::env::current_dir()
            .map_err(|e| UsageError(format!("cannot read the current directory: {e}")))?;
        let cwd = match &cli.dir {
            Some(d) if d.is_absolute() => d.clone(),
            Some(d) => base.join(d),
            None => base,
        };
        if !cwd.is_dir() {
            return Err(UsageError(format!("{}: no such directory", cwd.display())).into());
        }
        let store = dvx_core::env::store_dir(&cwd);
        let cache_dir = dvx_core::env::cache_dir(&cwd).ok_or_else(|| {
            UsageError("no cache directory: set DVX_CACHE_DIR (or XDG_CACHE_HOME or HOME)".into())
        })?;
        let progress = !cli.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
        Ok(Settings {
            cwd,
            progress,
            store,
            cloud: dvx_core::env::cloud(),
            cache_dir,
        })
    }

    /// Workspace options for dvx-core.
    pub fn workspace_options(&self) -> dvx_core::WorkspaceOptions {
        dvx_core::WorkspaceOptions {
            start: self.cwd.clone(),
            store: self.store.clone(),
            store_options: Default::default(),
        }
    }

    /// Opens the workspace.
    pub fn workspace(&self) -> anyhow::Result<dvx_core::Workspace> {
        Ok(dvx_core::Workspace::open(&self.workspace_options())?)
    }
}
