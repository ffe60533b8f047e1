//! [`Mirror`]: a cached bare, shallow, blob-filtered copy of another repository (a "source"
//! of `dvx get` / `import`), driven by the `git` CLI. Each resolved revision is fetched alone
//! (`--depth=1 --filter=blob:none`) into a private ref namespace, so a later revision brings
//! only its new commits and trees; blobs (pointer files, the source's config) come on demand
//! through git's partial-clone lazy fetch, and never when offline.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::{Error, Result};

/// The remote name the mirror fetches from (git's partial clone needs a named remote).
const ORIGIN: &str = "origin";
/// Refs of resolved revision names: `refs/dvx/rev/<hex of the name>`.
const REV_REFS: &str = "refs/dvx/rev/";
/// Refs that keep every resolved commit (and its trees) in the mirror.
const COMMIT_REFS: &str = "refs/dvx/commit/";

/// A bare mirror of one source repository.
#[derive(Debug)]
pub struct Mirror {
    dir: PathBuf,
    /// How messages name the source (as the user gave it).
    shown: String,
}

/// A revision of the source, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// Full hex commit id.
    pub commit: String,
    /// True when the source was contacted (a fetch ran).
    pub fetched: bool,
}

/// One regular file of a commit's tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeFile {
    /// `/`-separated path from the repository root.
    pub path: String,
    /// Blob id (hex).
    pub blob: String,
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn hex_name(rev: &str) -> String {
    rev.bytes().map(|b| format!("{b:02x}")).collect()
}

impl Mirror {
    /// Opens the mirror in `dir` of the source at `url` (as git accepts it: a path, `file://`,
    /// `https://`, `ssh://` or scp-style), creating it (`git init --bare`) if needed; `shown`
    /// names the source in messages.
    pub fn open(dir: &Path, url: &str, shown: &str) -> Result<Mirror> {
        let mirror = Mirror {
            dir: dir.to_path_buf(),
            shown: shown.to_string(),
        };
        if !dir.join("HEAD").is_file() {
            // Set up beside it and renamed in whole: a run killed half-way (a bare repository
            // without its remote) must not leave a mirror later runs would trust. The caller
            // holds the mirror's lock, so the `.new` name is this run's alone.
            let mut tmp_name = dir.file_name().unwrap_or_default().to_os_string();
            tmp_name.push(".new");
            let tmp = Mirror {
                dir: dir.with_file_name(tmp_name),
                shown: shown.to_string(),
            };
            let io = |op: &'static str, path: &Path| {
                let path = path.to_path_buf();
                move |source| Error::Io { op, path, source }
            };
            for stale in [&tmp.dir, dir] {
                match std::fs::remove_dir_all(stale) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(io("remove", stale)(e))
                    }
                    _ => {}
                }
            }
            std::fs::create_dir_all(&tmp.dir).map_err(io("create", &tmp.dir))?;
            tmp.git_ok(&["init", "--quiet", "--bare"])?;
            tmp.git_ok(&["config", "remote.origin.url", url])?;
            // Objects that are never referenced are not worth a background gc run.
            tmp.git_ok(&["config", "gc.auto", "0"])?;
            std::fs::rename(&tmp.dir, dir).map_err(io("rename", dir))?;
        }
        Ok(mirror)
    }

    /// The mirror's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Resolves `rev` (a branch, tag, full or short commit id; `None`: the source's HEAD) to a
    /// commit present in the mirror. A full commit id already there needs no network; other
    /// names are fetched from the source, unless `offline`, where only what an earlier fetch
    /// recorded counts ([`Error::NotCached`] otherwise).
    pub fn resolve(&self, rev: Option<&str>, offline: bool) -> Result<Resolved> {
        let name = rev.unwrap_or("HEAD");
        // A name is fetched as a refspec: nothing that could make it write a ref of its own.
        let odd = |c: char| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, ':' | '*' | '^' | '~' | '?' | '[' | '\\')
        };
        if name.is_empty() || name.starts_with(['-', '+']) || name.contains(odd) {
            return Err(self.unknown_rev(name));
        }
        let cached = |fetched| -> Result<Option<Resolved>> {
            Ok(self
                .cached(name)?
                .map(|commit| Resolved { commit, fetched }))
        };
        if (name.len() == 40 && is_hex(name)) || offline {
            if let Some(r) = cached(false)? {
                return Ok(r);
            }
        }
        if offline {
            return Err(Error::NotCached {
                url: self.shown.clone(),
                what: format!("revision `{name}`"),
            });
        }
        let fetched = self.fetch(&[name], true);
        match fetched {
            Ok(()) => {
                let commit =
                    self.rev_parse("FETCH_HEAD^{commit}")?
                        .ok_or_else(|| Error::NotACommit {
                            rev: name.to_string(),
                            kind: "tree or blob".into(),
                        })?;
                self.record(name, &commit)?;
                Ok(Resolved {
                    commit,
                    fetched: true,
                })
            }
            // A short commit id: the source advertises no such ref, so bring the history of
            // every branch and tag (commits and trees only) and look it up there.
            Err(Error::SourceRevision { .. }) if is_hex(name) && name.len() >= 4 => {
                let shallow = self.dir.join("shallow").is_file();
                let mut args = vec![
                    "+refs/heads/*:refs/dvx/all/heads/*",
                    "+refs/tags/*:refs/dvx/all/tags/*",
                ];
                if shallow {
                    args.push("--unshallow");
                }
                self.fetch(&args, false)?;
                match cached(true)? {
                    Some(r) => {
                        self.record(name, &r.commit)?;
                        Ok(r)
                    }
                    None => Err(self.unknown_rev(name)),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The commit `name` resolves to from what the mirror holds, if any.
    fn cached(&self, name: &str) -> Result<Option<String>> {
        let recorded = format!("{REV_REFS}{}", hex_name(name));
        if let Some(c) = self.rev_parse(&format!("{recorded}^{{commit}}"))? {
            return Ok(Some(c));
        }
        if is_hex(name) && name.len() >= 4 {
            return self.rev_parse(&format!("{name}^{{commit}}"));
        }
        Ok(None)
    }

    /// Keeps `commit` reachable, and remembers that `name` resolved to it.
    fn record(&self, name: &str, commit: &str) -> Result<()> {
        self.git_ok(&[
            "update-ref",
            &format!("{REV_REFS}{}", hex_name(name)),
            commit,
        ])?;
        self.git_ok(&["update-ref", &format!("{COMMIT_REFS}{commit}"), commit])?;
        Ok(())
    }

    /// `git fetch` from the source: shallow (`depth1`) or not, trees without blobs.
    fn fetch(&self, refspecs: &[&str], depth1: bool) -> Result<()> {
        let mut args = vec!["fetch", "--quiet", "--no-tags", "--filter=blob:none"];
        if depth1 {
            args.push("--depth=1");
        }
        args.extend(refspecs.iter().copied().filter(|a| a.starts_with("--")));
        args.push(ORIGIN);
        args.extend(refspecs.iter().copied().filter(|a| !a.starts_with("--")));
        let out = self.git(&args, false)?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let rev = refspecs.first().copied().unwrap_or("HEAD").to_string();
        let lower = stderr.to_lowercase();
        if lower.contains("couldn't find remote ref")
            || lower.contains("not our ref")
            || lower.contains("unadvertised object")
            || lower.contains("no such remote ref")
        {
            return Err(Error::SourceRevision {
                url: self.shown.clone(),
                rev,
            });
        }
        if lower.contains("does not appear to be a git repository")
            || lower.contains("repository not found")
            || lower.contains("not found")
            || lower.contains("no such file or directory")
        {
            return Err(Error::UnknownSource {
                url: self.shown.clone(),
                detail: stderr,
            });
        }
        Err(Error::SourceFetch {
            url: self.shown.clone(),
            detail: stderr,
        })
    }

    fn rev_parse(&self, spec: &str) -> Result<Option<String>> {
        let out = self.git(
            &["rev-parse", "--verify", "--quiet", "--end-of-options", spec],
            true,
        )?;
        if !out.status.success() {
            return Ok(None);
        }
        Ok(Some(
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        ))
    }

    /// Every regular file of the commit's tree whose name ends with `suffix`, sorted (below a
    /// top-level `.dvx` or `.git` skipped). Trees are always in the mirror: no network.
    pub fn files_with_suffix(&self, commit: &str, suffix: &str) -> Result<Vec<TreeFile>> {
        let out = self.git(&["ls-tree", "-r", "-z", "--full-tree", commit], true)?;
        if !out.status.success() {
            return Err(self.failed(&["ls-tree", commit], &out));
        }
        let mut found = Vec::new();
        for record in out.stdout.split(|b| *b == 0).filter(|r| !r.is_empty()) {
            let record = String::from_utf8_lossy(record);
            // "<mode> <type> <oid>\t<path>"
            let Some((head, path)) = record.split_once('\t') else {
                continue;
            };
            let mut fields = head.split(' ');
            let (Some(mode), Some(kind), Some(oid)) = (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if kind != "blob" || mode == "120000" || !path.ends_with(suffix) {
                continue;
            }
            if path.starts_with(".dvx/") || path.starts_with(".git/") {
                continue;
            }
            found.push(TreeFile {
                path: path.to_string(),
                blob: oid.to_string(),
            });
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }

    /// The bytes of `path` at `commit` (`None` if there is no such regular file). A blob not
    /// in the mirror yet is fetched from the source, unless `offline` ([`Error::NotCached`]).
    pub fn read_file(&self, commit: &str, path: &str, offline: bool) -> Result<Option<Vec<u8>>> {
        // The tree entry (always in the mirror) says whether it is a regular file, and its id;
        // the blob itself may still be on the source only.
        let args = [
            "--literal-pathspecs",
            "ls-tree",
            "-z",
            "--full-tree",
            commit,
            "--",
            path,
        ];
        let out = self.git(&args, true)?;
        if !out.status.success() {
            return Err(self.failed(&args, &out));
        }
        let entry = String::from_utf8_lossy(&out.stdout).into_owned();
        let Some((head, name)) = entry.trim_end_matches('\0').split_once('\t') else {
            return Ok(None);
        };
        let fields: Vec<&str> = head.split(' ').collect();
        let (mode, kind, oid) = match fields[..] {
            [mode, kind, oid] => (mode, kind, oid),
            _ => return Ok(None),
        };
        if name != path || kind != "blob" || mode == "120000" {
            return Ok(None);
        }
        let out = self.git(&["cat-file", "blob", oid], offline)?;
        if out.status.success() {
            return Ok(Some(out.stdout));
        }
        if offline {
            return Err(Error::NotCached {
                url: self.shown.clone(),
                what: format!("file `{path}` of commit {commit}"),
            });
        }
        Err(self.failed(&["cat-file", "blob", oid], &out))
    }

    /// Runs git on the mirror; `no_lazy_fetch` forbids git to fetch missing blobs.
    fn git(&self, args: &[&str], no_lazy_fetch: bool) -> Result<Output> {
        let mut cmd = Command::new("git");
        // `--literal-pathspecs` (where given) must come before `--git-dir`'s command.
        let (global, args) = match args.first() {
            Some(&"--literal-pathspecs") => (Some("--literal-pathspecs"), &args[1..]),
            _ => (None, args),
        };
        cmd.args(global)
            .arg("--git-dir")
            .arg(&self.dir)
            .args(args)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_OBJECT_DIRECTORY")
            // Messages are matched above: in English whatever the user's locale.
            .env("LC_ALL", "C")
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if no_lazy_fetch {
            cmd.env("GIT_NO_LAZY_FETCH", "1");
        }
        cmd.output().map_err(|source| Error::GitSpawn {
            command: format!("git {}", args.join(" ")),
            source,
        })
    }

    fn git_ok(&self, args: &[&str]) -> Result<()> {
        let out = self.git(args, true)?;
        if out.status.success() {
            Ok(())
        } else {
            Err(self.failed(args, &out))
        }
    }

    fn failed(&self, args: &[&str], out: &Output) -> Error {
        Error::GitCommand {
            command: format!("git {}", args.join(" ")),
            workdir: self.dir.clone(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }
    }

    fn unknown_rev(&self, rev: &str) -> Error {
        Error::SourceRevision {
            url: self.shown.clone(),
            rev: rev.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Against a real source repository: revisions of every kind, one fetch per revision,
    //! files read from the mirror, and what `offline` allows.
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Alice")
            .env("GIT_AUTHOR_EMAIL", "alice@example.com")
            .env("GIT_COMMITTER_NAME", "Bob")
            .env("GIT_COMMITTER_EMAIL", "bob@example.com")
            .env_remove("GIT_DIR")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn commit(dir: &Path, files: &[(&str, &str)], msg: &str) -> String {
        for (rel, text) in files {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", msg]);
        git(dir, &["rev-parse", "HEAD"])
    }

    #[test]
    fn resolves_every_kind_of_revision_and_reads_files_offline_only_when_cached() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir(&src).unwrap();
        git(&src, &["init", "-q", "-b", "main"]);
        // Filters allowed, as on https hosts: the mirror holds trees, and blobs only once read.
        git(&src, &["config", "uploadpack.allowFilter", "true"]);
        let c1 = commit(
            &src,
            &[("data.dvx", "one"), ("a/b.dvx", "b1"), ("x.txt", "x")],
            "1",
        );
        git(&src, &["tag", "-a", "-m", "v1", "v1"]);
        let c2 = commit(&src, &[("data.dvx", "two")], "2");
        let url = src.to_string_lossy().into_owned();
        let m = Mirror::open(&tmp.path().join("mirror"), &url, "../src").unwrap();

        // An annotated tag peels to its commit; the branch is the newest commit.
        let v1 = m.resolve(Some("v1"), false).unwrap();
        assert_eq!((v1.commit.as_str(), v1.fetched), (c1.as_str(), true));
        let head = m.resolve(None, false).unwrap();
        assert_eq!(head.commit, c2);
        assert_eq!(m.resolve(Some("main"), false).unwrap().commit, c2);
        // A full commit id already there: no fetch. Offline: names fetched before.
        let again = m.resolve(Some(&c1), false).unwrap();
        assert!(!again.fetched);
        assert_eq!(m.resolve(Some("v1"), true).unwrap().commit, c1);

        let files = m.files_with_suffix(&c1, ".dvx").unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a/b.dvx", "data.dvx"]);
        // Offline, a blob never read is refused; online it is fetched, then cached.
        assert!(matches!(
            m.read_file(&c1, "a/b.dvx", true),
            Err(Error::NotCached { .. })
        ));
        assert_eq!(m.read_file(&c1, "a/b.dvx", false).unwrap().unwrap(), b"b1");
        assert_eq!(m.read_file(&c1, "a/b.dvx", true).unwrap().unwrap(), b"b1");
        assert_eq!(m.read_file(&c1, "a", false).unwrap(), None, "a folder");
        assert_eq!(m.read_file(&c1, "nothing", false).unwrap(), None);

        // A new commit of the source: unknown offline, by name or by id; a short id online.
        let c3 = commit(&src, &[("data.dvx", "three")], "3");
        for rev in [c3.as_str(), "main-new"] {
            assert!(matches!(
                m.resolve(Some(rev), true),
                Err(Error::NotCached { .. })
            ));
        }
        assert_eq!(m.resolve(Some(&c3[..9]), false).unwrap().commit, c3);
        // Unknown names, and names that would be refspecs, are unknown revisions.
        for rev in ["v9", "main:refs/heads/x", "-x", "a b"] {
            let e = m.resolve(Some(rev), false).unwrap_err();
            assert!(matches!(e, Error::SourceRevision { .. }), "{rev}: {e}");
            assert!(e.to_string().contains("../src"), "named as given: {e}");
        }
        let gone = Mirror::open(
            &tmp.path().join("m2"),
            &tmp.path().join("nope").to_string_lossy(),
            "nope",
        )
        .unwrap();
        assert!(matches!(
            gone.resolve(None, false),
            Err(Error::UnknownSource { .. })
        ));
    }
}
