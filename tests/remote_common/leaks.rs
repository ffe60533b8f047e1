//! What an encrypted remote must not show (issue 14): every 32-byte window of the plaintext
//! files, chunk ids, file digests and object ids (raw or hex), file names. Shared by the
//! folder (`tests/remote_encrypted.rs`) and S3 (`tests/remote_s3.rs`) tests.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use super::{Ctx, Objects};
use crate::util::*;

/// Distinctive file names the remote must never show.
pub const NAMES: &[&str] = &[
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
pub fn local_chunk_ids(repo: &TestRepo) -> Vec<[u8; 32]> {
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
pub fn local_object_ids(repo: &TestRepo) -> Vec<[u8; 32]> {
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

pub fn hex_bytes(h: &str) -> Option<[u8; 32]> {
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
pub fn leaks(
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
            hex.as_bytes()[..16].to_vec(),
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

pub fn remote_objects(dir: &Path) -> Vec<(String, Vec<u8>)> {
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
