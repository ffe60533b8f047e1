//! `dvx config`: read and change settings in the three configuration files. A change is
//! checked the way the file's reader checks it (types, ranges, known keys) before the file is
//! rewritten, atomically; the committed file is then staged.

use std::path::{Path, PathBuf};

use toml::{Table, Value};

use crate::config::{validate_remote_name, LocalConfig, RepoConfig};
use crate::error::{Error, Result};
use crate::fsx;
use crate::workspace::Workspace;

/// Which configuration file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigScope {
    /// `.dvx/config.toml`: committed (remotes, default remote).
    Repo,
    /// `.dvx/config.local.toml`: this machine (store location, endpoints, credentials).
    Local,
    /// The store's `config.toml` (compression levels, pack size; chunker fixed).
    Store,
}

/// Keys whose values are never printed, in any view.
const SECRET_KEYS: &[&str] = &[
    "secret_access_key",
    "session_token",
    "account_key",
    "connection_string",
    // A command may hold a secret (`echo <passphrase>`); what it prints always is one.
    "passphrase_command",
];

/// What a view shows instead of a secret.
const HIDDEN: &str = "(set, hidden)";

/// Settings that redirect signed requests: read only from this machine's file or the
/// environment, never from the committed one (a commit must not pick where credentials go).
pub(crate) const LOCAL_ONLY_REMOTE_KEYS: &[&str] = &["endpoint", "allow_http"];

/// `v` as a view may show it: secrets hidden, URL passwords redacted.
fn masked(key: &str, v: &Value) -> Value {
    match v {
        _ if SECRET_KEYS.contains(&key) => Value::String(HIDDEN.into()),
        Value::String(s) => Value::String(dvx_remote::redact_userinfo(s)),
        Value::Table(t) => Value::Table(t.iter().map(|(k, v)| (k.clone(), masked(k, v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(|v| masked("", v)).collect()),
        other => other.clone(),
    }
}

impl ConfigScope {
    /// The file's path.
    pub fn path(self, ws: &Workspace) -> PathBuf {
        match self {
            ConfigScope::Repo => ws.dvx_dir().join("config.toml"),
            ConfigScope::Local => ws.dvx_dir().join("config.local.toml"),
            ConfigScope::Store => ws.store_dir().join("config.toml"),
        }
    }

    fn header(self) -> &'static str {
        match self {
            ConfigScope::Repo => {
                "# dvx repository configuration: committed with the code.\n# Machine-specific \
                 settings (store location, endpoints, credentials) go in config.local.toml.\n"
            }
            ConfigScope::Local => {
                "# dvx settings for this machine only (never committed): store location, \
                 endpoints, credentials.\n"
            }
            ConfigScope::Store => {
                "# dvx store configuration. The chunker settings are fixed for the life of the \
                 store.\n"
            }
        }
    }
}

/// One setting: dotted key and its value in TOML syntax.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Dotted key, e.g. `remotes.origin.url`.
    pub key: String,
    /// The value as TOML (strings quoted); secrets are masked in listings.
    pub value: String,
}

fn read_table(scope: ConfigScope, path: &Path) -> Result<Table> {
    match crate::fsx::read_small_string(path, crate::fsx::MAX_TEXT_FILE) {
        Ok(text) => text.parse::<Table>().map_err(|e| Error::InvalidConfig {
            path: path.to_path_buf(),
            detail: format!("{}; fix or delete the file", e.message()),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && scope != ConfigScope::Store => {
            Ok(Table::new())
        }
        Err(e) => Err(Error::io("read", path, e)),
    }
}

fn lookup<'a>(t: &'a Table, key: &str) -> Option<&'a Value> {
    let mut parts = key.split('.');
    let mut v = t.get(parts.next()?)?;
    for p in parts {
        v = v.as_table()?.get(p)?;
    }
    Some(v)
}

fn bad_key(message: String) -> Error {
    Error::InvalidArgument {
        argument: "key",
        message,
    }
}

fn bad_value(message: String) -> Error {
    Error::InvalidArgument {
        argument: "value",
        message,
    }
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(bad_key(format!(
            "invalid key {key:?}: use dotted names such as core.default_remote or \
             remotes.origin.url"
        )));
    }
    Ok(())
}

fn set_in(t: &mut Table, key: &str, value: Value) -> Result<()> {
    let parts: Vec<&str> = key.split('.').collect();
    let (last, parents) = parts.split_last().expect("keys are not empty");
    let mut cur = t;
    for (i, p) in parents.iter().enumerate() {
        let entry = cur
            .entry((*p).to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        cur = entry.as_table_mut().ok_or_else(|| {
            bad_key(format!(
                "{} is a value, not a section: cannot set {key}",
                parts[..=i].join(".")
            ))
        })?;
    }
    cur.insert((*last).to_string(), value);
    Ok(())
}

fn remove_in(t: &mut Table, key: &str) -> bool {
    let parts: Vec<&str> = key.split('.').collect();
    let (last, parents) = parts.split_last().expect("keys are not empty");
    let mut cur = t;
    for p in parents {
        match cur.get_mut(*p).and_then(Value::as_table_mut) {
            Some(next) => cur = next,
            None => return false,
        }
    }
    cur.remove(*last).is_some()
}

fn flatten(prefix: &str, t: &Table, out: &mut Vec<ConfigEntry>) {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Table(sub) => flatten(&key, sub, out),
            _ => {
                let value = masked(k, v).to_string();
                out.push(ConfigEntry { key, value });
            }
        }
    }
}

/// A TOML value if the text is one (`3`, `true`, `"x"`), else the text as a string.
fn parse_value(text: &str) -> Value {
    match format!("v = {text}").parse::<Table>() {
        Ok(mut t) if t.len() == 1 => t.remove("v").unwrap_or(Value::String(text.into())),
        _ => Value::String(text.to_string()),
    }
}

/// Checks the new text as the file's reader would, and that `key` (when given) is a setting
/// the file has.
fn validate(scope: ConfigScope, path: &Path, text: &str, key: Option<&str>) -> Result<()> {
    let typed: Table = match scope {
        ConfigScope::Repo => {
            // The new text comes from the command line: what the reader refuses is a usage
            // error here.
            let cfg = RepoConfig::parse(path, text).map_err(|e| match e {
                e @ Error::InvalidConfig { .. } => bad_value(e.to_string()),
                e => e,
            })?;
            for name in cfg.remotes.keys() {
                validate_remote_name(name)?;
            }
            if let Some(d) = &cfg.core.default_remote {
                if !cfg.remotes.contains_key(d) {
                    return Err(bad_value(format!(
                        "core.default_remote: no remote named {d:?} (add it first: `dvx remote \
                         add {d} <folder or s3://bucket/prefix>`)"
                    )));
                }
            }
            Table::try_from(&cfg)
        }
        ConfigScope::Local => {
            let cfg: LocalConfig = toml::from_str(text)
                .map_err(|e| bad_value(format!("invalid {}: {}", path.display(), e.message())))?;
            for name in cfg.remotes.keys() {
                validate_remote_name(name)?;
            }
            Table::try_from(&cfg)
        }
        ConfigScope::Store => {
            let cfg =
                dvx_store::StoreConfig::parse(path, text).map_err(|e| bad_value(e.to_string()))?;
            Table::try_from(&cfg)
        }
    }
    .map_err(|e| Error::Encode {
        what: path.display().to_string(),
        detail: e.to_string(),
    })?;
    if let Some(key) = key {
        if lookup(&typed, key).is_none() {
            return Err(bad_key(format!(
                "{key} is not a setting of {} (see `dvx config --help`)",
                path.display()
            )));
        }
    }
    Ok(())
}

/// Every setting in the file, sorted by key.
pub fn config_list(ws: &Workspace, scope: ConfigScope) -> Result<Vec<ConfigEntry>> {
    if scope == ConfigScope::Store {
        ws.require_init()?;
    }
    let table = read_table(scope, &scope.path(ws))?;
    let mut out = Vec::new();
    flatten("", &table, &mut out);
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// The value of one setting (a string as plain text, anything else as TOML), if set.
/// A section is shown with its secrets hidden and URL passwords redacted, as listings are;
/// a secret asked for by its full key is printed, as `aws configure get` does: that is a
/// deliberate request for that one value (e.g. by a script), not a view.
pub fn config_get(ws: &Workspace, scope: ConfigScope, key: &str) -> Result<Option<String>> {
    check_key(key)?;
    if scope == ConfigScope::Store {
        ws.require_init()?;
    }
    let table = read_table(scope, &scope.path(ws))?;
    let last = key.rsplit('.').next().unwrap_or(key);
    Ok(lookup(&table, key).map(|v| {
        let shown = match v {
            Value::String(s) if SECRET_KEYS.contains(&last) => Value::String(s.clone()),
            v => masked(last, v),
        };
        match shown {
            Value::String(s) => s,
            other => other.to_string(),
        }
    }))
}

fn render(path: &Path, table: &Table) -> Result<String> {
    toml::to_string(table).map_err(|e| Error::Encode {
        what: path.display().to_string(),
        detail: e.to_string(),
    })
}

/// Writes the checked text (with the file's header) and stages the committed file.
fn rewrite(ws: &Workspace, scope: ConfigScope, path: &Path, body: &str) -> Result<()> {
    fsx::write_atomic(path, format!("{}{body}", scope.header()).as_bytes())?;
    if scope == ConfigScope::Repo {
        ws.stage(&[".dvx/config.toml".into()])?;
    }
    Ok(())
}

/// Sets one setting (the value parsed as TOML when it is valid TOML, else taken as text).
pub fn config_set(ws: &Workspace, scope: ConfigScope, key: &str, value: &str) -> Result<()> {
    check_key(key)?;
    ws.require_init()?;
    if scope == ConfigScope::Store && (key == "format" || key.split('.').next() == Some("chunker"))
    {
        return Err(bad_key(format!(
            "{key} is fixed for the life of the store (chunk ids depend on it); a different \
             chunker needs a new store"
        )));
    }
    if scope == ConfigScope::Repo && key == "core.format" {
        return Err(bad_key("core.format is set by dvx itself".into()));
    }
    if let ["remotes", name, setting] = key.split('.').collect::<Vec<_>>()[..] {
        if scope == ConfigScope::Repo && LOCAL_ONLY_REMOTE_KEYS.contains(&setting) {
            return Err(bad_key(format!(
                "{key} is read only from this machine's settings, never from the committed \
                 file (a commit must not choose where credentials are sent): run `dvx config \
                 --local remotes.{name}.{setting} {value}`"
            )));
        }
    }
    let path = scope.path(ws);
    let mut table = read_table(scope, &path)?;
    set_in(&mut table, key, parse_value(value))?;
    let text = render(&path, &table)?;
    validate(scope, &path, &text, Some(key))?;
    rewrite(ws, scope, &path, &text)
}

/// Removes one setting; false if it was not set.
pub fn config_unset(ws: &Workspace, scope: ConfigScope, key: &str) -> Result<bool> {
    check_key(key)?;
    ws.require_init()?;
    let path = scope.path(ws);
    let mut table = read_table(scope, &path)?;
    if !remove_in(&mut table, key) {
        return Ok(false);
    }
    let text = render(&path, &table)?;
    validate(scope, &path, &text, None)
        .map_err(|e| bad_key(format!("{key} cannot be removed: without it, {e}")))?;
    rewrite(ws, scope, &path, &text)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_as_toml_or_text() {
        assert_eq!(parse_value("3"), Value::Integer(3));
        assert_eq!(parse_value("true"), Value::Boolean(true));
        assert_eq!(parse_value("\"x y\""), Value::String("x y".into()));
        assert_eq!(parse_value("origin"), Value::String("origin".into()));
        assert_eq!(
            parse_value("/mnt/nas/data"),
            Value::String("/mnt/nas/data".into())
        );
        assert_eq!(parse_value("s3://b/p"), Value::String("s3://b/p".into()));
    }

    #[test]
    fn dotted_keys_set_and_remove() {
        let mut t = Table::new();
        set_in(&mut t, "remotes.origin.url", Value::String("/x".into())).expect("set");
        assert_eq!(
            lookup(&t, "remotes.origin.url"),
            Some(&Value::String("/x".into()))
        );
        assert!(set_in(&mut t, "remotes.origin.url.deeper", Value::Integer(1)).is_err());
        assert!(remove_in(&mut t, "remotes.origin.url"));
        assert!(!remove_in(&mut t, "remotes.origin.url"));
        assert!(check_key("a..b").is_err());
    }
}
