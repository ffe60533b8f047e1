//! What the process environment says: credentials and endpoints of the cloud remotes, the
//! user cache directory, a store override. The command line and the Python module read it
//! the same way.

use std::path::{Path, PathBuf};

use crate::config::{AzureEnv, CloudEnv, GcsEnv};

/// A variable's value; unset and empty are the same.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Reads `[profile]` of an AWS shared credentials/config file (INI).
fn profile_values(
    path: &std::path::Path,
    profile: &str,
) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return out;
    };
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') && line.ends_with(']') {
            let name = line[1..line.len() - 1].trim();
            let name = name.strip_prefix("profile ").unwrap_or(name).trim();
            inside = name == profile;
        } else if inside {
            if let Some((k, v)) = line.split_once('=') {
                out.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
    }
    out
}

/// GCS settings: `GOOGLE_APPLICATION_CREDENTIALS`, else gcloud's application default
/// credentials file when it exists; the endpoint of an emulator.
fn gcs_env() -> GcsEnv {
    let adc = || {
        let dir = env("CLOUDSDK_CONFIG")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".config/gcloud")))?;
        let f = dir.join("application_default_credentials.json");
        f.is_file().then(|| f.to_string_lossy().into_owned())
    };
    GcsEnv {
        endpoint: env("DVX_GCS_ENDPOINT").or_else(|| {
            // Google's client libraries take `host:port` or a URL here.
            env("STORAGE_EMULATOR_HOST").map(|h| {
                if h.contains("://") {
                    h
                } else {
                    format!("http://{h}")
                }
            })
        }),
        credentials_file: env("GOOGLE_APPLICATION_CREDENTIALS").or_else(adc),
        service_account_key: env("GOOGLE_SERVICE_ACCOUNT_KEY"),
    }
}

/// Azure settings: `AZURE_STORAGE_*` variables.
fn azure_env() -> AzureEnv {
    AzureEnv {
        account: env("AZURE_STORAGE_ACCOUNT_NAME").or_else(|| env("AZURE_STORAGE_ACCOUNT")),
        access_key: env("AZURE_STORAGE_ACCOUNT_KEY").or_else(|| env("AZURE_STORAGE_KEY")),
        sas_token: env("AZURE_STORAGE_SAS_TOKEN"),
        connection_string: env("AZURE_STORAGE_CONNECTION_STRING"),
        endpoint: env("DVX_AZURE_ENDPOINT").or_else(|| env("AZURE_STORAGE_ENDPOINT")),
    }
}

/// Cloud settings from the environment (AWS variables and profiles, GCS, Azure): they
/// override the config files.
pub fn cloud() -> CloudEnv {
    let mut a = CloudEnv {
        gcs: gcs_env(),
        azure: azure_env(),
        endpoint: env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL")),
        region: env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")),
        access_key_id: env("AWS_ACCESS_KEY_ID"),
        secret_access_key: env("AWS_SECRET_ACCESS_KEY"),
        session_token: env("AWS_SESSION_TOKEN"),
        allow_http: env("AWS_ALLOW_HTTP")
            .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes")),
    };
    let profile = env("AWS_PROFILE");
    if a.access_key_id.is_none() || profile.is_some() {
        let profile = profile.unwrap_or_else(|| "default".into());
        let home = env("HOME").map(PathBuf::from).unwrap_or_default();
        let creds = env("AWS_SHARED_CREDENTIALS_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".aws/credentials"));
        let config = env("AWS_CONFIG_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".aws/config"));
        let c = profile_values(&creds, &profile);
        let f = profile_values(&config, &profile);
        if let (Some(k), Some(s)) = (c.get("aws_access_key_id"), c.get("aws_secret_access_key")) {
            a.access_key_id = Some(k.clone());
            a.secret_access_key = Some(s.clone());
            a.session_token = c.get("aws_session_token").cloned();
        }
        if a.region.is_none() {
            a.region = f.get("region").or_else(|| c.get("region")).cloned();
        }
        if a.endpoint.is_none() {
            a.endpoint = f
                .get("endpoint_url")
                .or_else(|| c.get("endpoint_url"))
                .cloned();
        }
    }
    a
}

/// The user cache directory (source mirrors, the store of `get` outside a repository):
/// `DVX_CACHE_DIR`, else `$XDG_CACHE_HOME/dvx`, else `~/.cache/dvx`; relative to `cwd`.
pub fn cache_dir(cwd: &Path) -> Option<PathBuf> {
    env("DVX_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| env("XDG_CACHE_HOME").map(|x| PathBuf::from(x).join("dvx")))
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".cache/dvx")))
        .map(|p| if p.is_absolute() { p } else { cwd.join(p) })
}

/// A store used instead of `.dvx/store` (`DVX_STORE`), relative to `cwd`.
pub fn store_dir(cwd: &Path) -> Option<PathBuf> {
    std::env::var_os("DVX_STORE")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { cwd.join(p) })
}
