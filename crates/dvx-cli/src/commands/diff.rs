use std::io::Write;
use std::path::PathBuf;

use dvx_core::DiffSide;
use dvx_manifest::Change;
use serde_json::json;

use crate::output::{jn, q};
use crate::progress::Bars;
use crate::settings::Settings;

pub fn run(
    s: &Settings,
    args: Vec<String>,
    paths: Vec<PathBuf>,
    as_json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    let (revs, paths) = super::split_revs(&ws, s, args, paths, 2)?;
    let (from, to) = match revs.as_slice() {
        [] => (DiffSide::Pointer, DiffSide::Disk),
        [a] => (DiffSide::Rev(a.clone()), DiffSide::Disk),
        [a, b, ..] => (DiffSide::Rev(a.clone()), DiffSide::Rev(b.clone())),
    };
    let opts = dvx_core::DiffOptions {
        from,
        to,
        paths,
        cwd: s.cwd.clone(),
    };
    let report = dvx_core::diff(&ws, &opts, &Bars::new(s.progress))?;
    if as_json {
        let v: Vec<_> = report
            .datasets
            .iter()
            .map(|d| {
                let (mut added, mut removed, mut modified) = (vec![], vec![], vec![]);
                for c in &d.changes {
                    match c {
                        Change::Added { path, size } => {
                            added.push(json!({"path": jn(path), "size": size}))
                        }
                        Change::Removed { path, size } => {
                            removed.push(json!({"path": jn(path), "size": size}))
                        }
                        Change::Modified {
                            path,
                            old_size,
                            new_size,
                        } => modified.push(
                            json!({"path": jn(path), "old_size": old_size, "new_size": new_size}),
                        ),
                    }
                }
                json!({
                    "path": jn(&d.path),
                    "from": d.from.map(|i| i.to_hex()),
                    "to": d.to.map(|i| i.to_hex()),
                    "added": added,
                    "removed": removed,
                    "modified": modified,
                })
            })
            .collect();
        crate::output::json(out, &json!({ "datasets": v }))?;
        return Ok(crate::EXIT_OK);
    }
    for d in &report.datasets {
        for c in &d.changes {
            match c {
                Change::Added { path, size } => writeln!(out, "A {} ({size} bytes)", q(path))?,
                Change::Removed { path, size } => writeln!(out, "D {} ({size} bytes)", q(path))?,
                Change::Modified {
                    path,
                    old_size,
                    new_size,
                } => writeln!(out, "M {} ({old_size} -> {new_size} bytes)", q(path))?,
            }
        }
    }
    Ok(crate::EXIT_OK)
}
