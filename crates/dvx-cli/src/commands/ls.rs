use std::io::Write;
use std::path::PathBuf;

use serde_json::json;

use crate::output::{jn, q};
use crate::settings::{Settings, UsageError};

pub fn run(
    s: &Settings,
    args: Vec<String>,
    paths: Vec<PathBuf>,
    as_json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    let (revs, paths) = super::split_revs(&ws, s, args, paths, 1)?;
    if paths.len() > 1 {
        return Err(UsageError("ls takes at most one path".into()).into());
    }
    let entries = dvx_core::ls(
        &ws,
        revs.first().map(String::as_str),
        paths.first().map(PathBuf::as_path),
        &s.cwd,
    )?;
    if as_json {
        let v: Vec<_> = entries
            .iter()
            .map(|e| {
                let mut o = json!({
                    "path": jn(&e.path),
                    "kind": e.kind,
                    "size": e.size,
                    "digest": e.digest,
                    "executable": e.executable,
                });
                if let Some(t) = &e.target {
                    o["target"] = json!(jn(t));
                }
                if let Some(src) = &e.source {
                    o["source"] = super::log::source_json(src);
                }
                o
            })
            .collect();
        crate::output::json(out, &json!({ "entries": v }))?;
        return Ok(crate::EXIT_OK);
    }
    for e in &entries {
        match e.kind {
            "file" => writeln!(out, "{}\t{}", e.size, q(&e.path))?,
            "dir" => writeln!(out, "-\t{}/", q(&e.path))?,
            _ => writeln!(
                out,
                "-\t{} -> {}",
                q(&e.path),
                q(e.target.as_deref().unwrap_or(""))
            )?,
        }
    }
    Ok(crate::EXIT_OK)
}
