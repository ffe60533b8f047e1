//! Small formatting helpers shared by commands.

/// Human-readable byte count.
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
