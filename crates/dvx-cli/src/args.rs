//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// dvx: data version control next to git.
#[derive(Debug, Parser)]
#[command(name = "dvx", version, about = "Version datasets next to your code: chunked, deduplicated, tied to git commits", long_about = None)]
pub struct Cli {
    /// No progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Run as if dvx was started in this directory.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set up dvx in this git repository (.dvx/ and the local store).
    Init,
    /// Store a directory or file and write its pointer `<path>.dvx` (staged in git).
    Add {
        /// Directories or files to version.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// A message describing this version.
        #[arg(short, long)]
        message: Option<String>,
        /// Free metadata kept with the version (repeatable).
        #[arg(long = "meta", value_name = "KEY=VALUE")]
        meta: Vec<String>,
        /// Do not stage the pointer and .gitignore in git.
        #[arg(long)]
        no_stage: bool,
    },
    /// Show what changed on disk since each dataset's pointer.
    Status {
        /// Datasets to check (default: all).
        paths: Vec<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Restore datasets to the version of a revision (or of the worktree's pointers).
    Checkout {
        /// `[<rev>] [<path>...]`
        #[arg(value_name = "REV|PATH")]
        args: Vec<String>,
        /// Paths after `--`.
        #[arg(last = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Overwrite files whose content is not saved in the store.
        #[arg(short, long)]
        force: bool,
    },
    /// List the files of datasets at a revision.
    Ls {
        /// `[<rev>] [<path>]`
        #[arg(value_name = "REV|PATH")]
        args: Vec<String>,
        /// Paths after `--`.
        #[arg(last = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Print one file of a dataset at a revision: `dvx cat HEAD~1:data/a.csv`.
    Cat {
        /// `<rev>:<path>`, the path relative to the repository root.
        spec: String,
    },
    /// Print a dataset's version id.
    Id {
        /// `[<rev>] <path>`
        #[arg(value_name = "REV|PATH", required = true)]
        args: Vec<String>,
    },
    /// Show every commit that changed a dataset.
    Log {
        /// Dataset (default: all).
        path: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show added, removed and modified files between versions.
    Diff {
        /// `[<rev-a> [<rev-b>]] [<path>...]`
        #[arg(value_name = "REV|PATH")]
        args: Vec<String>,
        /// Paths after `--`.
        #[arg(last = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}
