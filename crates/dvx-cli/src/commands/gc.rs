use std::io::Write;
use std::time::Duration;

use serde_json::json;

use crate::output::{bytes, count, plural};
use crate::progress::Bars;
use crate::settings::{Settings, UsageError};

pub fn run(
    s: &Settings,
    dry_run: bool,
    keep_days: f64,
    remote: Option<String>,
    as_json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    if !(keep_days.is_finite() && keep_days >= 0.0) {
        return Err(UsageError(format!(
            "--keep-days {keep_days}: expected a number of days >= 0"
        ))
        .into());
    }
    let ws = s.workspace()?;
    let opts = dvx_core::GcOptions {
        dry_run,
        keep: Duration::from_secs_f64(keep_days * 86400.0),
    };
    let r = match &remote {
        Some(name) => {
            let name = (!name.is_empty()).then_some(name.as_str());
            dvx_core::gc_remote(&ws, name, &s.cloud, &opts, &Bars::new(s.progress))?
        }
        None => dvx_core::gc(&ws, &opts, &Bars::new(s.progress))?,
    };
    if as_json {
        crate::output::json(
            out,
            &json!({
                "dry_run": dry_run,
                "versions": r.versions,
                "live_chunks": r.live_chunks,
                "packs_kept": r.packs_kept,
                "packs_deleted": r.packs_deleted,
                "packs_rewritten": r.packs_rewritten,
                "trees_deleted": r.trees_deleted,
                "bytes_freed": r.bytes_freed,
                "bytes_kept": r.bytes_kept,
                "young_kept": r.young_kept,
                "other_repos": r.other_repos,
            }),
        )?;
    } else {
        writeln!(
            out,
            "{}{} live ({}); packs: {} kept ({}), {} deleted, {} rewritten; {} deleted; {} freed{}",
            if dry_run { "dry run: " } else { "" },
            count(r.versions, "version"),
            count(r.live_chunks, "chunk"),
            r.packs_kept,
            bytes(r.bytes_kept),
            r.packs_deleted,
            r.packs_rewritten,
            count(r.trees_deleted, "tree"),
            bytes(r.bytes_freed),
            if r.young_kept > 0 {
                format!(
                    " ({} {} kept)",
                    count(r.young_kept, "object"),
                    if remote.is_some() {
                        "unreferenced but within the grace period (listed in gc/pending.toml)"
                    } else {
                        "younger than the grace period"
                    }
                )
            } else {
                String::new()
            }
        )?;
        if r.other_repos > 0 {
            writeln!(
                out,
                "the store is shared: the versions of {} {} using it were kept",
                r.other_repos,
                plural(r.other_repos, "other repository")
            )?;
        }
    }
    Ok(crate::EXIT_OK)
}
