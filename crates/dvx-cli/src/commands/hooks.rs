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
    // The command the hooks run: this executable, or, when the command line runs inside
    // Python (the wheel's `dvx`, whose executable is the interpreter), the command that
    // python/dvx/_cli.py names in DVX_COMMAND.
    let exe = match std::env::var_os("DVX_COMMAND").filter(|p| !p.is_empty()) {
        Some(command) => std::path::PathBuf::from(command),
        None => std::env::current_exe()
            .map_err(|e| anyhow::anyhow!("cannot find the dvx executable: {e}"))?,
    };
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
