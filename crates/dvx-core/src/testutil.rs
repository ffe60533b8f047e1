//! What unit tests that need a real repository share.

use std::path::Path;

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
