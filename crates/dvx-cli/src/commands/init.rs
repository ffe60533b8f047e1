use std::io::Write;

use crate::settings::Settings;

pub fn run(s: &Settings, out: &mut dyn Write) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    let r = dvx_core::init(&ws)?;
    if r.created {
        writeln!(out, "Initialized dvx in {}", r.dvx_dir.display())?;
        writeln!(out, "Next: `dvx add <dir>` then `git commit`.")?;
    } else {
        writeln!(out, "dvx is already initialized in {}", r.dvx_dir.display())?;
    }
    Ok(crate::EXIT_OK)
}
