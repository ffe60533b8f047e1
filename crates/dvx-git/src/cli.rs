//! Everything that shells out to the `git` executable (staging, index queries).

use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, Repo, Result};

/// How long [`Repo::stage`] keeps retrying while `index.lock` exists.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// First delay between retries; doubled after every attempt up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(50);
/// Upper bound for a single delay between retries.
const MAX_DELAY: Duration = Duration::from_secs(1);

impl Repo {
    /// Stage files in the git index, like `git -C <workdir> add -- <paths...>`.
    ///
    /// `paths` are relative to [`workdir`](Self::workdir) or absolute (inside the working tree);
    /// pathspec magic and globs are disabled, so every path is taken literally. Paths of deleted
    /// files stage the deletion. If the index is locked by another git process (`index.lock`
    /// exists), this retries with backoff for about 10 s before giving up with
    /// [`Error::IndexLocked`]. Other failures return [`Error::GitCommand`] with git's stderr.
    pub fn stage(&self, paths: &[&Path]) -> Result<()> {
        self.stage_with(paths, false)
    }

    /// [`Repo::stage`] with `git add -f`: the paths are staged even when ignore rules match
    /// them. For files that must be committed whatever the `.gitignore`s say (dvx pointers).
    pub fn stage_forced(&self, paths: &[&Path]) -> Result<()> {
        self.stage_with(paths, true)
    }

    fn stage_with(&self, paths: &[&Path], force: bool) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        // Paths are passed NUL-separated on stdin, which avoids command-line length limits.
        let mut spec = Vec::new();
        for path in paths {
            let rel = self.repo_relative(path)?;
            spec.extend_from_slice(rel.as_os_str().as_encoded_bytes());
            spec.push(0);
        }
        let args: &[&str] = if force {
            &[
                "add",
                "--force",
                "--pathspec-from-file=-",
                "--pathspec-file-nul",
            ]
        } else {
            &["add", "--pathspec-from-file=-", "--pathspec-file-nul"]
        };
        let start = Instant::now();
        let mut delay = FIRST_DELAY;
        loop {
            let out = self.run_git(args, Some(&spec))?;
            if out.status.success() {
                return Ok(());
            }
            let stderr = String::from_utf8_lossy(&out.stderr);
            let Some(lock) = self.index_lock(&stderr) else {
                return Err(self.command_failed(args, &out));
            };
            let waited = start.elapsed();
            if waited >= LOCK_WAIT {
                return Err(Error::IndexLocked { lock, waited });
            }
            std::thread::sleep(delay.min(LOCK_WAIT - waited));
            delay = (delay * 2).min(MAX_DELAY);
        }
    }

    /// True when `path` (relative to [`workdir`](Self::workdir), or absolute inside it) is tracked
    /// in the git index, i.e. `git ls-files --error-unmatch -- <path>` succeeds. For a directory
    /// this is true if any file below it is tracked.
    pub fn is_tracked(&self, path: &Path) -> Result<bool> {
        let rel = self.repo_relative(path)?;
        let rel = rel.to_string_lossy();
        let args = ["ls-files", "--error-unmatch", "--", rel.as_ref()];
        let out = self.run_git(&args, None)?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(self.command_failed(&args, &out)),
        }
    }

    /// Turn `path` into a path relative to the working tree, rejecting anything outside of it.
    fn repo_relative(&self, path: &Path) -> Result<PathBuf> {
        let outside = || Error::PathOutsideRepo {
            path: path.to_path_buf(),
            workdir: self.workdir.clone(),
        };
        let rel = if path.is_absolute() {
            // Canonicalize only the parent so that a symlink is staged as the link itself.
            let resolved = match (path.parent(), path.file_name()) {
                (Some(parent), Some(name)) => match parent.canonicalize() {
                    Ok(parent) => parent.join(name),
                    Err(_) => path.to_path_buf(),
                },
                _ => path.canonicalize().unwrap_or_else(|_| path.to_path_buf()),
            };
            resolved
                .strip_prefix(&self.workdir)
                .map(Path::to_path_buf)
                .map_err(|_| outside())?
        } else {
            path.to_path_buf()
        };
        // Lexically make sure `..` never climbs above the working tree root.
        let mut depth = 0usize;
        for component in rel.components() {
            match component {
                Component::Normal(_) => depth += 1,
                Component::CurDir => {}
                Component::ParentDir => depth = depth.checked_sub(1).ok_or_else(outside)?,
                Component::RootDir | Component::Prefix(_) => return Err(outside()),
            }
        }
        if rel.as_os_str().is_empty() {
            return Ok(PathBuf::from("."));
        }
        Ok(rel)
    }

    /// If a failed git command failed because the index is locked, return the lock file.
    fn index_lock(&self, stderr: &str) -> Option<PathBuf> {
        // git says: fatal: Unable to create '/repo/.git/index.lock': File exists.
        let from_message = stderr.find(".lock'").and_then(|end| {
            let start = stderr[..end].rfind('\'')? + 1;
            Some(PathBuf::from(&stderr[start..end + ".lock".len()]))
        });
        if let Some(lock) = from_message {
            return Some(lock);
        }
        // Locale-independent fallback: the lock file is (still) there.
        let lock = self.git_dir.join("index.lock");
        lock.exists().then_some(lock)
    }

    /// The directory git runs hooks from (`git rev-parse --git-path hooks`: honours
    /// `core.hooksPath` and linked worktrees), absolute.
    pub fn hooks_dir(&self) -> Result<PathBuf> {
        let args = ["rev-parse", "--git-path", "hooks"];
        let out = self.run_git(&args, None)?;
        if !out.status.success() {
            return Err(self.command_failed(&args, &out));
        }
        let rel = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(self.workdir.join(rel))
    }

    /// Run `git --literal-pathspecs -C <workdir> <args>`, feeding `stdin` if given.
    fn run_git(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<Output> {
        let mut cmd = Command::new("git");
        cmd.arg("--literal-pathspecs")
            .arg("-C")
            .arg(&self.workdir)
            .args(args)
            // Operate on the repository we discovered, not one named by the environment.
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawn_error = |source| Error::GitSpawn {
            command: format!("git {}", args.join(" ")),
            source,
        };
        let mut child = cmd.spawn().map_err(spawn_error)?;
        let pipe = child.stdin.take();
        std::thread::scope(|scope| {
            if let (Some(mut pipe), Some(data)) = (pipe, stdin) {
                // Write from a separate thread so a chatty git can never deadlock us. A write
                // error (git exited early) is reported through git's exit status instead.
                scope.spawn(move || {
                    let _ = pipe.write_all(data);
                });
            }
            child.wait_with_output()
        })
        .map_err(spawn_error)
    }

    fn command_failed(&self, args: &[&str], out: &Output) -> Error {
        Error::GitCommand {
            command: format!("git {}", args.join(" ")),
            workdir: self.workdir.clone(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }
    }
}
