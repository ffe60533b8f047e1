use std::io::Write;
use std::path::PathBuf;

use serde_json::json;

use crate::output::{jn, q};
use crate::progress::Bars;
use crate::settings::Settings;

pub fn run(
    s: &Settings,
    paths: Vec<PathBuf>,
    as_json: bool,
    remote: Option<String>,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    let report = dvx_core::status(&ws, &s.cwd, &paths, &Bars::new(s.progress))?;
    let pushed = match &remote {
        None => None,
        Some(name) => {
            let ids: Vec<_> = report.datasets.iter().map(|d| d.id).collect();
            let name = (!name.is_empty()).then_some(name.as_str());
            Some(dvx_core::remote_status(&ws, name, &s.cloud, &ids)?)
        }
    };
    if as_json {
        let v: Vec<_> = report
            .datasets
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let mut v = json!({
                    "path": jn(&d.path),
                    "pointer": jn(&d.pointer),
                    "id": d.id.to_hex(),
                    "state": d.state.as_str(),
                    "added": d.added.iter().map(|p| jn(p)).collect::<Vec<_>>(),
                    "modified": d.modified.iter().map(|p| jn(p)).collect::<Vec<_>>(),
                    "deleted": d.deleted.iter().map(|p| jn(p)).collect::<Vec<_>>(),
                });
                if let Some((name, flags)) = &pushed {
                    v["remote"] = json!({
                        "name": name,
                        "pushed": flags[i].is_pushed(),
                        "state": flags[i].as_str(),
                    });
                }
                v
            })
            .collect();
        crate::output::json(out, &json!({ "datasets": v }))?;
        return Ok(crate::EXIT_OK);
    }
    if report.datasets.is_empty() {
        writeln!(out, "no datasets (add one with `dvx add <dir>`)")?;
    }
    for (i, d) in report.datasets.iter().enumerate() {
        match d.state {
            dvx_core::StatusState::NotInStore => writeln!(
                out,
                "{}: version {} is not in the local store (run `dvx pull`)",
                q(&d.path),
                d.id.short()
            )?,
            state => writeln!(out, "{}: {}", q(&d.path), state.as_str())?,
        }
        for (label, list) in [
            ("added:   ", &d.added),
            ("modified:", &d.modified),
            ("deleted: ", &d.deleted),
        ] {
            for p in list {
                writeln!(out, "  {label} {}", q(p))?;
            }
        }
        if let Some((name, flags)) = &pushed {
            writeln!(out, "  remote {name}: {}", flags[i])?;
        }
    }
    Ok(crate::EXIT_OK)
}
