//! Checkout planned from the disk and the version as two streams in walk order: random trees
//! where names sort differently as whole paths and as components, directories become files
//! and back, directories empty; and steps spanning many batches.

use std::collections::BTreeMap;
use std::path::Path;

use dvx_manifest::Pointer;
use rand::SeedableRng;

use super::checkout_targets;
use crate::targets::Target;
use crate::testutil::{disk_tree, fill, mutate};
use crate::workspace::Workspace;
use crate::{add, status, AddOptions, NoProgress};

/// A version: its pointer file's bytes, parsed, and the tree on disk.
type Version = (Vec<u8>, Pointer, BTreeMap<String, String>);

/// Adds `data` and returns the version.
fn version(ws: &Workspace, root: &Path) -> Version {
    let opts = AddOptions {
        paths: vec!["data".into()],
        cwd: root.to_path_buf(),
        no_stage: true,
        ..Default::default()
    };
    add(ws, &opts, &NoProgress).expect("add");
    let raw = std::fs::read(root.join("data.dvx")).expect("pointer");
    let ptr = Pointer::parse("data.dvx", &raw).expect("parse");
    (raw, ptr, disk_tree(&root.join("data")))
}

fn target(v: &Version) -> Target {
    Target {
        pointer: v.1.clone(),
        raw: Some(v.0.clone()),
        below: String::new(),
    }
}

/// Checks out `v` (its pointer too) and asserts the dataset holds exactly its tree and
/// `status` is clean.
fn restore(ws: &Workspace, root: &Path, v: &Version, what: &str) {
    let want = &v.2;
    checkout_targets(ws, vec![target(v)], false, &NoProgress).expect(what);
    assert_eq!(&disk_tree(&root.join("data")), want, "{what}");
    let st = status(ws, root, &[], &NoProgress).expect("status");
    let st = &st.datasets[0];
    assert!(
        st.added.is_empty() && st.modified.is_empty() && st.deleted.is_empty(),
        "{what}: status after checkout: {} added, {:?} modified, {} deleted",
        st.added.len(),
        st.modified.iter().take(10).collect::<Vec<_>>(),
        st.deleted.len()
    );
}

#[test]
fn checkout_between_random_trees_leaves_exactly_the_version() {
    for seed in 0..16u64 {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let ws = crate::testutil::repo(root);
        let data = root.join("data");
        fill(&mut rng, &data, 0);
        let v1 = version(&ws, root);
        mutate(&mut rng, &data, 0);
        let v2 = version(&ws, root);
        restore(&ws, root, &v1, &format!("seed {seed}: v2 -> v1"));
        restore(&ws, root, &v2, &format!("seed {seed}: v1 -> v2"));
        // Again, now that the stat cache holds what the checkouts wrote.
        restore(&ws, root, &v1, &format!("seed {seed}: v2 -> v1 again"));
    }
}

#[test]
fn steps_spanning_many_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let ws = crate::testutil::repo(root);
    let data = root.join("data");
    // v1: a directory of 9,000 files (more than two batches) beside smaller ones, and one
    // file big enough to be written apart from the others.
    let many = data.join("many");
    std::fs::create_dir_all(&many).expect("mkdir");
    for i in 0..9000 {
        std::fs::write(many.join(format!("f{i:05}")), format!("file {i}")).expect("write");
    }
    for d in 0..30 {
        let sub = data.join(format!("d{d:02}"));
        std::fs::create_dir_all(&sub).expect("mkdir");
        for i in 0..50 {
            std::fs::write(sub.join(format!("{i}")), format!("{d}/{i}")).expect("write");
        }
    }
    let big: Vec<u8> = (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(data.join("big.bin"), &big).expect("write");
    let v1 = version(&ws, root);
    // v2: the big directory is a file now, every other directory loses half its files and
    // gains a subdirectory, and the big file is edited in the middle.
    std::fs::remove_dir_all(&many).expect("rm -r");
    std::fs::write(&many, b"now a file").expect("write");
    for d in 0..30 {
        let sub = data.join(format!("d{d:02}"));
        for i in (0..50).step_by(2) {
            std::fs::remove_file(sub.join(format!("{i}"))).expect("rm");
        }
        std::fs::create_dir_all(sub.join("new")).expect("mkdir");
        std::fs::write(sub.join("new/x"), format!("new {d}")).expect("write");
    }
    let mut big2 = big.clone();
    big2[1 << 20] ^= 0xff;
    std::fs::write(data.join("big.bin"), &big2).expect("write");
    let v2 = version(&ws, root);
    restore(&ws, root, &v1, "v2 -> v1");
    restore(&ws, root, &v2, "v1 -> v2");
    restore(&ws, root, &v1, "v2 -> v1 again");
    // From nothing on disk.
    std::fs::remove_dir_all(&data).expect("rm -r");
    restore(&ws, root, &v2, "empty -> v2");
}

#[test]
fn an_ignored_file_deep_below_a_directory_the_version_replaces_stops_the_checkout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let ws = crate::testutil::repo(root);
    let data = root.join("data");
    std::fs::create_dir_all(data.join("x/deep/er")).expect("mkdir");
    std::fs::write(data.join(".dvxignore"), b"*.tmp\n").expect("write");
    for i in 0..20 {
        std::fs::write(data.join(format!("x/deep/{i}")), b"tracked").expect("write");
        std::fs::write(data.join(format!("x/deep/er/{i}")), b"tracked").expect("write");
    }
    let v1 = version(&ws, root);
    std::fs::remove_dir_all(data.join("x")).expect("rm -r");
    std::fs::write(data.join("x"), b"a file now").expect("write");
    let v2 = version(&ws, root);
    restore(&ws, root, &v1, "v2 -> v1");
    // Work the user keeps out of dvx, two levels below the directory v2 replaces.
    std::fs::write(data.join("x/deep/er/work.tmp"), b"mine").expect("write");
    let before = disk_tree(&data);
    for force in [false, true] {
        match checkout_targets(&ws, vec![target(&v2)], force, &NoProgress) {
            Err(crate::Error::IgnoredInTheWay { path, files, .. }) => {
                assert_eq!(path, "data/x");
                assert_eq!(files, vec!["data/x/deep/er/work.tmp".to_string()]);
            }
            other => panic!("force {force}: {other:?}"),
        }
        assert_eq!(disk_tree(&data), before, "force {force}: nothing changed");
    }
    // Without it, the directory goes.
    std::fs::remove_file(data.join("x/deep/er/work.tmp")).expect("rm");
    restore(&ws, root, &v2, "v1 -> v2");
}
