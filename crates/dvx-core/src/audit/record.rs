//! One audit record ([`AuditRecord`], JSON, versioned: docs/FORMAT.md) and how a command
//! writes it: a write (push, gc) that cannot record fails, a read that cannot record warns.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::config::CloudEnv;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::remote::OpenRemote;
use crate::transfer::layout::put_audit_record;
use crate::transfer::session::Session;
use crate::transfer::TransferReport;
use crate::workspace::Workspace;

/// The format of the records this dvx writes (and the newest it reads).
pub const AUDIT_FORMAT: u32 = 1;

/// What a command did to a remote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOperation {
    /// `dvx push`: data uploaded (or found there already).
    Push,
    /// `dvx fetch`: data downloaded into the local store.
    Fetch,
    /// `dvx pull`: data downloaded and checked out.
    Pull,
    /// `dvx get`: a source's data read, copied out untracked.
    Get,
    /// `dvx import` / `update`: a source's data read, tracked here.
    Import,
    /// `dvx gc --remote`: unreferenced objects listed or deleted.
    Gc,
    /// `dvx remote add --encrypt` on an empty remote: its key and first passphrase made.
    KeyCreate,
    /// `dvx key add`: another passphrase wraps the remote's key.
    KeyAdd,
    /// `dvx key remove`: a passphrase no longer opens the remote.
    KeyRemove,
}

impl AuditOperation {
    /// True for the reads, whose recording `audit_reads = false` turns off.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            AuditOperation::Fetch
                | AuditOperation::Pull
                | AuditOperation::Get
                | AuditOperation::Import
        )
    }

    /// Its name in records and output.
    pub fn name(self) -> &'static str {
        match self {
            AuditOperation::Push => "push",
            AuditOperation::Fetch => "fetch",
            AuditOperation::Pull => "pull",
            AuditOperation::Get => "get",
            AuditOperation::Import => "import",
            AuditOperation::Gc => "gc",
            AuditOperation::KeyCreate => "key_create",
            AuditOperation::KeyAdd => "key_add",
            AuditOperation::KeyRemove => "key_remove",
        }
    }
}

impl std::fmt::Display for AuditOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The remote as the writer named it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRemote {
    /// Its name in the writer's configuration (`origin`, `source origin`, `--remote-url`).
    pub name: String,
    /// Its URL, without credentials.
    pub url: String,
}

/// One dataset version the operation concerned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditDataset {
    /// Its path in the repository (for get / import: in the source repository).
    pub path: String,
    /// Its version id (root tree id, 64 hex digits).
    pub id: String,
    /// The commit its pointer was read at; None for the worktree's pointer.
    pub commit: Option<String>,
}

/// What a `gc --remote` found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditGc {
    /// Dataset versions kept alive.
    pub versions: u64,
    /// Packs deleted.
    pub packs_deleted: u64,
    /// Trees deleted.
    pub trees_deleted: u64,
    /// Bytes freed.
    pub bytes_freed: u64,
    /// Objects unreferenced but kept for the grace period (`gc/pending.toml`).
    pub pending: u64,
    /// A dry run: nothing was deleted or written but this record.
    pub dry_run: bool,
}

/// A CI job, when a known CI system's variables are set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CiJob {
    /// `github_actions`, `gitlab`, `jenkins`, `buildkite`, `circleci`, `azure_pipelines`,
    /// `bitbucket`.
    pub system: String,
    /// The job's (or run's) id in that system, e.g. `GITHUB_RUN_ID`, `CI_JOB_ID`.
    pub job_id: String,
    /// The job's name, when the system gives one.
    pub job: Option<String>,
    /// The project or repository the job belongs to.
    pub project: Option<String>,
    /// A link to the job, when the system gives one.
    pub url: Option<String>,
}

/// Who ran a command: each part is what the machine said, None when it said nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// git's `user.email` in the repository (None outside one, or when unset).
    pub git_email: Option<String>,
    /// The operating system's user name (`USER`, `LOGNAME`, `USERNAME`, else `uid <n>`).
    pub os_user: Option<String>,
    /// The machine's host name.
    pub host: Option<String>,
    /// The CI job, when a known CI system's variables are set.
    pub ci: Option<CiJob>,
}

/// One record of the audit trail (docs/FORMAT.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// [`AUDIT_FORMAT`] of the writer.
    pub format: u32,
    /// What was done.
    pub operation: AuditOperation,
    /// To which remote.
    pub remote: AuditRemote,
    /// The commit the writer's repository was at (HEAD), if any.
    pub commit: Option<String>,
    /// The dataset versions concerned.
    pub datasets: Vec<AuditDataset>,
    /// Files in them.
    pub files: u64,
    /// Bytes in them.
    pub bytes: u64,
    /// Bytes sent (push) or received (reads).
    pub transferred: u64,
    /// Objects uploaded (push) or downloaded whole (reads: trees).
    pub objects: u64,
    /// Chunks received (reads).
    pub chunks: u64,
    /// Requests made.
    pub requests: u64,
    /// For gc: what it found and did.
    pub gc: Option<AuditGc>,
    /// For a key change: the id of the key object made or removed (as `dvx key list`
    /// prints it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// When the command began to work on the remote (UTC, RFC 3339, milliseconds).
    pub started: String,
    /// When it finished (UTC, RFC 3339, milliseconds).
    pub finished: String,
    /// The writer's dvx version.
    pub dvx_version: String,
    /// Who ran it.
    pub who: Actor,
}

impl AuditRecord {
    /// When it began, parsed; None if the text is not a UTC RFC 3339 time.
    pub fn started_at(&self) -> Option<SystemTime> {
        humantime::parse_rfc3339(&self.started).ok()
    }
}

/// The current time, in whole milliseconds (what records and their names hold: fine enough
/// that one client's commands, one after the other, sort in the order they ran).
pub(crate) fn now() -> SystemTime {
    let t = SystemTime::now();
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(d.as_millis() as u64),
        Err(_) => t,
    }
}

/// `t` as records write it: `2026-12-02T22:39:21.042Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// A record of `op` on `remote`, begun at `started` and ending now, from its transfer report.
/// `ws` is the repository the command ran in (None for `dvx get` outside one).
pub(crate) fn record_of(
    op: AuditOperation,
    remote: &OpenRemote,
    ws: Option<&Workspace>,
    env: &CloudEnv,
    started: SystemTime,
    datasets: Vec<AuditDataset>,
    r: &TransferReport,
) -> Result<AuditRecord> {
    let (commit, git_email) = match ws {
        Some(ws) => (ws.repo.head()?.map(|c| c.id), ws.repo.user_email()),
        None => (None, None),
    };
    Ok(AuditRecord {
        format: AUDIT_FORMAT,
        operation: op,
        remote: AuditRemote {
            name: remote.name.clone(),
            url: remote.url.clone(),
        },
        commit,
        datasets,
        files: r.files,
        bytes: r.bytes,
        transferred: r.transferred,
        objects: r.objects,
        chunks: r.chunks,
        requests: r.requests,
        gc: None,
        key: None,
        started: rfc3339(started),
        finished: rfc3339(now()),
        dvx_version: env!("CARGO_PKG_VERSION").to_string(),
        who: Actor {
            git_email,
            ..env.actor.clone()
        },
    })
}

/// Appends `rec` to the remote's audit trail.
///
/// A write (push, gc) that cannot be recorded is an error ([`Error::AuditNotRecorded`]): the
/// data it moved stays where it is (nothing is lost; the rerun uploads nothing and records),
/// but a client able to change the remote must not do so unrecorded, so no exit status says
/// it all went well. A read is recorded only when it moved something, unless the remote's
/// `audit_reads` is false; a read that cannot be recorded (a web server, read-only
/// credentials) still succeeds, with a one-line warning.
pub(crate) fn write_record(
    b: &Session<'_>,
    remote: &OpenRemote,
    rec: &AuditRecord,
    progress: &dyn Progress,
) -> Result<()> {
    let op = rec.operation;
    if op.is_read() {
        if !remote.audit_reads || (rec.transferred == 0 && rec.objects == 0) {
            return Ok(());
        }
        let why = if remote.read_only {
            "it can only be read (a web server)".to_string()
        } else {
            match put_audit_record(b, rec) {
                Ok(_) => return Ok(()),
                Err(e) => one_line(&e.to_string()),
            }
        };
        progress.warn(&format!(
            "remote {}: this {op} was not recorded in the remote's audit trail: {why}",
            b.label()
        ));
        return Ok(());
    }
    put_audit_record(b, rec)
        .map(|_| ())
        .map_err(|source| Error::AuditNotRecorded {
            remote: b.label().to_string(),
            operation: op.name(),
            source,
        })
}

/// A message on one line (a warning must not forge further lines).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AuditRecord {
        AuditRecord {
            format: AUDIT_FORMAT,
            operation: AuditOperation::Pull,
            remote: AuditRemote {
                name: "origin".into(),
                url: "/srv/remote".into(),
            },
            commit: Some("a".repeat(40)),
            datasets: vec![AuditDataset {
                path: "data".into(),
                id: "b".repeat(64),
                commit: None,
            }],
            files: 3,
            bytes: 300,
            transferred: 200,
            objects: 2,
            chunks: 3,
            requests: 5,
            gc: None,
            key: None,
            started: "2026-12-02T22:39:21.042Z".into(),
            finished: "2026-12-02T22:39:22.000Z".into(),
            dvx_version: "0.1.0".into(),
            who: Actor {
                git_email: Some("a@example.com".into()),
                os_user: Some("alice".into()),
                host: Some("laptop".into()),
                ci: None,
            },
        }
    }

    #[test]
    fn a_record_round_trips_through_json_and_rejects_unknown_fields() {
        let r = sample();
        let text = serde_json::to_string(&r).expect("encode");
        assert!(text.contains(r#""operation":"pull""#), "{text}");
        let back: AuditRecord = serde_json::from_str(&text).expect("decode");
        assert_eq!(back, r);
        assert_eq!(
            back.started_at(),
            Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_796_251_161_042))
        );
        let extra = text.replacen('{', r#"{"surprise":1,"#, 1);
        assert!(serde_json::from_str::<AuditRecord>(&extra).is_err());
    }

    #[test]
    fn reads_and_writes_are_told_apart() {
        assert!(AuditOperation::Pull.is_read());
        assert!(AuditOperation::Get.is_read());
        assert!(!AuditOperation::Push.is_read());
        assert!(!AuditOperation::Gc.is_read());
        assert_eq!(one_line("a\nb  c"), "a b c");
    }
}
