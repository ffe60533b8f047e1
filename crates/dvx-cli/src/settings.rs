//! Parse, then resolve: flags and environment become [`Settings`] before any library call.

use std::path::PathBuf;

use crate::args::Cli;

/// A usage error found while resolving settings (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Everything commands need to know about how they were invoked.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Working directory (after `-C`).
    pub cwd: PathBuf,
    /// Draw progress bars.
    pub progress: bool,
    /// Store override (`DVX_STORE`).
    pub store: Option<PathBuf>,
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
        let store = std::env::var_os("DVX_STORE")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .map(|p| if p.is_absolute() { p } else { cwd.join(p) });
        let progress = !cli.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
        Ok(Settings {
            cwd,
            progress,
            store,
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
