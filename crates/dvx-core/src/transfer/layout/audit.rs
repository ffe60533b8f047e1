//! The names and bytes of the audit trail's objects (`audit/`, docs/FORMAT.md section 10),
//! sealed on an encrypted remote like every other object.

use dvx_store::BackendError;

use super::{AUDIT, MAX_AUDIT_RECORD_LEN, NOT_AUTHENTIC};
use crate::transfer::session::Session;

/// The key of a new audit record begun at `started` (`YYYY-MM-DDTHH:MM:SS.mmmZ`):
/// `audit/<YYYY>/<YYYYMMDDTHHMMSS.mmmZ>-<16 random hex>.json`. Keys sort in time order, and
/// the random part (64 bits) keeps two clients starting in the same millisecond apart.
pub(crate) fn audit_key(started: &str, random: u64) -> String {
    let compact: String = started
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    format!("{AUDIT}{}/{compact}-{random:016x}.json", &started[..4])
}

/// The time (UTC, milliseconds) an audit record's key names, if `key` is one.
pub(crate) fn parse_audit_key(key: &str) -> Option<std::time::SystemTime> {
    let rest = key.strip_prefix(AUDIT)?;
    let (year, name) = rest.split_once('/')?;
    let (stamp, tail) = name.split_once('-')?;
    let random = tail.strip_suffix(".json")?;
    let ok = random.len() == 16
        && random.bytes().all(|c| c.is_ascii_hexdigit())
        && stamp.len() == 20
        && stamp.is_ascii()
        && stamp.starts_with(year);
    if !ok {
        return None;
    }
    let b = stamp.as_bytes();
    if b[8] != b'T' || b[15] != b'.' || b[19] != b'Z' {
        return None;
    }
    let text = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &stamp[..4],
        &stamp[4..6],
        &stamp[6..8],
        &stamp[9..11],
        &stamp[11..13],
        &stamp[13..19]
    );
    humantime::parse_rfc3339(&text).ok()
}

/// Appends `record` to the remote's audit trail as a new object (never a rewrite of one);
/// returns its key. The one place a record's name and bytes are made.
pub(crate) fn put_audit_record(
    b: &Session<'_>,
    record: &crate::audit::AuditRecord,
) -> std::result::Result<String, BackendError> {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| BackendError::Permanent {
        key: AUDIT.into(),
        message: format!("no random bytes for the record's name: {e}"),
    })?;
    let key = audit_key(&record.started, u64::from_le_bytes(random));
    let mut bytes = serde_json::to_vec_pretty(record).map_err(|e| BackendError::Permanent {
        key: key.clone(),
        message: format!("cannot encode the record: {e}"),
    })?;
    bytes.push(b'\n');
    // Sealed with its name as associated data: a record moved or replayed under another
    // name does not open.
    let bytes = match b.crypt() {
        None => bytes,
        Some(c) => c
            .seal(key.as_bytes(), &bytes)
            .map_err(|e| BackendError::Permanent {
                key: key.clone(),
                message: e.to_string(),
            })?,
    };
    b.put_uncounted(&key, bytes)?;
    Ok(key)
}

/// Why an audit record could not be read.
pub(crate) enum AuditReadError {
    /// The request failed.
    Get(BackendError),
    /// The object is not a record this dvx reads.
    Bad(String),
}

/// Reads and decodes the audit record at `key`. A record of a newer format, or that is not
/// one, is [`AuditReadError::Bad`], never a record with defaults filled in.
pub(crate) fn read_audit_record(
    b: &Session<'_>,
    key: &str,
) -> std::result::Result<crate::audit::AuditRecord, AuditReadError> {
    let bytes = b
        .get_uncounted(key, MAX_AUDIT_RECORD_LEN)
        .map_err(AuditReadError::Get)?;
    let bytes = match b.crypt() {
        None => bytes,
        Some(c) => c
            .open(key.as_bytes(), &bytes)
            .ok_or_else(|| AuditReadError::Bad(NOT_AUTHENTIC.to_string()))?,
    };
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| AuditReadError::Bad(format!("is not JSON ({e})")))?;
    match value.get("format").and_then(serde_json::Value::as_u64) {
        Some(f) if f > u64::from(crate::audit::AUDIT_FORMAT) => {
            return Err(AuditReadError::Bad(format!(
                "is of audit format {f}, newer than this dvx reads ({}): upgrade dvx",
                crate::audit::AUDIT_FORMAT
            )))
        }
        Some(_) => {}
        None => {
            return Err(AuditReadError::Bad(
                "is not an audit record (no format number)".into(),
            ))
        }
    }
    serde_json::from_value(value)
        .map_err(|e| AuditReadError::Bad(format!("is not a valid audit record ({e})")))
}

/// The keys under `audit/` on the remote, sorted (so in time order).
pub(crate) fn list_audit(b: &Session<'_>) -> std::result::Result<Vec<String>, BackendError> {
    let mut keys: Vec<String> = b.list(AUDIT)?.into_iter().map(|o| o.key).collect();
    keys.sort();
    Ok(keys)
}

#[cfg(test)]
mod audit_key_tests {
    use super::*;

    #[test]
    fn audit_keys_sort_by_time_and_parse_back() {
        let k = audit_key("2026-12-02T22:39:21.042Z", 0xab);
        assert_eq!(k, "audit/2026/20261202T223921.042Z-00000000000000ab.json");
        assert_eq!(
            parse_audit_key(&k),
            humantime::parse_rfc3339("2026-12-02T22:39:21.042Z").ok()
        );
        let later = audit_key("2026-12-02T22:39:21.043Z", 0);
        assert!(later > k);
        for bad in [
            "audit/2026/20261202T223921.042Z-00ab.json",
            "audit/2026/20261202T223921Z-00000000000000ab.json",
            "audit/2025/20261202T223921.042Z-00000000000000ab.json",
            "audit/2026/20261302T223921.042Z-00000000000000ab.json",
            "audit/2026/notes.txt",
            "packs/ab/x.pack",
        ] {
            assert_eq!(parse_audit_key(bad), None, "{bad}");
        }
    }
}
