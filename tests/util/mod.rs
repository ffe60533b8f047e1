//! Shared helpers for the end-to-end tests of the `dvx` binary.
//!
//! Every test gets its own [`TestRepo`]: a temporary directory holding a fresh git repository
//! at `<tmp>/repo` (with a sibling `<tmp>/outside` that is *not* inside the repository), git
//! isolated from the user's and the system's configuration, and helpers to run `dvx` and `git`
//! in it. [`Gen`] produces seeded (reproducible) file contents and trees, [`snapshot`] records
//! a directory (kind, BLAKE3 of content, symlink target, executable bit) so that two states can
//! be compared exactly, and the `assert_*` helpers print the command, its exit status, stdout
//! and stderr when they fail.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

pub mod cloud;
pub mod s3;
pub mod web;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::ops::Deref;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The `dvx` binary built by cargo for this package.
pub const DVX: &str = env!("CARGO_BIN_EXE_dvx");

/// The binary the tests run: [`DVX`], or `$DVX_TEST_BIN` (to show that a test fails with an
/// older build).
pub fn dvx_bin() -> String {
    std::env::var("DVX_TEST_BIN").unwrap_or_else(|_| DVX.to_string())
}

/// First commit timestamp (2023-11-14T22:13:20Z); every commit is one minute later.
const BASE_EPOCH: u64 = 1_700_000_000;

/// Environment shared by every `git` and `dvx` process started by the tests.
fn isolate(cmd: &mut Command, ceiling: &Path) {
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CEILING_DIRECTORIES", ceiling)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C.UTF-8")
        .env("NO_COLOR", "1")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES")
        .env_remove("GIT_AUTHOR_DATE")
        .env_remove("GIT_COMMITTER_DATE")
        .env_remove("DVX_STORE")
        .stdin(Stdio::null());
}

/// The result of one command, with the command line kept for error messages.
pub struct Run {
    pub cmd: String,
    pub out: Output,
}

impl Deref for Run {
    type Target = Output;
    fn deref(&self) -> &Output {
        &self.out
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command: {}", self.cmd)?;
        writeln!(f, "status:  {}", self.out.status)?;
        writeln!(f, "--- stdout ---")?;
        let so = String::from_utf8_lossy(&self.out.stdout);
        if so.len() > 4000 {
            let head: String = so.chars().take(4000).collect();
            writeln!(f, "{head}... ({} bytes)", so.len())?;
        } else {
            writeln!(f, "{so}")?;
        }
        writeln!(f, "--- stderr ---")?;
        writeln!(f, "{}", String::from_utf8_lossy(&self.out.stderr))
    }
}

impl Run {
    /// Exit code (`None` when killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.out.status.code()
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    /// Panics (printing everything) unless the command exited 0.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert!(self.out.status.success(), "expected success\n{self}");
        self
    }
    /// Panics (printing everything) unless the command exited with `code`.
    #[track_caller]
    pub fn code_is(&self, code: i32) -> &Self {
        assert_eq!(self.code(), Some(code), "expected exit code {code}\n{self}");
        self
    }
    /// Panics unless the exit code is one of `codes`.
    #[track_caller]
    pub fn code_in(&self, codes: &[i32]) -> &Self {
        assert!(
            self.code().is_some_and(|c| codes.contains(&c)),
            "expected an exit code in {codes:?}\n{self}"
        );
        self
    }
    /// Panics unless stderr contains `needle`.
    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr_str().contains(needle),
            "expected stderr to mention {needle:?}\n{self}"
        );
        self
    }
    /// Panics unless stdout contains `needle`.
    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout_str().contains(needle),
            "expected stdout to contain {needle:?}\n{self}"
        );
        self
    }
    /// Errors go to stderr as `error: ...`.
    #[track_caller]
    pub fn stderr_is_error(&self) -> &Self {
        assert!(
            self.stderr_str().contains("error:"),
            "expected an `error: ...` line on stderr\n{self}"
        );
        self
    }
    /// Parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_slice(&self.out.stdout) {
            Ok(v) => v,
            Err(e) => panic!("stdout is not JSON: {e}\n{self}"),
        }
    }
}

/// A temporary git repository (`<tmp>/repo`) to run dvx in.
pub struct TestRepo {
    tmp: tempfile::TempDir,
    root: PathBuf,
    commits: Cell<u64>,
    /// Extra environment for every `dvx` process (see [`TestRepo::set_env`]).
    env: RefCell<Vec<(String, Option<String>)>>,
}

impl TestRepo {
    /// A git repository with `dvx init` already run (and nothing committed yet).
    pub fn new() -> TestRepo {
        let repo = TestRepo::bare_git();
        repo.dvx(&["init"]).ok();
        repo
    }

    /// A git repository where dvx has not been initialised.
    pub fn bare_git() -> TestRepo {
        let tmp = tempfile::Builder::new()
            .prefix("dvx-e2e-")
            .tempdir()
            .expect("create temp dir");
        let root = tmp.path().join("repo");
        fs::create_dir(&root).expect("mkdir repo");
        fs::create_dir(tmp.path().join("outside")).expect("mkdir outside");
        let repo = TestRepo {
            tmp,
            root,
            commits: Cell::new(0),
            env: RefCell::new(Vec::new()),
        };
        repo.git(&["init", "-q", "-b", "main"]).ok();
        repo.git(&["config", "user.name", "dvx tests"]).ok();
        repo.git(&["config", "user.email", "tests@dvx.invalid"])
            .ok();
        repo.git(&["config", "commit.gpgsign", "false"]).ok();
        repo.git(&["config", "core.autocrlf", "false"]).ok();
        repo
    }

    /// The repository's worktree root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The temp dir holding the repository (its parent); not inside any git repository.
    pub fn tmp(&self) -> &Path {
        self.tmp.path()
    }

    /// `<tmp>/outside`: an existing directory outside the repository.
    pub fn outside(&self) -> PathBuf {
        self.tmp.path().join("outside")
    }

    /// A path inside the repository.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// A `dvx -q <args>` command (cwd = repo root) that the caller may adjust and spawn.
    pub fn dvx_cmd(&self, args: &[&str]) -> Command {
        self.dvx_cmd_in(&self.root, args)
    }

    /// A `dvx -q <args>` command run in `dir`.
    pub fn dvx_cmd_in(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(dvx_bin());
        isolate(&mut cmd, self.tmp.path());
        self.apply_env(&mut cmd);
        cmd.current_dir(dir).arg("-q").args(args);
        cmd
    }

    /// Runs `dvx -q <args>` at the repo root.
    pub fn dvx(&self, args: &[&str]) -> Run {
        self.dvx_in(&self.root, args)
    }

    /// Runs `dvx -q <args>` in `dir`.
    pub fn dvx_in(&self, dir: &Path, args: &[&str]) -> Run {
        let cmd = self.dvx_cmd_in(dir, args);
        run(cmd, "dvx -q", args, dir)
    }

    /// Runs `dvx <args>` (without `-q`) at the repo root, stdin/stdout/stderr not terminals.
    pub fn dvx_loud(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(dvx_bin());
        isolate(&mut cmd, self.tmp.path());
        self.apply_env(&mut cmd);
        cmd.current_dir(&self.root).args(args);
        run(cmd, "dvx", args, &self.root)
    }

    /// Sets `key=value` in the environment of every later `dvx` process of this repository
    /// (and of the clones run through it with [`dvx_in`](Self::dvx_in)); replaces an earlier
    /// setting of `key`.
    pub fn set_env(&self, key: &str, value: &str) {
        let mut env = self.env.borrow_mut();
        env.retain(|(k, _)| k != key);
        env.push((key.to_string(), Some(value.to_string())));
    }

    /// Removes `key` from the environment of every later `dvx` process.
    pub fn unset_env(&self, key: &str) {
        let mut env = self.env.borrow_mut();
        env.retain(|(k, _)| k != key);
        env.push((key.to_string(), None));
    }

    /// Runs `dvx -q <args>` in `dir` with `envs` set on top of [`set_env`](Self::set_env)'s.
    pub fn dvx_in_env(&self, dir: &Path, envs: &[(&str, &str)], args: &[&str]) -> Run {
        let mut cmd = self.dvx_cmd_in(dir, args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        run(cmd, "dvx -q", args, dir)
    }

    fn apply_env(&self, cmd: &mut Command) {
        for (k, v) in self.env.borrow().iter() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
    }

    /// `git clone -q <extra args> file://<repo root> <tmp>/<name>`; returns the clone's path.
    /// The clone gets the same user and commit settings as the repository.
    #[track_caller]
    pub fn clone_to(&self, name: &str, extra: &[&str]) -> PathBuf {
        let dest = self.tmp.path().join(name);
        let url = format!("file://{}", self.root.display());
        let dest_s = dest.to_string_lossy().into_owned();
        let mut args = vec!["clone", "-q"];
        args.extend_from_slice(extra);
        args.push(&url);
        args.push(&dest_s);
        self.git_in(self.tmp.path(), &args).ok();
        for (k, v) in [
            ("user.name", "dvx tests"),
            ("user.email", "tests@dvx.invalid"),
            ("commit.gpgsign", "false"),
            ("core.autocrlf", "false"),
        ] {
            self.git_in(&dest, &["config", k, v]).ok();
        }
        dest
    }

    /// Runs `dvx -q <args>` at the repo root with extra environment variables.
    pub fn dvx_env(&self, envs: &[(&str, &Path)], args: &[&str]) -> Run {
        let mut cmd = self.dvx_cmd(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        run(cmd, "dvx -q", args, &self.root)
    }

    /// Runs `git <args>` at the repo root.
    pub fn git(&self, args: &[&str]) -> Run {
        self.git_in(&self.root, args)
    }

    /// Runs `git <args>` in `dir`.
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> Run {
        let mut cmd = Command::new("git");
        isolate(&mut cmd, self.tmp.path());
        cmd.current_dir(dir).args(args);
        run(cmd, "git", args, dir)
    }

    /// Stdout of a successful `git <args>`, trimmed.
    #[track_caller]
    pub fn git_out(&self, args: &[&str]) -> String {
        self.git(args).ok().stdout_str().trim().to_string()
    }

    /// `git commit -q -m msg` (of what is staged) with a fixed, increasing date. Returns the
    /// new commit id.
    #[track_caller]
    pub fn commit(&self, msg: &str) -> String {
        let n = self.commits.get() + 1;
        self.commits.set(n);
        let date = format!("{} +0000", BASE_EPOCH + 60 * n);
        let mut cmd = Command::new("git");
        isolate(&mut cmd, self.tmp.path());
        cmd.current_dir(&self.root)
            .args(["commit", "-q", "-m", msg])
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date);
        run(cmd, "git", &["commit", "-q", "-m", msg], &self.root).ok();
        self.git_out(&["rev-parse", "HEAD"])
    }

    /// `git add -A -- <paths>` then [`commit`](Self::commit).
    #[track_caller]
    pub fn commit_all(&self, msg: &str) -> String {
        self.git(&["add", "-A"]).ok();
        self.commit(msg)
    }

    /// Names staged in the index relative to HEAD (or to the empty tree before the first commit).
    pub fn staged(&self) -> Vec<String> {
        let out = self
            .git(&["diff", "--cached", "--name-only", "-z", "--no-renames"])
            .ok()
            .stdout
            .clone();
        out.split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    }

    /// Reads a file of the repository.
    #[track_caller]
    pub fn read(&self, rel: &str) -> Vec<u8> {
        fs::read(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Reads a text file of the repository.
    #[track_caller]
    pub fn read_str(&self, rel: &str) -> String {
        String::from_utf8(self.read(rel)).unwrap_or_else(|e| panic!("{rel} is not UTF-8: {e}"))
    }

    /// Writes a file of the repository, creating parent directories.
    #[track_caller]
    pub fn write(&self, rel: &str, bytes: &[u8]) {
        write_file(&self.path(rel), bytes);
    }

    /// The parsed pointer file `rel` (e.g. `data.dvx`) in the worktree.
    #[track_caller]
    pub fn pointer(&self, rel: &str) -> Pointer {
        Pointer::parse(&self.read_str(rel))
    }

    /// The parsed pointer file `rel` as stored in commit `rev`.
    #[track_caller]
    pub fn pointer_at(&self, rev: &str, rel: &str) -> Pointer {
        Pointer::parse(&self.git_out(&["show", &format!("{rev}:{rel}")]))
    }

    /// Snapshot of a directory (or single file) of the repository.
    pub fn snapshot(&self, rel: &str) -> Snapshot {
        snapshot(&self.path(rel))
    }

    /// Every `*.pack` file below the store (`.dvx/store/packs`), recursively.
    pub fn pack_files(&self) -> Vec<PathBuf> {
        let mut v = Vec::new();
        find_files(
            &self.path(".dvx/store/packs"),
            &mut |p| p.extension().is_some_and(|e| e == "pack"),
            &mut v,
        );
        v.sort();
        v
    }

    /// Total size in bytes of every regular file below `.dvx/store`.
    pub fn store_size(&self) -> u64 {
        let mut v = Vec::new();
        find_files(&self.path(".dvx/store"), &mut |_| true, &mut v);
        v.iter()
            .map(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .sum()
    }
}

fn run(mut cmd: Command, prog: &str, args: &[&str], dir: &Path) -> Run {
    let line = format!("(cd {} && {prog} {})", dir.display(), args.join(" "));
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("failed to start {line}: {e}"));
    Run { cmd: line, out }
}

/// A size as dvx's human output prints it: `512 B`, `4.9 KiB`, `1.5 MiB` (powers of 1024, one
/// decimal). The contract the summary lines are checked against.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let (mut v, mut u) = (n as f64, 0);
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Recursively collects regular files below `dir` accepted by `keep`.
pub fn find_files(dir: &Path, keep: &mut dyn FnMut(&Path) -> bool, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            find_files(&p, keep, out);
        } else if ft.is_file() && keep(&p) {
            out.push(p);
        }
    }
}

/// Writes `bytes` to `path`, creating parent directories (replaces an existing file).
#[track_caller]
pub fn write_file(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
    }
    let mut f = fs::File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.write_all(bytes)
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Sets or clears the executable bits (0o111) of a file.
#[track_caller]
pub fn set_exec(path: &Path, exec: bool) {
    let mode = fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode();
    let mode = if exec { mode | 0o111 } else { mode & !0o111 };
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// Creates a symlink `path -> target` (creating parent directories).
#[track_caller]
pub fn symlink(target: &str, path: &Path) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("mkdir parent of symlink");
    }
    std::os::unix::fs::symlink(target, path)
        .unwrap_or_else(|e| panic!("symlink {} -> {target}: {e}", path.display()));
}

/// Removes a file, symlink or directory tree (no error if it does not exist).
pub fn remove(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).expect("rm -r"),
        Ok(_) => fs::remove_file(path).expect("rm"),
        Err(_) => {}
    }
}

/// BLAKE3 of `bytes`, as 64 lowercase hex digits.
pub fn b3(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// BLAKE3 of a file's content, streamed.
pub fn b3_file(path: &Path) -> String {
    let mut h = blake3::Hasher::new();
    let f = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    h.update_reader(f).expect("hash file");
    h.finalize().to_hex().to_string()
}

/// Whether `s` contains a run of at least `n` hex digits (an object id, maybe shortened).
pub fn has_hex_run(s: &str, n: usize) -> bool {
    let mut run = 0;
    for c in s.chars() {
        if c.is_ascii_hexdigit() {
            run += 1;
            if run >= n {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// Seeded generator of file contents and trees.
pub struct Gen {
    rng: ChaCha8Rng,
}

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// `n` random (incompressible) bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.rng.fill_bytes(&mut v);
        v
    }

    /// About `n` bytes (exactly `n`) of CSV-like, compressible text.
    pub fn text(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 64);
        let mut row = 0u64;
        while v.len() < n {
            let a: u32 = self.rng.random_range(0..100_000);
            let b: f64 = self.rng.random_range(-1000.0..1000.0);
            let tag = ["alpha", "beta", "gamma", "delta"][self.rng.random_range(0..4)];
            v.extend_from_slice(format!("{row},{a},{b:.4},{tag}\n").as_bytes());
            row += 1;
        }
        v.truncate(n);
        v
    }

    /// A random number in `range`.
    pub fn range(&mut self, range: std::ops::Range<usize>) -> usize {
        self.rng.random_range(range)
    }

    /// Writes `n` random bytes to `path`, returns them.
    pub fn file(&mut self, path: &Path, n: usize) -> Vec<u8> {
        let b = self.bytes(n);
        write_file(path, &b);
        b
    }

    /// Writes `n` bytes of text to `path`, returns them.
    pub fn text_file(&mut self, path: &Path, n: usize) -> Vec<u8> {
        let b = self.text(n);
        write_file(path, &b);
        b
    }

    /// A nested tree below `root`: `dirs` directories `d0..` (each with a subdirectory `s`),
    /// each holding `files` files of random size `0..max_size` (random or text content).
    pub fn tree(&mut self, root: &Path, dirs: usize, files: usize, max_size: usize) {
        for d in 0..dirs {
            for f in 0..files {
                let sub = if f % 2 == 0 { "" } else { "s/" };
                let p = root.join(format!("d{d}/{sub}f{f}.dat"));
                let n = self.range(0..max_size);
                if f % 3 == 0 {
                    self.text_file(&p, n);
                } else {
                    self.file(&p, n);
                }
            }
        }
    }

    /// Inserts `n` random bytes at `at` into the file `path`.
    pub fn insert(&mut self, path: &Path, at: usize, n: usize) {
        let mut b = fs::read(path).expect("read for insert");
        let ins = self.bytes(n);
        b.splice(at..at, ins);
        write_file(path, &b);
    }

    /// Appends `n` random bytes to `path`.
    pub fn append(&mut self, path: &Path, n: usize) {
        let mut b = fs::read(path).expect("read for append");
        b.extend(self.bytes(n));
        write_file(path, &b);
    }

    /// Overwrites `n` bytes at `at` in place (same size).
    pub fn overwrite(&mut self, path: &Path, at: usize, n: usize) {
        let mut b = fs::read(path).expect("read for overwrite");
        let new = self.bytes(n);
        b[at..at + n].copy_from_slice(&new);
        write_file(path, &b);
    }
}

/// One entry of a [`Snapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    File {
        size: u64,
        digest: String,
        exec: bool,
    },
    Dir,
    Symlink {
        target: String,
    },
}

/// Path (relative to the snapshot root, `/`-separated; `""` for a single-file root) -> entry.
pub type Snapshot = BTreeMap<String, Entry>;

/// Records `root` (a directory, its contents recursively, without following symlinks; or a
/// single file). A missing root gives an empty snapshot. The root directory itself is not
/// listed; directories below it are (so empty directories are compared too).
pub fn snapshot(root: &Path) -> Snapshot {
    let mut map = BTreeMap::new();
    match fs::symlink_metadata(root) {
        Err(_) => {}
        Ok(m) if m.is_dir() => walk(root, "", &mut map),
        Ok(_) => {
            map.insert(String::new(), entry_of(root));
        }
    }
    map
}

fn entry_of(path: &Path) -> Entry {
    let m = fs::symlink_metadata(path).expect("lstat");
    if m.file_type().is_symlink() {
        let t = fs::read_link(path).expect("readlink");
        Entry::Symlink {
            target: t.to_string_lossy().into_owned(),
        }
    } else if m.is_dir() {
        Entry::Dir
    } else {
        Entry::File {
            size: m.len(),
            digest: b3_file(path),
            exec: m.permissions().mode() & 0o100 != 0,
        }
    }
}

fn walk(dir: &Path, prefix: &str, map: &mut Snapshot) {
    let mut names: Vec<_> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("dir entry").file_name())
        .collect();
    names.sort();
    for name in names {
        let name_s = name.to_string_lossy().into_owned();
        let rel = format!("{prefix}{name_s}");
        let p = dir.join(&name);
        let e = entry_of(&p);
        let is_dir = e == Entry::Dir;
        map.insert(rel.clone(), e);
        if is_dir {
            walk(&p, &format!("{rel}/"), map);
        }
    }
}

/// Lists the differences between two snapshots (empty if equal).
pub fn snapshot_diff(expected: &Snapshot, actual: &Snapshot) -> Vec<String> {
    let mut d = Vec::new();
    for (k, e) in expected {
        match actual.get(k) {
            None => d.push(format!("missing:    {k} (expected {e:?})")),
            Some(a) if a != e => d.push(format!(
                "different:  {k}\n   expected {e:?}\n   actual   {a:?}"
            )),
            Some(_) => {}
        }
    }
    for (k, a) in actual {
        if !expected.contains_key(k) {
            d.push(format!("unexpected: {k} ({a:?})"));
        }
    }
    d
}

/// Panics with a readable diff unless the two snapshots are equal.
#[track_caller]
pub fn assert_snapshot_eq(what: &str, expected: &Snapshot, actual: &Snapshot) {
    let d = snapshot_diff(expected, actual);
    assert!(
        d.is_empty(),
        "{what}: directory differs from the expected snapshot:\n{}",
        d.join("\n")
    );
}

/// The fields of a pointer file (`<path>.dvx`), parsed with a minimal TOML reader that is
/// enough for the flat layout of the contract (`key = "string"` / `key = 123` in the root
/// table, `[meta]` and `[meta.extra]`).
#[derive(Clone, Debug, Default)]
pub struct Pointer {
    /// `section.key` (root keys without a section) -> raw value (strings unquoted).
    pub fields: BTreeMap<String, String>,
    pub text: String,
}

impl Pointer {
    pub fn parse(text: &str) -> Pointer {
        let mut fields = BTreeMap::new();
        let mut section = String::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with('[') && line.ends_with(']') {
                section = line
                    .trim_matches(|c| c == '[' || c == ']')
                    .trim()
                    .to_string();
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let k = k.trim().trim_matches('"');
            let v = v.trim();
            let v = if let Some(s) = v.strip_prefix('"') {
                let s = s.rsplit_once('"').map(|(a, _)| a).unwrap_or(s);
                s.replace("\\\"", "\"").replace("\\\\", "\\")
            } else {
                v.to_string()
            };
            let key = if section.is_empty() {
                k.to_string()
            } else {
                format!("{section}.{k}")
            };
            fields.insert(key, v);
        }
        Pointer {
            fields,
            text: text.to_string(),
        }
    }

    #[track_caller]
    pub fn get(&self, key: &str) -> &str {
        self.fields
            .get(key)
            .unwrap_or_else(|| panic!("pointer has no `{key}`:\n{}", self.text))
    }

    pub fn id(&self) -> &str {
        self.get("id")
    }

    pub fn num(&self, key: &str) -> u64 {
        self.get(key)
            .replace('_', "")
            .parse()
            .unwrap_or_else(|e| panic!("pointer `{key}` is not a number ({e}):\n{}", self.text))
    }
}

/// Whether `s` is 64 lowercase hex digits.
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Sorted strings from a JSON array of strings.
#[track_caller]
pub fn json_strs(v: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("expected a JSON array, got {v}"))
        .iter()
        .map(|x| {
            x.as_str()
                .unwrap_or_else(|| panic!("expected a string, got {x}"))
                .to_string()
        })
        .collect();
    out.sort();
    out
}

/// Sorted owned strings.
pub fn sorted(v: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    out.sort();
    out
}

/// The dataset entry for `path` in a `{"datasets": [...]}` JSON document.
#[track_caller]
pub fn dataset<'a>(doc: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    doc["datasets"]
        .as_array()
        .unwrap_or_else(|| panic!("no `datasets` array in {doc}"))
        .iter()
        .find(|d| d["path"] == path)
        .unwrap_or_else(|| panic!("no dataset `{path}` in {doc}"))
}

impl TestRepo {
    /// Like [`TestRepo::new`], but the temporary directory (repo, `outside`) is created inside
    /// `parent` (e.g. a small tmpfs).
    pub fn new_in(parent: &Path) -> TestRepo {
        let tmp = tempfile::Builder::new()
            .prefix("dvx-e2e-")
            .tempdir_in(parent)
            .expect("create temp dir");
        let root = tmp.path().join("repo");
        fs::create_dir(&root).expect("mkdir repo");
        fs::create_dir(tmp.path().join("outside")).expect("mkdir outside");
        let repo = TestRepo {
            tmp,
            root,
            commits: Cell::new(0),
            env: RefCell::new(Vec::new()),
        };
        repo.git(&["init", "-q", "-b", "main"]).ok();
        for (k, v) in [
            ("user.name", "dvx tests"),
            ("user.email", "tests@dvx.invalid"),
            ("commit.gpgsign", "false"),
            ("core.autocrlf", "false"),
        ] {
            repo.git(&["config", k, v]).ok();
        }
        repo.dvx(&["init"]).ok();
        repo
    }
}

/// A `dvx -q <args>` command run in `dir` with the tests' isolated environment, built without
/// a [`TestRepo`] (which is not `Sync`), for threads. `ceiling` is the test's temp dir
/// ([`TestRepo::tmp`]).
pub fn dvx_command(ceiling: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(dvx_bin());
    isolate(&mut cmd, ceiling);
    cmd.current_dir(dir).arg("-q").args(args);
    cmd
}

/// Runs a command built by [`dvx_command`] (or any other) and keeps its output.
pub fn run_command(cmd: Command, what: &str, dir: &Path) -> Run {
    run(cmd, what, &[], dir)
}
