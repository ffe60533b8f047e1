use std::io::Write;
use std::path::PathBuf;

use crate::output::bytes;
use crate::progress::Bars;
use crate::settings::Settings;

pub fn run(
    s: &Settings,
    args: Vec<String>,
    paths: Vec<PathBuf>,
    force: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    let (revs, paths) = super::split_revs(&ws, s, args, paths, 1)?;
    let opts = dvx_core::CheckoutOptions {
        rev: revs.into_iter().next(),
        paths,
        cwd: s.cwd.clone(),
        force,
    };
    let report = dvx_core::checkout(&ws, &opts, &Bars::new(s.progress))?;
    for d in &report.datasets {
        writeln!(
            out,
            "{}: {} at {}: {} written ({}), {} removed, {} unchanged",
            d.path,
            if d.written + d.removed == 0 {
                "already"
            } else {
                "now"
            },
            d.id.short(),
            d.written,
            bytes(d.bytes_written),
            d.removed,
            d.unchanged
        )?;
    }
    Ok(crate::EXIT_OK)
}
