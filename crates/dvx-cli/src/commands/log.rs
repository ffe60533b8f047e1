use std::io::Write;
use std::path::PathBuf;

use serde_json::json;

use crate::output::{bytes, count, jn, q};
use crate::settings::Settings;

pub fn run(
    s: &Settings,
    path: Option<PathBuf>,
    as_json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    let entries = dvx_core::log(&ws, path.as_deref(), &s.cwd)?;
    if as_json {
        let v: Vec<_> = entries
            .iter()
            .map(|e| {
                json!({
                    "path": jn(&e.path),
                    "commit": e.commit.id,
                    "date": dvx_core::rfc3339(e.commit.time, e.commit.tz_offset_seconds),
                    "id": e.id.map(|i| i.to_hex()),
                    "files": e.files,
                    "bytes": e.bytes,
                    "message": e.message,
                    "meta": e.meta,
                    "commit_message": e.commit.summary,
                    "author": e.commit.author,
                    "source": e.source.as_ref().map(source_json),
                })
            })
            .collect();
        crate::output::json(out, &json!({ "entries": v }))?;
        return Ok(crate::EXIT_OK);
    }
    // With several datasets, each line names its dataset after the date.
    let many = entries.iter().any(|e| e.path != entries[0].path);
    for e in &entries {
        let id = e.id.map_or_else(|| "(deleted)".to_string(), |i| i.short());
        let path = if many {
            format!(" {}", q(&e.path))
        } else {
            String::new()
        };
        let from = e.source.as_ref().map_or(String::new(), |src| {
            format!(
                " (from {} {} at {}, commit {})",
                src.url,
                q(&src.path),
                src.rev.as_deref().unwrap_or("HEAD"),
                &src.commit[..src.commit.len().min(10)]
            )
        });
        writeln!(
            out,
            "{} {}{path} {id} {} {} {}{from}",
            &e.commit.id[..e.commit.id.len().min(10)],
            dvx_core::rfc3339(e.commit.time, e.commit.tz_offset_seconds),
            count(e.files, "file"),
            bytes(e.bytes),
            e.message.as_deref().unwrap_or(&e.commit.summary)
        )?;
    }
    Ok(crate::EXIT_OK)
}

/// An imported dataset's `[source]` table as `--json` shows it.
pub fn source_json(src: &dvx_manifest::Source) -> serde_json::Value {
    json!({
        "url": src.url,
        "rev": src.rev,
        "commit": src.commit,
        "path": jn(&src.path),
        "id": src.id,
    })
}
