use std::io::Write;

use serde_json::json;

use crate::args::RemoteAction;
use crate::progress::Bars;
use crate::settings::Settings;

pub fn run(s: &Settings, action: RemoteAction, out: &mut dyn Write) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    match action {
        RemoteAction::Add { name, url, default } => {
            dvx_core::remote_add(&ws, &name, &url, default, &Bars::new(s.progress))?;
            writeln!(
                out,
                "added remote {name} -> {} (.dvx/config.toml staged; commit it to share)",
                dvx_core::redact_userinfo(&url)
            )?;
        }
        RemoteAction::Remove { name } => {
            dvx_core::remote_remove(&ws, &name)?;
            writeln!(out, "removed remote {name}")?;
        }
        RemoteAction::Default { name } => {
            dvx_core::remote_default(&ws, &name)?;
            writeln!(out, "default remote is now {name}")?;
        }
        RemoteAction::List { json: as_json } => {
            let list = dvx_core::remote_list(&ws)?;
            if as_json {
                let v: Vec<_> = list
                    .iter()
                    .map(|r| json!({"name": r.name, "url": r.url, "default": r.default}))
                    .collect();
                crate::output::json(out, &json!({ "remotes": v }))?;
            } else {
                for r in &list {
                    if r.default {
                        writeln!(out, "{}\t{}\t(default)", r.name, r.url)?;
                    } else {
                        writeln!(out, "{}\t{}", r.name, r.url)?;
                    }
                }
            }
        }
    }
    Ok(crate::EXIT_OK)
}
