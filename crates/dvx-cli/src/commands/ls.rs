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
    // Each entry is written as it is read, so memory does not grow with the listing; the
    // JSON document is the one `serde_json` would print for the whole array.
    let mut failed: Option<std::io::Error> = None;
    let mut first = true;
    if as_json {
        out.write_all(b"{\n  \"entries\": [")?;
    }
    dvx_core::ls_each(
        &ws,
        revs.first().map(String::as_str),
        paths.first().map(PathBuf::as_path),
        &s.cwd,
        &mut |e| {
            let written = if as_json {
                write_json(out, &e, std::mem::take(&mut first))
            } else {
                write_line(out, &e)
            };
            match written {
                Ok(()) => true,
                Err(err) => {
                    failed = Some(err);
                    false
                }
            }
        },
    )?;
    if let Some(err) = failed {
        return Err(err.into());
    }
    if as_json {
        out.write_all(if first { b"]\n}\n" } else { b"\n  ]\n}\n" })?;
    }
    Ok(crate::EXIT_OK)
}

/// One entry of the `entries` array, indented as in a pretty-printed document.
fn write_json(out: &mut dyn Write, e: &dvx_core::LsEntry, first: bool) -> std::io::Result<()> {
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
    let text = serde_json::to_string_pretty(&o).map_err(std::io::Error::other)?;
    let mut buf = String::with_capacity(text.len() + 64);
    buf.push_str(if first { "\n" } else { ",\n" });
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            buf.push('\n');
        }
        buf.push_str("    ");
        buf.push_str(line);
    }
    out.write_all(buf.as_bytes())
}

fn write_line(out: &mut dyn Write, e: &dvx_core::LsEntry) -> std::io::Result<()> {
    match e.kind {
        "file" => writeln!(out, "{}\t{}", e.size, q(&e.path)),
        "dir" => writeln!(out, "-\t{}/", q(&e.path)),
        _ => writeln!(
            out,
            "-\t{} -> {}",
            q(&e.path),
            q(e.target.as_deref().unwrap_or(""))
        ),
    }
}
