//! Round trips through an in-memory remote.

use std::collections::BTreeMap;
use std::path::Path;

use dvx_manifest::Pointer;
use dvx_store::{Backend, MemoryBackend};
use rand::{RngCore, SeedableRng};

use super::session::Session;
use super::TransferReport;
use crate::error::Result;
use crate::targets::Target;
use crate::testutil::repo;
use crate::workspace::Workspace;
use crate::{add, checkout, AddOptions, CheckoutOptions, NoProgress};

fn push_to(
    ws: &Workspace,
    backend: &dyn Backend,
    label: &str,
    url: &str,
    versions: &[Pointer],
    progress: &NoProgress,
) -> Result<TransferReport> {
    super::push::push_to(ws, &Session::new(backend, label, url), versions, progress)
}

/// Fetches whole datasets (`(pointer, "")`) or parts of them.
fn fetch_from(
    ws: &Workspace,
    backend: &dyn Backend,
    label: &str,
    url: &str,
    targets: &[(Pointer, String)],
    progress: &NoProgress,
) -> Result<TransferReport> {
    let targets: Vec<Target> = targets
        .iter()
        .map(|(pointer, below)| Target {
            pointer: pointer.clone(),
            raw: None,
            below: below.clone(),
        })
        .collect();
    super::fetch::fetch_from(ws, &Session::new(backend, label, url), &targets, progress)
}

fn write_data(dir: &Path, seed: u64, files: usize) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    std::fs::create_dir_all(dir.join("data/sub")).expect("mkdir");
    for i in 0..files {
        let mut b = vec![0u8; 1000 + (rng.next_u32() % 200_000) as usize];
        rng.fill_bytes(&mut b);
        std::fs::write(dir.join(format!("data/sub/f{i}.bin")), b).expect("write");
    }
    std::fs::write(
        dir.join("data/shared.txt"),
        b"the same in every repo\n".repeat(5000),
    )
    .expect("write");
}

fn add_data(ws: &Workspace) -> Pointer {
    add(
        ws,
        &AddOptions {
            paths: vec!["data".into()],
            cwd: ws.root().to_path_buf(),
            ..AddOptions::default()
        },
        &NoProgress,
    )
    .expect("add");
    ws.worktree_pointer("data").expect("read").expect("pointer")
}

/// A second worktree that has only the pointer (as after a clone).
fn clone_pointer(from: &Workspace, dir: &Path) -> Workspace {
    let ws = repo(dir);
    std::fs::copy(from.root().join("data.dvx"), dir.join("data.dvx")).expect("copy pointer");
    ws
}

fn read_all(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).expect("below").display().to_string();
                out.insert(rel, std::fs::read(&p).expect("read"));
            }
        }
    }
    out
}

/// Fetches `p` from `remote` into a fresh worktree at `dir`, checks it out, and compares the
/// data with `from`'s.
fn fetch_and_compare(from: &Workspace, remote: &MemoryBackend, url: &str, p: &Pointer, dir: &Path) {
    let c = clone_pointer(from, dir);
    fetch_from(
        &c,
        remote,
        "mem",
        url,
        &[(p.clone(), String::new())],
        &NoProgress,
    )
    .expect("fetch");
    checkout(
        &c,
        &CheckoutOptions {
            cwd: c.root().to_path_buf(),
            ..CheckoutOptions::default()
        },
        &NoProgress,
    )
    .expect("checkout");
    assert_eq!(
        read_all(&from.root().join("data")),
        read_all(&c.root().join("data"))
    );
}

#[test]
fn push_fetch_round_trip_is_incremental_and_verified() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = repo(&tmp.path().join("a"));
    write_data(a.root(), 1, 30);
    let p1 = add_data(&a);
    let remote = MemoryBackend::new();
    let r = push_to(
        &a,
        &remote,
        "mem",
        "mem://x",
        std::slice::from_ref(&p1),
        &NoProgress,
    )
    .expect("push");
    assert!(r.transferred > 0);
    let packs = remote.list("packs/").expect("list").len();
    assert!(
        (1..=2).contains(&packs),
        "30 files must not become 30 objects: {packs} packs"
    );
    // Nothing new: nothing sent.
    let again = push_to(
        &a,
        &remote,
        "mem",
        "mem://x",
        std::slice::from_ref(&p1),
        &NoProgress,
    )
    .expect("push");
    assert_eq!((again.transferred, again.objects), (0, 0));

    fetch_and_compare(&a, &remote, "mem://x", &p1, &tmp.path().join("b"));
}

#[test]
fn corrupt_or_missing_remote_objects_are_named() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = repo(&tmp.path().join("a"));
    write_data(a.root(), 2, 10);
    let p = add_data(&a);
    let remote = MemoryBackend::new();
    push_to(
        &a,
        &remote,
        "mem",
        "mem://y",
        std::slice::from_ref(&p),
        &NoProgress,
    )
    .expect("push");
    // Flip a byte in the middle of every pack's data area.
    remote.with_objects(|o| {
        for (k, v) in o.iter_mut() {
            if k.starts_with("packs/") {
                let i = v.len() / 3;
                v[i] ^= 0x55;
            }
        }
    });
    let b = clone_pointer(&a, &tmp.path().join("b"));
    let err = fetch_from(
        &b,
        &remote,
        "mem",
        "mem://y",
        &[(p.clone(), String::new())],
        &NoProgress,
    )
    .expect_err("corruption detected");
    let msg = err.to_string();
    assert!(msg.contains("corrupt") && msg.contains("data/"), "{msg}");
    // A deleted tree is named too.
    remote.with_objects(|o| o.retain(|k, _| !k.starts_with("trees/")));
    let c = clone_pointer(&a, &tmp.path().join("c"));
    let err = fetch_from(
        &c,
        &remote,
        "mem",
        "mem://y",
        &[(p.clone(), String::new())],
        &NoProgress,
    )
    .expect_err("missing tree");
    assert!(err.to_string().contains(&p.id.to_hex()), "{err}");
}

#[test]
fn concurrent_pushes_of_overlapping_data_need_no_lock() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = repo(&tmp.path().join("a"));
    let b = repo(&tmp.path().join("b"));
    write_data(a.root(), 3, 20);
    write_data(b.root(), 3, 25); // the first 20 files are identical
    let (pa, pb) = (add_data(&a), add_data(&b));
    let remote = MemoryBackend::new();
    std::thread::scope(|s| {
        let ra = s.spawn(|| {
            push_to(
                &a,
                &remote,
                "mem",
                "mem://z",
                std::slice::from_ref(&pa),
                &NoProgress,
            )
        });
        let rb = s.spawn(|| {
            push_to(
                &b,
                &remote,
                "mem",
                "mem://z",
                std::slice::from_ref(&pb),
                &NoProgress,
            )
        });
        ra.join().expect("thread").expect("push a");
        rb.join().expect("thread").expect("push b");
    });
    for (p, from) in [(&pa, &a), (&pb, &b)] {
        let dir = tmp.path().join(format!("fresh-{}", p.id.short()));
        fetch_and_compare(from, &remote, "mem://z", p, &dir);
    }
}

/// Small files in `data/a`, the same files in `data/b` (one shared subtree), others in
/// `data/c` and `data/c/d`: more chunks than a unit test's fetch holds in memory, so the
/// needed and located chunks go through sorted runs on disk and several rounds of reads.
fn write_many(dir: &Path, seed: u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for sub in ["a", "b", "c", "c/d"] {
        std::fs::create_dir_all(dir.join("data").join(sub)).expect("mkdir");
    }
    let mut file = |n: usize| {
        let mut b = vec![0u8; 200 + (rng.next_u32() % 1800) as usize];
        rng.fill_bytes(&mut b);
        (format!("f{n}.bin"), b)
    };
    for i in 0..300 {
        let (name, bytes) = file(i);
        std::fs::write(dir.join("data/a").join(&name), &bytes).expect("write");
        std::fs::write(dir.join("data/b").join(&name), &bytes).expect("write");
    }
    for i in 0..400 {
        let (name, bytes) = file(i);
        let sub = if i % 2 == 0 { "c" } else { "c/d" };
        std::fs::write(dir.join("data").join(sub).join(name), bytes).expect("write");
    }
}

/// A repository at `dir/a` with [`write_many`]'s data added and pushed to a memory remote.
fn pushed_many(dir: &Path, seed: u64, url: &str) -> (Workspace, Pointer, MemoryBackend) {
    let a = repo(&dir.join("a"));
    write_many(a.root(), seed);
    let p = add_data(&a);
    let remote = MemoryBackend::new();
    let versions = std::slice::from_ref(&p);
    push_to(&a, &remote, "mem", url, versions, &NoProgress).expect("push");
    (a, p, remote)
}

#[test]
fn fetch_of_many_chunks_goes_through_runs_and_rounds_and_honours_the_selection() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (a, p, remote) = pushed_many(tmp.path(), 4, "mem://m");

    // Only data/b: every tree arrives, only the chunks of b (which a shares).
    let b = clone_pointer(&a, &tmp.path().join("b"));
    let r = fetch_from(
        &b,
        &remote,
        "mem",
        "mem://m",
        &[(p.clone(), "b".into())],
        &NoProgress,
    )
    .expect("fetch b");
    assert!(r.chunks >= 300, "{r:?}");
    let store = b.store().expect("store");
    let listing = crate::treeio::load_listing(store, &p.id).expect("every tree arrived");
    let mut seen = 0;
    for (rel, e) in &listing {
        if let crate::scan::FlatEntry::File { chunks, .. } = e {
            let in_b = rel.starts_with(b"a/") || rel.starts_with(b"b/");
            for c in chunks {
                let here = store.readable(&c.id).expect("readable");
                assert_eq!(here, in_b, "{}", String::from_utf8_lossy(rel));
            }
            seen += 1;
        }
    }
    assert_eq!(seen, 1000);
    // Then the rest: exactly the chunks still missing come, each once.
    let r = fetch_from(
        &b,
        &remote,
        "mem",
        "mem://m",
        &[(p.clone(), String::new())],
        &NoProgress,
    )
    .expect("fetch all");
    assert_eq!(r.chunks, 400, "{r:?}");
    fetch_and_compare(&a, &remote, "mem://m", &p, &tmp.path().join("c"));
    // Nothing of the fetches is left in the state directory but what it keeps.
    for ws in [&b] {
        for e in std::fs::read_dir(ws.state_dir()).expect("state") {
            let name = e.expect("entry").file_name();
            assert!(
                !name.to_string_lossy().starts_with(".tmp"),
                "temporary file left: {name:?}"
            );
        }
    }
}

#[test]
fn a_missing_pack_names_the_files_that_need_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (a, p, remote) = pushed_many(tmp.path(), 5, "mem://n");
    remote.with_objects(|o| o.retain(|k, _| !k.starts_with("packs/")));
    let b = clone_pointer(&a, &tmp.path().join("b"));
    let err = fetch_from(
        &b,
        &remote,
        "mem",
        "mem://n",
        &[(p.clone(), "c/d".into())],
        &NoProgress,
    )
    .expect_err("the packs are gone");
    let msg = err.to_string();
    // Every file of the selection is named, and none outside it.
    for i in (1..400).step_by(2) {
        assert!(
            msg.contains(&format!("data/c/d/f{i}.bin")) || msg.contains("more"),
            "{msg}"
        );
    }
    assert!(
        !msg.contains("data/a/") && !msg.contains("data/c/f"),
        "{msg}"
    );
    match err {
        crate::error::Error::RemoteObject { files, missing, .. } => {
            assert!(missing);
            assert_eq!(files.len(), 200, "{files:?}");
        }
        e => panic!("{e}"),
    }
}

/// Index objects are downloaded in pieces (1 KiB under test) and checked on the way: a sound
/// one is cached byte for byte; a corrupt or truncated one is reported, leaves nothing in the
/// cache (no temporary file either), and the fetch goes through the packs' trailers.
#[test]
fn remote_index_objects_are_downloaded_in_pieces_and_checked() {
    use super::layout::{RemoteIndex, INDEXES};
    let tmp = tempfile::tempdir().expect("tmp");
    let url = "mem://pieces";
    let (a, p, remote) = pushed_many(tmp.path(), 9, url);
    let session = Session::new(&remote, "mem", url);
    let objects: Vec<(String, Vec<u8>)> = remote.with_objects(|o| {
        o.iter()
            .filter(|(k, _)| k.starts_with(INDEXES))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    });
    assert_eq!(objects.len(), 1, "one push, one index object");
    let (key, bytes) = &objects[0];
    assert!(
        bytes.len() > 8 << 10,
        "{} bytes: several pieces",
        bytes.len()
    );

    let cached = |ws: &Workspace| -> Vec<(String, Vec<u8>)> {
        let ri = RemoteIndex::load(ws, &session).expect("load");
        let mut files: Vec<_> = std::fs::read_dir(&ri.cache_dir)
            .expect("cache dir")
            .map(|e| {
                let e = e.expect("entry");
                let name = e.file_name().to_string_lossy().into_owned();
                (name, std::fs::read(e.path()).expect("read"))
            })
            .collect();
        files.sort();
        files
    };
    let b = clone_pointer(&a, &tmp.path().join("b"));
    let ri = RemoteIndex::load(&b, &session).expect("load");
    assert!(ri.damaged.is_empty(), "{:?}", ri.damaged);
    let files = cached(&b);
    assert_eq!(
        files.len(),
        1,
        "{:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert_eq!(&files[0].1, bytes, "the cached copy is the object");
    // What a dvx killed mid-download left there goes at the next load; a live one's stays.
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let dead = child.id();
    child.wait().expect("wait");
    let leftover = ri.cache_dir.join(format!(".dvx-tmp-{dead}-1-0"));
    let ours = ri
        .cache_dir
        .join(format!(".dvx-tmp-{}-1-0", std::process::id()));
    std::fs::write(&leftover, b"half").expect("leftover");
    std::fs::write(&ours, b"half").expect("ours");
    let files = cached(&b);
    let names: Vec<&String> = files.iter().map(|f| &f.0).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(!leftover.exists() && ours.exists(), "{names:?}");
    std::fs::remove_file(&ours).expect("rm");

    let damage = [
        ("corrupt", {
            let mut d = bytes.clone();
            d[2600] ^= 0x21;
            d
        }),
        ("shorter", bytes[..bytes.len() - 100].to_vec()),
    ];
    for (i, (what, damaged)) in damage.into_iter().enumerate() {
        remote.with_objects(|o| o.insert(key.clone(), damaged));
        let c = clone_pointer(&a, &tmp.path().join(format!("c{i}")));
        let ri = RemoteIndex::load(&c, &session).expect("load");
        assert_eq!(ri.damaged.len(), 1, "{what}: {:?}", ri.damaged);
        assert_eq!(&ri.damaged[0].0, key);
        assert!(ri.damaged[0].1.contains(what), "{what}: {:?}", ri.damaged);
        assert!(cached(&c).is_empty(), "{what}: nothing cached");
        fetch_and_compare(&a, &remote, url, &p, &tmp.path().join(format!("d{i}")));
    }
}
