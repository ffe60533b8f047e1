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

use remote_common::leaks::*;
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

    // Every key change is in the audit trail, sealed like the rest: the records name the key
    // ids, and no audit object shows who made it in plaintext.
    let audit = repo.dvx_in_env(
        repo.root(),
        &[("DVX_PASSPHRASE", "second one")],
        &["audit", "--json"],
    );
    audit.ok();
    let records = audit.json()["records"].as_array().unwrap().clone();
    let ops: Vec<(String, Option<String>)> = records
        .iter()
        .map(|r| {
            (
                r["operation"].as_str().unwrap().to_string(),
                r["key"].as_str().map(str::to_string),
            )
        })
        .filter(|(op, _)| op.starts_with("key_"))
        .collect();
    assert_eq!(
        ops,
        vec![
            ("key_create".to_string(), Some(first_id.clone())),
            ("key_add".to_string(), Some(second_id.clone())),
            ("key_remove".to_string(), Some(first_id.clone())),
        ],
        "{audit}"
    );
    assert!(records.iter().any(|r| r["operation"] == "push"), "{audit}");
    let folder = ctx.remote.folder.clone().unwrap();
    let audits = keys_under(&folder, "audit");
    assert!(audits.len() >= records.len(), "{audits:?}");
    for a in &audits {
        let bytes = fs::read(a).unwrap();
        for needle in ["tests@dvx.invalid", "key_add", "\"operation\""] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{} holds {needle:?} in plaintext",
                a.display()
            );
        }
    }
    // A plaintext reading of the trail (no passphrase) is refused, not shown as garbage.
    let mut cmd = repo.dvx_cmd_in(repo.root(), &["audit"]);
    cmd.env_remove("DVX_PASSPHRASE")
        .stdin(std::process::Stdio::null());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
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
            r.stderr_str().contains("needed by") && r.stderr_str().contains("\n  data/"),
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
    // Reading says why nothing is found.
    repo.dvx_in(&clone, &["pull", "data"])
        .code_is(1)
        .stderr_has("encrypt = true");
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
    // A remote named by --remote-url is known encrypted by its keys/.
    let out3 = repo.tmp().join("got3");
    let fresh = TestRepo::new();
    fresh.set_env("DVX_PASSPHRASE", PASS);
    fresh
        .dvx(&[
            "get",
            &src,
            "data",
            "--remote-url",
            &ctx.remote.url,
            "-o",
            &out3.to_string_lossy(),
        ])
        .ok();
    assert_snapshot_eq("dvx get --remote-url", &want, &snapshot(&out3));
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
