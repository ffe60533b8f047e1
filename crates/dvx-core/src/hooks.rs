//! `dvx install-hooks`: git hooks that keep the data in step with git.
//!
//! Each hook is a small shell script marked as dvx's; it runs the dvx binary that installed it
//! (or `dvx` on PATH if that one is gone). A hook file that is not dvx's is never touched: dvx's
//! script goes beside it as `<hook>.dvx`, and the caller tells the user the line that calls it.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::workspace::Workspace;

/// First line after the shebang of every hook dvx writes; recognises them.
const MARK: &str = "# dvx hook: installed by `dvx install-hooks`";

/// Shared tail of post-checkout and post-merge. git has already moved when they run, so a
/// data problem is reported and the hook still exits 0: a failing hook would make a done
/// checkout look failed and break scripts and `git bisect`.
const CHECKOUT_DATA: &str = r#"# Nothing to do at a commit that names no dataset (e.g. one from before `dvx init`).
git ls-files -- '*.dvx' | grep -q . || exit 0
"$dvx" checkout && exit 0
echo "dvx: warning: git has moved, but the data was not brought in step with it (see above);" >&2
echo "dvx: the files on disk may be of another version: run \`dvx status\`, then \`dvx pull\` or \`dvx checkout\`" >&2
exit 0
"#;

/// (name, what it does, body after the preamble)
const HOOKS: &[(&str, &str, &str)] = &[
    (
        "post-checkout",
        "after git switches branch or commit, make every dataset match its pointer (a data \
         problem is reported as a warning: git has already moved)",
        r#"# $3 is 1 for a switch of branch or commit, 0 for `git checkout -- <path>`.
[ "$3" = 1 ] || exit 0
"#,
    ),
    (
        "post-merge",
        "after git merges (git pull), make every dataset match its pointer (a data problem is \
         reported as a warning: git has already merged)",
        "",
    ),
    (
        "pre-push",
        "before git sends commits, send the data they name to the default dvx remote; the push \
         stops if that data cannot be sent (skip with `git push --no-verify`)",
        r#"remote="$1"
revs=$(
  while read -r local_ref local_sha remote_ref remote_sha; do
    case "$local_sha" in *[!0]*) ;; *) continue ;; esac   # deleting a ref: nothing to send
    case "$remote_sha" in
      *[!0]*)
        if git cat-file -e "$remote_sha^{commit}" 2>/dev/null; then
          git rev-list "$local_sha" --not "$remote_sha"
          continue
        fi ;;
    esac
    git rev-list "$local_sha" --not --remotes="$remote"
  done
)
[ -n "$revs" ] || exit 0
# Commits that name no dataset (e.g. all from before `dvx init`) have no data to send.
need=
for r in $revs; do
  if git ls-tree -r --name-only "$r" | grep -q '\.dvx$'; then need=1; break; fi
done
[ -n "$need" ] || exit 0
# Commits whose data is not on the remote must not go out: a clone could not get the data.
printf '%s\n' $revs | xargs "$dvx" push && exit 0
echo "dvx: push stopped: the data of the commits being pushed could not be sent to the dvx remote (see above); fix that and push again, or skip this check with \`git push --no-verify\`" >&2
exit 1
"#,
    ),
];

/// The shell text of one hook.
fn script(exe: &Path, name: &str, what: &str, body: &str) -> String {
    let quoted = exe.to_string_lossy().replace('\'', r"'\''");
    let tail = if name == "pre-push" {
        ""
    } else {
        CHECKOUT_DATA
    };
    format!(
        "#!/bin/sh\n{MARK} (delete this file to remove it).\n# {what}.\n\
         dvx='{quoted}'\n[ -x \"$dvx\" ] || dvx=dvx\n{body}{tail}"
    )
}

/// One hook written by [`install_hooks`].
#[derive(Clone, Debug)]
pub struct InstalledHook {
    /// The hook's name (`post-checkout`, ...).
    pub name: &'static str,
    /// What it does, in a sentence.
    pub what: &'static str,
    /// The file written.
    pub path: PathBuf,
    /// A hook of the same name that is not dvx's, left unchanged; dvx's script was written
    /// beside it (`path` is `<hook>.dvx`) and must be called from it.
    pub foreign: Option<PathBuf>,
}

/// True if the file is a hook dvx wrote. A file that cannot be read counts as not dvx's, so it
/// is never replaced or removed.
fn is_ours(path: &Path) -> bool {
    crate::fsx::read_small(path, crate::fsx::MAX_TEXT_FILE)
        .is_ok_and(|t| t.windows(MARK.len()).any(|w| w == MARK.as_bytes()))
}

/// Writes dvx's hooks into git's hooks directory; `exe` is the dvx binary they run.
pub fn install_hooks(ws: &Workspace, exe: &Path) -> Result<Vec<InstalledHook>> {
    let dir = ws.repo.hooks_dir()?;
    crate::fsx::create_dir_all(&dir)?;
    let mut done = Vec::new();
    for (name, what, body) in HOOKS {
        let mut path = dir.join(name);
        let mut foreign = None;
        if crate::fsx::lstat(&path)?.is_some() && !is_ours(&path) {
            foreign = Some(path.clone());
            path = dir.join(format!("{name}.dvx"));
        }
        // Written beside, made executable, then renamed: a hook git runs meanwhile is
        // whole, old or new.
        let mut f = dvx_store::fs::AtomicFile::create(&path)?;
        f.write_all(script(exe, name, what, body).as_bytes())?;
        #[cfg(unix)]
        std::fs::set_permissions(
            f.tmp_path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .map_err(|e| crate::error::Error::io("make executable", &path, e))?;
        f.commit()?;
        done.push(InstalledHook {
            name,
            what,
            path,
            foreign,
        });
    }
    Ok(done)
}

/// Removes the hooks dvx installed (others are left alone); returns the files removed.
pub fn uninstall_hooks(ws: &Workspace) -> Result<Vec<PathBuf>> {
    let dir = ws.repo.hooks_dir()?;
    let mut removed = Vec::new();
    for (name, _, _) in HOOKS {
        for path in [dir.join(name), dir.join(format!("{name}.dvx"))] {
            if is_ours(&path) {
                crate::fsx::remove_file(&path)?;
                removed.push(path);
            }
        }
    }
    Ok(removed)
}
