//! Two `dvx add` processes running at the same time in one repository (different datasets,
//! partly identical content) must both succeed and leave a consistent store, index and
//! `.gitignore`.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod util;

use std::process::Stdio;

use util::*;

#[test]
fn two_concurrent_adds_both_succeed() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0xc0c0);
    for round in 0..3 {
        // A few MB each; data2 shares some files with data1 so both writers store the same
        // chunks at the same time.
        let shared = g.bytes(600_000);
        for (ds, n) in [("data1", 4), ("data2", 4)] {
            for i in 0..n {
                let size = 300_000 + g.range(0..300_000);
                g.file(&repo.path(&format!("{ds}/r{round}/f{i}.bin")), size);
            }
            g.text_file(&repo.path(&format!("{ds}/r{round}/t.csv")), 200_000);
            write_file(&repo.path(&format!("{ds}/r{round}/shared.bin")), &shared);
        }
        let want1 = repo.snapshot("data1");
        let want2 = repo.snapshot("data2");

        let spawn = |ds: &str| {
            repo.dvx_cmd(&["add", ds, "-m", &format!("{ds} round {round}")])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let p1 = spawn("data1");
        let p2 = spawn("data2");
        let o1 = p1.wait_with_output().unwrap();
        let o2 = p2.wait_with_output().unwrap();
        for (ds, o) in [("data1", &o1), ("data2", &o2)] {
            assert!(
                o.status.success(),
                "round {round}: concurrent `dvx add {ds}` failed: {}\nstdout: {}\nstderr: {}",
                o.status,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }

        let staged = repo.staged();
        // (.gitignore only changes in the first round.)
        let must_stage: &[&str] = if round == 0 {
            &["data1.dvx", "data2.dvx", ".gitignore"]
        } else {
            &["data1.dvx", "data2.dvx"]
        };
        for f in must_stage {
            assert!(
                staged.iter().any(|s| s == f),
                "round {round}: {f} not staged: {staged:?}"
            );
        }
        assert_eq!(
            repo.pointer("data1.dvx").get("meta.message"),
            format!("data1 round {round}")
        );
        assert_eq!(
            repo.pointer("data2.dvx").get("meta.message"),
            format!("data2 round {round}")
        );
        let gi = repo.read_str(".gitignore");
        for l in ["/data1", "/data2"] {
            assert_eq!(
                gi.lines().filter(|x| x.trim() == l).count(),
                1,
                "round {round}: .gitignore should list {l} once:\n{gi}"
            );
        }
        // The index holds exactly the worktree pointers.
        for f in ["data1.dvx", "data2.dvx"] {
            assert_eq!(
                repo.git_out(&["show", &format!(":{f}")]),
                repo.read_str(f).trim_end(),
                "round {round}: staged {f} differs from the worktree"
            );
        }
        repo.commit(&format!("round {round}"));

        let st = repo.dvx(&["status", "--json"]);
        st.ok();
        let doc = st.json();
        assert_eq!(dataset(&doc, "data1")["state"], "clean", "{st}");
        assert_eq!(dataset(&doc, "data2")["state"], "clean", "{st}");

        // Restore both from scratch.
        remove(&repo.path("data1"));
        remove(&repo.path("data2"));
        repo.dvx(&["checkout"]).ok();
        assert_snapshot_eq(
            &format!("round {round}: data1"),
            &want1,
            &repo.snapshot("data1"),
        );
        assert_snapshot_eq(
            &format!("round {round}: data2"),
            &want2,
            &repo.snapshot("data2"),
        );
    }
}

#[test]
fn concurrent_checkouts_of_two_datasets() {
    let repo = TestRepo::new();
    let mut g = Gen::new(0xc0c1);
    g.tree(&repo.path("data1"), 3, 6, 200_000);
    g.tree(&repo.path("data2"), 3, 6, 200_000);
    repo.dvx(&["add", "data1", "data2"]).ok();
    repo.commit("v1");
    let want1 = repo.snapshot("data1");
    let want2 = repo.snapshot("data2");
    remove(&repo.path("data1"));
    remove(&repo.path("data2"));

    let spawn = |ds: &str| {
        repo.dvx_cmd(&["checkout", "HEAD", ds])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let p1 = spawn("data1");
    let p2 = spawn("data2");
    for (ds, p) in [("data1", p1), ("data2", p2)] {
        let o = p.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "concurrent `dvx checkout HEAD {ds}` failed: {}\nstderr: {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert_snapshot_eq("data1", &want1, &repo.snapshot("data1"));
    assert_snapshot_eq("data2", &want2, &repo.snapshot("data2"));
}
