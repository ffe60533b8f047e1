//! `dvx status --remote`: whether every tree and chunk of a version is on the remote.

use std::collections::HashSet;

use dvx_store::{ChunkId, TreeId};

use super::layout::{self, list_whole_trees, RemoteIndex};
use super::session::Session;
use crate::config::CloudEnv;
use crate::error::Result;
use crate::remote::open_remote;
use crate::treeio::{file_chunks, read_tree, TreeWalk};
use crate::workspace::Workspace;

/// What the remote holds of one dataset version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteState {
    /// Every tree and chunk of the version is on the remote.
    Pushed,
    /// The version's root tree is not on the remote.
    NotPushed,
    /// The root tree is there but not everything below it (a pack lost or deleted, a push
    /// interrupted by hand-made damage). `dvx push` from a machine that has the data repairs it.
    Incomplete {
        /// Trees of the version missing on the remote.
        trees: u64,
        /// Chunks of the version missing on the remote (or in packs that are gone).
        chunks: u64,
    },
    /// The version is not in the local store and its trees on the remote cannot be read, so
    /// completeness cannot be told.
    Unknown(String),
}

impl RemoteState {
    /// True only when the whole version is on the remote.
    pub fn is_pushed(&self) -> bool {
        *self == RemoteState::Pushed
    }

    /// Short machine-readable name: `pushed`, `not-pushed`, `incomplete`, `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RemoteState::Pushed => "pushed",
            RemoteState::NotPushed => "not-pushed",
            RemoteState::Incomplete { .. } => "incomplete",
            RemoteState::Unknown(_) => "unknown",
        }
    }
}

impl std::fmt::Display for RemoteState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteState::Pushed => write!(f, "pushed"),
            RemoteState::NotPushed => write!(f, "not pushed"),
            RemoteState::Incomplete { trees, chunks } => write!(
                f,
                "incomplete ({} and {} missing on the remote; \
                 `dvx push` from a machine that has the data repairs it)",
                crate::names::count(*trees as usize, "tree"),
                crate::names::count(*chunks as usize, "chunk"),
            ),
            RemoteState::Unknown(why) => write!(f, "unknown ({why})"),
        }
    }
}

/// For each version: is all of it on the remote? Checks every tree against the remote's
/// listing and every chunk against its index and the packs it really holds (trees are read
/// from the local store, or downloaded when the store lacks them).
pub fn remote_status(
    ws: &Workspace,
    remote: Option<&str>,
    env: &CloudEnv,
    ids: &[TreeId],
) -> Result<(String, Vec<RemoteState>)> {
    let r = open_remote(ws, remote, env)?;
    let b = Session::open(&r);
    b.check_reachable()?;
    let store = ws.store()?;
    let remote_trees = list_whole_trees(&b)?;
    let mut rindex: Option<RemoteIndex> = None;
    let mut out = Vec::new();
    for id in ids {
        if !remote_trees.contains(id) {
            out.push(RemoteState::NotPushed);
            continue;
        }
        let ri = match &rindex {
            Some(ri) => ri,
            None => rindex.insert(RemoteIndex::load(ws, &b)?),
        };
        let mut trees = 0u64;
        let mut lost: HashSet<ChunkId> = HashSet::new();
        let mut unknown = None;
        let mut walk = TreeWalk::new([*id]).once();
        while let Some(dir) = walk.next()? {
            let t = dir.id;
            let local = store.has_tree(&t);
            if !remote_trees.contains(&t) {
                trees += 1;
                // What is below cannot be told without the tree; a local copy still tells it.
                if !local {
                    continue;
                }
            }
            let tree = if local {
                read_tree(store, &t)?
            } else {
                match layout::get_tree(&b, &t) {
                    Ok((tree, _)) => tree,
                    Err(e) => {
                        unknown = Some(format!(
                            "tree {t} on the remote cannot be read: {e}; run `dvx fsck --remote`"
                        ));
                        break;
                    }
                }
            };
            walk.enter_all(&dir, &tree);
            for c in file_chunks(&tree) {
                if !lost.contains(c) && ri.lookup(c)?.is_none() {
                    lost.insert(*c);
                }
            }
        }
        out.push(match unknown {
            Some(why) => RemoteState::Unknown(why),
            None if trees == 0 && lost.is_empty() => RemoteState::Pushed,
            None => RemoteState::Incomplete {
                trees,
                chunks: lost.len() as u64,
            },
        });
    }
    Ok((r.name, out))
}
