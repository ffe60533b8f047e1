//! `dvx get`, `dvx import`, `dvx update`: datasets of another repository.

use std::io::Write;
use std::path::PathBuf;

use serde_json::json;

use crate::args::SourceArgs;
use crate::output::{bytes, count, jn, q};
use crate::progress::Bars;
use crate::settings::Settings;

fn source_options(s: &Settings, url: String, a: &SourceArgs) -> dvx_core::SourceOptions {
    dvx_core::SourceOptions {
        url,
        rev: a.rev.clone(),
        offline: a.offline,
        remote_url: a.remote_url.clone(),
        cache_dir: s.cache_dir.clone(),
        cwd: s.cwd.clone(),
    }
}

/// "source ../registry at v1 (commit 1a2b3c4d5e6f)"
fn source_line(r: &dvx_core::SourceReport) -> String {
    format!(
        "{} of {} at {} (commit {}{})",
        q(&r.path),
        r.url,
        r.rev.as_deref().unwrap_or("HEAD"),
        &r.commit[..12.min(r.commit.len())],
        if r.contacted { "" } else { ", from the cache" }
    )
}

fn source_json(r: &dvx_core::SourceReport) -> serde_json::Value {
    json!({
        "url": r.url,
        "rev": r.rev,
        "commit": r.commit,
        "path": jn(&r.path),
        "id": r.id.to_hex(),
        "contacted": r.contacted,
    })
}

/// What was received: bytes and objects (chunks, trees), for the benchmark and the user.
fn transfer_line(t: &dvx_core::TransferReport) -> String {
    if t.objects == 0 {
        return "nothing to transfer: the local store had it all".to_string();
    }
    format!(
        "received {} in {} from {} ({})",
        bytes(t.transferred),
        count(t.objects, "object"),
        t.remote,
        count(t.requests, "request")
    )
}

fn transfer_json(t: &dvx_core::TransferReport) -> serde_json::Value {
    json!({
        "from": t.remote,
        "transferred": t.transferred,
        "objects": t.objects,
        "chunks": t.chunks,
        "requests": t.requests,
        "seconds": t.seconds,
    })
}

pub fn get(
    s: &Settings,
    url: String,
    path: String,
    a: SourceArgs,
    as_json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    // Outside any repository, `get` still works (its store is then under the user cache).
    let ws = match dvx_core::Workspace::open(&s.workspace_options()) {
        Ok(ws) => Some(ws),
        Err(e) if e.kind() == dvx_core::ErrorKind::NotARepository => None,
        Err(e) => return Err(e.into()),
    };
    let opts = dvx_core::GetOptions {
        source: source_options(s, url, &a),
        path,
        out: a.out.clone(),
    };
    let r = dvx_core::get(ws.as_ref(), &opts, &s.cloud, &Bars::new(s.progress))?;
    if as_json {
        crate::output::json(
            out,
            &json!({
                "source": source_json(&r.source),
                "out": r.out.display().to_string(),
                "files": r.files,
                "bytes": r.bytes,
                "transfer": transfer_json(&r.transfer),
            }),
        )?;
        return Ok(crate::EXIT_OK);
    }
    writeln!(
        out,
        "{}: {}, {} from {}",
        r.out.display(),
        count(r.files, "file"),
        bytes(r.bytes),
        source_line(&r.source)
    )?;
    writeln!(out, "{}", transfer_line(&r.transfer))?;
    Ok(crate::EXIT_OK)
}

pub fn import(
    s: &Settings,
    url: String,
    path: String,
    a: SourceArgs,
    as_json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    let opts = dvx_core::ImportOptions {
        source: source_options(s, url, &a),
        path,
        out: a.out.clone(),
    };
    let r = dvx_core::import(&ws, &opts, &s.cloud, &Bars::new(s.progress))?;
    if as_json {
        crate::output::json(
            out,
            &json!({
                "dataset": jn(&r.dataset),
                "id": r.id.to_hex(),
                "files": r.files,
                "bytes": r.bytes,
                "source": source_json(&r.source),
                "transfer": transfer_json(&r.transfer),
            }),
        )?;
        return Ok(crate::EXIT_OK);
    }
    writeln!(
        out,
        "{}: imported {} ({}, {}), id {}; {}.dvx is staged",
        q(&r.dataset),
        source_line(&r.source),
        count(r.files, "file"),
        bytes(r.bytes),
        r.id.short(),
        q(&r.dataset),
    )?;
    writeln!(out, "{}", transfer_line(&r.transfer))?;
    Ok(crate::EXIT_OK)
}

pub fn update(
    s: &Settings,
    paths: Vec<PathBuf>,
    rev: Option<String>,
    offline: bool,
    remote_url: Option<String>,
    as_json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    let opts = dvx_core::UpdateOptions {
        paths,
        cwd: s.cwd.clone(),
        rev,
        offline,
        remote_url,
        cache_dir: s.cache_dir.clone(),
    };
    let r = dvx_core::update(&ws, &opts, &s.cloud, &Bars::new(s.progress))?;
    if as_json {
        let v: Vec<serde_json::Value> = r
            .datasets
            .iter()
            .map(|d| {
                json!({
                    "dataset": jn(&d.dataset),
                    "old_commit": d.old_commit,
                    "old_id": d.old_id.to_hex(),
                    "id": d.id.to_hex(),
                    "source": source_json(&d.source),
                    "transfer": transfer_json(&d.transfer),
                })
            })
            .collect();
        crate::output::json(out, &json!({ "datasets": v }))?;
        return Ok(crate::EXIT_OK);
    }
    for d in &r.datasets {
        let what = if d.id == d.old_id {
            format!("unchanged at {}", d.id.short())
        } else {
            format!("updated {} -> {}", d.old_id.short(), d.id.short())
        };
        writeln!(out, "{}: {what}, {}", q(&d.dataset), source_line(&d.source))?;
        writeln!(out, "{}", transfer_line(&d.transfer))?;
    }
    Ok(crate::EXIT_OK)
}
