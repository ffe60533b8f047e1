/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Malformed manifests.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tree's bytes cannot be decoded or break an invariant.
    #[error("malformed tree: {0}")]
    BadTree(String),
    /// An entry name is unsafe or invalid.
    #[error("invalid entry name {name:?}: {why}")]
    BadName {
        /// The name (lossy UTF-8).
        name: String,
        /// Why it is rejected.
        why: &'static str,
    },
    /// A pointer file cannot be parsed or is inconsistent.
    #[error("malformed pointer file {file}: {detail}; fix it or restore it with `git checkout -- {file}`")]
    BadPointer {
        /// The pointer file (repo-relative).
        file: String,
        /// What is wrong.
        detail: String,
    },
    /// A pointer would be larger than readers accept.
    #[error("pointer file {file} would take {len} bytes, more than the {limit} a pointer may hold: shorten the message (-m) or the --meta values")]
    PointerTooLarge {
        /// The pointer file (repo-relative).
        file: String,
        /// Its length as it would be written.
        len: usize,
        /// The limit.
        limit: usize,
    },
}
