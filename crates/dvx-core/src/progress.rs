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
    /// The current phase (counted in bytes) works through `total` files; each is reported
    /// by [`Progress::file_done`]. Ignored unless the implementation shows it.
    fn files(&self, _total: u64) {}
    /// One more file of the current phase is done (written, hashed, or given up on).
    fn file_done(&self) {}
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
