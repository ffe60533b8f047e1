//! The lines dvx manages in `.gitignore` files: one entry per dataset, in the `.gitignore`
//! beside it, a marker comment naming the pointer followed by the pattern that matches exactly
//! the dataset (docs/FORMAT.md section 9):
//!
//! ```text
//! # dvx: data[1].dvx
//! /data\[1\]
//! ```
//!
//! Only such pairs are dvx's: a line without the marker above it is the user's and is never
//! changed or removed. A pair whose pointer file is gone from the worktree is stale and is
//! removed the next time dvx edits that `.gitignore`.

/// Start of the marker line; the pointer file name follows.
const MARK: &str = "# dvx: ";

/// The gitignore pattern that matches exactly `name` (one path component) in the directory of
/// the `.gitignore`, and nothing else: anchored with `/`, every character git's wildmatch or the
/// `ignore` crate's globs treat specially escaped with `\`, and trailing spaces escaped so
/// git does not strip them.
pub(crate) fn pattern(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    out.push('/');
    let keep = name.trim_end_matches(' ');
    for c in keep.chars() {
        if matches!(c, '[' | ']' | '*' | '?' | '\\' | '!' | '#' | '{' | '}') {
            out.push('\\');
        }
        out.push(c);
    }
    for _ in keep.len()..name.len() {
        out.push_str("\\ ");
    }
    out
}

/// A dvx entry found in a `.gitignore`: the marker's line index and the dataset name.
struct Managed {
    at: usize,
    name: String,
}

/// A line without its line ending.
fn bare(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn managed(lines: &[&[u8]]) -> Vec<Managed> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Ok(line) = std::str::from_utf8(bare(line)) else {
            continue;
        };
        let Some(name) = line
            .strip_prefix(MARK)
            .and_then(|rest| rest.strip_suffix(dvx_manifest::POINTER_SUFFIX))
        else {
            continue;
        };
        // A marker whose pattern line was edited or moved away marks nothing.
        if lines.get(i + 1).map(|l| bare(l)) == Some(pattern(name).as_bytes()) {
            out.push(Managed {
                at: i,
                name: name.to_string(),
            });
        }
    }
    out
}

/// The new content of a `.gitignore` (None when nothing changes): dvx entries whose pointer
/// `pointer_exists` says is gone are removed, and with `add = Some((name, is_dir))` an entry
/// for that dataset is appended unless one is there, or unless a line of the user's already
/// is exactly its pattern (`/<name>`, or `/<name>/` for a directory). Other lines are kept
/// byte for byte.
pub(crate) fn update(
    text: &[u8],
    add: Option<(&str, bool)>,
    pointer_exists: &dyn Fn(&str) -> bool,
) -> Option<Vec<u8>> {
    let lines: Vec<&[u8]> = if text.is_empty() {
        Vec::new()
    } else {
        text.strip_suffix(b"\n")
            .unwrap_or(text)
            .split(|&b| b == b'\n')
            .collect()
    };
    let entries = managed(&lines);
    let keep_name = add.map(|(n, _)| n);
    let mut drop = vec![false; lines.len()];
    let mut have = false;
    for e in &entries {
        if Some(e.name.as_str()) == keep_name {
            have = true;
        } else if !pointer_exists(&e.name) {
            drop[e.at] = true;
            drop[e.at + 1] = true;
        }
    }
    let mut append = None;
    if let Some((name, is_dir)) = add {
        let pat = pattern(name);
        let pat = pat.as_bytes();
        let covered = have
            || lines.iter().enumerate().any(|(i, l)| {
                let l = bare(l);
                !drop[i] && (l == pat || (is_dir && l.strip_suffix(b"/") == Some(pat)))
            });
        if !covered {
            append = Some(format!(
                "{MARK}{name}{}\n{}\n",
                dvx_manifest::POINTER_SUFFIX,
                pattern(name)
            ));
        }
    }
    if append.is_none() && !drop.contains(&true) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() + 64);
    for (i, l) in lines.iter().enumerate() {
        if !drop[i] {
            out.extend_from_slice(l);
            out.push(b'\n');
        }
    }
    if let Some(a) = append {
        out.extend_from_slice(a.as_bytes());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_escape_what_git_would_read_as_a_glob() {
        assert_eq!(pattern("data"), "/data");
        assert_eq!(pattern("data[1]"), "/data\\[1\\]");
        assert_eq!(pattern("run*"), "/run\\*");
        assert_eq!(pattern("a?b"), "/a\\?b");
        assert_eq!(pattern("!x"), "/\\!x");
        assert_eq!(pattern("#x"), "/\\#x");
        assert_eq!(pattern("x{a,b}"), "/x\\{a,b\\}");
        assert_eq!(pattern("sp  "), "/sp\\ \\ ");
        assert_eq!(pattern("a b"), "/a b");
    }

    #[test]
    fn adds_marked_lines_once_and_keeps_the_users() {
        let yes = |_: &str| true;
        let t = update(b"", Some(("data", true)), &yes).expect("added");
        assert_eq!(t, b"# dvx: data.dvx\n/data\n");
        assert_eq!(update(&t, Some(("data", true)), &yes), None);
        // The user's own exact line is enough; an unanchored or glob line is not.
        assert_eq!(update(b"/data/\n", Some(("data", true)), &yes), None);
        assert!(update(b"/data/\n", Some(("data", false)), &yes).is_some());
        // Bytes that are not UTF-8 are kept as they are.
        let t = update(b"\xff\n", Some(("d", true)), &yes).expect("added");
        assert_eq!(t, b"\xff\n# dvx: d.dvx\n/d\n");
        let t = update(b"data\n*.log", Some(("data", true)), &yes).expect("added");
        assert_eq!(t, b"data\n*.log\n# dvx: data.dvx\n/data\n");
    }

    #[test]
    fn removes_only_stale_marked_lines() {
        let text = b"/data\n# dvx: data.dvx\n/data\n# dvx: m.dvx\n/m\n# dvx: x.dvx\nedited\n";
        let gone = |n: &str| n != "data" && n != "x";
        let t = update(text, Some(("sub", true)), &gone).expect("changed");
        assert_eq!(
            t,
            b"/data\n# dvx: m.dvx\n/m\n# dvx: x.dvx\nedited\n# dvx: sub.dvx\n/sub\n"
        );
        assert_eq!(update(&t, None, &|_| true), None);
    }
}
