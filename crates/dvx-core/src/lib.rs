//! dvx operations: init, add, status, checkout, and the read-only ls / cat / id / log / diff,
//! over a git worktree ([`Workspace`]) and its local store. Each operation takes an Options
//! struct and returns a Report; long work drives a [`Progress`]; nothing here prints.
//!
//! The main types are [`Workspace`], [`Dataset`], the per-command `*Options`/`*Report` pairs,
//! and [`Error`].
#![warn(missing_docs)]

mod access;
mod add;
mod audit;
mod beneath;
mod checkout;
mod config;
mod config_cmd;
mod crypt;
pub mod env;
mod error;
mod fsck;
mod fsx;
mod gc;
mod get;
mod gitignore;
mod hooks;
mod import;
mod inspect;
mod limits;
mod lock;
mod names;
mod progress;
mod remote;
mod remote_maint;
mod scan;
mod source;
mod spool;
mod statcache;
mod status;
mod targets;
#[cfg(test)]
mod testutil;
mod transfer;
mod treeio;
mod work;
mod workspace;

pub use access::{Access, DatasetInfo, FileReader, SourceSetup};
pub use add::{add, AddOptions, AddReport, DatasetAdded};
pub use audit::{
    audit_list, parse_time_bound, Actor, AuditDataset, AuditEntry, AuditGc, AuditOperation,
    AuditOptions, AuditProblem, AuditRecord, AuditRemote, AuditReport, CiJob, AUDIT_FORMAT,
};
pub use checkout::{checkout, CheckoutOptions, CheckoutReport, DatasetCheckout};
pub use config::{AzureEnv, CloudEnv, GcsEnv, LocalConfig, RemoteConfig, RepoConfig};
pub use config_cmd::{config_get, config_list, config_set, config_unset, ConfigEntry, ConfigScope};
pub use crypt::{KeyInfo, RemoteCrypt};
/// Masks `user:password@` in URLs of any text shown to the user.
pub use dvx_remote::redact_userinfo;
pub use error::{Error, ErrorKind, Result};
pub use fsck::{fsck, FsckOptions, FsckReport, Problem, ProblemKind};
pub use fsx::rfc3339;
pub use gc::{gc, GcOptions, GcReport};
pub use get::{get, GetOptions, GetReport, SourceReport};
pub use hooks::{install_hooks, uninstall_hooks, InstalledHook};
pub use import::{import, update, ImportOptions, ImportReport, UpdateOptions, UpdateReport};
pub use inspect::{
    cat, diff, id, log, ls, ls_each, DatasetDiff, DiffOptions, DiffReport, DiffSide, IdOf,
    LogEntry, LsEntry,
};
pub use names::{json_name, quote, rel_bytes, rel_string, unquote};
pub use progress::{NoProgress, Progress, Unit};
pub use remote::{
    key_add, key_list, key_remove, remote_add, remote_add_with, remote_default, remote_list,
    remote_remove, RemoteInfo,
};
pub use remote_maint::{fsck_remote, gc_remote};
pub use scan::FlatEntry;
pub use source::SourceOptions;
pub use status::{status, DatasetStatus, StatusReport, StatusState};
pub use transfer::{
    fetch, pull, push, remote_status, FetchOptions, PullOptions, PushOptions, RemoteState,
    TransferReport,
};
pub use workspace::{init, Dataset, InitReport, Workspace, WorkspaceOptions};

/// Raises the soft limit of open files to the hard one (at most 65,536; 10,240 on macOS),
/// as Go programs do: an index set too large to keep mapped is read by `pread` and keeps
/// each of its files open, and a remote pushed to a thousand times has a thousand index
/// files. For a program's `main`; when the system refuses, the limit stays as it was and
/// an open that then fails reports itself.
pub fn raise_open_file_limit() {
    #[cfg(unix)]
    {
        let cap: libc::rlim_t = if cfg!(target_os = "macos") {
            10_240
        } else {
            65_536
        };
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit read and write the struct passed, which lives on
        // this stack frame for both calls.
        #[allow(unsafe_code)]
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < cap {
                lim.rlim_cur = lim.rlim_max.min(cap);
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
        }
    }
}

/// Makes the C allocator hand every large buffer back to the system when it is freed. glibc
/// otherwise raises its threshold for that after the first such free, and the transfer
/// threads' range and pack buffers then stay in per-thread arenas (a fetch of 1M files
/// peaked over 100 MB higher). For a program's `main`, before any thread starts; a library
/// in someone else's process (the Python module) leaves the allocator alone.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a setting of glibc's allocator, and is called before
    // the program starts any thread.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
    }
}
