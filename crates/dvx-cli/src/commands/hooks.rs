//! `dvx install-hooks`: prints what dvx-core's hook installer did.

use std::io::Write;

use crate::settings::Settings;

pub fn run(s: &Settings, uninstall: bool, out: &mut dyn Write) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    if uninstall {
        for path in dvx_core::uninstall_hooks(&ws)? {
            writeln!(out, "removed {}", path.display())?;
        }
        return Ok(crate::EXIT_OK);
    }
    let exe = std::env::current_exe()
        .map_err(|e| anyhow::anyhow!("cannot find the dvx executable: {e}"))?;
    let hooks = dvx_core::install_hooks(&ws, &exe)?;
    let mut code = crate::EXIT_OK;
    for h in &hooks {
        let Some(foreign) = &h.foreign else {
            writeln!(out, "installed {}: {}", h.name, h.what)?;
            continue;
        };
        let name = h.name;
        let stdin = if name == "pre-push" {
            " (it reads the refs being pushed on standard input: give it the same input)"
        } else {
            ""
        };
        eprintln!(
            "error: {} exists and is not dvx's, so it was left unchanged; dvx's hook was \
             written to {name}.dvx beside it. To use it, add this line to {name}{stdin}:\n    \
             \"$(dirname \"$0\")/{name}.dvx\" \"$@\" || exit 1",
            foreign.display()
        );
        code = crate::EXIT_FAILURE;
    }
    Ok(code)
}
