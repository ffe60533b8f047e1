//! What the process environment says: credentials and endpoints of the cloud remotes, the
//! user cache directory, a store override. The command line and the Python module read it
//! the same way.

use std::path::{Path, PathBuf};

use crate::audit::{Actor, CiJob};
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

/// Who runs this process, for the remotes' audit trails: the OS user, the host name and the
/// CI job ([`ci_job`]). git's `user.email` is the repository's, read when a record is written.
pub fn actor() -> Actor {
    let os_user = env("USER")
        .or_else(|| env("LOGNAME"))
        .or_else(|| env("USERNAME"))
        .or_else(uid);
    Actor {
        git_email: None,
        os_user,
        host: host_name(),
        ci: ci_job(&|name| env(name)),
    }
}

#[cfg(unix)]
fn uid() -> Option<String> {
    Some(format!("uid {}", rustix::process::getuid().as_raw()))
}

#[cfg(not(unix))]
fn uid() -> Option<String> {
    None
}

/// The machine's host name (the kernel's, else what the environment says).
fn host_name() -> Option<String> {
    #[cfg(unix)]
    {
        let u = rustix::system::uname();
        let name = u.nodename().to_string_lossy().trim().to_string();
        if !name.is_empty() {
            return Some(name);
        }
    }
    env("HOSTNAME").or_else(|| env("COMPUTERNAME"))
}

/// The CI job this process runs in, when the variables of a known CI system are set (read
/// through `var`, so tests can give their own).
pub fn ci_job(var: &dyn Fn(&str) -> Option<String>) -> Option<CiJob> {
    let is = |name: &str| var(name).is_some_and(|v| v != "false" && v != "0");
    let job = |system: &str, id: Option<String>, job, project, url| {
        id.map(|job_id| CiJob {
            system: system.to_string(),
            job_id,
            job,
            project,
            url,
        })
    };
    if is("GITHUB_ACTIONS") {
        let run = var("GITHUB_RUN_ID");
        let url = match (var("GITHUB_SERVER_URL"), var("GITHUB_REPOSITORY"), &run) {
            (Some(s), Some(r), Some(id)) => Some(format!("{s}/{r}/actions/runs/{id}")),
            _ => None,
        };
        // A run id alone is shared by the run's jobs and its re-runs: the attempt tells them
        // apart, the job name is kept beside it.
        let id = run.map(|r| match var("GITHUB_RUN_ATTEMPT") {
            Some(a) => format!("{r}/{a}"),
            None => r,
        });
        return job(
            "github_actions",
            id,
            var("GITHUB_JOB"),
            var("GITHUB_REPOSITORY"),
            url,
        );
    }
    if is("GITLAB_CI") {
        return job(
            "gitlab",
            var("CI_JOB_ID"),
            var("CI_JOB_NAME"),
            var("CI_PROJECT_PATH"),
            var("CI_JOB_URL"),
        );
    }
    if is("BUILDKITE") || var("BUILDKITE_JOB_ID").is_some() {
        return job(
            "buildkite",
            var("BUILDKITE_JOB_ID"),
            var("BUILDKITE_LABEL"),
            var("BUILDKITE_PIPELINE_SLUG"),
            var("BUILDKITE_BUILD_URL"),
        );
    }
    if is("CIRCLECI") || var("CIRCLE_BUILD_NUM").is_some() {
        let project = match (
            var("CIRCLE_PROJECT_USERNAME"),
            var("CIRCLE_PROJECT_REPONAME"),
        ) {
            (Some(u), Some(r)) => Some(format!("{u}/{r}")),
            _ => None,
        };
        return job(
            "circleci",
            var("CIRCLE_WORKFLOW_JOB_ID").or_else(|| var("CIRCLE_BUILD_NUM")),
            var("CIRCLE_JOB"),
            project,
            var("CIRCLE_BUILD_URL"),
        );
    }
    if var("JENKINS_URL").is_some() {
        return job(
            "jenkins",
            var("BUILD_TAG").or_else(|| var("BUILD_NUMBER")),
            var("JOB_NAME"),
            None,
            var("BUILD_URL"),
        );
    }
    if is("TF_BUILD") {
        return job(
            "azure_pipelines",
            var("BUILD_BUILDID"),
            var("SYSTEM_JOBDISPLAYNAME"),
            var("BUILD_REPOSITORY_NAME"),
            None,
        );
    }
    if var("BITBUCKET_BUILD_NUMBER").is_some() {
        return job(
            "bitbucket",
            var("BITBUCKET_BUILD_NUMBER"),
            var("BITBUCKET_STEP_UUID"),
            var("BITBUCKET_REPO_FULL_NAME"),
            None,
        );
    }
    None
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
        actor: actor(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn ci_jobs_of_known_systems() {
        let gh = vars(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_RUN_ID", "123"),
            ("GITHUB_RUN_ATTEMPT", "2"),
            ("GITHUB_JOB", "train"),
            ("GITHUB_REPOSITORY", "acme/models"),
            ("GITHUB_SERVER_URL", "https://github.com"),
        ]);
        let job = ci_job(&gh).expect("a GitHub job");
        assert_eq!(job.system, "github_actions");
        assert_eq!(job.job_id, "123/2");
        assert_eq!(job.job.as_deref(), Some("train"));
        assert_eq!(job.project.as_deref(), Some("acme/models"));
        assert_eq!(
            job.url.as_deref(),
            Some("https://github.com/acme/models/actions/runs/123")
        );
        let gl = vars(&[
            ("GITLAB_CI", "true"),
            ("CI_JOB_ID", "77"),
            ("CI_PROJECT_PATH", "g/p"),
        ]);
        let job = ci_job(&gl).expect("a GitLab job");
        assert_eq!((job.system.as_str(), job.job_id.as_str()), ("gitlab", "77"));
        assert_eq!(job.project.as_deref(), Some("g/p"));
        let jenkins = vars(&[("JENKINS_URL", "https://ci"), ("BUILD_TAG", "jenkins-x-9")]);
        assert_eq!(ci_job(&jenkins).expect("jenkins").job_id, "jenkins-x-9");
        // A bare `CI=true` names no job; a system flag without its job id records none.
        assert_eq!(ci_job(&vars(&[("CI", "true")])), None);
        assert_eq!(ci_job(&vars(&[("GITHUB_ACTIONS", "true")])), None);
        assert_eq!(ci_job(&vars(&[])), None);
    }
}
