use std::io::Write;

use dvx_core::ConfigScope;

use crate::settings::Settings;

pub fn run(
    s: &Settings,
    local: bool,
    store: bool,
    unset: bool,
    key: Option<String>,
    value: Option<String>,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    let scope = if local {
        ConfigScope::Local
    } else if store {
        ConfigScope::Store
    } else {
        ConfigScope::Repo
    };
    let path = scope.path(&ws);
    match (key, value) {
        (None, _) => {
            for e in dvx_core::config_list(&ws, scope)? {
                writeln!(out, "{} = {}", e.key, e.value)?;
            }
        }
        (Some(key), None) if unset => {
            if !dvx_core::config_unset(&ws, scope, &key)? {
                eprintln!("error: {key} is not set in {}", path.display());
                return Ok(crate::EXIT_FAILURE);
            }
            if scope == ConfigScope::Repo {
                writeln!(
                    out,
                    "removed {key} (.dvx/config.toml staged; commit it to share)"
                )?;
            }
        }
        (Some(key), None) => match dvx_core::config_get(&ws, scope, &key)? {
            Some(v) => writeln!(out, "{v}")?,
            None => {
                eprintln!("error: {key} is not set in {}", path.display());
                return Ok(crate::EXIT_FAILURE);
            }
        },
        (Some(key), Some(value)) => {
            dvx_core::config_set(&ws, scope, &key, &value)?;
            if scope == ConfigScope::Repo {
                writeln!(
                    out,
                    "set {key} (.dvx/config.toml staged; commit it to share)"
                )?;
            }
        }
    }
    Ok(crate::EXIT_OK)
}
