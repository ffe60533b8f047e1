use std::io::Write;

use crate::settings::Settings;

pub fn run(s: &Settings, spec: &str, out: &mut dyn Write) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    dvx_core::cat(&ws, spec, out)?;
    Ok(crate::EXIT_OK)
}
