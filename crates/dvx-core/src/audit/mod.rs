//! The audit trail of a remote: every push, fetch, pull, get / import read and `gc --remote`
//! appends one immutable record under `audit/` on the remote (docs/FORMAT.md), and
//! [`audit_list`] reads them back, filtered. Records are never read, changed and written back,
//! so concurrent clients never conflict and none is lost.
//!
//! The types: [`AuditRecord`] (one record), [`Actor`] (who ran the command), [`AuditReport`]
//! (what `dvx audit` lists). The remote-side names and bytes are made in
//! `transfer::layout` ([`put_audit_record`](crate::transfer::layout::put_audit_record)), so an
//! encrypted layout encrypts records as it does the rest.

mod list;
mod record;

pub use list::{audit_list, parse_time_bound, AuditEntry, AuditOptions, AuditProblem, AuditReport};
pub use record::{
    Actor, AuditDataset, AuditGc, AuditOperation, AuditRecord, AuditRemote, CiJob, AUDIT_FORMAT,
};

pub(crate) use record::{now, record_of, write_record};
