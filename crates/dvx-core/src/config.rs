//! Repository configuration: `.dvx/config.toml` (committed: remotes, default remote) and
//! `.dvx/config.local.toml` (this machine: store location, endpoints, credentials).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsx;

/// `[core]` of config.toml.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CoreConfig {
    /// Config format version.
    #[serde(default = "one")]
    pub format: u32,
    /// Remote used when none is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_remote: Option<String>,
}

fn one() -> u32 {
    1
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            format: 1,
            default_remote: None,
        }
    }
}

/// A remote as committed: where it is (no secrets).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// Folder path, `s3://`, `gs://`, `az://` or (read-only) `https://` URL.
    pub url: String,
    /// S3 endpoint for non-AWS services. Read but never used: where signed requests go is
    /// this machine's choice (config.local.toml or the environment); a committed one makes
    /// opening the remote fail with the command that approves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// S3 region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Allow plain HTTP. Like `endpoint`, never used from the committed file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_http: Option<bool>,
    /// Record reads (fetch, pull, get, import) in the remote's audit trail (default true).
    /// Writes (push, gc) are always recorded; nothing turns that off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_reads: Option<bool>,
    /// The remote is encrypted (docs/FORMAT.md section 11): every client must open its key.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub encrypt: bool,
}

/// `.dvx/config.toml`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RepoConfig {
    /// `[core]`.
    #[serde(default)]
    pub core: CoreConfig,
    /// `[remotes.<name>]`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub remotes: BTreeMap<String, RemoteConfig>,
}

/// Machine-local settings of one remote (may hold secrets; never committed).
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct LocalRemote {
    /// Overrides the committed URL on this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Endpoint of the remote's service (S3, a GCS emulator, Azure's blob service URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// S3 region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Access key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// Secret access key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
    /// Allow plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_http: Option<bool>,
    /// GCS: a service account key file (like `GOOGLE_APPLICATION_CREDENTIALS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<String>,
    /// Azure: storage account name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    /// Azure: storage account key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_key: Option<String>,
    /// Azure: a connection string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_string: Option<String>,
    /// Overrides the committed `audit_reads` on this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_reads: Option<bool>,
    /// An encrypted remote: a shell command that prints its passphrase (a secret manager).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase_command: Option<String>,
}

/// `.dvx/config.local.toml`.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct LocalConfig {
    /// Store directory (shared stores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<PathBuf>,
    /// Per-remote settings.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub remotes: BTreeMap<String, LocalRemote>,
}

const HEADER: &str = "# dvx repository configuration: committed with the code.\n# Machine-specific settings (store location, endpoints, credentials) go in config.local.toml.\n";

impl RepoConfig {
    /// Reads `.dvx/config.toml` (missing = defaults).
    pub fn load(dvx_dir: &Path) -> Result<RepoConfig> {
        let path = dvx_dir.join("config.toml");
        match crate::fsx::read_small_string(&path, crate::fsx::MAX_TEXT_FILE) {
            Ok(t) => RepoConfig::parse(&path, &t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RepoConfig::default()),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    /// Parses and checks the text of a `config.toml` (`path` names it in errors).
    pub fn parse(path: &Path, text: &str) -> Result<RepoConfig> {
        let cfg: RepoConfig = toml::from_str(text).map_err(|e| Error::InvalidConfig {
            path: path.to_path_buf(),
            detail: e.message().to_string(),
        })?;
        if cfg.core.format != 1 {
            return Err(Error::InvalidConfig {
                path: path.to_path_buf(),
                detail: format!(
                    "config format {} is not supported by this dvx; upgrade dvx",
                    cfg.core.format
                ),
            });
        }
        Ok(cfg)
    }

    /// Writes `.dvx/config.toml` atomically.
    pub fn save(&self, dvx_dir: &Path) -> Result<()> {
        let body = toml::to_string(self).map_err(|e| Error::Encode {
            what: "config.toml".into(),
            detail: e.to_string(),
        })?;
        fsx::write_atomic(
            &dvx_dir.join("config.toml"),
            format!("{HEADER}{body}").as_bytes(),
        )
    }
}

impl LocalConfig {
    /// Reads `.dvx/config.local.toml` (missing = defaults).
    pub fn load(dvx_dir: &Path) -> Result<LocalConfig> {
        let path = dvx_dir.join("config.local.toml");
        match crate::fsx::read_small_string(&path, crate::fsx::MAX_TEXT_FILE) {
            Ok(text) => toml::from_str(&text).map_err(|e| Error::InvalidConfig {
                path: path.clone(),
                detail: e.message().to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LocalConfig::default()),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }
}

/// Cloud settings found in the environment by the binary (`AWS_*`, `GOOGLE_*`, `AZURE_*`
/// variables, AWS profiles). They override the config files.
#[derive(Clone, Default)]
pub struct CloudEnv {
    /// Google Cloud Storage settings.
    pub gcs: GcsEnv,
    /// Azure Blob Storage settings.
    pub azure: AzureEnv,
    /// `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
    /// `AWS_REGION` / `AWS_DEFAULT_REGION` / profile region.
    pub region: Option<String>,
    /// `AWS_ACCESS_KEY_ID` or the profile's.
    pub access_key_id: Option<String>,
    /// `AWS_SECRET_ACCESS_KEY` or the profile's.
    pub secret_access_key: Option<String>,
    /// `AWS_SESSION_TOKEN` or the profile's.
    pub session_token: Option<String>,
    /// `AWS_ALLOW_HTTP` (`true`/`false`).
    pub allow_http: Option<bool>,
    /// Who runs this process (OS user, host, CI job), for the remotes' audit trails; git's
    /// `user.email` is read from the repository when a record is written.
    pub actor: crate::audit::Actor,
}

/// Google Cloud Storage settings from the environment.
#[derive(Clone, Default)]
pub struct GcsEnv {
    /// `DVX_GCS_ENDPOINT` / `STORAGE_EMULATOR_HOST`: an emulator's base URL.
    pub endpoint: Option<String>,
    /// `GOOGLE_APPLICATION_CREDENTIALS` (or gcloud's application default credentials file).
    pub credentials_file: Option<String>,
    /// `GOOGLE_SERVICE_ACCOUNT_KEY`: a service account key (JSON text).
    pub service_account_key: Option<String>,
}

/// Azure Blob Storage settings from the environment.
#[derive(Clone, Default)]
pub struct AzureEnv {
    /// `AZURE_STORAGE_ACCOUNT_NAME`.
    pub account: Option<String>,
    /// `AZURE_STORAGE_ACCOUNT_KEY`.
    pub access_key: Option<String>,
    /// `AZURE_STORAGE_SAS_TOKEN`.
    pub sas_token: Option<String>,
    /// `AZURE_STORAGE_CONNECTION_STRING`.
    pub connection_string: Option<String>,
    /// `DVX_AZURE_ENDPOINT` / `AZURE_STORAGE_ENDPOINT`: the blob service URL.
    pub endpoint: Option<String>,
}

/// A remote name must be a simple word.
pub fn validate_remote_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            argument: "name",
            message: format!("invalid remote name `{name}`: use letters, digits, '-', '_' or '.'"),
        })
    }
}
