//! Differences between two flattened dataset listings.

use std::collections::BTreeMap;

/// One changed path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Present only on the new side.
    Added {
        /// Path.
        path: String,
        /// Size on the new side.
        size: u64,
    },
    /// Present only on the old side.
    Removed {
        /// Path.
        path: String,
        /// Size on the old side.
        size: u64,
    },
    /// Present on both sides with different content, kind or mode.
    Modified {
        /// Path.
        path: String,
        /// Old size.
        old_size: u64,
        /// New size.
        new_size: u64,
    },
}

/// The changes between two listings, sorted by path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// Changes in path order.
    pub changes: Vec<Change>,
}

/// Compares listings of `path -> (size, fingerprint)`; equal fingerprints mean unchanged.
pub fn diff<F: PartialEq>(
    old: &BTreeMap<String, (u64, F)>,
    new: &BTreeMap<String, (u64, F)>,
) -> Diff {
    let mut changes = Vec::new();
    for (path, (size, fp)) in old {
        match new.get(path) {
            None => changes.push(Change::Removed {
                path: path.clone(),
                size: *size,
            }),
            Some((nsize, nfp)) if nfp != fp => changes.push(Change::Modified {
                path: path.clone(),
                old_size: *size,
                new_size: *nsize,
            }),
            Some(_) => {}
        }
    }
    for (path, (size, _)) in new {
        if !old.contains_key(path) {
            changes.push(Change::Added {
                path: path.clone(),
                size: *size,
            });
        }
    }
    changes.sort_by(|a, b| change_path(a).cmp(change_path(b)));
    Diff { changes }
}

fn change_path(c: &Change) -> &str {
    match c {
        Change::Added { path, .. }
        | Change::Removed { path, .. }
        | Change::Modified { path, .. } => path,
    }
}

impl Change {
    /// The changed path.
    pub fn path(&self) -> &str {
        change_path(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        let old: BTreeMap<String, (u64, u8)> = [
            ("a".into(), (1, 1)),
            ("b".into(), (2, 2)),
            ("c".into(), (3, 3)),
        ]
        .into();
        let new: BTreeMap<String, (u64, u8)> = [
            ("a".into(), (1, 1)),
            ("b".into(), (5, 9)),
            ("d".into(), (4, 4)),
        ]
        .into();
        let d = diff(&old, &new);
        assert_eq!(
            d.changes,
            vec![
                Change::Modified {
                    path: "b".into(),
                    old_size: 2,
                    new_size: 5
                },
                Change::Removed {
                    path: "c".into(),
                    size: 3
                },
                Change::Added {
                    path: "d".into(),
                    size: 4
                },
            ]
        );
    }
}
