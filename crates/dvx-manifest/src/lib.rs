//! Dataset manifests as pure data: hierarchical [`Tree`] objects (one per directory, canonical
//! binary encoding, id = BLAKE3 of the encoding) and the [`Pointer`] file (`<path>.dvx`, TOML)
//! that git tracks. Also name validation for untrusted trees and [`diff`] of flattened listings.
//!
//! No I/O happens here beyond bytes in and bytes out.
#![warn(missing_docs)]

mod diff;
mod error;
pub mod limits;
mod pointer;
mod tree;

pub use diff::{diff, Change, Diff};
pub use error::{Error, Result};
pub use pointer::{
    pointer_path_for, DatasetKind, Meta, Pointer, Source, POINTER_FORMAT, POINTER_SUFFIX,
};
pub use tree::{validate_name, ChunkRef, Entry, EntryKind, Tree, TREE_FORMAT};
