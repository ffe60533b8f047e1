//! `dvx install-hooks`: git hooks that keep the data in step with git.
//!
//! Each hook is a small shell script marked as dvx's; it runs the dvx binary that installed it
//! (or `dvx` on PATH if that one is gone). A hook file that is not dvx's is never touched: dvx's
//! script goes beside it as `<hook>.dvx`, and the user is told the line that calls it.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::settings::Settings;

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

/// The hooks directory git uses (honours `core.hooksPath` and linked worktrees).
fn hooks_dir(root: &Path) -> anyhow::Result<PathBuf> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--git-path", "hooks"])
        .current_dir(root)
        .output()
        .context("running `git rev-parse --git-path hooks`")?;
    if !out.status.success() {
        anyhow::bail!(
            "`git rev-parse --git-path hooks` failed in {}: {}",
            root.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let rel = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok(root.join(rel))
}

fn is_ours(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.contains(MARK))
}

pub fn run(s: &Settings, uninstall: bool, out: &mut dyn Write) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    let dir = hooks_dir(ws.root())?;
    let mut foreign: Vec<(&str, PathBuf)> = Vec::new();
    if uninstall {
        for (name, _, _) in HOOKS {
            for path in [dir.join(name), dir.join(format!("{name}.dvx"))] {
                if is_ours(&path) {
                    std::fs::remove_file(&path)
                        .with_context(|| format!("removing {}", path.display()))?;
                    writeln!(out, "removed {}", path.display())?;
                }
            }
        }
        return Ok(crate::EXIT_OK);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let exe = std::env::current_exe().context("finding the dvx executable")?;
    for (name, what, body) in HOOKS {
        let mut path = dir.join(name);
        if path.exists() && !is_ours(&path) {
            foreign.push((name, path.clone()));
            path = dir.join(format!("{name}.dvx"));
        }
        // Written beside, made executable, then renamed: a hook git runs meanwhile is
        // whole, old or new.
        let mut f = dvx_store::fs::AtomicFile::create(&path)?;
        f.write_all(script(&exe, name, what, body).as_bytes())?;
        std::fs::set_permissions(f.tmp_path(), std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("making {} executable", path.display()))?;
        f.commit()?;
        if foreign.last().is_none_or(|(n, _)| n != name) {
            writeln!(out, "installed {name}: {what}")?;
        }
    }
    if foreign.is_empty() {
        return Ok(crate::EXIT_OK);
    }
    for (name, path) in &foreign {
        let stdin = if *name == "pre-push" {
            " (it reads the refs being pushed on standard input: give it the same input)"
        } else {
            ""
        };
        eprintln!(
            "error: {} exists and is not dvx's, so it was left unchanged; dvx's hook was \
             written to {name}.dvx beside it. To use it, add this line to {name}{stdin}:\n    \
             \"$(dirname \"$0\")/{name}.dvx\" \"$@\" || exit 1",
            path.display()
        );
    }
    Ok(crate::EXIT_FAILURE)
}
