use std::io::Write;

use serde_json::json;

use crate::args::{KeyAction, RemoteAction};
use crate::progress::Bars;
use crate::settings::Settings;

pub fn run(s: &Settings, action: RemoteAction, out: &mut dyn Write) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    match action {
        RemoteAction::Add {
            name,
            url,
            default,
            encrypt,
        } => {
            dvx_core::remote_add_with(
                &ws,
                &name,
                &url,
                default,
                encrypt,
                &s.cloud,
                &Bars::new(s.progress),
            )?;
            writeln!(
                out,
                "added {}remote {name} -> {} (.dvx/config.toml staged; commit it to share)",
                if encrypt { "encrypted " } else { "" },
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

pub fn key(s: &Settings, action: KeyAction, out: &mut dyn Write) -> anyhow::Result<i32> {
    let ws = s.workspace()?;
    match action {
        KeyAction::List {
            remote,
            json: as_json,
        } => {
            let keys = dvx_core::key_list(&ws, remote.as_deref(), &s.cloud)?;
            if as_json {
                let v: Vec<_> = keys
                    .iter()
                    .map(|k| json!({"id": k.id, "created": k.created, "kdf": k.kdf}))
                    .collect();
                crate::output::json(out, &json!({ "keys": v }))?;
            } else {
                for k in &keys {
                    writeln!(out, "{}\t{}\t{}", k.id, k.created, k.kdf)?;
                }
            }
        }
        KeyAction::Add { remote } => {
            let id = dvx_core::key_add(&ws, remote.as_deref(), &s.cloud)?;
            writeln!(out, "added key {id}")?;
        }
        KeyAction::Remove { id, remote } => {
            dvx_core::key_remove(&ws, remote.as_deref(), &id, &s.cloud)?;
            writeln!(out, "removed key {id}")?;
        }
    }
    Ok(crate::EXIT_OK)
}
