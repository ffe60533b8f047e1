//! One module per subcommand. Each takes Settings and its arguments, writes to `out`, and
//! returns an exit status.

mod add;
mod audit;
mod cat;
mod checkout;
mod config;
mod diff;
mod fsck;
mod gc;
mod generate;
mod hooks;
mod id;
mod init;
mod log;
mod ls;
mod remote;
mod source;
mod status;
mod transfer;

use std::io::Write;
use std::path::PathBuf;

use crate::args::Command;
use crate::settings::{Settings, UsageError};

/// Runs one subcommand.
pub fn dispatch(s: &Settings, cmd: Command, out: &mut dyn Write) -> anyhow::Result<i32> {
    match cmd {
        Command::Init => init::run(s, out),
        Command::Add {
            paths,
            message,
            meta,
            no_stage,
        } => add::run(s, paths, message, meta, no_stage, out),
        Command::Status {
            paths,
            json,
            remote,
        } => status::run(s, paths, json, remote, out),
        Command::Remote { action } => remote::run(s, action, out),
        Command::Key { action } => remote::key(s, action, out),
        Command::Fsck {
            repair,
            remote,
            json,
        } => fsck::run(s, repair, remote, json, out),
        Command::Gc {
            dry_run,
            keep_days,
            remote,
            json,
        } => gc::run(s, dry_run, keep_days, remote, json, out),
        Command::Audit {
            remote,
            dataset,
            since,
            until,
            json,
        } => audit::run(
            s,
            audit::AuditArgs {
                remote,
                dataset,
                since,
                until,
                json,
            },
            out,
        ),
        Command::Push {
            revs,
            all_revs,
            remote,
            json,
        } => transfer::push(s, revs, all_revs, remote, json, out),
        Command::Fetch { revs, remote, json } => transfer::fetch(s, revs, remote, json, out),
        Command::Pull {
            args,
            paths,
            remote,
            force,
            json,
        } => transfer::pull(
            s,
            transfer::PullArgs {
                args,
                paths,
                remote,
                force,
                json,
            },
            out,
        ),
        Command::Get {
            url,
            path,
            source,
            json,
        } => source::get(s, url, path, source, json, out),
        Command::Import {
            url,
            path,
            source,
            json,
        } => source::import(s, url, path, source, json, out),
        Command::Update {
            paths,
            rev,
            offline,
            remote_url,
            json,
        } => source::update(s, paths, rev, offline, remote_url, json, out),
        Command::Checkout { args, paths, force } => checkout::run(s, args, paths, force, out),
        Command::Ls { args, paths, json } => ls::run(s, args, paths, json, out),
        Command::Cat { spec } => cat::run(s, &spec, out),
        Command::Id {
            args,
            pointer,
            worktree,
        } => {
            let of = match (pointer, worktree) {
                (true, _) => dvx_core::IdOf::Pointer,
                (_, true) => dvx_core::IdOf::Worktree,
                _ => dvx_core::IdOf::Checked,
            };
            id::run(s, args, of, out)
        }
        Command::Log { path, json } => log::run(s, path, json, out),
        Command::Diff { args, paths, json } => diff::run(s, args, paths, json, out),
        Command::InstallHooks { uninstall } => hooks::run(s, uninstall, out),
        Command::Config {
            local,
            store,
            unset,
            key,
            value,
        } => config::run(s, local, store, unset, key, value, out),
        Command::Completions { shell } => generate::completions(shell, out),
        Command::Man { command } => generate::man(command, out),
    }
}

/// Splits `[<rev>...] [<path>...]` like git: leading arguments that are not paths of a
/// dataset (or of anything on disk) and resolve as revisions are revisions, at most `max_revs`.
/// An argument that is neither is reported as an unknown revision if paths follow it.
pub fn split_revs(
    ws: &dvx_core::Workspace,
    s: &Settings,
    args: Vec<String>,
    mut extra_paths: Vec<PathBuf>,
    max_revs: usize,
) -> anyhow::Result<(Vec<String>, Vec<PathBuf>)> {
    let mut revs = Vec::new();
    let mut paths = Vec::new();
    let n = args.len();
    for (i, a) in args.into_iter().enumerate() {
        if !paths.is_empty() || revs.len() >= max_revs {
            paths.push(PathBuf::from(a));
            continue;
        }
        let as_path = s.cwd.join(&a);
        // A path on disk, or one inside a dataset of the worktree (even if missing there: the
        // command then says no dataset holds it, instead of calling it a bad revision).
        let is_path = std::fs::symlink_metadata(&as_path).is_ok()
            || ws
                .dataset_path(&s.cwd, std::path::Path::new(&a))
                .ok()
                .is_some_and(|d| {
                    let mut prefix = String::new();
                    d.split('/').any(|c| {
                        prefix = if prefix.is_empty() {
                            c.to_string()
                        } else {
                            format!("{prefix}/{c}")
                        };
                        ws.abs(&dvx_manifest::pointer_path_for(&prefix)).is_file()
                    })
                });
        if is_path {
            paths.push(PathBuf::from(a));
            continue;
        }
        match ws.resolve(&a) {
            Ok(_) => revs.push(a),
            Err(e) => {
                let more = i + 1 < n || !extra_paths.is_empty();
                if more {
                    return Err(e.into());
                }
                return Err(UsageError(format!(
                    "`{a}` is neither a dataset path nor a revision: {e}"
                ))
                .into());
            }
        }
    }
    paths.append(&mut extra_paths);
    Ok((revs, paths))
}
