//! Small formatting helpers shared by commands.

/// Human-readable byte count: `512 B`, `1.5 KiB`, `9.8 MiB` (powers of 1024). The one style of
/// every size in human output; `--json` carries exact byte counts.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A count and its noun, singular for 1: `1 file`, `3 files`, `2 indexes`, `0 repositories`.
pub fn count(n: u64, noun: &str) -> String {
    format!("{n} {}", plural(n, noun))
}

/// `noun` as it goes with `n`: itself for 1, else its English plural (`file` -> `files`,
/// `index` -> `indexes`, `repository` -> `repositories`).
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        return noun.to_string();
    }
    if let Some(stem) = noun.strip_suffix('y') {
        if !stem.ends_with(['a', 'e', 'i', 'o', 'u']) {
            return format!("{stem}ies");
        }
    }
    if noun.ends_with(['s', 'x']) || noun.ends_with("ch") || noun.ends_with("sh") {
        return format!("{noun}es");
    }
    format!("{noun}s")
}

/// A name (file, link target, dataset) as human output prints it: unchanged when plain,
/// C-quoted when it could forge lines or drive the terminal (see `dvx_core::quote`).
pub fn q(name: &str) -> std::borrow::Cow<'_, str> {
    dvx_core::quote(name)
}

/// A name as JSON output carries it: itself when UTF-8, else quoted (lossless).
pub fn jn(name: &str) -> String {
    dvx_core::json_name(name).into_owned()
}

/// Writes a JSON value and a newline.
pub fn json(out: &mut dyn std::io::Write, v: &serde_json::Value) -> anyhow::Result<()> {
    // Rendered first, so that a failed write is a plain io::Error (a closed pipe is then
    // recognised as the normal end it is).
    let mut text = serde_json::to_vec_pretty(v)?;
    text.push(b'\n');
    out.write_all(&text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(count(1, "file"), "1 file");
        assert_eq!(count(0, "file"), "0 files");
        assert_eq!(count(2, "request"), "2 requests");
        assert_eq!(count(1, "index"), "1 index");
        assert_eq!(count(3, "index"), "3 indexes");
        assert_eq!(count(1, "repository"), "1 repository");
        assert_eq!(count(2, "repository"), "2 repositories");
        assert_eq!(count(2, "dataset version"), "2 dataset versions");
    }

    #[test]
    fn bytes_are_human() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(10 * 1024 * 1024 + 512 * 1024), "10.5 MiB");
    }
}
