//! The full status (the disk and the version as two streams in walk order) against the
//! listing comparison it replaces, on random trees where names sort differently as whole
//! paths and as components, directories become files and back, and directories empty.

use rand::SeedableRng;

use super::compare;
use crate::scan::scan_dataset;
use crate::statcache::StatCache;
use crate::testutil::{fill, mutate};
use crate::workspace::Dataset;
use crate::{add, status, AddOptions, NoProgress};

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
