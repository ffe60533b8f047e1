//! Encrypted remotes (`dvx remote add --encrypt`, docs/FORMAT.md section 11) on a folder:
//! the shared remote scenarios (round trips, interrupted transfers, fsck and gc) on an
//! encrypted remote, what the remote sees (no plaintext, ids or names), passphrases and keys,
//! tampering, and two encrypted remotes side by side. The S3 variants are in
//! `tests/remote_s3.rs`.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod remote_common;
mod util;

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use remote_common::*;
use util::*;

const PASS: &str = "correct horse battery staple";

fn enc_ctx(create: bool) -> Ctx {
    let repo = TestRepo::new();
    let remote = Remote::folder(&repo, "remote", create).encrypted(&repo, PASS);
    Ctx { repo, remote }
}

#[test]
fn encrypted_folder_roundtrip_push_all_revs_then_pull_in_clones() {
    roundtrip_all_revs(&enc_ctx(false));
}

#[test]
fn encrypted_folder_roundtrip_push_after_each_version() {
    roundtrip_push_each(&enc_ctx(true));
}

#[test]
fn encrypted_folder_interrupted_push_and_pull_recover() {
    interrupted_transfers(&enc_ctx(true));
}

#[test]
fn encrypted_folder_fsck_and_gc_keep_every_live_version() {
    fsck_and_gc(&enc_ctx(true));
}

/// Distinctive file names the remote must never show.
const NAMES: &[&str] = &[
    "patient_records_alpha.csv",
    "scan_subject_0042.bin",
    "genome_panel_beta.dat",
];

/// Two versions of a small dataset with distinctive names; returns the files' bytes.
pub fn write_secret_versions(ctx: &Ctx) -> Vec<Vec<u8>> {
    let repo = &ctx.repo;
    let mut g = Gen::new(0xe4c_0001);
    let mut files = Vec::new();
    files.push(g.text_file(&repo.path(&format!("data/{}", NAMES[0])), 150_000));
    files.push(g.file(&repo.path(&format!("data/sub/{}", NAMES[1])), 300_000));
    files.push(g.file(&repo.path(&format!("data/sub/{}", NAMES[2])), 40_000));
    repo.dvx(&["add", "data", "-m", "v1"]).ok();
    ctx.add_origin();
    repo.commit("v1");
    repo.git(&["tag", "v1"]).ok();
    ctx.push(&[]);
    g.overwrite(
        &repo.path(&format!("data/sub/{}", NAMES[1])),
        100_000,
        5_000,
    );
    g.file(&repo.path("data/sub/extra_volunteer_9.bin"), 70_000);
    repo.dvx(&["add", "data", "-m", "v2"]).ok();
    repo.commit("v2");
    ctx.push(&[]);
    files.push(fs::read(repo.path(&format!("data/sub/{}", NAMES[1]))).unwrap());
    files.push(fs::read(repo.path("data/sub/extra_volunteer_9.bin")).unwrap());
    files
}

/// Every chunk id in the local store's index files (format: docs/FORMAT.md section 5).
fn local_chunk_ids(repo: &TestRepo) -> Vec<[u8; 32]> {
    let mut files = Vec::new();
    find_files(
        &repo.path(".dvx/store/index"),
        &mut |p| p.extension().is_some_and(|e| e == "idx"),
        &mut files,
    );
    let mut out = Vec::new();
    for f in files {
        let d = fs::read(&f).unwrap();
        let p = u32::from_le_bytes(d[12..16].try_into().unwrap()) as usize;
        let n = u64::from_le_bytes(d[16..24].try_into().unwrap()) as usize;
        let start = 1048 + 32 * p;
        for i in 0..n {
            let e = &d[start + 56 * i..start + 56 * i + 32];
            out.push(e.try_into().unwrap());
        }
    }
    assert!(!out.is_empty(), "no chunk ids found in the local store");
    out
}

/// The ids named by files of the local store (trees, packs): hex names of 64 digits.
fn local_object_ids(repo: &TestRepo) -> Vec<[u8; 32]> {
    let mut files = Vec::new();
    find_files(&repo.path(".dvx/store/trees"), &mut |_| true, &mut files);
    files.extend(repo.pack_files());
    files
        .iter()
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?;
            let h = name.strip_suffix(".pack").unwrap_or(name);
            hex_bytes(h)
        })
        .collect()
}

fn hex_bytes(h: &str) -> Option<[u8; 32]> {
    if h.len() != 64 {
        return None;
    }
    let v: Option<Vec<u8>> = (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).ok())
        .collect();
    v?.try_into().ok()
}

/// What leaks of `secrets` into the remote's objects (names and bytes): every 32-byte window
/// of each plaintext file, each id raw and as hex, each name.
fn leaks(
    objects: &[(String, Vec<u8>)],
    files: &[Vec<u8>],
    ids: &[[u8; 32]],
    names: &[&str],
) -> Vec<String> {
    let mut windows: HashSet<&[u8]> = HashSet::new();
    for f in files {
        for w in f.windows(32) {
            windows.insert(w);
        }
    }
    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    for id in ids {
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        needles.push((format!("id {hex} (raw)"), id.to_vec()));
        needles.push((format!("id {hex} (hex)"), hex.clone().into_bytes()));
        // Names in listings hold only part of an id (`<2hex>/`): a 16-digit prefix is
        // already a confirmation.
        needles.push((
            format!("id {hex} (hex prefix)"),
            hex[..16].as_bytes().to_vec(),
        ));
    }
    for n in names {
        needles.push((format!("name {n}"), n.as_bytes().to_vec()));
    }
    let mut found = Vec::new();
    for (key, data) in objects {
        if let Some(off) = data.windows(32).position(|w| windows.contains(w)) {
            found.push(format!("{key}: 32 plaintext bytes at offset {off}"));
        }
        for (what, n) in &needles {
            let in_key = key.as_bytes().windows(n.len()).any(|w| w == n.as_slice());
            let in_data = data.windows(n.len()).any(|w| w == n.as_slice());
            if in_key || in_data {
                found.push(format!("{key}: {what}"));
            }
        }
    }
    found
}

fn remote_objects(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    find_files(dir, &mut |_| true, &mut files);
    files.sort();
    files
        .iter()
        .map(|p| {
            (
                p.strip_prefix(dir).unwrap().to_string_lossy().into_owned(),
                fs::read(p).unwrap(),
            )
        })
        .collect()
}

/// What a remote of either kind stores, by key.
pub fn all_objects(ctx: &Ctx) -> Vec<(String, Vec<u8>)> {
    if let Some(dir) = &ctx.remote.folder {
        return remote_objects(dir);
    }
    let (env, prefix) = ctx.remote.s3.as_ref().expect("a folder or S3 remote");
    env.list(&format!("{prefix}/"))
        .expect("list the bucket")
        .into_iter()
        .map(|(k, _)| {
            let data = env.get_object(&k).expect("read an object");
            (
                k.strip_prefix(&format!("{prefix}/")).unwrap().to_string(),
                data,
            )
        })
        .collect()
}

/// Two versions pushed: no remote object holds plaintext, an id or a name; the same check
/// finds them on an unencrypted remote (so it can fail).
pub fn nothing_leaks(ctx: &Ctx) {
    let files = write_secret_versions(ctx);
    let mut ids = local_chunk_ids(&ctx.repo);
    ids.extend(local_object_ids(&ctx.repo));
    let ls = ctx.dvx(&["ls", "--json", "data"]);
    ls.ok();
    for e in ls.json()["entries"].as_array().unwrap() {
        if let Some(d) = e["digest"].as_str() {
            ids.push(hex_bytes(d).unwrap());
        }
    }
    let objects = all_objects(ctx);
    let objs = Objects::classify(
        &objects
            .iter()
            .map(|(k, d)| (k.clone(), d.len() as u64))
            .collect::<Vec<_>>(),
    );
    assert!(!objs.packs.is_empty() && !objs.trees.is_empty(), "{objs:?}");
    assert_eq!(objs.keys.len(), 1, "{objs:?}");
    let found = leaks(&objects, &files, &ids, NAMES);
    assert!(
        found.is_empty(),
        "the encrypted remote shows:\n{}",
        found.join("\n")
    );

    // The same data on a plain remote: the check sees it.
    let plain = ctx.repo.tmp().join("plain-remote");
    ctx.dvx(&["remote", "add", "plain", &plain.to_string_lossy()])
        .ok();
    ctx.dvx(&["push", "-r", "plain", "--all-revs"]).ok();
    let found = leaks(&remote_objects(&plain), &files, &ids, NAMES);
    assert!(
        found.iter().any(|f| f.contains("plaintext bytes"))
            && found.iter().any(|f| f.contains("(hex)")),
        "the leak check finds nothing on a plain remote either: {found:?}"
    );
}

#[test]
fn encrypted_folder_remote_holds_no_plaintext_ids_or_names() {
    nothing_leaks(&enc_ctx(true));
}

fn clone_pull(ctx: &Ctx, name: &str, env: &[(&str, &str)]) -> (PathBuf, Run) {
    let clone = ctx.repo.clone_to(name, &[]);
    let r = ctx.repo.dvx_in_env(&clone, env, &["pull"]);
    (clone, r)
}

/// Nothing was written: no dataset, no pack in the clone's store.
#[track_caller]
fn nothing_written(clone: &Path) {
    assert!(!clone.join("data").exists(), "a failed pull wrote data/");
    let mut packs = Vec::new();
    find_files(&clone.join(".dvx/store/packs"), &mut |_| true, &mut packs);
    assert!(packs.is_empty(), "a failed pull stored {packs:?}");
}

#[test]
fn passphrases_open_the_remote_and_keys_can_be_added_and_removed() {
    let ctx = enc_ctx(true);
    let repo = &ctx.repo;
    write_secret_versions(&ctx);
    let want = repo.snapshot("data");
    let cfg = fs::read_to_string(repo.path(".dvx/config.toml")).unwrap();
    assert!(cfg.contains("encrypt = true"), "{cfg}");
    assert!(!cfg.contains(PASS), "the passphrase is in config.toml");

    // The right passphrase: byte-identical; v1 and a path inside it too.
    let (clone, r) = clone_pull(&ctx, "good", &[]);
    r.ok();
    assert_snapshot_eq("pull with the passphrase", &want, &snap_in(&clone, "data"));
    repo.dvx_in(&clone, &["pull", "v1", "data"]).ok();

    // None: exit 1, says what to set, nothing written.
    let clone = repo.clone_to("none", &[]);
    let mut cmd = repo.dvx_cmd_in(&clone, &["pull"]);
    cmd.env_remove("DVX_PASSPHRASE")
        .stdin(std::process::Stdio::null());
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("DVX_PASSPHRASE") && err.contains("passphrase_command"),
        "{err}"
    );
    nothing_written(&clone);

    // Wrong: exit 1, clear, nothing written, the passphrase not echoed.
    let (clone, r) = clone_pull(&ctx, "wrong", &[("DVX_PASSPHRASE", "not the one")]);
    r.code_is(1).stderr_has("cannot open its key");
    assert!(!r.stderr_str().contains("not the one"), "{r}");
    nothing_written(&clone);

    // From a file and from a command.
    let pfile = repo.tmp().join("pass.txt");
    fs::write(&pfile, format!("{PASS}\n")).unwrap();
    let pf = pfile.to_string_lossy().into_owned();
    let clone = repo.clone_to("file", &[]);
    let mut cmd = repo.dvx_cmd_in(&clone, &["pull"]);
    cmd.env_remove("DVX_PASSPHRASE")
        .env("DVX_PASSPHRASE_FILE", &pf);
    assert!(cmd.output().unwrap().status.success());
    assert_snapshot_eq("DVX_PASSPHRASE_FILE", &want, &snap_in(&clone, "data"));
    let clone = repo.clone_to("command", &[]);
    fs::write(
        clone.join(".dvx/config.local.toml"),
        format!("[remotes.origin]\npassphrase_command = \"cat '{pf}'\"\n"),
    )
    .unwrap();
    let mut cmd = repo.dvx_cmd_in(&clone, &["pull"]);
    cmd.env_remove("DVX_PASSPHRASE");
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_snapshot_eq("passphrase_command", &want, &snap_in(&clone, "data"));

    // A second passphrase.
    let first_id = ctx.dvx(&["key", "list"]).ok().stdout_str();
    let first_id = first_id.split('\t').next().unwrap().to_string();
    repo.dvx_in_env(
        repo.root(),
        &[("DVX_NEW_PASSPHRASE", "second one")],
        &["key", "add"],
    )
    .ok()
    .stdout_has("added key");
    let list = ctx.dvx(&["key", "list", "--json"]);
    list.ok();
    assert_eq!(list.json()["keys"].as_array().unwrap().len(), 2, "{list}");
    let (clone, r) = clone_pull(&ctx, "second", &[("DVX_PASSPHRASE", "second one")]);
    r.ok();
    assert_snapshot_eq("the second passphrase", &want, &snap_in(&clone, "data"));

    // Removing the first: it no longer opens; the last key cannot be removed.
    repo.dvx_in_env(
        repo.root(),
        &[("DVX_PASSPHRASE", "second one")],
        &["key", "remove", &first_id],
    )
    .ok();
    let (clone, r) = clone_pull(&ctx, "first-removed", &[]);
    r.code_is(1).stderr_has("cannot open its key");
    nothing_written(&clone);
    let second_id = ctx.dvx(&["key", "list"]).ok().stdout_str();
    let second_id = second_id.split('\t').next().unwrap().to_string();
    repo.dvx_in_env(
        repo.root(),
        &[("DVX_PASSPHRASE", "second one")],
        &["key", "remove", &second_id],
    )
    .code_is(1)
    .stderr_has("last key");
}

/// Copies a folder tree (to restore a remote after tampering with it).
fn copy_dir(from: &Path, to: &Path) {
    let _ = fs::remove_dir_all(to);
    let mut files = Vec::new();
    find_files(from, &mut |_| true, &mut files);
    for f in files {
        let dest = to.join(f.strip_prefix(from).unwrap());
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(&f, &dest).unwrap();
    }
}

fn flip(path: &Path, at: usize) {
    let mut d = fs::read(path).unwrap();
    let at = at.min(d.len() - 1);
    d[at] ^= 0x40;
    fs::write(path, d).unwrap();
}

fn keys_under(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    find_files(&dir.join(prefix), &mut |_| true, &mut files);
    files.sort();
    files
}

#[test]
fn tampering_is_detected_and_named_and_nothing_wrong_is_written() {
    let ctx = enc_ctx(true);
    let repo = &ctx.repo;
    // Two pushes: two packs, two indexes.
    write_secret_versions(&ctx);
    let want = repo.snapshot("data");
    let dir = ctx.remote.folder.clone().unwrap();
    let pristine = repo.tmp().join("pristine");
    copy_dir(&dir, &pristine);
    let packs = keys_under(&dir, "packs");
    let indexes = keys_under(&dir, "index");
    let trees = keys_under(&dir, "trees");
    assert!(
        packs.len() >= 2 && indexes.len() >= 2,
        "{packs:?} {indexes:?}"
    );

    let mut n = 0;
    let mut attempt = |what: &str, tamper: &dyn Fn()| -> (PathBuf, Run) {
        copy_dir(&pristine, &dir);
        tamper();
        n += 1;
        let (clone, r) = clone_pull(&ctx, &format!("t{n}"), &[]);
        eprintln!("{what}: {r}");
        // Whatever happened, nothing wrong is in the worktree.
        assert_partial_ok(&want, &snap_in(&clone, "data"), what);
        (clone, r)
    };

    // A flipped byte in a chunk frame of each pack: the pack, the chunk and files named.
    for p in &packs {
        let (clone, r) = attempt("pack byte", &|| flip(p, 200));
        // The chunk may be v1's only.
        let r = if r.code() == Some(0) {
            repo.dvx_in(&clone, &["fetch", "v1"])
        } else {
            r
        };
        r.code_is(1)
            .stderr_has("in pack")
            .stderr_has("fails authentication");
        assert!(
            NAMES.iter().any(|n| r.stderr_str().contains(n)),
            "the affected files are not named: {r}"
        );
    }
    // A flipped byte in each tree: the tree named (by the pull, or by a fetch of v1 when
    // the tree is v1's only).
    for t in &trees {
        let (clone, r) = attempt("tree byte", &|| flip(t, 100));
        let r = if r.code() == Some(0) {
            repo.dvx_in(&clone, &["fetch", "v1"])
        } else {
            r
        };
        r.code_is(1)
            .stderr_has("tree ")
            .stderr_has("fails authentication");
    }
    // A flipped byte in an index: named in a warning; the packs are read through their
    // sealed trailers and the pull is right.
    for i in &indexes {
        let (clone, r) = attempt("index byte", &|| flip(i, 50));
        r.ok();
        let key = i.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
        r.stderr_has(&key).stderr_has("fails authentication");
        assert_snapshot_eq("pull past a bad index", &want, &snap_in(&clone, "data"));
    }
    // A swapped pair of packs.
    let (_, r) = attempt("swapped packs", &|| {
        let a = fs::read(&packs[0]).unwrap();
        let b = fs::read(&packs[1]).unwrap();
        fs::write(&packs[0], b).unwrap();
        fs::write(&packs[1], a).unwrap();
    });
    // Named either way: a chunk's frame that does not open, or a pack shorter than its index
    // says.
    r.code_is(1).stderr_has("pack ");
    let e = r.stderr_str();
    assert!(
        e.contains("fails authentication") || e.contains("missing or truncated"),
        "{r}"
    );
    // An old index replayed under another name.
    let (clone, r) = attempt("index replayed", &|| {
        let a = fs::read(&indexes[0]).unwrap();
        fs::write(&indexes[1], a).unwrap();
    });
    r.ok();
    let key = indexes[1]
        .strip_prefix(&dir)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    r.stderr_has(&key).stderr_has("fails authentication");
    assert_snapshot_eq(
        "pull past a replayed index",
        &want,
        &snap_in(&clone, "data"),
    );
    // A flipped byte in the key object, then the key object deleted: named, nothing written.
    let key_obj = keys_under(&dir, "keys").pop().unwrap();
    let (clone, r) = attempt("key byte", &|| flip(&key_obj, 300));
    r.code_is(1).stderr_has("keys/");
    nothing_written(&clone);
    let (clone, r) = attempt("key deleted", &|| fs::remove_file(&key_obj).unwrap());
    r.code_is(1).stderr_has("no key object under keys/");
    nothing_written(&clone);

    // fsck --remote names a damaged tree and a damaged index.
    copy_dir(&pristine, &dir);
    flip(&trees[0], 100);
    flip(&indexes[0], 50);
    let r = ctx.dvx(&["fsck", "--remote"]);
    r.code_is(1);
    let out = format!("{}{}", r.stdout_str(), r.stderr_str());
    assert!(out.contains("fails authentication"), "{r}");
}

#[test]
fn a_client_that_does_not_know_the_remote_is_encrypted_does_not_write_to_it() {
    let ctx = enc_ctx(true);
    let repo = &ctx.repo;
    write_secret_versions(&ctx);
    let dir = ctx.remote.folder.clone().unwrap();
    let before = remote_objects(&dir);
    let clone = repo.clone_to("plain-client", &[]);
    let cfg = fs::read_to_string(clone.join(".dvx/config.toml")).unwrap();
    fs::write(
        clone.join(".dvx/config.toml"),
        cfg.replace("encrypt = true\n", ""),
    )
    .unwrap();
    let mut g = Gen::new(0xe4c_0009);
    g.file(&clone.join("other/x.bin"), 10_000);
    repo.dvx_in(&clone, &["add", "other"]).ok();
    repo.dvx_in(&clone, &["push"])
        .code_is(1)
        .stderr_has("is encrypted");
    repo.dvx_in(&clone, &["gc", "--remote", "--keep-days", "0"])
        .code_is(1)
        .stderr_has("is encrypted");
    assert_eq!(remote_objects(&dir), before, "the remote changed");
}

#[test]
fn two_encrypted_remotes_in_one_folder_are_independent() {
    let repo = TestRepo::new();
    let base = repo.tmp().join("bucket");
    fs::create_dir_all(&base).unwrap();
    let mut g = Gen::new(0xe4c_0002);
    g.tree(&repo.path("data"), 2, 4, 50_000);
    repo.dvx(&["add", "data"]).ok();
    let a = base.join("team-a").to_string_lossy().into_owned();
    let b = base.join("team-b").to_string_lossy().into_owned();
    repo.dvx_in_env(
        repo.root(),
        &[("DVX_PASSPHRASE", "alpha pass")],
        &["remote", "add", "a", &a, "--encrypt"],
    )
    .ok();
    repo.dvx_in_env(
        repo.root(),
        &[("DVX_PASSPHRASE", "beta pass")],
        &["remote", "add", "b", &b, "--encrypt"],
    )
    .ok();
    repo.commit("two remotes");
    repo.dvx_in_env(
        repo.root(),
        &[("DVX_PASSPHRASE", "alpha pass")],
        &["push", "-r", "a"],
    )
    .ok();
    repo.dvx_in_env(
        repo.root(),
        &[("DVX_PASSPHRASE", "beta pass")],
        &["push", "-r", "b"],
    )
    .ok();
    // The same data, under different keys: no object name in common.
    let names = |d: &str| -> HashSet<String> {
        remote_objects(Path::new(d))
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with("packs/") || k.starts_with("trees/"))
            .collect()
    };
    let (na, nb) = (names(&a), names(&b));
    assert!(!na.is_empty() && na.is_disjoint(&nb), "{na:?} {nb:?}");
    // Each passphrase opens its own remote only.
    let want = repo.snapshot("data");
    for (remote, pass, other) in [("a", "alpha pass", "b"), ("b", "beta pass", "a")] {
        let clone = repo.clone_to(&format!("team-{remote}"), &[]);
        repo.dvx_in_env(&clone, &[("DVX_PASSPHRASE", pass)], &["pull", "-r", other])
            .code_is(1)
            .stderr_has("cannot open its key");
        nothing_written(&clone);
        repo.dvx_in_env(&clone, &[("DVX_PASSPHRASE", pass)], &["pull", "-r", remote])
            .ok();
        assert_snapshot_eq("own remote", &want, &snap_in(&clone, "data"));
    }
}

#[test]
fn get_and_import_read_a_source_whose_remote_is_encrypted() {
    let ctx = enc_ctx(true);
    let repo = &ctx.repo;
    write_secret_versions(&ctx);
    let want = repo.snapshot("data");
    // A clone holds no data: everything comes from the encrypted remote.
    let src = repo.clone_to("source", &[]).to_string_lossy().into_owned();
    let out = repo.tmp().join("got");
    let consumer = TestRepo::new();
    consumer.set_env("DVX_PASSPHRASE", PASS);
    consumer
        .dvx(&["get", &src, "data", "-o", &out.to_string_lossy()])
        .ok();
    assert_snapshot_eq("dvx get", &want, &snapshot(&out));
    consumer
        .dvx(&["import", &src, "data", "-o", "imported"])
        .ok();
    assert_snapshot_eq("dvx import", &want, &consumer.snapshot("imported"));
    // Without the passphrase (and nothing cached): exit 1, nothing written.
    let out2 = repo.tmp().join("got2");
    let consumer = TestRepo::new();
    let mut cmd = consumer.dvx_cmd(&["get", &src, "data", "-o", &out2.to_string_lossy()]);
    cmd.stdin(std::process::Stdio::null());
    let o = cmd.output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out2.exists(), "a failed get wrote {}", out2.display());
}
