//! `dvx remote`: the remotes recorded in `.dvx/config.toml`, and opening one as a backend
//! with settings merged from the committed config, config.local.toml and the environment.

use dvx_remote::{AzureSettings, GcsSettings, RemoteUrl, S3Settings};
use dvx_store::Backend;

use crate::config::{
    validate_remote_name, CloudEnv, LocalConfig, LocalRemote, RemoteConfig, RepoConfig,
};
use std::sync::Arc;

use crate::audit::AuditOperation;
use crate::crypt::{self, KeyInfo, Purpose};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::transfer::layout;
use crate::transfer::session::Session;
use crate::workspace::Workspace;

/// A configured remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteInfo {
    /// Name.
    pub name: String,
    /// URL as configured.
    pub url: String,
    /// The default remote.
    pub default: bool,
}

fn save_and_stage(ws: &Workspace, cfg: &RepoConfig) -> Result<()> {
    cfg.save(&ws.dvx_dir())?;
    ws.stage(&[".dvx/config.toml".into()])
}

/// Adds a remote; the first one becomes the default. A folder that does not exist yet is
/// accepted (the first push creates it) with a warning: it is often a typo or an unmounted
/// share.
pub fn remote_add(
    ws: &Workspace,
    name: &str,
    url: &str,
    make_default: bool,
    progress: &dyn Progress,
) -> Result<()> {
    remote_add_with(
        ws,
        name,
        url,
        make_default,
        false,
        &CloudEnv::default(),
        progress,
    )
}

/// [`remote_add`], encrypted when `encrypt` (docs/FORMAT.md section 11): an empty remote gets
/// a new master key and its first key object, wrapped by the passphrase (from
/// `DVX_PASSPHRASE`, `DVX_PASSPHRASE_FILE`, `passphrase_command` or a prompt); a remote that
/// already holds keys is joined once the passphrase opens one of them. A remote holding
/// unencrypted data is refused.
pub fn remote_add_with(
    ws: &Workspace,
    name: &str,
    url: &str,
    make_default: bool,
    encrypt: bool,
    env: &CloudEnv,
    progress: &dyn Progress,
) -> Result<()> {
    ws.require_init()?;
    validate_remote_name(name)?;
    let parsed = RemoteUrl::parse(url, ws.root()).map_err(Error::BadRemoteUrl)?;
    if let RemoteUrl::Dir(dir) = &parsed {
        // An encrypted remote's folder is made now, with its first key.
        if !dir.is_dir() && !encrypt {
            let what = if dir.exists() {
                "is not a folder: push will fail until it is one"
            } else {
                "does not exist yet: the first `dvx push` creates it, but pull and fetch \
                 fail until then (a typo? an unmounted share?)"
            };
            progress.warn(&format!("remote folder {} {what}", dir.display()));
        }
    }
    let mut cfg = RepoConfig::load(&ws.dvx_dir())?;
    if cfg.remotes.contains_key(name) {
        return Err(Error::InvalidArgument {
            argument: "name",
            message: format!(
                "remote `{name}` already exists: remove it first (`dvx remote remove {name}`)"
            ),
        });
    }
    let entry = RemoteConfig {
        url: url.to_string(),
        encrypt,
        ..RemoteConfig::default()
    };
    if encrypt {
        set_up_encryption(ws, name, &entry, env)?;
    }
    cfg.remotes.insert(name.to_string(), entry);
    if make_default || cfg.core.default_remote.is_none() {
        cfg.core.default_remote = Some(name.to_string());
    }
    save_and_stage(ws, &cfg)
}

/// Creates or joins the key of the encrypted remote `entry` (not yet in the config).
fn set_up_encryption(
    ws: &Workspace,
    name: &str,
    entry: &RemoteConfig,
    env: &CloudEnv,
) -> Result<()> {
    let (r, lr) = open_plain(ws, name, entry, env)?;
    let label = r.label();
    let b = r.backend.as_ref();
    if !crypt::key_ids(b, &label)?.is_empty() {
        r.unlock(&lr)?;
        return Ok(());
    }
    if r.read_only {
        return Err(Error::Encryption {
            remote: label,
            message: "is read-only and holds no key: an encrypted remote is created through \
                      the folder or bucket itself"
                .into(),
        });
    }
    for prefix in [layout::PACKS, layout::TREES, layout::INDEXES] {
        let held = b.list(prefix).map_err(|e| Error::Remote {
            remote: label.clone(),
            source: e,
        })?;
        if !held.is_empty() {
            return Err(Error::Encryption {
                remote: label,
                message: format!(
                    "already holds unencrypted data ({prefix}...): an encrypted remote starts \
                     empty. Use another folder or prefix"
                ),
            });
        }
    }
    let pass = crypt::passphrase(
        &label,
        lr.passphrase_command.as_deref(),
        Purpose::Open,
        true,
    )?;
    let started = crate::audit::now();
    let c = crypt::create(b, &label, &pass)?;
    let id = c.opened_by().to_string();
    record_key_change(ws, &r, c, AuditOperation::KeyCreate, &id, env, started)
}

/// Opens `name` (configured as `entry`) without opening its key: with this machine's settings.
fn open_plain(
    ws: &Workspace,
    name: &str,
    entry: &RemoteConfig,
    env: &CloudEnv,
) -> Result<(OpenRemote, LocalRemote)> {
    let local = LocalConfig::load(&ws.dvx_dir())?;
    let lr = local.remotes.get(name).cloned().unwrap_or_default();
    let plain = RemoteConfig {
        encrypt: false,
        ..entry.clone()
    };
    let r = open_with(
        name,
        &plain,
        lr.clone(),
        ws.root(),
        env,
        &ws.dvx_dir().join("config.toml"),
    )?;
    Ok((r, lr))
}

/// An encrypted remote opened as `dvx key` needs it: its backend, label and key.
fn open_keys(
    ws: &Workspace,
    name: Option<&str>,
    env: &CloudEnv,
    unlock: bool,
) -> Result<(OpenRemote, Option<crypt::RemoteCrypt>)> {
    ws.require_init()?;
    let cfg = RepoConfig::load(&ws.dvx_dir())?;
    let name = remote_name(&cfg, name)?;
    let entry = cfg.remotes.get(&name).ok_or_else(|| unknown(&name))?;
    let (r, lr) = open_plain(ws, &name, entry, env)?;
    if !entry.encrypt {
        return Err(Error::Encryption {
            remote: r.label(),
            message: "is not encrypted (no `encrypt = true` in .dvx/config.toml): it has no \
                      keys. `dvx remote add <name> <url> --encrypt` makes an encrypted one"
                .into(),
        });
    }
    if !unlock {
        return Ok((r, None));
    }
    let c = r.unlock(&lr)?;
    Ok((r, Some(c)))
}

/// `dvx key list`: the key objects of an encrypted remote (no passphrase needed).
pub fn key_list(ws: &Workspace, remote: Option<&str>, env: &CloudEnv) -> Result<Vec<KeyInfo>> {
    let (r, _) = open_keys(ws, remote, env, false)?;
    crypt::list_keys(r.backend.as_ref(), &r.label())
}

/// `dvx key add`: opens the remote's key with the passphrase, then wraps it with a new one
/// (`DVX_NEW_PASSPHRASE`, `DVX_NEW_PASSPHRASE_FILE` or a prompt); returns the new key's id.
pub fn key_add(ws: &Workspace, remote: Option<&str>, env: &CloudEnv) -> Result<String> {
    let started = crate::audit::now();
    let (r, c) = open_keys(ws, remote, env, true)?;
    r.require_writable("key add")?;
    let c = c.expect("unlocked");
    let label = r.label();
    let new = crypt::passphrase(&label, None, Purpose::New, true)?;
    let id = crypt::add_key(r.backend.as_ref(), &label, &c, &new)?;
    record_key_change(ws, &r, c, AuditOperation::KeyAdd, &id, env, started)?;
    Ok(id)
}

/// `dvx key remove`: deletes one key object (its passphrase no longer opens the remote).
/// The passphrase must open the remote first; the last key is refused.
pub fn key_remove(ws: &Workspace, remote: Option<&str>, id: &str, env: &CloudEnv) -> Result<()> {
    let started = crate::audit::now();
    let (r, c) = open_keys(ws, remote, env, true)?;
    r.require_writable("key remove")?;
    crypt::remove_key(r.backend.as_ref(), &r.label(), id)?;
    let c = c.expect("unlocked");
    record_key_change(ws, &r, c, AuditOperation::KeyRemove, id, env, started)
}

/// Appends the record of a key change to the remote's audit trail, sealed with its key. A
/// change that cannot be recorded fails the command (as a push does): the change is made.
fn record_key_change(
    ws: &Workspace,
    r: &OpenRemote,
    c: crypt::RemoteCrypt,
    op: AuditOperation,
    key: &str,
    env: &CloudEnv,
    started: std::time::SystemTime,
) -> Result<()> {
    let b = Session::open(r).with_crypt(Some(Arc::new(c)));
    let mut rec = crate::audit::record_of(
        op,
        r,
        Some(ws),
        env,
        started,
        Vec::new(),
        &crate::transfer::TransferReport::default(),
    )?;
    rec.key = Some(key.to_string());
    crate::audit::write_record(&b, r, &rec, &crate::progress::NoProgress)
}

/// Removes a remote.
pub fn remote_remove(ws: &Workspace, name: &str) -> Result<()> {
    let mut cfg = RepoConfig::load(&ws.dvx_dir())?;
    if cfg.remotes.remove(name).is_none() {
        return Err(unknown(name));
    }
    if cfg.core.default_remote.as_deref() == Some(name) {
        cfg.core.default_remote = cfg.remotes.keys().next().cloned();
    }
    save_and_stage(ws, &cfg)
}

/// Makes a remote the default.
pub fn remote_default(ws: &Workspace, name: &str) -> Result<()> {
    let mut cfg = RepoConfig::load(&ws.dvx_dir())?;
    if !cfg.remotes.contains_key(name) {
        return Err(unknown(name));
    }
    cfg.core.default_remote = Some(name.to_string());
    save_and_stage(ws, &cfg)
}

/// Lists the remotes.
pub fn remote_list(ws: &Workspace) -> Result<Vec<RemoteInfo>> {
    let cfg = RepoConfig::load(&ws.dvx_dir())?;
    Ok(cfg
        .remotes
        .iter()
        .map(|(n, r)| RemoteInfo {
            name: n.clone(),
            url: dvx_remote::redact_userinfo(&r.url),
            default: cfg.core.default_remote.as_deref() == Some(n),
        })
        .collect())
}

fn unknown(name: &str) -> Error {
    Error::NoSuchRemote {
        name: Some(name.to_string()),
    }
}

/// An opened remote.
pub struct OpenRemote {
    /// Its name.
    pub name: String,
    /// Its URL (no credentials).
    pub url: String,
    /// The backend.
    pub backend: Box<dyn Backend>,
    /// Whether it can only be read (a web server).
    pub read_only: bool,
    /// Whether reads are recorded in its audit trail (`audit_reads`, default true).
    pub audit_reads: bool,
    /// The keys of an encrypted remote (docs/FORMAT.md section 11).
    pub(crate) crypt: Option<Arc<crypt::RemoteCrypt>>,
}

impl OpenRemote {
    /// The keys of an encrypted remote, opened with the passphrase this machine gives.
    fn unlock(&self, lr: &LocalRemote) -> Result<crypt::RemoteCrypt> {
        let label = self.label();
        let pass = crypt::passphrase(
            &label,
            lr.passphrase_command.as_deref(),
            Purpose::Open,
            false,
        )?;
        crypt::unlock(self.backend.as_ref(), &label, &pass)
    }

    /// How messages name the remote: `name (url)`.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.url)
    }

    /// An error before a command that writes to the remote (push, gc) does anything, when
    /// the remote can only be read.
    pub fn require_writable(&self, command: &str) -> Result<()> {
        if !self.read_only {
            return Ok(());
        }
        Err(Error::Remote {
            remote: self.label(),
            source: dvx_store::BackendError::ReadOnly {
                message: format!(
                    "`dvx {command}` cannot write to it: {} is read-only (served by a web \
                     server); fetch and pull from it work. Run `{hint}` against the folder or \
                     bucket that server publishes instead (add it with `dvx remote add <name> \
                     <path or URL>`)",
                    self.url,
                    hint = match command {
                        "push" => "dvx push -r <name>",
                        "key add" | "key remove" => "dvx key ... --remote <name>",
                        _ => "dvx gc --remote <name>",
                    }
                ),
            },
        })
    }
}

/// The name given, else the default remote's.
fn remote_name(cfg: &RepoConfig, name: Option<&str>) -> Result<String> {
    match name {
        Some(n) => Ok(n.to_string()),
        None => cfg
            .core
            .default_remote
            .clone()
            .ok_or(Error::NoSuchRemote { name: None }),
    }
}

/// Opens the named (or default) remote.
pub fn open_remote(ws: &Workspace, name: Option<&str>, env: &CloudEnv) -> Result<OpenRemote> {
    let cfg = RepoConfig::load(&ws.dvx_dir())?;
    let name = remote_name(&cfg, name)?;
    let committed = cfg.remotes.get(&name).ok_or_else(|| unknown(&name))?;
    let local = LocalConfig::load(&ws.dvx_dir())?;
    let lr = local.remotes.get(&name).cloned().unwrap_or_default();
    let file = if lr.url.is_some() {
        "config.local.toml"
    } else {
        "config.toml"
    };
    open_with(
        &name,
        committed,
        lr,
        ws.root(),
        env,
        &ws.dvx_dir().join(file),
    )
}

/// Opens a remote from its committed settings and this machine's (`local`, `env`): a relative
/// folder is taken against `base`; `config_file` names the file the URL came from in errors.
/// Used for this repository's remotes and for a source repository's remote (`dvx import`).
pub(crate) fn open_with(
    name: &str,
    committed: &RemoteConfig,
    lr: LocalRemote,
    base: &std::path::Path,
    env: &CloudEnv,
    config_file: &std::path::Path,
) -> Result<OpenRemote> {
    let url = lr.url.clone().unwrap_or_else(|| committed.url.clone());
    let parsed = RemoteUrl::parse(&url, base).map_err(|e| Error::InvalidConfig {
        path: config_file.to_path_buf(),
        detail: e.to_string(),
    })?;
    // Where each kind's endpoint may come from in the environment, for the approval message.
    let env_endpoint = match &parsed {
        RemoteUrl::S3 { .. } => Some((env.endpoint.is_some(), "AWS_ENDPOINT_URL")),
        RemoteUrl::Gcs { .. } => Some((env.gcs.endpoint.is_some(), "DVX_GCS_ENDPOINT")),
        RemoteUrl::Azure { .. } => Some((env.azure.endpoint.is_some(), "DVX_AZURE_ENDPOINT")),
        RemoteUrl::Dir(_) | RemoteUrl::Http(_) => None,
    };
    if let Some((env_set, env_name)) = env_endpoint {
        refuse_committed_redirects(name, committed, &lr, env, env_set, env_name)?;
    }
    let allow_http = env.allow_http.or(lr.allow_http).unwrap_or(false);
    let settings = dvx_remote::Settings {
        s3: S3Settings {
            // The committed endpoint and allow_http are never used (see
            // `refuse_committed_redirects`): only this machine chooses where requests go.
            endpoint: env.endpoint.clone().or(lr.endpoint.clone()),
            region: env
                .region
                .clone()
                .or(lr.region.clone())
                .or(committed.region.clone()),
            access_key_id: env.access_key_id.clone().or(lr.access_key_id.clone()),
            secret_access_key: env
                .secret_access_key
                .clone()
                .or(lr.secret_access_key.clone()),
            session_token: env.session_token.clone(),
            allow_http,
        },
        gcs: GcsSettings {
            endpoint: env.gcs.endpoint.clone().or(lr.endpoint.clone()),
            credentials_file: env
                .gcs
                .credentials_file
                .clone()
                .or(lr.credentials_file.clone()),
            service_account_key: env.gcs.service_account_key.clone(),
            allow_http,
        },
        azure: AzureSettings {
            account: env.azure.account.clone().or(lr.account_name.clone()),
            access_key: env.azure.access_key.clone().or(lr.account_key.clone()),
            sas_token: env.azure.sas_token.clone(),
            connection_string: env
                .azure
                .connection_string
                .clone()
                .or(lr.connection_string.clone()),
            endpoint: env.azure.endpoint.clone().or(lr.endpoint.clone()),
            allow_http,
        },
    };
    let read_only = parsed.is_read_only();
    let audit_reads = lr.audit_reads.or(committed.audit_reads).unwrap_or(true);
    let backend = dvx_remote::open(&parsed, &settings).map_err(Error::RemoteSetup)?;
    let url = dvx_remote::redact_userinfo(&url);
    let mut remote = OpenRemote {
        name: name.to_string(),
        url,
        backend,
        read_only,
        audit_reads,
        crypt: None,
    };
    if committed.encrypt {
        remote.crypt = Some(Arc::new(remote.unlock(&lr)?));
    }
    Ok(remote)
}

/// A committed `endpoint` or `allow_http` would let whoever writes a commit send this
/// machine's signed requests (and session token) to a host of their choice, on a plain `git
/// checkout` with the hooks. Unless this machine set its own value (config.local.toml or the
/// environment), stop before any request and say how to approve it.
fn refuse_committed_redirects(
    name: &str,
    committed: &RemoteConfig,
    local: &LocalRemote,
    env: &CloudEnv,
    env_endpoint_set: bool,
    env_endpoint_name: &'static str,
) -> Result<()> {
    let mut unapproved = Vec::new();
    if let Some(e) = &committed.endpoint {
        if !env_endpoint_set && local.endpoint.is_none() {
            unapproved.push((
                "endpoint",
                format!(
                    "'{}'",
                    dvx_remote::redact_userinfo(e).replace('\'', r"'\''")
                ),
                env_endpoint_name,
            ));
        }
    }
    if committed.allow_http == Some(true) && env.allow_http.is_none() && local.allow_http.is_none()
    {
        unapproved.push(("allow_http", "true".into(), "AWS_ALLOW_HTTP=true"));
    }
    if unapproved.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = unapproved.iter().map(|u| u.0).collect();
    let commands: Vec<String> = unapproved
        .iter()
        .map(|(k, v, env)| {
            format!("    dvx config --local remotes.{name}.{k} {v}   (or set {env})")
        })
        .collect();
    Err(Error::NotApproved {
        remote: name.to_string(),
        keys: keys.iter().map(|k| k.to_string()).collect(),
        commands,
    })
}
