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
}
