use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;

use crate::output::{bytes, count, jn, q};
use crate::progress::Bars;
use crate::settings::Settings;

/// Which way the data went, for the summary's words.
#[derive(Clone, Copy)]
pub(super) enum Way {
    Push,
    Fetch,
    Pull,
}

/// The one summary line of push, fetch and pull, in human units. `seconds` is the whole
/// command's wall time (for pull: fetch and restore).
pub(super) fn summary(way: Way, r: &dvx_core::TransferReport, seconds: f64) -> String {
    let (verb, moved, nothing, holder) = match way {
        Way::Push => ("pushed", "sent", "nothing to push", "the remote"),
        Way::Fetch => ("fetched", "received", "nothing to fetch", "the local store"),
        Way::Pull => ("pulled", "received", "nothing to fetch", "the local store"),
    };
    if r.datasets == 0 {
        return format!("{nothing}: no dataset version");
    }
    let what = format!(
        "{} ({}, {})",
        count(r.datasets, "dataset version"),
        count(r.files, "file"),
        bytes(r.bytes)
    );
    let requests = count(r.requests, "request");
    if r.objects == 0 {
        return format!("{nothing}: {holder} already has {what}; {requests} in {seconds:.2}s");
    }
    format!(
        "{verb} {what}: {moved} {} in {} ({requests}) in {seconds:.2}s",
        bytes(r.transferred),
        count(r.objects, "object"),
    )
}

/// The report as `--json` gives it: exact counts, for scripts.
pub(super) fn summary_json(r: &dvx_core::TransferReport, seconds: f64) -> serde_json::Value {
    json!({
        "versions": r.datasets,
        "files": r.files,
        "bytes": r.bytes,
        "transferred": r.transferred,
        "objects": r.objects,
        "requests": r.requests,
        "seconds": seconds,
    })
}

pub fn push(
    s: &Settings,
    revs: Vec<String>,
    all_revs: bool,
    remote: Option<String>,
    as_json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    let opts = dvx_core::PushOptions {
        revs,
        all_revs,
        remote,
    };
    let r = dvx_core::push(&ws, &opts, &s.cloud, &Bars::new(s.progress))?;
    if as_json {
        crate::output::json(out, &summary_json(&r, r.seconds))?;
    } else {
        writeln!(out, "{}", summary(Way::Push, &r, r.seconds))?;
    }
    Ok(crate::EXIT_OK)
}

pub fn fetch(
    s: &Settings,
    revs: Vec<String>,
    remote: Option<String>,
    as_json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    let opts = dvx_core::FetchOptions {
        revs,
        paths: Vec::new(),
        cwd: s.cwd.clone(),
        remote,
    };
    let r = dvx_core::fetch(&ws, &opts, &s.cloud, &Bars::new(s.progress))?;
    if as_json {
        crate::output::json(out, &summary_json(&r, r.seconds))?;
    } else {
        writeln!(out, "{}", summary(Way::Fetch, &r, r.seconds))?;
    }
    Ok(crate::EXIT_OK)
}

pub struct PullArgs {
    pub args: Vec<String>,
    pub paths: Vec<PathBuf>,
    pub remote: Option<String>,
    pub force: bool,
    pub json: bool,
}

pub fn pull(s: &Settings, a: PullArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let started = Instant::now();
    let ws = s.workspace()?;
    let (revs, paths) = super::split_revs(&ws, s, a.args, a.paths, 1)?;
    let opts = dvx_core::PullOptions {
        rev: revs.into_iter().next(),
        paths,
        cwd: s.cwd.clone(),
        remote: a.remote,
        force: a.force,
        cache_dir: Some(s.cache_dir.clone()),
    };
    let r = dvx_core::pull(&ws, &opts, &s.cloud, &Bars::new(s.progress))?;
    // The report's own time ends with the download; the user waited for the restore too.
    let seconds = started.elapsed().as_secs_f64();
    let datasets = r.checkout.as_ref().map_or(&[][..], |c| &c.datasets[..]);
    if a.json {
        let mut v = summary_json(&r, seconds);
        v["datasets"] = datasets
            .iter()
            .map(|d| {
                json!({
                    "path": jn(&d.path),
                    "id": d.id.to_hex(),
                    "part": d.part.as_deref().map(jn),
                    "written": d.written,
                    "bytes_written": d.bytes_written,
                    "removed": d.removed,
                    "unchanged": d.unchanged,
                })
            })
            .collect();
        v["fallbacks"] = json!(r.fallbacks);
        crate::output::json(out, &v)?;
        return Ok(crate::EXIT_OK);
    }
    for f in &r.fallbacks {
        writeln!(out, "{f}")?;
    }
    for d in datasets {
        let counts = super::checkout::counts(d);
        match &d.part {
            Some(part) => writeln!(out, "{}", super::checkout::part_line(part, d, &counts))?,
            None => writeln!(out, "{}: at {}: {counts}", q(&d.path), d.id.short())?,
        }
    }
    writeln!(out, "{}", summary(Way::Pull, &r, seconds))?;
    Ok(crate::EXIT_OK)
}
