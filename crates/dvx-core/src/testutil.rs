//! What unit tests that need a real repository share.

#[cfg(unix)]
use std::collections::BTreeMap;
use std::path::Path;

#[cfg(unix)]
use rand::Rng;

use crate::workspace::{Workspace, WorkspaceOptions};

/// Runs git in `dir` (without the user's configuration); panics unless it succeeds.
fn git(dir: &Path, args: &[&str]) {
    let st = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        st.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}

/// Writes `data/{sub}/f{i}.bin` below `dir` for each `i`, of 500 to 3,000 random bytes (one
/// chunk each), and returns their chunks.
pub(crate) fn random_files(
    dir: &Path,
    rng: &mut impl rand::RngCore,
    sub: &str,
    files: std::ops::Range<usize>,
) -> Vec<dvx_store::ChunkId> {
    let at = dir.join("data").join(sub);
    std::fs::create_dir_all(&at).expect("mkdir");
    files
        .map(|i| {
            let mut b = vec![0u8; 500 + (rng.next_u32() % 2500) as usize];
            rng.fill_bytes(&mut b);
            std::fs::write(at.join(format!("f{i}.bin")), &b).expect("write");
            dvx_store::ChunkId::of(&b)
        })
        .collect()
}

/// `dvx add data` in `ws`.
pub(crate) fn add_data(ws: &Workspace) {
    let opts = crate::AddOptions {
        paths: vec!["data".into()],
        cwd: ws.root().to_path_buf(),
        ..crate::AddOptions::default()
    };
    crate::add(ws, &opts, &crate::NoProgress).expect("add");
}

/// Commits everything in the worktree at `dir`.
pub(crate) fn commit(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
}

/// A git repository at `dir` with dvx initialised.
pub(crate) fn repo(dir: &Path) -> Workspace {
    std::fs::create_dir_all(dir).expect("mkdir");
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.email", "t@example.com"]);
    git(dir, &["config", "user.name", "t"]);
    let ws = Workspace::open(&WorkspaceOptions {
        start: dir.to_path_buf(),
        ..WorkspaceOptions::default()
    })
    .expect("workspace");
    crate::init(&ws).expect("init");
    ws
}

/// A repository in a new temporary folder (`<tmp>/r`, removed when the first value is
/// dropped) and a random generator seeded with `seed` for its data.
pub(crate) fn seeded_repo(
    seed: u64,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    Workspace,
    rand_chacha::ChaCha8Rng,
) {
    use rand::SeedableRng;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("r");
    let ws = repo(&dir);
    (tmp, dir, ws, rand_chacha::ChaCha8Rng::seed_from_u64(seed))
}

#[cfg(unix)]
/// Names around `/` in byte order: `a-b` and `a.b` sort before `a/x`, `a0` after it.
const NAMES: [&str; 6] = ["a", "a-b", "a.b", "a0", "b", "\u{e9}"];

#[cfg(unix)]
/// Fills `dir` with a random tree over [`NAMES`], three levels deep: files (of a few
/// contents), links, empty and full directories.
pub(crate) fn fill(rng: &mut impl Rng, dir: &Path, depth: usize) {
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

#[cfg(unix)]
/// Changes the tree below `dir` at random: entries removed, rewritten, replaced by the
/// other kind, new ones added.
pub(crate) fn mutate(rng: &mut impl Rng, dir: &Path, depth: usize) {
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

#[cfg(unix)]
/// Everything below `dir`, extra files included: path -> kind and content (a link's target).
pub(crate) fn disk_tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for ent in std::fs::read_dir(&d).expect("list") {
            let path = ent.expect("entry").path();
            let rel = path
                .strip_prefix(dir)
                .expect("below")
                .to_string_lossy()
                .into_owned();
            let m = std::fs::symlink_metadata(&path).expect("lstat");
            let what = if m.is_dir() {
                stack.push(path);
                "dir".to_string()
            } else if m.is_symlink() {
                format!(
                    "link {}",
                    std::fs::read_link(&path).expect("readlink").display()
                )
            } else {
                use std::os::unix::fs::PermissionsExt;
                let bytes = std::fs::read(&path).expect("read");
                format!(
                    "file {:o} {}",
                    m.permissions().mode() & 0o111,
                    blake3::hash(&bytes).to_hex()
                )
            };
            out.insert(rel, what);
        }
    }
    out
}
