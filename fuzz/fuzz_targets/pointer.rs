//! `Pointer::parse` (the `<path>.dvx` TOML file git tracks) and `Pointer::to_toml`.
//!
//! Properties: no panic for any input; a pointer that parses re-serializes (`to_toml`) to text
//! that parses back to an equal pointer, at the same file name. The input is used twice: as
//! the file's text, and as the fields of a pointer built directly (any valid dataset path,
//! any metadata strings) that must survive `to_toml` and `parse`.
#![no_main]

use dvx_manifest::{validate_name, DatasetKind, Meta, Pointer, Source};
use dvx_store::TreeId;
use libfuzzer_sys::arbitrary::{self, Unstructured};
use libfuzzer_sys::fuzz_target;

/// `p` (read from or meant for `file`) written with `to_toml` reads back as itself.
fn round_trip(file: &str, p: &Pointer) {
    assert_eq!(p.file(), file, "a pointer sits at its own location");
    let text = p.to_toml();
    let back = match Pointer::parse(file, text.as_bytes()) {
        Ok(back) => back,
        Err(e) => panic!("to_toml output does not parse back: {e}\n--- text ---\n{text:?}"),
    };
    assert_eq!(
        back, *p,
        "round trip changed the pointer\n--- text ---\n{text:?}"
    );
}

fn parse_then_round_trip(file: &str, data: &[u8]) {
    if let Ok(p) = Pointer::parse(file, data) {
        round_trip(file, &p);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A `[source]` table (of `dvx import`) from the input: full ids, and text fields as dvx
/// writes them (non-empty, no control characters, url and rev not starting with `-`).
fn source(u: &mut Unstructured) -> arbitrary::Result<Option<Source>> {
    if !u.arbitrary::<bool>()? {
        return Ok(None);
    }
    let commit: [u8; 20] = u.arbitrary()?;
    let id: [u8; 32] = u.arbitrary()?;
    let (url, rev, path): (String, Option<String>, String) = u.arbitrary()?;
    let fine = |f: &str| !f.is_empty() && !f.chars().any(char::is_control);
    if !fine(&url) || !fine(&path) || rev.as_deref().is_some_and(|r| !fine(r)) {
        return Ok(None);
    }
    if url.starts_with('-') || rev.as_deref().is_some_and(|r| r.starts_with('-')) {
        return Ok(None);
    }
    Ok(Some(Source {
        url,
        rev,
        commit: hex(&commit),
        path,
        id: hex(&id),
    }))
}

/// A pointer built from the input's bytes: 1-3 valid path components, any field values.
fn structured(data: &[u8]) -> arbitrary::Result<()> {
    let mut u = Unstructured::new(data);
    let mut parts = Vec::new();
    for _ in 0..u.int_in_range(1..=3)? {
        let part: String = u.arbitrary()?;
        // dvx refuses dataset paths with control characters (F2), so no pointer has one.
        if validate_name(part.as_bytes()).is_err() || part.chars().any(char::is_control) {
            return Ok(());
        }
        parts.push(part);
    }
    let p = Pointer {
        path: parts.join("/"),
        kind: if u.arbitrary()? {
            DatasetKind::Dir
        } else {
            DatasetKind::File
        },
        id: TreeId(u.arbitrary()?),
        files: u.arbitrary()?,
        bytes: u.arbitrary()?,
        meta: Meta {
            message: u.arbitrary()?,
            created: u.arbitrary()?,
            extra: u.arbitrary()?,
        },
        source: source(&mut u)?,
    };
    round_trip(&p.file(), &p);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    // A fixed location: the `path` inside must be `data`.
    parse_then_round_trip("data.dvx", data);
    // The location the pointer names itself, so the fuzzer can reach the success path with
    // any dataset path (odd bytes in file names included).
    if let Some(path) = std::str::from_utf8(data)
        .ok()
        .and_then(|text| toml::from_str::<toml::Table>(text).ok())
        .and_then(|table| table.get("path")?.as_str().map(str::to_owned))
    {
        if path != "data" {
            parse_then_round_trip(&format!("{path}.dvx"), data);
        }
    }
    let _ = structured(data);
});
