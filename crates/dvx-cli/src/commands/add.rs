use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use crate::output::{bytes, count};
use crate::progress::Bars;
use crate::settings::{Settings, UsageError};

pub fn run(
    s: &Settings,
    paths: Vec<PathBuf>,
    message: Option<String>,
    meta: Vec<String>,
    no_stage: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let mut kv = BTreeMap::new();
    for m in meta {
        let (k, v) = m
            .split_once('=')
            .ok_or_else(|| UsageError(format!("--meta `{m}`: expected KEY=VALUE")))?;
        if k.is_empty() {
            return Err(UsageError(format!("--meta `{m}`: the key is empty")).into());
        }
        kv.insert(k.to_string(), v.to_string());
    }
    let ws = s.workspace()?;
    let opts = dvx_core::AddOptions {
        paths,
        cwd: s.cwd.clone(),
        message,
        meta: kv,
        no_stage,
    };
    let started = std::time::Instant::now();
    let report = dvx_core::add(&ws, &opts, &Bars::new(s.progress))?;
    for d in &report.datasets {
        let what = match d.previous {
            None => "added".to_string(),
            Some(p) if p == d.id => "unchanged".to_string(),
            Some(p) => format!("updated from {}", p.short()),
        };
        writeln!(
            out,
            "{}: {what}, {}, {}, id {}",
            crate::output::q(&d.path),
            count(d.files, "file"),
            bytes(d.bytes),
            d.id.short()
        )?;
    }
    let st = report.stats;
    // The per-dataset lines are the result (stdout); store counters are information (stderr).
    eprintln!(
        "stored {} ({} raw, {} on disk) in {} in {:.2}s",
        count(st.new_chunks, "new chunk"),
        bytes(st.new_bytes),
        bytes(st.stored_bytes),
        count(st.packs, "pack"),
        started.elapsed().as_secs_f64()
    );
    Ok(crate::EXIT_OK)
}
