use std::io::Write;
use std::path::PathBuf;

use crate::progress::Bars;
use crate::settings::Settings;

fn summary(verb: &str, moved: &str, r: &dvx_core::TransferReport) -> String {
    format!(
        "{verb} {} dataset version(s): {} files, {} bytes; {moved} {} bytes in {} objects ({} requests) in {:.2}s",
        r.datasets, r.files, r.bytes, r.transferred, r.objects, r.requests, r.seconds
    )
}

pub fn push(
    s: &Settings,
    revs: Vec<String>,
    all_revs: bool,
    remote: Option<String>,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    let opts = dvx_core::PushOptions {
        revs,
        all_revs,
        remote,
    };
    let r = dvx_core::push(&ws, &opts, &s.aws, &Bars::new(s.progress))?;
    writeln!(out, "{}", summary("pushed", "sent", &r))?;
    Ok(crate::EXIT_OK)
}

pub fn fetch(
    s: &Settings,
    revs: Vec<String>,
    remote: Option<String>,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    let opts = dvx_core::FetchOptions {
        revs,
        paths: Vec::new(),
        cwd: s.cwd.clone(),
        remote,
    };
    let r = dvx_core::fetch(&ws, &opts, &s.aws, &Bars::new(s.progress))?;
    writeln!(out, "{}", summary("fetched", "received", &r))?;
    Ok(crate::EXIT_OK)
}

pub fn pull(
    s: &Settings,
    args: Vec<String>,
    paths: Vec<PathBuf>,
    remote: Option<String>,
    force: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    let (revs, paths) = super::split_revs(&ws, s, args, paths, 1)?;
    let opts = dvx_core::PullOptions {
        rev: revs.into_iter().next(),
        paths,
        cwd: s.cwd.clone(),
        remote,
        force,
    };
    let r = dvx_core::pull(&ws, &opts, &s.aws, &Bars::new(s.progress))?;
    if let Some(co) = &r.checkout {
        for d in &co.datasets {
            let counts = format!(
                "{} written, {} removed, {} unchanged",
                d.written, d.removed, d.unchanged
            );
            match &d.part {
                Some(part) => writeln!(out, "{}", super::checkout::part_line(part, d, &counts))?,
                None => writeln!(
                    out,
                    "{}: at {}: {counts}",
                    crate::output::q(&d.path),
                    d.id.short()
                )?,
            }
        }
    }
    writeln!(out, "{}", summary("fetched", "received", &r))?;
    Ok(crate::EXIT_OK)
}
