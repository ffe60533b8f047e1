//! The `.gitignore` lines dvx manages (marked, exact, removed when their pointer goes, never
//! hiding a pointer), the limits `add` shares with every reader, and datasets that overlap.

#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod util;

use std::fs;
use std::path::PathBuf;

use util::{find_files, TestRepo};

/// True when git ignores `rel` (`git check-ignore`, exit 0 = ignored, 1 = not).
fn ignored(repo: &TestRepo, rel: &str) -> bool {
    let r = repo.git(&["check-ignore", "-q", "--no-index", "--", rel]);
    match r.code() {
        Some(0) => true,
        Some(1) => false,
        _ => panic!("git check-ignore failed\n{r}"),
    }
}

/// Untracked files git shows (`git status --porcelain -uall`), repo-relative.
fn untracked(repo: &TestRepo) -> Vec<String> {
    let out = repo.git_out(&["status", "--porcelain", "-uall", "-z"]);
    out.split('\0')
        .filter_map(|l| l.strip_prefix("?? "))
        .map(str::to_string)
        .collect()
}

/// Every file below the store, for "nothing was written" checks.
fn store_files(repo: &TestRepo) -> Vec<PathBuf> {
    let mut v = Vec::new();
    find_files(&repo.path(".dvx/store"), &mut |_| true, &mut v);
    v.sort();
    v
}

// ---- item 5: a leftover ignore line must not hide a dataset ----

#[test]
fn stale_ignore_line_does_not_hide_a_new_dataset() {
    let repo = TestRepo::new();
    repo.write("data/sub/a.csv", b"1,2\n");
    repo.write("data/other.bin", b"other");
    repo.dvx(&["add", "data"]).ok();
    repo.commit("data");
    assert!(repo
        .read_str(".gitignore")
        .contains("# dvx: data.dvx\n/data\n"));
    // Stop tracking `data` the git way: the .gitignore line stays behind.
    repo.git(&["rm", "-q", "data.dvx"]).ok();
    repo.commit("untrack data");
    assert!(ignored(&repo, "data/sub.dvx"));

    repo.dvx(&["add", "data/sub"]).ok();
    let staged = repo.staged();
    assert!(staged.contains(&"data/sub.dvx".to_string()), "{staged:?}");
    assert!(
        staged.contains(&"data/.gitignore".to_string()),
        "{staged:?}"
    );
    // dvx's stale line is gone; the new dataset has its own.
    assert!(!repo.read_str(".gitignore").contains("/data"));
    assert_eq!(repo.read_str("data/.gitignore"), "# dvx: sub.dvx\n/sub\n");
    assert!(!ignored(&repo, "data/sub.dvx"));
    assert!(ignored(&repo, "data/sub/a.csv"));
    repo.dvx(&["status"]).ok().stdout_has("data/sub: clean");
    repo.commit("sub");
    // A fresh clone sees the dataset and can restore it.
    let store = repo.path(".dvx/store");
    let clone = repo.clone_to("clone", &[]);
    repo.dvx_in_env(
        &clone,
        &[("DVX_STORE", store.to_str().unwrap())],
        &["checkout"],
    )
    .ok();
    assert_eq!(fs::read(clone.join("data/sub/a.csv")).unwrap(), b"1,2\n");
}

#[test]
fn a_broad_ignore_rule_of_the_user_does_not_stop_staging() {
    let repo = TestRepo::new();
    repo.write(".gitignore", b"*.dvx\ndata*\n");
    fs::write(repo.path(".git/info/exclude"), b"models/\n").unwrap();
    repo.commit_all("ignores");
    repo.write("data/a.csv", b"a");
    repo.write("models/m/w.bin", b"w");
    repo.dvx(&["add", "data", "models/m"]).ok();
    let staged = repo.staged();
    for f in ["data.dvx", "models/m.dvx", "models/.gitignore"] {
        assert!(
            staged.contains(&f.to_string()),
            "{f} not staged: {staged:?}"
        );
    }
    // The user's lines are left alone.
    assert!(repo.read_str(".gitignore").starts_with("*.dvx\ndata*\n"));
    // Ignored by the user's rules but staged: status still finds both datasets.
    let st = repo.dvx(&["status"]).ok().stdout_str();
    assert!(
        st.contains("data: clean") && st.contains("models/m: clean"),
        "{st}"
    );
}

#[test]
fn user_lines_are_never_removed_and_marked_lines_survive_edits() {
    let repo = TestRepo::new();
    repo.write(".gitignore", b"/old\n# dvx: gone.dvx\nedited\n");
    repo.write("d/x", b"x");
    repo.dvx(&["add", "d"]).ok();
    // An unmarked line, and a marker whose pattern line the user changed, stay.
    assert_eq!(
        repo.read_str(".gitignore"),
        "/old\n# dvx: gone.dvx\nedited\n# dvx: d.dvx\n/d\n"
    );
    // Adding again does not duplicate the entry.
    repo.write("d/y", b"y");
    repo.dvx(&["add", "d"]).ok();
    assert_eq!(repo.read_str(".gitignore").matches("/d\n").count(), 1);
}

// ---- item 6: ignore lines match exactly the dataset ----

/// Adds a directory dataset `name` and checks with git itself that the dataset is ignored,
/// while its pointer and every sibling in `others` (created as files) are not.
fn exact_case(name: &str, others: &[&str]) {
    let repo = TestRepo::new();
    repo.write(&format!("{name}/f"), b"data");
    for o in others {
        repo.write(o, b"unrelated");
    }
    repo.dvx(&["add", name]).ok();
    assert!(ignored(&repo, name), "{name:?} is not ignored");
    assert!(
        ignored(&repo, &format!("{name}/f")),
        "{name:?}/f is not ignored"
    );
    let pointer = format!("{name}.dvx");
    assert!(!ignored(&repo, &pointer), "{pointer:?} is ignored");
    for o in others {
        assert!(
            !ignored(&repo, o),
            "{o:?} is ignored by the line for {name:?}"
        );
    }
    // `git add -A` commits the pointer and the siblings, never the data.
    repo.git(&["add", "-A"]).ok();
    let staged = repo.staged();
    assert!(staged.contains(&pointer), "{staged:?}");
    for o in others {
        assert!(
            staged.contains(&o.to_string()),
            "{o:?} not staged: {staged:?}"
        );
    }
    assert!(
        !staged.iter().any(|s| s.starts_with(&format!("{name}/"))),
        "{staged:?}"
    );
    assert!(untracked(&repo).is_empty());
    let st = repo.dvx(&["status"]).ok().stdout_str();
    assert!(st.contains("clean") && !st.contains("no datasets"), "{st}");
}

#[test]
fn escape_brackets() {
    exact_case("data[1]", &["data1/x", "data[1]x"]);
    exact_case("a]b", &["a]bc"]);
}

#[test]
fn escape_star() {
    exact_case("run*", &["run.py", "runs/x", "run*x"]);
}

#[test]
fn escape_question_mark() {
    exact_case("dat?", &["data/x", "datx"]);
}

#[test]
fn escape_exclamation() {
    exact_case("!keep", &["keep", "!keepx"]);
    exact_case("a!b", &["a!bc"]);
}

#[test]
fn escape_hash() {
    exact_case("#notes", &["notes", "#notesx"]);
}

#[test]
fn escape_trailing_spaces() {
    exact_case("data ", &["data/x", "data  "]);
    exact_case("two  ", &["two", "two "]);
}

#[test]
fn escape_braces() {
    exact_case("x{a,b}", &["xa/y", "xb"]);
    // dvx's own walk reads the line too (its globs know `{a,b}`): it must not hide `xa/`.
    let repo = TestRepo::new();
    repo.write("x{a,b}/f", b"f");
    repo.write("xa/d/f", b"d");
    repo.dvx(&["add", "x{a,b}"]).ok();
    repo.dvx(&["add", "--no-stage", "xa/d"]).ok();
    repo.dvx(&["status"]).ok().stdout_has("xa/d: clean");
}

#[test]
fn backslash_names_are_refused_with_a_message() {
    let repo = TestRepo::new();
    repo.write("a\\b/f", b"x");
    repo.dvx(&["add", "a\\b"])
        .code_in(&[1, 2])
        .stderr_has("invalid entry name")
        .stderr_has("path separator");
    assert!(!repo.path("a\\b.dvx").exists());
}

// ---- item 9: what add accepts, every command reads back ----

fn nest(repo: &TestRepo, top: &str, depth: usize) {
    let mut p = repo.path(top);
    for _ in 0..depth {
        p.push("d");
    }
    fs::create_dir_all(&p).unwrap();
    fs::write(p.join("f"), b"bottom").unwrap();
}

#[test]
fn too_deep_a_tree_is_refused_before_anything_is_written() {
    let repo = TestRepo::new();
    // The deepest nesting readers accept: directories 512 deep below the dataset.
    nest(&repo, "ok", 512);
    repo.dvx(&["add", "ok"]).ok();
    repo.commit("ok");
    fs::remove_dir_all(repo.path("ok")).unwrap();
    repo.dvx(&["checkout", "ok"]).ok();
    repo.dvx(&["status"]).ok().stdout_has("ok: clean");

    nest(&repo, "deep", 600);
    let before = store_files(&repo);
    let gi = repo.read_str(".gitignore");
    let r = repo.dvx(&["add", "deep"]);
    r.code_is(1)
        .stderr_has("at most 512")
        .stderr_has("deep/d/d/");
    assert_eq!(store_files(&repo), before, "add wrote to the store");
    assert!(!repo.path("deep.dvx").exists());
    assert_eq!(repo.read_str(".gitignore"), gi);
}

#[test]
fn meta_too_large_for_a_pointer_is_refused() {
    let repo = TestRepo::new();
    repo.write("data/a", b"a");
    let big = "v".repeat(100_000);
    let metas: Vec<String> = (0..12).map(|i| format!("k{i}={big}")).collect();
    let mut args = vec!["add", "data"];
    for m in &metas {
        args.extend(["--meta", m.as_str()]);
    }
    let before = store_files(&repo);
    repo.dvx(&args)
        .code_is(2)
        .stderr_has("--meta k")
        .stderr_has("1048576");
    assert_eq!(store_files(&repo), before, "add wrote to the store");
    assert!(!repo.path("data.dvx").exists());
    assert!(!repo.path(".gitignore").exists());
    // Just under the limit: written, and every command reads it.
    let fits: Vec<String> = (0..10).map(|i| format!("k{i}={big}")).collect();
    let mut args = vec!["add", "data"];
    for m in &fits {
        args.extend(["--meta", m.as_str()]);
    }
    repo.dvx(&args).ok();
    repo.dvx(&["status"]).ok().stdout_has("data: clean");
    repo.dvx(&["id", "data"]).ok();
}

// ---- item 19: datasets inside datasets ----

#[test]
fn adding_a_folder_holding_another_dataset_is_refused() {
    let repo = TestRepo::new();
    repo.write("data/sub/a", b"a");
    repo.write("data/b", b"b");
    repo.dvx(&["add", "data/sub"]).ok();
    let before = store_files(&repo);
    repo.dvx(&["add", "data"])
        .code_is(1)
        .stderr_has("data/sub.dvx")
        .stderr_has("git rm data/sub.dvx");
    assert_eq!(store_files(&repo), before);
    assert!(!repo.path("data.dvx").exists());
    // Both in one command.
    repo.write("two/in/x", b"x");
    repo.dvx(&["add", "two", "two/in"])
        .code_is(2)
        .stderr_has("two and two/in overlap");
    assert!(!repo.path("two.dvx").exists());
    // The reverse: a path inside a dataset.
    repo.write("top/in/x", b"x");
    repo.dvx(&["add", "top"]).ok();
    repo.dvx(&["add", "top/in"])
        .code_is(2)
        .stderr_has("inside the dataset top");
}

#[test]
fn overlapping_pointers_at_a_revision_are_refused() {
    let repo = TestRepo::new();
    repo.write("data/sub/a", b"a");
    repo.write("data/b", b"b");
    repo.dvx(&["add", "data/sub"]).ok();
    let keep = repo.outside().join("sub.dvx");
    fs::rename(repo.path("data/sub.dvx"), &keep).unwrap();
    repo.dvx(&["add", "data"]).ok();
    // Craft the hostile commit: both pointers at once.
    fs::rename(&keep, repo.path("data/sub.dvx")).unwrap();
    repo.git(&["add", "-f", "data/sub.dvx", "data.dvx"]).ok();
    let bad = repo.commit("both");
    for args in [
        vec!["checkout", bad.as_str()],
        vec!["checkout", bad.as_str(), "data/sub"],
        vec!["status"],
        vec!["ls", bad.as_str()],
    ] {
        repo.dvx(&args)
            .code_is(1)
            .stderr_has("data.dvx and data/sub.dvx")
            .stderr_has("overlapping");
    }
    // gc and fsck still see (and keep) every version.
    repo.dvx(&["fsck"]).ok();
}

// ---- a .dvxignore whose rules cannot be applied ----

#[test]
fn a_dvxignore_that_does_not_parse_stops_add_and_status() {
    let repo = TestRepo::new();
    repo.write("data/keep.csv", b"1,2\n");
    repo.write("data/sub/secret.key", b"secret");
    repo.write("data/sub/.dvxignore", b"*.key\n");
    repo.dvx(&["add", "data"]).ok();
    repo.commit("data");
    let pointer = repo.read_str("data.dvx");
    let before = store_files(&repo);
    // A second line that does not parse: the file's rules cannot be applied, so nothing is
    // taken in (the key would be, without them).
    repo.write("data/sub/.dvxignore", b"*.key\nbad{a,b\n");
    for args in [&["add", "data"][..], &["status", "data"][..]] {
        repo.dvx(args)
            .code_in(&[1, 2])
            .stderr_has("data/sub/.dvxignore")
            .stderr_has("line 2");
    }
    assert_eq!(repo.read_str("data.dvx"), pointer, "pointer unchanged");
    assert_eq!(store_files(&repo), before, "nothing stored");

    repo.write("data/sub/.dvxignore", b"*.key\nother\n");
    repo.dvx(&["add", "data"]).ok();
    let ls = repo.dvx(&["ls", "data"]);
    ls.ok().stdout_has("keep.csv");
    assert!(!ls.stdout_str().contains("secret.key"), "{ls}");
}
