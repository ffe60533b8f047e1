//! `dvx audit`: a remote's audit trail, as a table or one JSON document.

use std::io::Write;
use std::path::PathBuf;

use serde_json::json;

use crate::output::{bytes, count, q};
use crate::settings::Settings;

pub struct AuditArgs {
    pub remote: Option<String>,
    pub dataset: Option<PathBuf>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub json: bool,
}

/// Who, in one word or two: the git email (else the OS user), with the host or CI job.
fn who(a: &dvx_core::Actor) -> String {
    let name = a
        .git_email
        .clone()
        .or_else(|| a.os_user.clone())
        .unwrap_or_else(|| "(unknown)".into());
    let place = match (&a.ci, &a.os_user, &a.host) {
        (Some(ci), _, _) => format!("{} job {}", ci.system, ci.job_id),
        (None, Some(u), Some(h)) => format!("{u}@{h}"),
        (None, None, Some(h)) => h.clone(),
        (None, Some(u), None) => u.clone(),
        (None, None, None) => String::new(),
    };
    if place.is_empty() {
        name
    } else {
        format!("{name} ({place})")
    }
}

/// The datasets of a record: `path@id12`, at most three, then how many more.
fn datasets(r: &dvx_core::AuditRecord) -> String {
    if r.datasets.is_empty() {
        return "-".into();
    }
    let mut parts: Vec<String> = r
        .datasets
        .iter()
        .take(3)
        .map(|d| format!("{}@{}", q(&d.path), &d.id[..d.id.len().min(12)]))
        .collect();
    if r.datasets.len() > 3 {
        parts.push(format!("+{} more", r.datasets.len() - 3));
    }
    parts.join(",")
}

/// What moved, in human units.
fn moved(r: &dvx_core::AuditRecord) -> String {
    if let Some(gc) = &r.gc {
        return format!(
            "{}{} and {} deleted, {} freed",
            if gc.dry_run { "dry run: " } else { "" },
            count(gc.packs_deleted, "pack"),
            count(gc.trees_deleted, "tree"),
            bytes(gc.bytes_freed)
        );
    }
    let verb = if r.operation == dvx_core::AuditOperation::Push {
        "sent"
    } else {
        "received"
    };
    format!(
        "{verb} {} in {}",
        bytes(r.transferred),
        count(r.objects.max(r.chunks), "object")
    )
}

pub fn run(s: &Settings, a: AuditArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let since = a
        .since
        .as_deref()
        .map(|t| dvx_core::parse_time_bound(t, false, "--since"))
        .transpose()?;
    let until = a
        .until
        .as_deref()
        .map(|t| dvx_core::parse_time_bound(t, true, "--until"))
        .transpose()?;
    let ws = s.workspace()?;
    let opts = dvx_core::AuditOptions {
        remote: a.remote,
        dataset: a.dataset,
        cwd: s.cwd.clone(),
        since,
        until,
    };
    let r = dvx_core::audit_list(&ws, &opts, &s.cloud)?;
    if a.json {
        crate::output::json(
            out,
            &json!({
                "remote": r.remote,
                "records": r.records,
                "problems": r.problems,
            }),
        )?;
    } else {
        for e in &r.records {
            let rec = &e.record;
            writeln!(
                out,
                "{}  {:<6}  {}  {}  {}",
                rec.started,
                rec.operation.name(),
                q(&who(&rec.who)),
                datasets(rec),
                moved(rec)
            )?;
        }
        if r.records.is_empty() {
            writeln!(out, "no audit records on {}", r.remote)?;
        }
    }
    for p in &r.problems {
        eprintln!(
            "error: remote {}: {} {}",
            r.remote,
            p.key,
            p.problem.replace('\n', " ")
        );
    }
    Ok(if r.problems.is_empty() {
        crate::EXIT_OK
    } else {
        crate::EXIT_FAILURE
    })
}
