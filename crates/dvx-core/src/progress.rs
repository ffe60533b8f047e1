//! Progress reporting: operations call a [`Progress`]; the binary draws bars.

/// What a progress count measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Bytes.
    Bytes,
    /// Files or objects.
    Items,
}

/// Receives progress of long operations. Called from several threads.
pub trait Progress: Sync {
    /// A phase starts (e.g. "hashing"), with a total if known.
    fn begin(&self, phase: &str, total: Option<u64>, unit: Unit);
    /// `n` more units of the current phase are done.
    fn advance(&self, n: u64);
    /// The current phase is over.
    fn end(&self);
    /// Something the user should know that does not stop the operation (a damaged object
    /// that was worked around). Ignored unless the implementation shows it.
    fn warn(&self, _message: &str) {}
}

/// Ignores progress.
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: &str, _: Option<u64>, _: Unit) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}
