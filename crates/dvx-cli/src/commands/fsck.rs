use std::io::Write;

use serde_json::json;

use crate::output::count;
use crate::progress::Bars;
use crate::settings::Settings;

pub fn run(
    s: &Settings,
    repair: bool,
    remote: Option<String>,
    as_json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    let r = match &remote {
        Some(name) => {
            let name = (!name.is_empty()).then_some(name.as_str());
            dvx_core::fsck_remote(&ws, name, &s.cloud)?
        }
        None => dvx_core::fsck(
            &ws,
            &dvx_core::FsckOptions { repair },
            &Bars::new(s.progress),
        )?,
    };
    if as_json {
        let problems: Vec<_> = r
            .problems
            .iter()
            .map(|p| {
                let files: Vec<String> = p.files.iter().map(|f| crate::output::jn(f)).collect();
                json!({
                    "kind": p.kind.as_str(),
                    "object": p.object,
                    "problem": p.what,
                    "files": files,
                })
            })
            .collect();
        crate::output::json(
            out,
            &json!({
                "packs": r.packs, "chunks": r.chunks, "indexes": r.indexes, "trees": r.trees,
                "versions": r.versions, "problems": problems, "repaired": r.repaired,
            }),
        )?;
    } else {
        for p in &r.problems {
            writeln!(out, "{}: {}", p.object, p.what)?;
            for f in &p.files {
                writeln!(out, "  affects {}", crate::output::q(f))?;
            }
        }
        for line in &r.repaired {
            writeln!(out, "repaired: {line}")?;
        }
        writeln!(
            out,
            "checked {} ({}), {}, {}, {}: {}",
            count(r.packs, "pack"),
            count(r.chunks, "chunk"),
            count(r.indexes, "index"),
            count(r.trees, "tree"),
            count(r.versions, "version"),
            if r.problems.is_empty() {
                "no problems".to_string()
            } else {
                count(r.problems.len() as u64, "problem")
            }
        )?;
    }
    Ok(if r.problems.is_empty() {
        crate::EXIT_OK
    } else {
        crate::EXIT_FAILURE
    })
}
