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

/// `dvx remote ...`
#[derive(Debug, Subcommand)]
pub enum RemoteAction {
    /// Add a remote: a folder path, s3://bucket/prefix, gs://bucket/prefix,
    /// az://container/prefix, or https://host/path (read-only).
    Add {
        /// Name, e.g. origin.
        name: String,
        /// Folder, s3://, gs://, az:// or https:// URL.
        url: String,
        /// Make it the default remote.
        #[arg(long)]
        default: bool,
        /// Encrypt everything on it: creates its key (or joins an encrypted remote) with the
        /// passphrase from DVX_PASSPHRASE, DVX_PASSPHRASE_FILE, `passphrase_command` in
        /// .dvx/config.local.toml, or a prompt.
        #[arg(long)]
        encrypt: bool,
    },
    /// List remotes.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Remove a remote.
    Remove {
        /// Name.
        name: String,
    },
    /// Set the default remote.
    Default {
        /// Name.
        name: String,
    },
}

/// `dvx key ...`: the passphrases of an encrypted remote.
#[derive(Debug, Subcommand)]
pub enum KeyAction {
    /// List the remote's key objects (one per passphrase).
    List {
        /// Remote name (default: the default remote).
        #[arg(short, long)]
        remote: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Add a passphrase: the current one (DVX_PASSPHRASE, ...) opens the key, the new one
    /// comes from DVX_NEW_PASSPHRASE, DVX_NEW_PASSPHRASE_FILE or a prompt.
    Add {
        /// Remote name (default: the default remote).
        #[arg(short, long)]
        remote: Option<String>,
    },
    /// Remove a key object by the id `dvx key list` shows (never the last one).
    Remove {
        /// The key's id.
        id: String,
        /// Remote name (default: the default remote).
        #[arg(short, long)]
        remote: Option<String>,
    },
}

/// Options of `get` and `import`.
#[derive(Debug, clap::Args)]
pub struct SourceArgs {
    /// Where to write it (default: the path's last component, here).
    #[arg(short, long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Branch, tag or commit of the source (default: its HEAD).
    #[arg(long)]
    pub rev: Option<String>,
    /// Use only the cached copy of the source's history; never contact it.
    #[arg(long)]
    pub offline: bool,
    /// Read the data from this remote instead of the source's default remote.
    #[arg(long, value_name = "URL")]
    pub remote_url: Option<String>,
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
        /// Also tell whether each version is on a remote (default remote if no name).
        #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
        remote: Option<String>,
    },
    /// Verify the store's objects, and that every version in the history is complete.
    ///
    /// Every pack, index and tree is read and checked against its id; every version any ref
    /// names must have all its trees and chunks.
    Fsck {
        /// Rebuild the index from the packs.
        #[arg(long)]
        repair: bool,
        /// Check a remote instead: every version in the history complete there, trees sound,
        /// index entries pointing at existing packs (default remote if no name).
        #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
        remote: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Free the space of objects that no ref, worktree or index needs.
    ///
    /// Marks from every version in any ref, the worktree's pointers and (for a shared store)
    /// the other repositories using it; objects younger than the grace period are kept.
    Gc {
        /// Report what would be freed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Grace period in days: younger objects are always kept.
        #[arg(long, default_value_t = 3.0, value_name = "DAYS")]
        keep_days: f64,
        /// Collect a remote instead (two-phase: objects are deleted by a later run, once
        /// they have stayed unreferenced for the grace period).
        #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
        remote: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Manage remotes (folders, S3, GCS, Azure Blob, read-only HTTPS).
    Remote {
        /// What to do.
        #[command(subcommand)]
        action: RemoteAction,
    },
    /// List a remote's audit trail: who pushed, pulled or collected what, and when.
    ///
    /// Every push, fetch, pull, get / import read and `gc --remote` appends one record under
    /// `audit/` on the remote. Reads are not recorded when the remote's `audit_reads` is
    /// false; writes always are. A record that cannot be read is named on stderr and the
    /// command exits 1.
    Audit {
        /// Remote name (default: the default remote).
        #[arg(short, long)]
        remote: Option<String>,
        /// Only records of this dataset (or of datasets inside this folder).
        #[arg(long, value_name = "PATH")]
        dataset: Option<PathBuf>,
        /// Only records begun on or after this UTC date or time (2026-01-31,
        /// 2026-01-31T14:00:00Z).
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Only records begun up to this UTC date (that whole day) or time (that second).
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
        /// One JSON document: {"remote", "records": [...], "problems": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Manage the passphrases of an encrypted remote.
    Key {
        /// What to do.
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Upload the data of versions to a remote (what it lacks only).
    Push {
        /// Revisions whose datasets to push (default: HEAD and the worktree's pointers).
        revs: Vec<String>,
        /// Every version in every commit reachable from any ref.
        #[arg(long)]
        all_revs: bool,
        /// Remote name (default: the default remote).
        #[arg(short, long)]
        remote: Option<String>,
        /// Machine-readable summary (exact byte counts).
        #[arg(long)]
        json: bool,
    },
    /// Download the data of versions into the local store (no checkout).
    Fetch {
        /// Revisions whose datasets to fetch (default: the worktree's pointers).
        revs: Vec<String>,
        /// Remote name.
        #[arg(short, long)]
        remote: Option<String>,
        /// Machine-readable summary (exact byte counts).
        #[arg(long)]
        json: bool,
    },
    /// Fetch and check out: `dvx pull [<rev>] [<path>...]`.
    Pull {
        /// `[<rev>] [<path>...]` (a path may be a folder inside a dataset).
        #[arg(value_name = "REV|PATH")]
        args: Vec<String>,
        /// Paths after `--`.
        #[arg(last = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Remote name.
        #[arg(short, long)]
        remote: Option<String>,
        /// Overwrite files whose content is not saved in the store.
        #[arg(short, long)]
        force: bool,
        /// Machine-readable summary (exact byte counts) and what was restored.
        #[arg(long)]
        json: bool,
    },
    /// Copy data of another repository's dataset here; nothing is tracked.
    Get {
        /// The source repository: a path, file://, https://, ssh:// or user@host:path.
        url: String,
        /// The path in the source: a dataset, or a folder or file inside one.
        path: String,
        #[command(flatten)]
        source: SourceArgs,
        /// Machine-readable summary.
        #[arg(long)]
        json: bool,
    },
    /// Track another repository's dataset here: a pointer naming its source, staged.
    Import {
        /// The source repository: a path, file://, https://, ssh:// or user@host:path.
        url: String,
        /// The path in the source: a dataset, or a folder or file inside one.
        path: String,
        #[command(flatten)]
        source: SourceArgs,
        /// Machine-readable summary.
        #[arg(long)]
        json: bool,
    },
    /// Move imported datasets to another (default: the newest) commit of their source.
    Update {
        /// Imported datasets (or their .dvx files).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Branch, tag or commit of the source (default: the rev recorded at import).
        #[arg(long)]
        rev: Option<String>,
        /// Use only the cached copy of the source's history; never contact it.
        #[arg(long)]
        offline: bool,
        /// Read the data from this remote instead of the source's default remote.
        #[arg(long, value_name = "URL")]
        remote_url: Option<String>,
        /// Machine-readable summary.
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
    /// Print a dataset's version id (to log with a model trained on it).
    ///
    /// Without a revision, fails (exit 1) if the data on disk is not the version the pointer
    /// records; at a revision, prints what that commit recorded.
    Id {
        /// `[<rev>] <path>`
        #[arg(value_name = "REV|PATH", required = true)]
        args: Vec<String>,
        /// Print the id the pointer records, whatever is on disk.
        #[arg(long, conflicts_with = "worktree")]
        pointer: bool,
        /// Print the id of the data on disk (computed through the stat cache; not saved in the
        /// store until `dvx add`).
        #[arg(long)]
        worktree: bool,
    },
    /// Show every commit that changed a dataset.
    Log {
        /// Dataset (default: all).
        path: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Read or change settings (committed, this machine's, or the store's).
    ///
    /// `dvx config` lists them, `dvx config <key>` prints one, `dvx config <key> <value>`
    /// sets it, `--unset <key>` removes it. Keys are dotted:
    ///
    /// - the committed file (.dvx/config.toml, staged when changed): `core.default_remote`,
    ///   `remotes.<name>.url|region|audit_reads` (`audit_reads = false`: reads of that remote
    ///   are not recorded in its audit trail; writes always are);
    ///
    /// - with `--local`, this machine only (.dvx/config.local.toml): `store` and
    ///   `remotes.<name>.*` including `endpoint`, `allow_http` and credentials (secrets hidden
    ///   in listings);
    ///
    /// - with `--store`: `zstd_level` (0: compress what looks compressible, the default; 1-22:
    ///   every chunk at that level; -1: none), `remote_zstd_level`, `pack_size`.
    Config {
        /// This machine's settings (.dvx/config.local.toml, never committed).
        #[arg(long, conflicts_with = "store")]
        local: bool,
        /// The store's settings (.dvx/store/config.toml).
        #[arg(long)]
        store: bool,
        /// Remove the setting.
        #[arg(long, requires = "key", conflicts_with = "value")]
        unset: bool,
        /// Dotted key, e.g. remotes.origin.url.
        key: Option<String>,
        /// New value: TOML (3, true, "text") or plain text.
        #[arg(allow_negative_numbers = true)]
        value: Option<String>,
    },
    /// Install git hooks that keep the data in step with git.
    ///
    /// `post-checkout` and `post-merge` run `dvx checkout`; `pre-push` pushes the data of the
    /// commits being pushed.
    InstallHooks {
        /// Remove the hooks dvx installed (others are left alone).
        #[arg(long)]
        uninstall: bool,
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
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    ///
    /// For bash: `dvx completions bash > ~/.local/share/bash-completion/completions/dvx`;
    /// zsh: `dvx completions zsh > ~/.zfunc/_dvx` (with `~/.zfunc` in `fpath`); fish:
    /// `dvx completions fish > ~/.config/fish/completions/dvx.fish`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) of dvx or of one of its commands.
    ///
    /// Read it with `dvx man | man -l -`; install it with
    /// `dvx man > ~/.local/share/man/man1/dvx.1`, and `dvx man checkout > .../dvx-checkout.1`.
    Man {
        /// A command (default: dvx itself).
        command: Option<String>,
    },
}
