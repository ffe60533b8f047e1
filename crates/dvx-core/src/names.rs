//! File names as text: a lossless string form of any byte name, and the quoting every view
//! applies before a name reaches a terminal or a JSON document.
//!
//! Names on disk and in trees are bytes. Reports carry them as `String`s in which each byte
//! that is not part of valid UTF-8 (and each byte of a character in the reserved range below)
//! stands as the private-use character `U+10FF00 + byte`; [`rel_string`] and [`rel_bytes`]
//! convert both ways without loss, so two different names never print the same.
//! [`quote`] then writes a name as git does with `core.quotePath=false`: unchanged, unless it
//! holds control characters, invisible or direction-changing characters, `"`, `\` or bytes that
//! are not UTF-8; then C-style in double quotes (`"a\nb"`, `"\377.bin"`), a form `dvx cat`
//! accepts back ([`unquote`]).

use std::borrow::Cow;

/// First of the 256 characters that stand for raw bytes (plane 16, private use).
const RAW_BASE: u32 = 0x10_FF00;

fn raw_byte(c: char) -> Option<u8> {
    let v = c as u32;
    (RAW_BASE..=RAW_BASE + 0xFF)
        .contains(&v)
        .then(|| (v - RAW_BASE) as u8)
}

fn raw_char(b: u8) -> char {
    char::from_u32(RAW_BASE + u32::from(b)).expect("plane 16 private-use characters are chars")
}

/// The lossless string form of a byte name (see the module doc).
pub fn rel_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if raw_byte(c).is_some() {
                // A real character of the reserved range is kept as its bytes, so that the
                // mapping stays one to one.
                let mut buf = [0u8; 4];
                out.extend(c.encode_utf8(&mut buf).bytes().map(raw_char));
            } else {
                out.push(c);
            }
        }
        out.extend(chunk.invalid().iter().copied().map(raw_char));
    }
    out
}

/// The bytes of a name in the form [`rel_string`] gives.
pub fn rel_bytes(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match raw_byte(c) {
            Some(b) => out.push(b),
            None => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out
}

/// Characters that change how a terminal shows the text around them without being seen.
fn invisible(c: char) -> bool {
    matches!(c as u32,
        0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2069 | 0xFEFF | 0xFFF9..=0xFFFB)
}

fn needs_quoting(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_control() || c == '"' || c == '\\' || invisible(c) || raw_byte(c).is_some())
}

/// A name as views print it: unchanged when it is plain, else C-quoted (see the module doc).
pub fn quote(s: &str) -> Cow<'_, str> {
    if !needs_quoting(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let octal = |out: &mut String, b: u8| out.push_str(&format!("\\{b:03o}"));
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0b' => out.push_str("\\v"),
            '\x0c' => out.push_str("\\f"),
            c if raw_byte(c).is_some() => octal(&mut out, raw_byte(c).expect("checked")),
            c if c.is_control() || invisible(c) => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    octal(&mut out, b);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    Cow::Owned(out)
}

/// A name as JSON documents carry it: the name itself when it is UTF-8, else (or when it
/// starts with `"`, which marks the quoted form) the [`quote`]d form, so no two names give
/// the same string.
pub fn json_name(s: &str) -> Cow<'_, str> {
    if s.starts_with('"') || s.chars().any(|c| raw_byte(c).is_some()) {
        let q = quote(s);
        if q.starts_with('"') {
            return q;
        }
        return Cow::Owned(format!(
            "\"{}\"",
            s.replace('\\', "\\\\").replace('"', "\\\"")
        ));
    }
    Cow::Borrowed(s)
}

/// The bytes of a name given in the [`quote`]d form (`"..."`); `None` if it is not one.
pub fn unquote(s: &str) -> Option<Vec<u8>> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = Vec::with_capacity(inner.len());
    let bytes = rel_bytes(inner);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        if b == b'"' {
            return None;
        }
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let e = *bytes.get(i)?;
        i += 1;
        out.push(match e {
            b'"' => b'"',
            b'\\' => b'\\',
            b't' => b'\t',
            b'n' => b'\n',
            b'r' => b'\r',
            b'a' => 0x07,
            b'b' => 0x08,
            b'v' => 0x0b,
            b'f' => 0x0c,
            b'0'..=b'3' => {
                let digits = bytes.get(i - 1..i + 2)?;
                if !digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                    return None;
                }
                i += 2;
                digits.iter().fold(0u8, |v, d| v * 8 + (d - b'0'))
            }
            _ => return None,
        });
    }
    Some(out)
}

/// `n` and the noun, in the plural unless `n` is 1: "1 file", "3 files".
pub(crate) fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_names_round_trip_and_stay_distinct() {
        let names: [&[u8]; 6] = [
            b"plain.csv",
            b"caf\xc3\xa9",
            b"a\xffb",
            b"a\xfeb",
            "\u{10FF41}".as_bytes(),
            b"\xf4\x8f\xbd",
        ];
        let strings: Vec<String> = names.iter().map(|n| rel_string(n)).collect();
        for (n, s) in names.iter().zip(&strings) {
            assert_eq!(&rel_bytes(s), n);
            assert_eq!(
                unquote(&quote(s)).unwrap_or_else(|| s.as_bytes().to_vec()),
                *n
            );
        }
        let quoted: std::collections::BTreeSet<_> = strings.iter().map(|s| quote(s)).collect();
        assert_eq!(quoted.len(), names.len());
        assert_eq!(quote(&strings[0]), "plain.csv");
        assert_eq!(quote(&strings[1]), "caf\u{e9}");
        assert_eq!(quote(&strings[2]), "\"a\\377b\"");
    }

    #[test]
    fn control_and_invisible_characters_are_quoted() {
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
        assert_eq!(quote("x\x1b[31my"), "\"x\\033[31my\"");
        assert_eq!(quote("say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"");
        assert_eq!(
            quote("evil\u{202E}txt.exe"),
            "\"evil\\342\\200\\256txt.exe\""
        );
        assert_eq!(unquote("\"a\\nb\""), Some(b"a\nb".to_vec()));
        assert_eq!(unquote("\"a\\qb\""), None);
        assert_eq!(unquote("plain"), None);
    }

    #[test]
    fn json_names_are_distinct() {
        assert_eq!(json_name("data/a.csv"), "data/a.csv");
        assert_eq!(json_name(&rel_string(b"d/\xff")), "\"d/\\377\"");
        // A real name that starts with a quote is quoted too, so it cannot pass for one.
        assert_eq!(json_name("\"d/\\377\""), "\"\\\"d/\\\\377\\\"\"");
        assert_eq!(json_name("\"x"), "\"\\\"x\"");
    }
}
