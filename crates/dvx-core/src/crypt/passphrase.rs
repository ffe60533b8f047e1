//! Where an encrypted remote's passphrase comes from: the environment, a file, a command
//! (a secret manager), or a prompt on a terminal. Never logged, never in a message.

use std::io::IsTerminal;

use zeroize::Zeroizing;

use super::PASSPHRASE_SOURCES;
use crate::error::{Error, Result};

/// Where a passphrase is read from, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// The passphrase that opens the remote (or makes its first key).
    Open,
    /// A new one (`dvx key add`): `DVX_NEW_PASSPHRASE`, `DVX_NEW_PASSPHRASE_FILE`, a prompt.
    New,
}

/// The passphrase for `remote`: `DVX_PASSPHRASE`, `DVX_PASSPHRASE_FILE`, `command` (run
/// through the shell, its output trimmed), then a prompt when stdin is a terminal (asked
/// twice when `confirm`).
pub(crate) fn passphrase(
    remote: &str,
    command: Option<&str>,
    purpose: Purpose,
    confirm: bool,
) -> Result<Zeroizing<String>> {
    let (var, file_var) = match purpose {
        Purpose::Open => ("DVX_PASSPHRASE", "DVX_PASSPHRASE_FILE"),
        Purpose::New => ("DVX_NEW_PASSPHRASE", "DVX_NEW_PASSPHRASE_FILE"),
    };
    let bad = |message: String| Error::PassphraseRequired {
        remote: remote.to_string(),
        message,
    };
    if let Some(v) = std::env::var_os(var) {
        let v = Zeroizing::new(v.to_string_lossy().into_owned());
        if v.is_empty() {
            return Err(bad(format!("{var} is set but empty")));
        }
        return Ok(v);
    }
    if let Some(path) = std::env::var_os(file_var) {
        let text = std::fs::read(&path).map_err(|e| {
            bad(format!(
                "{file_var} names {}, which cannot be read: {e}",
                std::path::Path::new(&path).display()
            ))
        })?;
        let text = Zeroizing::new(String::from_utf8_lossy(&text).into_owned());
        let v = Zeroizing::new(text.trim_end_matches(['\n', '\r']).to_string());
        if v.is_empty() {
            return Err(bad(format!("the file {file_var} names is empty")));
        }
        return Ok(v);
    }
    if purpose == Purpose::Open {
        if let Some(cmd) = command {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| bad(format!("passphrase_command could not be started: {e}")))?;
            let text = Zeroizing::new(String::from_utf8_lossy(&out.stdout).into_owned());
            if !out.status.success() {
                return Err(bad(format!("passphrase_command failed ({})", out.status)));
            }
            let v = Zeroizing::new(text.trim().to_string());
            if v.is_empty() {
                return Err(bad("passphrase_command printed nothing".into()));
            }
            return Ok(v);
        }
    }
    if std::io::stdin().is_terminal() {
        let what = match purpose {
            Purpose::Open => "passphrase",
            Purpose::New => "new passphrase",
        };
        let v = Zeroizing::new(
            rpassword::prompt_password(format!("{what} for remote {remote}: "))
                .map_err(|e| bad(format!("the passphrase could not be read: {e}")))?,
        );
        if v.is_empty() {
            return Err(bad("the passphrase is empty".into()));
        }
        if confirm {
            let again = Zeroizing::new(
                rpassword::prompt_password(format!("{what} again: "))
                    .map_err(|e| bad(format!("the passphrase could not be read: {e}")))?,
            );
            if *again != *v {
                return Err(bad("the two passphrases differ".into()));
            }
        }
        return Ok(v);
    }
    Err(bad(match purpose {
        Purpose::Open => format!("no passphrase was given: {PASSPHRASE_SOURCES}"),
        Purpose::New => "no new passphrase was given: set DVX_NEW_PASSPHRASE or \
             DVX_NEW_PASSPHRASE_FILE, or run on a terminal to be asked"
            .to_string(),
    }))
}
