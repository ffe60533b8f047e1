//! `dvx config`: settings read and changed through the CLI, each change checked before it is
//! written, and the settings really used by the commands that follow.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod util;

use util::*;

#[test]
fn config_sets_remotes_and_store_settings_that_commands_then_use() {
    let repo = TestRepo::new();
    let remote = repo.tmp().join("remote");
    repo.dvx(&["config", "remotes.origin.url", remote.to_str().unwrap()])
        .ok();
    repo.dvx(&["config", "core.default_remote", "origin"]).ok();
    assert!(
        repo.staged().iter().any(|p| p == ".dvx/config.toml"),
        "the committed config was not staged"
    );
    repo.dvx(&["config", "core.default_remote"])
        .ok()
        .stdout_has("origin");
    let list = repo.dvx(&["config"]).ok().stdout_str();
    assert!(list.contains("remotes.origin.url = "), "{list}");

    // Store settings: compression for add, then checked by reading the packs back.
    repo.dvx(&["config", "--store", "zstd_level", "3"]).ok();
    repo.dvx(&["config", "--store", "zstd_level"])
        .ok()
        .stdout_has("3");
    repo.write("data/table.csv", "a,b,c\n1,2,3\n".repeat(20_000).as_bytes());
    let raw = 12 * 20_000;
    repo.dvx(&["add", "data"]).ok();
    assert!(
        repo.store_size() < raw as u64 / 4,
        "zstd_level 3 did not compress: store holds {} bytes for {raw} raw",
        repo.store_size()
    );
    // -1 stores chunks raw, text included.
    repo.dvx(&["config", "--store", "zstd_level", "-1"]).ok();
    let before = repo.store_size();
    repo.write("data/more.csv", "d,e,f\n4,5,6\n".repeat(20_000).as_bytes());
    repo.dvx(&["add", "data"]).ok();
    assert!(
        repo.store_size() >= before + raw as u64,
        "zstd_level -1 compressed: the store grew by {} bytes for {raw} raw",
        repo.store_size() - before
    );
    repo.commit("v1");
    // The remote set through config is the one push uses.
    repo.dvx(&["push"]).ok();
    assert!(
        remote.join("packs").is_dir(),
        "push did not reach the configured remote"
    );

    // Secrets set locally are never listed, only printed when asked for by name.
    repo.dvx(&[
        "config",
        "--local",
        "remotes.origin.secret_access_key",
        "s3cr3t",
    ])
    .ok();
    let local = repo.dvx(&["config", "--local"]).ok().stdout_str();
    assert!(!local.contains("s3cr3t"), "a secret was listed: {local}");
    repo.dvx(&["config", "--local", "remotes.origin.secret_access_key"])
        .ok()
        .stdout_has("s3cr3t");
    assert!(
        !repo.staged().iter().any(|p| p.contains("config.local")),
        "the local config was staged"
    );

    // Unset.
    repo.dvx(&["config", "--unset", "core.default_remote"]).ok();
    repo.dvx(&["config", "core.default_remote"]).code_is(1);
    repo.dvx(&["config", "--unset", "core.default_remote"])
        .code_is(1);
}

#[test]
fn bad_config_changes_are_refused_and_nothing_is_written() {
    let repo = TestRepo::new();
    let before_repo = repo.read(".dvx/config.toml");
    let before_store = repo.read(".dvx/store/config.toml");
    for (args, says) in [
        (
            &["config", "--store", "zstd_level", "99"][..],
            "from 1 to 22",
        ),
        (
            &["config", "--store", "zstd_level", "fast"][..],
            "zstd_level",
        ),
        (&["config", "--store", "chunker.avg", "1024"][..], "fixed"),
        (&["config", "--store", "format", "2"][..], "fixed"),
        (&["config", "--store", "pack_size", "10"][..], "pack_size"),
        (&["config", "core.typo", "1"][..], "not a setting"),
        (
            &["config", "core.default_remote", "nope"][..],
            "no remote named",
        ),
        (&["config", "remotes.bad/name.url", "/x"][..], "bad/name"),
        (&["config", "remotes.origin.url.deeper", "/x"][..], ""),
        (&["config", "a..b", "1"][..], "invalid key"),
    ] {
        let r = repo.dvx(args);
        r.code_is(2).stderr_is_error();
        assert!(r.stderr_str().contains(says), "{args:?}: {r}");
    }
    assert_eq!(repo.read(".dvx/config.toml"), before_repo);
    assert_eq!(repo.read(".dvx/store/config.toml"), before_store);
    // --unset needs a key; a value with --unset is a usage error.
    repo.dvx(&["config", "--unset"]).code_is(2);
    repo.dvx(&["config", "--unset", "core.default_remote", "x"])
        .code_is(2);
}
