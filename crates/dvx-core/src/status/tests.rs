//! The full status (the disk and the version as two streams in walk order) against the
//! listing comparison it replaces, on random trees where names sort differently as whole
//! paths and as components, directories become files and back, and directories empty.

use std::path::Path;

use rand::{Rng, SeedableRng};

use super::compare;
use crate::scan::scan_dataset;
use crate::statcache::StatCache;
use crate::workspace::Dataset;
use crate::{add, status, AddOptions, NoProgress};

/// Names around `/` in byte order: `a-b` and `a.b` sort before `a/x`, `a0` after it.
const NAMES: [&str; 6] = ["a", "a-b", "a.b", "a0", "b", "\u{e9}"];

/// Fills `dir` with a random tree over [`NAMES`], three levels deep: files (of a few
/// contents), links, empty and full directories.
fn fill(rng: &mut impl Rng, dir: &Path, depth: usize) {
    std::fs::create_dir_all(dir).expect("mkdir");
    for name in NAMES {
        let path = dir.join(name);
        match rng.random_range(0..6) {
            0 | 1 => {}
            2 => std::fs::write(&path, [b'x', rng.random_range(b'0'..b'3')]).expect("write"),
            3 => std::os::unix::fs::symlink(format!("t{}", rng.random_range(0..2)), &path)
                .expect("symlink"),
            _ if depth < 2 => fill(rng, &path, depth + 1),
            _ => std::fs::create_dir(&path).expect("mkdir"),
        }
    }
}

/// Changes the tree below `dir` at random: entries removed, rewritten, replaced by the
/// other kind, new ones added.
fn mutate(rng: &mut impl Rng, dir: &Path, depth: usize) {
    for name in NAMES {
        let path = dir.join(name);
        let meta = std::fs::symlink_metadata(&path).ok();
        match (rng.random_range(0..8), meta) {
            (0, Some(m)) => {
                if m.is_dir() {
                    std::fs::remove_dir_all(&path).expect("rm -r");
                } else {
                    std::fs::remove_file(&path).expect("rm");
                }
            }
            (1, Some(m)) if m.is_file() => {
                std::fs::write(&path, b"changed").expect("write");
            }
            (2, Some(m)) if m.is_file() => {
                std::fs::remove_file(&path).expect("rm");
                fill(rng, &path, depth + 1);
            }
            (3, Some(m)) if m.is_dir() => {
                std::fs::remove_dir_all(&path).expect("rm -r");
                std::fs::write(&path, b"x0").expect("write");
            }
            (4, None) => fill(rng, &path, depth + 1),
            (_, Some(m)) if m.is_dir() && depth < 3 => mutate(rng, &path, depth + 1),
            _ => {}
        }
    }
}

#[test]
fn the_streamed_status_is_the_listing_comparison() {
    let mut changed = 0;
    for seed in 0..24u64 {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = crate::testutil::repo(dir.path());
        let data = dir.path().join("data");
        fill(&mut rng, &data, 0);
        let opts = AddOptions {
            paths: vec!["data".into()],
            cwd: dir.path().to_path_buf(),
            no_stage: true,
            ..Default::default()
        };
        let id = add(&ws, &opts, &NoProgress).expect("add").datasets[0].id;
        mutate(&mut rng, &data, 0);

        let got = status(&ws, dir.path(), &[], &NoProgress).expect("status");
        let got = &got.datasets[0];
        let store = ws.store().expect("store");
        let ds = Dataset {
            path: "data".into(),
            kind: dvx_manifest::DatasetKind::Dir,
        };
        let expected = crate::treeio::load_listing(store, &id).expect("load");
        let cache = StatCache::new(&ws.state_dir());
        let actual = scan_dataset(&ws, &ds, store, &cache, None, &NoProgress).expect("scan");
        let (a, m, d) = compare(&ds, &expected, &actual);
        assert_eq!(
            (&got.added, &got.modified, &got.deleted),
            (&a, &m, &d),
            "seed {seed}"
        );
        changed += usize::from(!(a.is_empty() && m.is_empty() && d.is_empty()));
    }
    assert!(changed >= 12, "only {changed} of 24 trees changed");
}
