//! `dvx push`, `fetch`, `pull` and `status --remote`: moving packs, indexes and trees
//! between the local store and a remote [`Backend`](dvx_store::Backend).
//!
//! Push uploads packs, then each pack's index, then trees bottom-up, so a root tree present
//! on the remote means its data is complete, and concurrent pushers need no lock. Fetch
//! downloads trees, then only the chunks it lacks with merged byte-range reads (several in
//! flight, each chunk verified on arrival), into packs sealed as they fill so an interrupted
//! transfer keeps what it received.
//!
//! The modules: [`layout`] (the names and bytes the remote sees, and its chunk index),
//! [`session`] (one use of a remote, counting what it moved), [`push`] and [`upload`],
//! [`plan`] (which byte ranges a fetch reads), [`wanted`] (the walk that finds what a fetch or a
//! copy needs), [`fetch`], [`pull`] and [`status`].

pub(crate) mod fetch;
pub(crate) mod layout;
mod local;
mod plan;
mod pull;
mod push;
pub(crate) mod session;
mod status;
#[cfg(test)]
mod tests;
mod upload;
mod wanted;

pub use fetch::{fetch, FetchOptions};
pub(crate) use local::{complete_locally, copy_from_store};
pub use pull::{pull, PullOptions};
#[cfg(test)]
pub(crate) use push::push_to;
pub(crate) use push::refuse_plaintext_to_encrypted;
pub use push::{push, PushOptions};
pub use status::{remote_status, RemoteState};

use crate::checkout::CheckoutReport;

/// Concurrent requests for downloads and tree uploads.
const PARALLEL_REQUESTS: usize = 8;

/// What a transfer did.
#[derive(Clone, Debug, Default)]
pub struct TransferReport {
    /// Remote name and URL.
    pub remote: String,
    /// Dataset versions concerned.
    pub datasets: u64,
    /// Files in them.
    pub files: u64,
    /// Bytes in them.
    pub bytes: u64,
    /// Bytes sent (push) or received (fetch).
    pub transferred: u64,
    /// Objects uploaded (push) or downloaded (fetch).
    pub objects: u64,
    /// Requests made.
    pub requests: u64,
    /// Chunks received (fetch, and the transfers of get / import / update).
    pub chunks: u64,
    /// Wall time.
    pub seconds: f64,
    /// For pull: what the checkout did.
    pub checkout: Option<CheckoutReport>,
    /// For pull: imported datasets this project's remote lacked, fetched from their source
    /// instead (one line each, for the user).
    pub fallbacks: Vec<String>,
}

/// Fetches `targets` through a session on a remote into `store` (index files cached under
/// `state_dir`): the transfer of `dvx get` / `import`, whose store may belong to no workspace.
pub(crate) fn fetch_into_with(
    b: &session::Session<'_>,
    store: &dvx_store::Store,
    state_dir: &std::path::Path,
    targets: &[crate::targets::Target],
    progress: &dyn crate::progress::Progress,
) -> crate::error::Result<TransferReport> {
    fetch::fetch_into(store, state_dir, b, targets, progress)
}

impl TransferReport {
    /// Counts one more dataset version of `files` files and `bytes` bytes.
    fn add_version(&mut self, p: &dvx_manifest::Pointer) {
        self.datasets += 1;
        self.files = self.files.saturating_add(p.files);
        self.bytes = self.bytes.saturating_add(p.bytes);
    }
}
