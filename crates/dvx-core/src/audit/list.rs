//! `dvx audit`: the records of a remote's audit trail, filtered by dataset and time, in time
//! order, with every object under `audit/` that cannot be read named (never skipped).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::record::AuditRecord;
use crate::config::CloudEnv;
use crate::error::{Error, Result};
use crate::remote::open_remote;
use crate::transfer::layout::{list_audit, parse_audit_key, read_audit_record, AuditReadError};
use crate::transfer::session::Session;
use crate::workspace::Workspace;

/// Concurrent requests while reading records.
const PARALLEL_READS: usize = 8;

/// Options of `audit`.
#[derive(Clone, Debug, Default)]
pub struct AuditOptions {
    /// Remote name (default remote if None).
    pub remote: Option<String>,
    /// Only records naming a dataset at, inside or above this path (relative to `cwd`).
    pub dataset: Option<PathBuf>,
    /// Directory `dataset` is relative to.
    pub cwd: PathBuf,
    /// Only records begun at or after this time.
    pub since: Option<SystemTime>,
    /// Only records begun before this time.
    pub until: Option<SystemTime>,
}

/// One record and its key on the remote.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEntry {
    /// `audit/<YYYY>/<...>.json`.
    pub key: String,
    /// The record (its fields beside `key` in JSON).
    #[serde(flatten)]
    pub record: AuditRecord,
}

/// An object under `audit/` that could not be read as a record.
#[derive(Clone, Debug, Serialize)]
pub struct AuditProblem {
    /// Its key.
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

/// What `audit` found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AuditReport {
    /// The remote (name and URL).
    pub remote: String,
    /// The records that pass the filters, by start time (then key).
    pub records: Vec<AuditEntry>,
    /// Objects that could not be read; a caller reports them (their time, hence whether they
    /// pass the filters, may be unknown).
    pub problems: Vec<AuditProblem>,
}

/// A time bound of `--since` / `--until`: `YYYY-MM-DD` (UTC midnight; for an end bound, the
/// end of that day) or `YYYY-MM-DDTHH:MM:SS[.mmm]Z` (UTC; for an end bound, that second, or
/// that millisecond, included). `what` names the option in the error.
pub fn parse_time_bound(text: &str, end: bool, what: &'static str) -> Result<SystemTime> {
    let t = text.trim();
    let day = t.len() == 10 && t.as_bytes()[4] == b'-' && t.as_bytes()[7] == b'-';
    let parsed = if day {
        humantime::parse_rfc3339(&format!("{t}T00:00:00Z")).map(|s| {
            if end {
                s + Duration::from_secs(86_400)
            } else {
                s
            }
        })
    } else {
        // Records hold milliseconds: an end bound includes the last unit the text names.
        let unit = if t.contains('.') {
            Duration::from_millis(1)
        } else {
            Duration::from_secs(1)
        };
        humantime::parse_rfc3339_weak(t).map(|s| if end { s + unit } else { s })
    };
    parsed.map_err(|e| Error::InvalidArgument {
        argument: what,
        message: format!(
            "{what} {t:?}: {e}; give a UTC date (2026-01-31) or time (2026-01-31T14:00:00Z)"
        ),
    })
}

/// True when `a` and `b` (repo-relative, `/`-separated) are the same path or one is inside
/// the other.
fn related(a: &str, b: &str) -> bool {
    let inside = |x: &str, y: &str| y.is_empty() || x == y || x.starts_with(&format!("{y}/"));
    inside(a, b) || inside(b, a)
}

/// Lists the audit records of the named (or default) remote that pass the filters.
pub fn audit_list(ws: &Workspace, opts: &AuditOptions, env: &CloudEnv) -> Result<AuditReport> {
    ws.require_init()?;
    let dataset = match &opts.dataset {
        Some(p) => Some(ws.dataset_path(&opts.cwd, p)?),
        None => None,
    };
    let remote = open_remote(ws, opts.remote.as_deref(), env)?;
    let b = Session::open(&remote);
    if remote.read_only {
        return Err(b.error(dvx_store::BackendError::ReadOnly {
            message: format!(
                "{} is served by a web server, which cannot list the audit trail; run `dvx \
                 audit` against the folder or bucket it publishes (`dvx remote add <name> \
                 <path or URL>`)",
                remote.url
            ),
        }));
    }
    b.check_reachable()?;
    let in_range =
        |t: SystemTime| opts.since.is_none_or(|s| t >= s) && opts.until.is_none_or(|u| t < u);
    let mut problems = Vec::new();
    let mut wanted = Vec::new();
    for key in list_audit(&b).map_err(|e| b.error(e))? {
        match parse_audit_key(&key) {
            // The name says when: records outside the range are not even read.
            Some(t) if in_range(t) => wanted.push(key),
            Some(_) => {}
            None => problems.push(AuditProblem {
                key,
                problem: "is not an audit record's name (audit/<YYYY>/<YYYYMMDDTHHMMSS.mmmZ>-<16 \
                          hex>.json): something other than dvx wrote it"
                    .into(),
            }),
        }
    }
    let read = crate::work::map_in_order(&wanted, PARALLEL_READS, "audit", |key| {
        read_audit_record(&b, key)
    });
    let mut records = Vec::new();
    for (key, r) in wanted.into_iter().zip(read) {
        let record = match r {
            Ok(r) => r,
            Err(AuditReadError::Get(e)) => {
                problems.push(AuditProblem {
                    key,
                    problem: format!("cannot be read: {e}"),
                });
                continue;
            }
            Err(AuditReadError::Bad(why)) => {
                problems.push(AuditProblem { key, problem: why });
                continue;
            }
        };
        let Some(started) = record.started_at() else {
            problems.push(AuditProblem {
                problem: format!(
                    "has a start time that is not a UTC RFC 3339 time: {:?}",
                    record.started
                ),
                key,
            });
            continue;
        };
        if Some(started) != parse_audit_key(&key) {
            problems.push(AuditProblem {
                problem: format!(
                    "says it began at {}, but its name says otherwise: it was renamed or \
                     altered",
                    record.started
                ),
                key,
            });
            continue;
        }
        if let Some(d) = &dataset {
            if !record.datasets.iter().any(|x| related(&x.path, d)) {
                continue;
            }
        }
        records.push(AuditEntry { key, record });
    }
    records.sort_by(|x, y| (x.record.started_at(), &x.key).cmp(&(y.record.started_at(), &y.key)));
    Ok(AuditReport {
        remote: remote.label(),
        records,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_bounds_take_dates_and_times() {
        let day = parse_time_bound("2026-01-31", false, "--since").expect("date");
        let end = parse_time_bound("2026-01-31", true, "--until").expect("date");
        assert_eq!(
            end.duration_since(day).expect("later"),
            Duration::from_secs(86_400)
        );
        let t = parse_time_bound("2026-01-31T14:00:00Z", false, "--since").expect("time");
        assert_eq!(
            t.duration_since(day).expect("later"),
            Duration::from_secs(14 * 3600)
        );
        let e = parse_time_bound("last week", false, "--since").expect_err("not a date");
        assert!(e.to_string().contains("--since"), "{e}");
        assert!(e.is_usage());
    }

    #[test]
    fn datasets_relate_by_path_components() {
        assert!(related("data", "data"));
        assert!(related("data/images", "data"));
        assert!(related("data", "data/images/a.png"));
        assert!(!related("data2", "data"));
        assert!(!related("models", "data"));
    }
}
