use std::io::Write;
use std::path::Path;

use crate::progress::Bars;
use crate::settings::{Settings, UsageError};

pub fn run(
    s: &Settings,
    args: Vec<String>,
    of: dvx_core::IdOf,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    let (revs, paths) = super::split_revs(&ws, s, args, Vec::new(), 1)?;
    let [path] = paths.as_slice() else {
        return Err(
            UsageError("usage: dvx id [--pointer | --worktree] [<rev>] <path>".into()).into(),
        );
    };
    let id = dvx_core::id(
        &ws,
        revs.first().map(String::as_str),
        Path::new(path),
        &s.cwd,
        of,
        &Bars::new(s.progress),
    )?;
    writeln!(out, "{id}")?;
    Ok(crate::EXIT_OK)
}
