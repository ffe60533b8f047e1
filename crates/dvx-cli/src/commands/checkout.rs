use std::io::Write;
use std::path::PathBuf;

use crate::output::{bytes, q};
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
        let counts = counts(d);
        match &d.part {
            // Only a part changed: the dataset is at no one version, and must not be said to be.
            Some(part) => writeln!(out, "{}", part_line(part, d, &counts))?,
            None => writeln!(
                out,
                "{}: {} at {}: {counts}",
                q(&d.path),
                if d.written + d.removed + d.dirs_removed == 0 {
                    "already"
                } else {
                    "now"
                },
                d.id.short(),
            )?,
        }
    }
    Ok(crate::EXIT_OK)
}

/// What a checkout did to one dataset: `3 written (1.2 MiB), 1 removed, 5 unchanged` (files
/// and links; directories are not counted).
pub fn counts(d: &dvx_core::DatasetCheckout) -> String {
    format!(
        "{} written ({}), {} removed, {} unchanged",
        d.written,
        bytes(d.bytes_written),
        d.removed,
        d.unchanged
    )
}

/// The report line of a partial checkout or pull: what was restored from which version, and
/// that the pointer (the dataset's recorded version) did not move.
pub fn part_line(part: &str, d: &dvx_core::DatasetCheckout, counts: &str) -> String {
    format!(
        "{}: restored from version {} of {}: {counts}; the pointer {} is unchanged \
         (`dvx status {}` shows how the data now differs from it)",
        q(part),
        d.id.short(),
        q(&d.path),
        q(&format!("{}.dvx", d.path)),
        q(&d.path)
    )
}
