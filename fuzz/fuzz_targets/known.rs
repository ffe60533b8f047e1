//! Open findings (docs/FUZZING.md, "Findings"): with `DVX_FUZZ_ALLOW_KNOWN=1` (what CI sets)
//! a target tolerates exactly these, so that CI fails on anything new while they are open.
//! Without it (the default), every finding fails. Remove an entry once its bug is fixed.

use std::sync::OnceLock;

/// True when `DVX_FUZZ_ALLOW_KNOWN` is set to a non-empty value other than `0`.
pub fn allowed() -> bool {
    static ALLOWED: OnceLock<bool> = OnceLock::new();
    *ALLOWED.get_or_init(|| {
        std::env::var("DVX_FUZZ_ALLOW_KNOWN").is_ok_and(|v| !v.is_empty() && v != "0")
    })
}
