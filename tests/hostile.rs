//! A hostile remote / repository (issue 4, requirement A): hand-crafted trees, tree objects,
//! pointers and store configs, written with the libraries (never with the CLI). Every case must
//! be refused with exit code 1 or 2 and an `error: ...` message, and must not create, change or
//! delete any file outside the dataset directory: the whole temp dir (repo minus `data/`, git
//! internals that git itself rewrites and dvx's own store objects / state; `<tmp>/outside`,
//! `<tmp>/home` = `$HOME`, the folder remote) is snapshotted before and after every command.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod util;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dvx_store::pack::{Compression, PackBuilder};
use dvx_store::{ChunkId, Store, StoreOptions};
use util::*;

// ---------------------------------------------------------------------------------------------
// Tree encoding by hand (docs/FORMAT.md section 6), so that invalid trees can be written.

const A_TXT: &[u8] = b"alpha alpha alpha\n";
const B_TXT: &[u8] = b"bravo bravo\n";

fn varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn lp(out: &mut Vec<u8>, b: &[u8]) {
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// `"DVXT" 1 count entries...` with an explicit (possibly lying) count.
fn tree_n(count: u64, entries: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"DVXT\x01".to_vec();
    varint(&mut out, count);
    for e in entries {
        out.extend_from_slice(e);
    }
    out
}

fn tree(entries: &[Vec<u8>]) -> Vec<u8> {
    tree_n(entries.len() as u64, entries)
}

/// A file entry with explicit fields (chunk list: id, length).
fn file_raw(name: &[u8], size: u64, digest: &[u8; 32], chunks: &[([u8; 32], u64)]) -> Vec<u8> {
    let mut out = vec![1u8];
    lp(&mut out, name);
    varint(&mut out, size);
    out.extend_from_slice(digest);
    varint(&mut out, chunks.len() as u64);
    for (id, len) in chunks {
        out.extend_from_slice(id);
        varint(&mut out, *len);
    }
    out
}

/// A valid file entry whose one chunk is stored in `s`.
fn file(s: &Store, name: &[u8], content: &[u8]) -> Vec<u8> {
    let w = s.writer();
    let id = w.add_chunk(content).unwrap();
    w.finish().unwrap();
    file_raw(
        name,
        content.len() as u64,
        blake3::hash(content).as_bytes(),
        &[(id.0, content.len() as u64)],
    )
}

fn dir(name: &[u8], size: u64, files: u64, id: &[u8; 32]) -> Vec<u8> {
    let mut out = vec![3u8];
    lp(&mut out, name);
    varint(&mut out, size);
    varint(&mut out, files);
    out.extend_from_slice(id);
    out
}

fn link(name: &[u8], target: &[u8]) -> Vec<u8> {
    let mut out = vec![4u8];
    lp(&mut out, name);
    lp(&mut out, target);
    out
}

/// Stores raw tree bytes (any bytes: `write_tree` does not validate) and returns the id.
fn put(s: &Store, raw: &[u8]) -> [u8; 32] {
    s.write_tree(raw).unwrap().0
}

/// A valid subtree `{b.txt}`: (id, size, files).
fn sub(s: &Store) -> ([u8; 32], u64, u64) {
    let raw = tree(&[file(s, b"b.txt", B_TXT)]);
    (put(s, &raw), B_TXT.len() as u64, 1)
}

/// A tree object file (header + payload) written under an arbitrary id.
fn obj(compression: u32, raw_len: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = b"DVXTOBJ\0".to_vec();
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&compression.to_le_bytes());
    out.extend_from_slice(&raw_len.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn put_obj(s: &Store, id: &[u8; 32], bytes: &[u8]) {
    let hex = hex(id);
    let p = s.trees_dir().join(&hex[..2]).join(&hex);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, bytes).unwrap();
}

fn hex(id: &[u8; 32]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

fn pointer_text(path: &str, kind: &str, id: &str) -> String {
    format!(
        "format = 1\npath = \"{path}\"\nkind = \"{kind}\"\nid = \"{id}\"\nfiles = 1\nbytes = 1\n"
    )
}

// ---------------------------------------------------------------------------------------------
// Cases.

/// What a case plants: pointer files (repo-relative name, bytes) and the dataset path used in
/// the commands. Objects are written into the scratch store given to the builder.
struct Hostile {
    pointers: Vec<(String, Vec<u8>)>,
    ds: String,
}

/// Every command must fail (`Tree`), or only those that read file content (`Content`: the
/// trees are valid, a chunk is hostile, so `ls`/`status`/`diff` may succeed).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    Tree,
    Content,
}

struct Case {
    name: String,
    expect: Expect,
    /// `dvx fetch` may accept it (each tree decodes, only the totals of a whole version lie:
    /// those are checked when the version is loaded).
    fetch_may_accept: bool,
    build: Box<dyn Fn(&Store) -> Hostile>,
}

fn data_ptr(root: &[u8; 32]) -> Hostile {
    Hostile {
        pointers: vec![(
            "data.dvx".into(),
            pointer_text("data", "dir", &hex(root)).into_bytes(),
        )],
        ds: "data".into(),
    }
}

fn tree_case(name: &str, f: impl Fn(&Store) -> Vec<u8> + 'static) -> Case {
    Case {
        name: name.into(),
        expect: Expect::Tree,
        fetch_may_accept: false,
        build: Box::new(move |s| data_ptr(&put(s, &f(s)))),
    }
}

/// The root tree is valid, its subdirectory `sub` is `f`.
fn nested_case(name: &str, f: impl Fn(&Store) -> Vec<u8> + 'static) -> Case {
    Case {
        name: name.into(),
        expect: Expect::Tree,
        fetch_may_accept: false,
        build: Box::new(move |s| {
            let inner = f(s);
            let id = put(s, &inner);
            let root = tree(&[file(s, b"a.txt", A_TXT), dir(b"sub", 1, 1, &id)]);
            data_ptr(&put(s, &root))
        }),
    }
}

/// The case writes its own root object(s) and returns the root id.
fn obj_case(name: &str, f: impl Fn(&Store) -> [u8; 32] + 'static) -> Case {
    Case {
        name: name.into(),
        expect: Expect::Tree,
        fetch_may_accept: false,
        build: Box::new(move |s| data_ptr(&f(s))),
    }
}

/// The pointer is hostile; the tree it names is the legitimate version 1.
fn pointer_case(
    name: &str,
    file: &str,
    ds: &str,
    text: impl Fn(&str) -> Vec<u8> + 'static,
) -> Case {
    let (file, ds) = (file.to_string(), ds.to_string());
    Case {
        name: name.into(),
        expect: Expect::Tree,
        // fetch copies objects; the shape of a single-file version is checked on load
        fetch_may_accept: name.contains("kind file"),
        build: Box::new(move |s| {
            let root = put(
                s,
                &tree(&[
                    file_fn(s, b"a.txt", A_TXT),
                    dir(b"sub", B_TXT.len() as u64, 1, &sub(s).0),
                ]),
            );
            Hostile {
                pointers: vec![(file.clone(), text(&hex(&root)))],
                ds: ds.clone(),
            }
        }),
    }
}

// (a plain fn item, usable inside the boxed closures above)
fn file_fn(s: &Store, name: &[u8], content: &[u8]) -> Vec<u8> {
    file(s, name, content)
}

fn name_cases() -> Vec<Case> {
    let mut v = Vec::new();
    let long = vec![b'n'; 5000];
    let names: Vec<(&str, Vec<u8>)> = vec![
        ("name ..", b"..".to_vec()),
        ("name .", b".".to_vec()),
        ("name a/b", b"a/b".to_vec()),
        ("name ../../outside/pwned", b"../../outside/pwned".to_vec()),
        ("name /etc (absolute)", b"/etc".to_vec()),
        ("name a\\b", b"a\\b".to_vec()),
        ("name .git", b".git".to_vec()),
        ("name .dvx", b".dvx".to_vec()),
        ("name .GIT (case)", b".GIT".to_vec()),
        ("name .Dvx (case)", b".Dvx".to_vec()),
        ("name a\\0b (NUL)", b"a\0b".to_vec()),
        ("name empty", Vec::new()),
        ("name 5000 bytes", long),
    ];
    for (label, name) in names {
        let n = name.clone();
        v.push(tree_case(&format!("file {label}"), move |s| {
            tree(&[file(s, &n, A_TXT)])
        }));
        let n = name.clone();
        v.push(nested_case(&format!("nested file {label}"), move |s| {
            tree(&[file(s, &n, A_TXT)])
        }));
        let n = name.clone();
        v.push(tree_case(&format!("dir {label}"), move |s| {
            let (id, size, files) = sub(s);
            tree(&[dir(&n, size, files, &id)])
        }));
        let n = name;
        v.push(tree_case(&format!("symlink {label}"), move |_| {
            tree(&[link(&n, b"a.txt")])
        }));
    }
    v
}

fn structure_cases() -> Vec<Case> {
    let zero = [0u8; 32];
    let mut v = vec![
        tree_case("duplicate file names", |s| {
            tree(&[file(s, b"a", A_TXT), file(s, b"a", B_TXT)])
        }),
        tree_case("duplicate name: dir and file", |s| {
            let (id, size, files) = sub(s);
            tree(&[dir(b"a", size, files, &id), file(s, b"a", A_TXT)])
        }),
        tree_case("duplicate name: symlink to outside then dir", |s| {
            let (id, size, files) = sub(s);
            tree(&[
                link(b"link", b"../../outside"),
                dir(b"link", size, files, &id),
            ])
        }),
        tree_case(
            "duplicate name: symlink to absolute outside then file",
            |s| tree(&[link(b"link", b"/tmp"), file(s, b"link", A_TXT)]),
        ),
        tree_case("unsorted entries", |s| {
            tree(&[file(s, b"b", B_TXT), file(s, b"a", A_TXT)])
        }),
        tree_case("dir entry lies about its size", |s| {
            let (id, _, files) = sub(s);
            tree(&[dir(b"sub", 999_999, files, &id)])
        }),
        tree_case("dir entry lies about its file count", |s| {
            let (id, size, _) = sub(s);
            tree(&[dir(b"sub", size, 5, &id)])
        }),
        tree_case("dir entry declares u64::MAX bytes", |s| {
            let (id, _, files) = sub(s);
            tree(&[dir(b"sub", u64::MAX, files, &id)])
        }),
        tree_case("dir entry names a missing tree", |_| {
            tree(&[dir(b"sub", 1, 1, &[7u8; 32])])
        }),
        tree_case("chunk lengths do not add up to the size", |s| {
            let w = s.writer();
            let id = w.add_chunk(A_TXT).unwrap();
            w.finish().unwrap();
            tree(&[file_raw(
                b"a.txt",
                5,
                blake3::hash(A_TXT).as_bytes(),
                &[(id.0, A_TXT.len() as u64)],
            )])
        }),
        tree_case("file of size 2^62 with one short chunk", move |_| {
            tree(&[file_raw(b"a", 1 << 62, &zero, &[(zero, 5)])])
        }),
        tree_case("chunk count 2^40", move |_| {
            let mut e = vec![1u8];
            lp(&mut e, b"a");
            varint(&mut e, 5);
            e.extend_from_slice(&zero);
            varint(&mut e, 1 << 40);
            e.extend_from_slice(&zero);
            varint(&mut e, 5);
            tree(&[e])
        }),
        tree_case("chunk count 2^24 with one chunk of bytes", move |_| {
            let mut e = vec![1u8];
            lp(&mut e, b"a");
            varint(&mut e, 5);
            e.extend_from_slice(&zero);
            varint(&mut e, 1 << 24);
            e.extend_from_slice(&zero);
            varint(&mut e, 5);
            tree(&[e])
        }),
        tree_case("chunk length 0", move |_| {
            tree(&[file_raw(b"a", 0, &zero, &[(zero, 0)])])
        }),
        tree_case("chunk length 2^32", move |_| {
            tree(&[file_raw(b"a", 1 << 32, &zero, &[(zero, 1 << 32)])])
        }),
        tree_case("varint overflow (11 bytes)", |_| {
            let mut t = b"DVXT\x01".to_vec();
            t.extend_from_slice(&[0xff; 10]);
            t.push(0x01);
            t
        }),
        tree_case("varint: 10th byte > 1", |_| {
            let mut t = b"DVXT\x01".to_vec();
            t.extend_from_slice(&[0xff; 9]);
            t.push(0x7f);
            t
        }),
        tree_case("varint not minimal (0x81 0x00 = 1)", |s| {
            let mut t = b"DVXT\x01\x81\x00".to_vec();
            t.extend_from_slice(&file(s, b"a", A_TXT));
            t
        }),
        tree_case("entry count 2^40", |s| {
            tree_n(1 << 40, &[file(s, b"a", A_TXT)])
        }),
        tree_case("entry count larger than the bytes", |s| {
            tree_n(1000, &[file(s, b"a", A_TXT)])
        }),
        tree_case("entry count 2 with one entry (truncated)", |s| {
            tree_n(2, &[file(s, b"a", A_TXT)])
        }),
        tree_case("trailing garbage", |s| {
            let mut t = tree(&[file(s, b"a", A_TXT)]);
            t.extend_from_slice(b"garbage");
            t
        }),
        tree_case("truncated inside an entry", |s| {
            let mut t = tree(&[file(s, b"a", A_TXT)]);
            t.truncate(t.len() - 10);
            t
        }),
        tree_case("bad magic", |s| {
            let mut t = tree(&[file(s, b"a", A_TXT)]);
            t[3] = b'X';
            t
        }),
        tree_case("tree version 2", |s| {
            let mut t = tree(&[file(s, b"a", A_TXT)]);
            t[4] = 2;
            t
        }),
        tree_case("unknown entry tag 9", |s| {
            let mut e = file(s, b"a", A_TXT);
            e[0] = 9;
            tree(&[e])
        }),
        tree_case("empty symlink target", |_| tree(&[link(b"l", b"")])),
        tree_case("NUL in symlink target", |_| tree(&[link(b"l", b"/etc\0x")])),
        tree_case("symlink target of 70000 bytes", |_| {
            tree(&[link(b"l", &vec![b'x'; 70_000])])
        }),
        tree_case("name length 2^40", |_| {
            let mut e = vec![1u8];
            varint(&mut e, 1 << 40);
            e.extend_from_slice(b"a");
            tree(&[e])
        }),
        tree_case("directories nested 600 deep", |s| {
            let mut id = put(s, &tree(&[file(s, b"a", A_TXT)]));
            for _ in 0..600 {
                id = put(s, &tree(&[dir(b"d", A_TXT.len() as u64, 1, &id)]));
            }
            fs::read(s.tree_path(&dvx_store::TreeId(id))).unwrap();
            tree(&[dir(b"d", A_TXT.len() as u64, 1, &id)])
        }),
    ];
    for c in v.iter_mut() {
        if c.name.starts_with("dir entry lies") || c.name.contains("u64::MAX bytes") {
            c.fetch_may_accept = true;
        }
    }
    v
}

fn object_cases() -> Vec<Case> {
    vec![
        obj_case("zip bomb: 64 MiB of zeros declared as 4 KiB", |s| {
            let zeros = vec![0u8; 64 << 20];
            let (c, payload) = dvx_store::pack::encode_chunk(&zeros, 3);
            assert_eq!(c, Compression::Zstd);
            let id = *blake3::hash(b"bomb").as_bytes();
            put_obj(s, &id, &obj(1, 4096, &payload));
            id
        }),
        obj_case("zip bomb: real tree declared shorter", |s| {
            let raw = tree(&[file(s, &[b'x'; 3000], A_TXT)]);
            let (c, payload) = dvx_store::pack::encode_chunk(&raw, 3);
            assert_eq!(c, Compression::Zstd);
            let id = *blake3::hash(&raw).as_bytes();
            put_obj(s, &id, &obj(1, 100, &payload));
            id
        }),
        obj_case("raw length 2^60", |s| {
            let raw = tree(&[file(s, b"a", A_TXT)]);
            let id = *blake3::hash(&raw).as_bytes();
            put_obj(s, &id, &obj(0, 1 << 60, &raw));
            id
        }),
        obj_case("raw length 2^30 + 1 (zstd)", |s| {
            let raw = tree(&[file(s, &[b'y'; 3000], A_TXT)]);
            let (_, payload) = dvx_store::pack::encode_chunk(&raw, 3);
            let id = *blake3::hash(&raw).as_bytes();
            put_obj(s, &id, &obj(1, (1 << 30) + 1, &payload));
            id
        }),
        obj_case("raw length larger than the content", |s| {
            let raw = tree(&[file(s, b"a", A_TXT)]);
            let id = *blake3::hash(&raw).as_bytes();
            put_obj(s, &id, &obj(0, raw.len() as u64 + 5, &raw));
            id
        }),
        obj_case("compression 7", |s| {
            let raw = tree(&[file(s, b"a", A_TXT)]);
            let id = *blake3::hash(&raw).as_bytes();
            put_obj(s, &id, &obj(7, raw.len() as u64, &raw));
            id
        }),
        obj_case("object version 2", |s| {
            let raw = tree(&[file(s, b"a", A_TXT)]);
            let id = *blake3::hash(&raw).as_bytes();
            let mut o = obj(0, raw.len() as u64, &raw);
            o[8] = 2;
            put_obj(s, &id, &o);
            id
        }),
        obj_case("object bad magic", |s| {
            let raw = tree(&[file(s, b"a", A_TXT)]);
            let id = *blake3::hash(&raw).as_bytes();
            let mut o = obj(0, raw.len() as u64, &raw);
            o[0] = b'X';
            put_obj(s, &id, &o);
            id
        }),
        obj_case("object of 10 bytes", |s| {
            let id = *blake3::hash(b"short").as_bytes();
            put_obj(s, &id, b"DVXTOBJ\0\x01\x00");
            id
        }),
        obj_case("object content does not match its name", |s| {
            let raw = tree(&[file(s, b"a", A_TXT)]);
            let id = *blake3::hash(b"another tree").as_bytes();
            put_obj(s, &id, &obj(0, raw.len() as u64, &raw));
            id
        }),
        obj_case("zstd payload is garbage", |s| {
            let id = *blake3::hash(b"garbage").as_bytes();
            put_obj(
                s,
                &id,
                &obj(1, 100, &[0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4, 5, 6]),
            );
            id
        }),
        Case {
            name: "chunk bomb: zstd frame of 64 MiB declared as 100 bytes".into(),
            expect: Expect::Content,
            fetch_may_accept: false,
            build: Box::new(|s| {
                let zeros = vec![0u8; 64 << 20];
                let (_, payload) = dvx_store::pack::encode_chunk(&zeros, 3);
                let claimed = vec![0u8; 100];
                let id = ChunkId::of(&claimed);
                let mut pb = PackBuilder::new(&s.packs_dir(), true).unwrap();
                pb.append(id, Compression::Zstd, &payload, 100).unwrap();
                pb.finish(&s.packs_dir()).unwrap();
                let root = tree(&[file_raw(
                    b"a.txt",
                    100,
                    blake3::hash(&claimed).as_bytes(),
                    &[(id.0, 100)],
                )]);
                data_ptr(&put(s, &root))
            }),
        },
        Case {
            name: "file digest does not match its chunks".into(),
            expect: Expect::Content,
            fetch_may_accept: true,
            build: Box::new(|s| {
                let w = s.writer();
                let id = w.add_chunk(A_TXT).unwrap();
                w.finish().unwrap();
                let root = tree(&[file_raw(
                    b"a.txt",
                    A_TXT.len() as u64,
                    blake3::hash(b"something else").as_bytes(),
                    &[(id.0, A_TXT.len() as u64)],
                )]);
                data_ptr(&put(s, &root))
            }),
        },
    ]
}

fn pointer_cases() -> Vec<Case> {
    let p = |path: &str, kind: &str| {
        let (path, kind) = (path.to_string(), kind.to_string());
        move |id: &str| pointer_text(&path, &kind, id).into_bytes()
    };
    vec![
        pointer_case(
            "pointer path ../escape",
            "data.dvx",
            "data",
            p("../escape", "dir"),
        ),
        pointer_case(
            "pointer path ../outside",
            "data.dvx",
            "data",
            p("../outside", "dir"),
        ),
        pointer_case("pointer path /abs", "data.dvx", "data", p("/abs", "dir")),
        pointer_case("pointer path absolute outside", "data.dvx", "data", |id| {
            pointer_text("/tmp/dvx-hostile-abs", "dir", id).into_bytes()
        }),
        pointer_case(
            "pointer path .git/hooks",
            "data.dvx",
            "data",
            p(".git/hooks", "dir"),
        ),
        pointer_case(
            "pointer path .dvx/store",
            "data.dvx",
            "data",
            p(".dvx/store", "dir"),
        ),
        pointer_case(
            "pointer path other (not its location)",
            "data.dvx",
            "data",
            p("other", "dir"),
        ),
        pointer_case(
            "pointer path data/../data",
            "data.dvx",
            "data",
            p("data/../data", "dir"),
        ),
        pointer_case(
            "pointer path data/ (trailing slash)",
            "data.dvx",
            "data",
            p("data/", "dir"),
        ),
        pointer_case(
            "pointer path DATA (case)",
            "data.dvx",
            "data",
            p("DATA", "dir"),
        ),
        pointer_case(
            "pointer path with NUL",
            "data.dvx",
            "data",
            p("da\\u0000ta", "dir"),
        ),
        pointer_case(
            "pointer kind symlink",
            "data.dvx",
            "data",
            p("data", "symlink"),
        ),
        pointer_case(
            "pointer kind file, root tree is a directory listing",
            "data.dvx",
            "data",
            p("data", "file"),
        ),
        pointer_case("pointer format 3", "data.dvx", "data", |id| {
            pointer_text("data", "dir", id)
                .replace("format = 1", "format = 3")
                .into_bytes()
        }),
        pointer_case("pointer id not hex", "data.dvx", "data", |id| {
            pointer_text(
                "data",
                "dir",
                &id.replace(|c: char| c.is_ascii_digit(), "z"),
            )
            .into_bytes()
        }),
        pointer_case("pointer id of 63 hex", "data.dvx", "data", |id| {
            pointer_text("data", "dir", &id[1..]).into_bytes()
        }),
        pointer_case("pointer unknown key", "data.dvx", "data", |id| {
            format!("{}evil = \"../outside\"\n", pointer_text("data", "dir", id)).into_bytes()
        }),
        pointer_case("pointer files = -1", "data.dvx", "data", |id| {
            pointer_text("data", "dir", id)
                .replace("files = 1", "files = -1")
                .into_bytes()
        }),
        pointer_case("pointer of 2 MiB", "data.dvx", "data", |id| {
            let mut t = pointer_text("data", "dir", id);
            t.push_str(&format!("# {}\n", "x".repeat(2 << 20)));
            t.into_bytes()
        }),
        pointer_case("pointer not UTF-8", "data.dvx", "data", |id| {
            let mut t = pointer_text("data", "dir", id).into_bytes();
            t.extend_from_slice(b"# \xff\xfe\n");
            t
        }),
        pointer_case(
            "pointer sub/.dvx/d.dvx (ignored in the worktree)",
            "sub/.dvx/d.dvx",
            "sub/.dvx/d",
            p("sub/.dvx/d", "dir"),
        ),
        pointer_case(
            "pointer .DVX/d.dvx (case)",
            ".DVX/d.dvx",
            ".DVX/d",
            p(".DVX/d", "dir"),
        ),
        pointer_case(
            "pointer x/..dvx (path x/.)",
            "x/..dvx",
            "x/.",
            p("x/.", "dir"),
        ),
        pointer_case(
            "pointer x/...dvx (path x/..)",
            "x/...dvx",
            "x/..",
            p("x/..", "dir"),
        ),
        Case {
            name: "pointer kind file, root entry named differently".into(),
            expect: Expect::Tree,
            fetch_may_accept: true,
            build: Box::new(|s| {
                let root = put(s, &tree(&[file(s, b"other", A_TXT)]));
                Hostile {
                    pointers: vec![(
                        "w.bin.dvx".into(),
                        pointer_text("w.bin", "file", &hex(&root)).into_bytes(),
                    )],
                    ds: "w.bin".into(),
                }
            }),
        },
        Case {
            name: "pointer kind file, root entry is `..`".into(),
            expect: Expect::Tree,
            fetch_may_accept: false,
            build: Box::new(|s| {
                let root = put(s, &tree(&[file(s, b"..", A_TXT)]));
                Hostile {
                    pointers: vec![(
                        "w.bin.dvx".into(),
                        pointer_text("w.bin", "file", &hex(&root)).into_bytes(),
                    )],
                    ds: "w.bin".into(),
                }
            }),
        },
        Case {
            name: "pointer kind file, root holds the file and a second entry".into(),
            expect: Expect::Tree,
            fetch_may_accept: true,
            build: Box::new(|s| {
                let root = put(
                    s,
                    &tree(&[file(s, b"w.bin", A_TXT), file(s, b"x.bin", B_TXT)]),
                );
                Hostile {
                    pointers: vec![(
                        "w.bin.dvx".into(),
                        pointer_text("w.bin", "file", &hex(&root)).into_bytes(),
                    )],
                    ds: "w.bin".into(),
                }
            }),
        },
        Case {
            name: "pointer kind file, root entry is a directory".into(),
            expect: Expect::Tree,
            fetch_may_accept: true,
            build: Box::new(|s| {
                let (id, size, files) = sub(s);
                let root = put(s, &tree(&[dir(b"w.bin", size, files, &id)]));
                Hostile {
                    pointers: vec![(
                        "w.bin.dvx".into(),
                        pointer_text("w.bin", "file", &hex(&root)).into_bytes(),
                    )],
                    ds: "w.bin".into(),
                }
            }),
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// The harness.

/// Runs a command with a time limit and a 4 GiB address-space limit; the result's status is
/// a signal when it was killed.
fn bounded(mut base: Command, secs: u64) -> Run {
    let line = format!(
        "{} {}",
        base.get_program().to_string_lossy(),
        base.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -v 4194304; exec \"$0\" \"$@\"")
        .arg(base.get_program())
        .args(base.get_args());
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    if let Some(d) = base.get_current_dir() {
        cmd.current_dir(d);
    }
    let _ = &mut base;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = so.read_to_end(&mut b);
        b
    });
    let t2 = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = se.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = t1.join().unwrap();
    let mut stderr = t2.join().unwrap();
    if timed_out {
        stderr.extend_from_slice(format!("\n[test harness: killed after {secs} s]\n").as_bytes());
    }
    Run {
        cmd: line,
        out: std::process::Output {
            status,
            stdout,
            stderr,
        },
    }
}

fn dvx_b(repo: &TestRepo, args: &[&str]) -> Run {
    bounded(repo.dvx_cmd(args), 20)
}

thread_local! {
    static LIMIT: std::cell::Cell<u64> = const { std::cell::Cell::new(20) };
}

/// Everything below `<tmp>` that no dvx command may change in these tests: all but the
/// dataset `data/`, git's own bookkeeping (index, logs, objects, refs: git commands change
/// them) and dvx's store objects and local state.
fn sentinel(repo: &TestRepo) -> Snapshot {
    let mut map = Snapshot::new();
    walk_kept(repo.tmp(), "", &mut map);
    map
}

/// Like [`snapshot`], but excluded subtrees are neither descended into nor hashed.
fn walk_kept(dir: &Path, prefix: &str, map: &mut Snapshot) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let rel = format!("{prefix}{}", e.file_name().to_string_lossy());
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        if !keep_in_sentinel(&rel) {
            continue;
        }
        if is_dir {
            if rel != "repo/.git" {
                map.insert(rel.clone(), Entry::Dir);
            }
            walk_kept(&e.path(), &format!("{rel}/"), map);
        } else {
            map.extend(snapshot(&e.path()).into_values().map(|v| (rel.clone(), v)));
        }
    }
}

fn keep_in_sentinel(k: &str) -> bool {
    if k == "repo/data" || k.starts_with("repo/data/") {
        return false;
    }
    // The remote's audit trail: push, fetch and pull append a record there by design.
    if k == "remote/audit" || k.starts_with("remote/audit/") {
        return false;
    }
    if let Some(g) = k.strip_prefix("repo/.git/") {
        return g == "config" || g == "hooks" || g.starts_with("hooks/") || g.starts_with("info");
    }
    for p in [
        "repo/.dvx/state/",
        "repo/.dvx/store/packs/",
        "repo/.dvx/store/index/",
        "repo/.dvx/store/trees/",
    ] {
        if k.starts_with(p) {
            return false;
        }
    }
    true
}

/// Copies every file below `src` into `dst` (same relative paths), skipping `config.toml`.
fn copy_objects(src: &Path, dst: &Path) {
    let mut files = Vec::new();
    find_files(
        src,
        &mut |p| p.file_name().is_some_and(|n| n != "config.toml"),
        &mut files,
    );
    for f in files {
        let rel = f.strip_prefix(src).unwrap();
        let to = dst.join(rel);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&f, &to).unwrap();
    }
}

struct Env {
    repo: TestRepo,
    v1: String,
    remote: PathBuf,
    data: Snapshot,
}

/// A repository with a committed dataset `data` (a.txt, sub/b.txt) on disk, a folder remote
/// `<tmp>/remote` configured as default (empty), `$HOME` = `<tmp>/home`, and a file in
/// `<tmp>/outside` that an escape would overwrite.
fn env() -> Env {
    let repo = TestRepo::new();
    let home = repo.tmp().join("home");
    write_file(&home.join(".profile"), b"# home\n");
    repo.set_env("HOME", home.to_str().unwrap());
    write_file(&repo.outside().join("pwned"), b"not pwned\n");
    write_file(&repo.outside().join("a.txt"), b"outside a\n");
    write_file(&repo.outside().join("sub/b.txt"), b"outside b\n");
    repo.write("data/a.txt", A_TXT);
    repo.write("data/sub/b.txt", B_TXT);
    repo.dvx(&["add", "data"]).ok();
    let remote = repo.tmp().join("remote");
    fs::create_dir_all(&remote).unwrap();
    repo.dvx(&["remote", "add", "origin", remote.to_str().unwrap()])
        .ok();
    repo.commit_all("v1");
    let v1 = repo.git_out(&["rev-parse", "HEAD"]);
    let data = repo.snapshot("data");
    Env {
        repo,
        v1,
        remote,
        data,
    }
}

const LOCAL_CMDS: &[&str] = &[
    "checkout",
    "checkout --force",
    "checkout HEAD {ds}",
    "checkout --force HEAD {ds}",
    "checkout HEAD",
    "ls HEAD {ds}",
    "ls --json",
    "cat HEAD:{ds}/a.txt",
    "status",
    "status --json {ds}",
    "diff",
    "diff HEAD~1 HEAD",
];

const REMOTE_CMDS: &[&str] = &[
    "fetch",
    "fetch HEAD",
    "pull",
    "pull HEAD {ds}",
    "pull --force HEAD",
    "checkout",
];

/// Commands that only list trees: they may succeed on a `Content` case.
fn reads_content(cmd: &str) -> bool {
    cmd.starts_with("checkout")
        || cmd.starts_with("cat")
        || cmd.starts_with("pull")
        || cmd.starts_with("fetch")
}

struct Outcome {
    failures: Vec<String>,
    runs: usize,
}

fn check_run(
    case: &Case,
    cmd: &str,
    r: &Run,
    before: &Snapshot,
    after: &Snapshot,
    may_succeed: bool,
) -> Option<String> {
    let mut why = Vec::new();
    let err = r.stderr_str();
    if err.contains("panicked") || r.code() == Some(101) {
        why.push("PANIC".to_string());
    }
    match r.code() {
        Some(1) | Some(2) => {
            if !err.contains("error:") {
                why.push("no `error:` line".into());
            }
        }
        Some(0) if may_succeed => {}
        c => why.push(format!("exit status {c:?} (expected 1 or 2)")),
    }
    let d = snapshot_diff(before, after);
    if !d.is_empty() {
        why.push(format!("WROTE OUTSIDE THE DATASET:\n{}", d.join("\n")));
    }
    if why.is_empty() {
        None
    } else {
        Some(format!(
            "[{}] `dvx {cmd}`: {}\n{r}",
            case.name,
            why.join("; ")
        ))
    }
}

/// Plants the case, commits it, runs every command, resets to v1.
fn run_case(e: &Env, case: &Case, remote: bool) -> Outcome {
    let repo = &e.repo;
    let scratch = tempfile::tempdir().unwrap();
    let s = Store::open_or_create(&scratch.path().join("store"), &StoreOptions::default()).unwrap();
    let h = (case.build)(&s);
    let dest = if remote {
        e.remote.clone()
    } else {
        repo.path(".dvx/store")
    };
    copy_objects(&scratch.path().join("store"), &dest);
    for (file, bytes) in &h.pointers {
        repo.write(file, bytes);
    }
    let files: Vec<&str> = h.pointers.iter().map(|(f, _)| f.as_str()).collect();
    let mut args = vec!["add", "-f", "--"];
    args.extend(files);
    repo.git(&args).ok();
    repo.commit(&format!("hostile: {}", case.name));

    let mut out = Outcome {
        failures: Vec::new(),
        runs: 0,
    };
    let cmds = if remote { REMOTE_CMDS } else { LOCAL_CMDS };
    for cmd in cmds {
        let cmd = cmd.replace("{ds}", &h.ds);
        let args: Vec<&str> = cmd.split(' ').collect();
        let before = sentinel(repo);
        let r = dvx_b(repo, &args);
        let after = sentinel(repo);
        out.runs += 1;
        let may_succeed = (case.expect == Expect::Content && !reads_content(&cmd))
            || (remote && case.fetch_may_accept && cmd.starts_with("fetch"))
            // a valid file outside the hostile subtree may be printed
            || (cmd.starts_with("cat") && r.stdout == A_TXT)
            // pointers below a `.dvx` directory are not looked for in the worktree
            || (case.name.contains("(ignored in the worktree)") && !cmd.contains("HEAD"));
        if let Some(log) = std::env::var_os("HOSTILE_LOG") {
            use std::io::Write;
            let mut f = fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(log)
                .unwrap();
            writeln!(
                f,
                "### [{}] remote={remote} `dvx {cmd}` -> {:?}\n{}",
                case.name,
                r.code(),
                r.stderr_str().trim_end()
            )
            .unwrap();
        }
        if let Some(f) = check_run(case, &cmd, &r, &before, &after, may_succeed) {
            out.failures.push(f);
        }
        let d = snapshot_diff(&e.data, &repo.snapshot("data"));
        if !d.is_empty() && h.ds == "data" && case.expect == Expect::Tree {
            // A refused checkout leaves the dataset alone too.
            out.failures.push(format!(
                "[{}] `dvx {cmd}` changed data/ although it failed:\n{}\n{r}",
                case.name,
                d.join("\n")
            ));
            // restore for the next command
            remove(&repo.path("data"));
            repo.write("data/a.txt", A_TXT);
            repo.write("data/sub/b.txt", B_TXT);
        }
    }
    repo.git(&["reset", "-q", "--hard", &e.v1]).ok();
    repo.git(&[
        "clean",
        "-q",
        "-f",
        "-d",
        "-x",
        "--",
        "sub",
        "x",
        ".DVX",
        ".Git",
        "w.bin",
        "w.bin.dvx",
    ])
    .ok();
    if remote {
        for d in ["trees", "packs", "index"] {
            remove(&e.remote.join(d));
        }
    }
    out
}

fn run_table(label: &str, cases: Vec<Case>) {
    let start = Instant::now();
    let e = env();
    let mut failures = Vec::new();
    let mut runs = 0;
    let mut bad_cases = 0;
    for case in &cases {
        let mut case_failed = false;
        // Remote first: the local run copies the objects into the local store.
        for remote in [true, false] {
            let o = run_case(&e, case, remote);
            runs += o.runs;
            if !o.failures.is_empty() {
                case_failed = true;
            }
            failures.extend(o.failures);
        }
        if case_failed {
            bad_cases += 1;
        }
    }
    eprintln!(
        "{label}: {} of {} hostile cases rejected ({runs} dvx runs, {:.1}s)",
        cases.len() - bad_cases,
        cases.len(),
        start.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{label}: {} failing runs in {bad_cases} cases:\n\n{}",
        failures.len(),
        failures.join("\n==========\n")
    );
}

#[test]
fn hostile_names_are_rejected() {
    let (a, b): (Vec<Case>, Vec<Case>) = name_cases()
        .into_iter()
        .partition(|c| c.name.starts_with("file") || c.name.starts_with("nested"));
    let _ = b;
    run_table("names (files)", a);
}

#[test]
fn hostile_names_of_dirs_and_links_are_rejected() {
    let b: Vec<Case> = name_cases()
        .into_iter()
        .filter(|c| !(c.name.starts_with("file") || c.name.starts_with("nested")))
        .collect();
    run_table("names (dirs, links)", b);
}

#[test]
fn hostile_tree_structure_is_rejected() {
    run_table("structure", structure_cases());
}

#[test]
fn hostile_tree_objects_are_rejected() {
    run_table("objects", object_cases());
}

#[test]
fn hostile_pointers_are_rejected() {
    run_table("pointers", pointer_cases());
}

// ---------------------------------------------------------------------------------------------
// Malformed store config.

#[test]
fn malformed_store_config_is_rejected() {
    let e = env();
    let repo = &e.repo;
    let cfg_path = repo.path(".dvx/store/config.toml");
    let good = fs::read_to_string(&cfg_path).unwrap();
    // Whatever level this dvx writes by default: replace that exact line.
    let zstd_line = good
        .lines()
        .find(|l| l.starts_with("zstd_level"))
        .expect("the store config has a zstd_level line");
    let cases: Vec<(&str, String)> = vec![
        ("bad TOML", "format = = 1\n[chunker\n".into()),
        (
            "not UTF-8",
            String::from_utf8_lossy(b"format = 1\n\xff\xfe").into_owned() + "\u{0}",
        ),
        ("format = 99", good.replace("format = 1", "format = 99")),
        (
            "chunker min > max",
            good.replace("min = 16384", "min = 524288"),
        ),
        ("chunker avg = 0", good.replace("avg = 65536", "avg = 0")),
        (
            "chunker odd min",
            good.replace("min = 16384", "min = 16385"),
        ),
        (
            "chunker max = 2^40",
            good.replace("max = 262144", "max = 1099511627776"),
        ),
        (
            "pack_size = 0",
            good.replace("pack_size = 67108864", "pack_size = 0"),
        ),
        (
            "pack_size = 2^63",
            good.replace("pack_size = 67108864", "pack_size = 9223372036854775807"),
        ),
        (
            "zstd_level = 99",
            good.replace(zstd_line, "zstd_level = 99"),
        ),
        (
            "zstd_level = -7",
            good.replace(zstd_line, "zstd_level = -7"),
        ),
        (
            "remote_zstd_level = 23",
            good.replace("remote_zstd_level = 1", "remote_zstd_level = 23"),
        ),
        (
            "remote_zstd_level = \"fast\"",
            good.replace("remote_zstd_level = 1", "remote_zstd_level = \"fast\""),
        ),
        ("missing key", good.replace(zstd_line, "")),
        ("unknown key", format!("evil = \"../outside\"\n{good}")),
        ("empty file", String::new()),
        ("a directory", String::new()),
    ];
    let cmds = [
        "status",
        "checkout --force",
        "checkout HEAD data",
        "ls data",
        "cat HEAD:data/a.txt",
        "add data",
        "fsck",
        "fetch",
        "pull --force",
    ];
    let mut failures = Vec::new();
    let mut runs = 0;
    for (name, text) in &cases {
        if *name == "a directory" {
            fs::remove_file(&cfg_path).unwrap();
            fs::create_dir(&cfg_path).unwrap();
        } else {
            fs::write(&cfg_path, text).unwrap();
        }
        // a change to add, so that `add` has something to write
        repo.write("data/new.txt", name.as_bytes());
        for cmd in cmds {
            let args: Vec<&str> = cmd.split(' ').collect();
            let before = sentinel(repo);
            let r = dvx_b(repo, &args);
            runs += 1;
            let after = sentinel(repo);
            let case = Case {
                name: format!("store config: {name}"),
                expect: Expect::Tree,
                fetch_may_accept: false,
                build: Box::new(|_| unreachable!()),
            };
            if let Some(f) = check_run(&case, cmd, &r, &before, &after, false) {
                failures.push(f);
            } else if !r.stderr_str().contains("config") {
                failures.push(format!(
                    "[{}] `dvx {cmd}`: the error does not name the config\n{r}",
                    case.name
                ));
            }
        }
        remove(&repo.path("data/new.txt"));
        remove(&cfg_path);
        fs::write(&cfg_path, &good).unwrap();
    }
    repo.dvx(&["status"]).ok();
    eprintln!(
        "store config: {} malformed configs x {} commands ({runs} dvx runs), {} failing runs",
        cases.len(),
        cmds.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n==========\n"));
}

// ---------------------------------------------------------------------------------------------
// Symlinks: in the worktree, between datasets, above a dataset.

/// Asserts that a command run did not write outside the dataset (and did not panic); returns
/// a failure description.
fn no_escape(repo: &TestRepo, label: &str, args: &[&str], must_fail: bool) -> Option<String> {
    let before = sentinel(repo);
    let r = bounded(repo.dvx_cmd(args), LIMIT.with(|l| l.get()));
    let after = sentinel(repo);
    let case = Case {
        name: label.into(),
        expect: Expect::Tree,
        fetch_may_accept: false,
        build: Box::new(|_| unreachable!()),
    };
    check_run(&case, &args.join(" "), &r, &before, &after, !must_fail)
}

#[test]
fn pointer_below_a_symlinked_directory_is_refused() {
    let e = env();
    let repo = &e.repo;
    repo.write("lnk/data/f.txt", b"lnk data\n");
    repo.dvx(&["add", "lnk/data"]).ok();
    repo.dvx(&["push"]).ok();
    repo.commit_all("lnk/data");
    remove(&repo.path("lnk"));
    // both a relative and an absolute link to the outside
    let mut failures = Vec::new();
    for target in ["../outside", repo.outside().to_str().unwrap()] {
        remove(&repo.path("lnk"));
        symlink(target, &repo.path("lnk"));
        for args in [
            &["checkout", "HEAD"][..],
            &["checkout", "--force", "HEAD"],
            &["checkout", "HEAD", "lnk/data"],
            &["checkout", "--force", "HEAD", "lnk/data.dvx"],
            &["pull", "HEAD"],
            &["pull", "--force", "HEAD", "lnk/data"],
        ] {
            let label = format!("lnk -> {target}");
            if let Some(f) = no_escape(repo, &label, args, true) {
                failures.push(f);
            }
        }
        // Worktree pointers: `lnk/data.dvx` is only reachable through the link.
        for args in [
            &["checkout"][..],
            &["checkout", "--force"],
            &["pull"],
            &["status"],
        ] {
            if let Some(f) = no_escape(repo, &format!("lnk -> {target}"), args, false) {
                failures.push(f);
            }
        }
    }
    assert!(
        !repo.outside().join("data").exists(),
        "dvx wrote the dataset into <tmp>/outside through the symlink"
    );
    eprintln!("symlinked parent: {} failing runs", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n==========\n"));
}

#[test]
fn worktree_symlink_where_the_version_has_a_directory_is_not_written_through() {
    let e = env();
    let repo = &e.repo;
    let mut failures = Vec::new();
    let cases: &[&[&str]] = &[
        &["checkout"],
        &["checkout", "--force"],
        &["checkout", "HEAD", "data"],
        &["checkout", "HEAD", "data/sub"],
        &["checkout", "--force", "HEAD", "data/sub/b.txt"],
        &["pull", "HEAD", "data/sub/b.txt"],
        &["pull", "--force", "HEAD", "data/sub"],
    ];
    repo.dvx(&["push"]).ok();
    for args in cases {
        for target in [
            "../../outside/sub",
            &format!("{}/sub", repo.outside().display()),
        ] {
            remove(&repo.path("data/sub"));
            symlink(target, &repo.path("data/sub"));
            if let Some(f) = no_escape(repo, &format!("data/sub -> {target}"), args, false) {
                failures.push(f);
            }
            let m = fs::symlink_metadata(repo.path("data/sub")).unwrap();
            if m.is_dir() && repo.read("data/sub/b.txt") != B_TXT {
                failures.push(format!("{args:?}: data/sub/b.txt has wrong content"));
            }
        }
    }
    assert_eq!(
        fs::read(repo.outside().join("sub/b.txt")).unwrap(),
        b"outside b\n"
    );
    eprintln!(
        "worktree symlink: {} cases x 2 link targets, {} failing runs",
        cases.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n==========\n"));
}

/// Two pointers of one hostile commit: `data` (whose version turns `data/sub` into a link to
/// the outside) and the nested dataset `data/sub/x`, whose files on disk checkout removes
/// after `data` was applied, i.e. through the new link.
#[test]
fn nested_dataset_behind_a_new_symlink_is_not_written_through() {
    let mut failures = Vec::new();
    for force in [false, true] {
        for abs in [false, true] {
            let e = env();
            let repo = &e.repo;
            // The victim: a file outside whose path matches one inside the nested dataset.
            write_file(&repo.outside().join("x/pwned"), b"victim\n");
            repo.write("data/sub/x/pwned", b"saved in the store\n");
            repo.dvx(&["add", "data"]).ok();
            repo.commit_all("v1 with data/sub/x/pwned");
            let s = Store::open(&repo.path(".dvx/store")).unwrap();
            let target = if abs {
                repo.outside().to_string_lossy().into_owned()
            } else {
                "../../outside".to_string()
            };
            let a = put(
                &s,
                &tree(&[file(&s, b"a.txt", A_TXT), link(b"sub", target.as_bytes())]),
            );
            let b = put(&s, &tree(&[]));
            repo.write("data.dvx", pointer_text("data", "dir", &hex(&a)).as_bytes());
            repo.write(
                "data/sub/x.dvx",
                pointer_text("data/sub/x", "dir", &hex(&b)).as_bytes(),
            );
            repo.git(&["add", "-f", "data.dvx", "data/sub/x.dvx"]).ok();
            repo.commit("hostile: data/sub becomes a link, data/sub/x a dataset");
            let args: &[&str] = if force {
                &["checkout", "--force", "HEAD"]
            } else {
                &["checkout", "HEAD"]
            };
            let label = format!("nested dataset, link -> {target}");
            // Whether it fails or not, nothing outside may change.
            if let Some(f) = no_escape(repo, &label, args, false) {
                failures.push(f);
            }
            if !repo.outside().join("x/pwned").exists() {
                failures.push(format!(
                    "{label} {args:?}: <tmp>/outside/x/pwned was DELETED through data/sub"
                ));
            }
        }
    }
    eprintln!(
        "nested dataset behind a symlink: 4 cases, {} failing",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n==========\n"));
}

/// A version with a symlink `data/link -> outside`, then a sub-path restore of a version where
/// `link` is a directory.
#[test]
fn sub_path_restore_through_a_symlink_is_refused() {
    let e = env();
    let repo = &e.repo;
    symlink(repo.outside().to_str().unwrap(), &repo.path("data/link"));
    repo.dvx(&["add", "data"]).ok();
    repo.dvx(&["push"]).ok();
    let v1 = repo.commit_all("link");
    remove(&repo.path("data/link"));
    repo.write("data/link/x", b"inside\n");
    repo.write("data/link/a.txt", b"inside a\n");
    repo.dvx(&["add", "data"]).ok();
    repo.dvx(&["push"]).ok();
    let v2 = repo.commit_all("dir");
    let mut failures = Vec::new();
    let cases: &[&[&str]] = &[
        &["checkout", "{v2}", "data/link/x"],
        &["checkout", "--force", "{v2}", "data/link/x"],
        &["checkout", "{v2}", "data/link/a.txt"],
        &["checkout", "{v2}", "data/link"],
        &["pull", "{v2}", "data/link/x"],
        &["pull", "--force", "{v2}", "data/link/a.txt"],
    ];
    for args in cases {
        repo.dvx(&["checkout", "--force", &v1, "data"]).ok();
        assert!(fs::symlink_metadata(repo.path("data/link"))
            .unwrap()
            .file_type()
            .is_symlink());
        let args: Vec<String> = args.iter().map(|a| a.replace("{v2}", &v2)).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if let Some(f) = no_escape(
            repo,
            "sub-path restore through data/link -> outside",
            &args,
            false,
        ) {
            failures.push(f);
        }
    }
    assert!(
        !repo.outside().join("x").exists(),
        "wrote <tmp>/outside/x through data/link"
    );
    assert_eq!(
        fs::read(repo.outside().join("a.txt")).unwrap(),
        b"outside a\n"
    );
    eprintln!(
        "sub-path restore through a symlink: {} cases, {} failing",
        cases.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n==========\n"));
}

// ---------------------------------------------------------------------------------------------
// Absurd counts.

const EMPTY_DIGEST: &str = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";

fn unhex(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

/// Shared subtrees make a small set of objects describe 10^9 files ("billion laughs"): a
/// version must be refused (or handled) within bounded time and memory, not expanded.
#[test]
fn tree_dag_bomb_is_bounded() {
    let e = env();
    let repo = &e.repo;
    let s = Store::open(&repo.path(".dvx/store")).unwrap();
    let n = 1000u64;
    let empty = unhex(EMPTY_DIGEST);
    let leaves: Vec<Vec<u8>> = (0..n)
        .map(|i| file_raw(format!("f{i:04}").as_bytes(), 0, &empty, &[]))
        .collect();
    let t2 = put(&s, &tree(&leaves));
    let mids: Vec<Vec<u8>> = (0..n)
        .map(|i| dir(format!("d{i:04}").as_bytes(), 0, n, &t2))
        .collect();
    let t1 = put(&s, &tree(&mids));
    let tops: Vec<Vec<u8>> = (0..n)
        .map(|i| dir(format!("d{i:04}").as_bytes(), 0, n * n, &t1))
        .collect();
    let root = put(&s, &tree(&tops));
    repo.write(
        "data.dvx",
        pointer_text("data", "dir", &hex(&root)).as_bytes(),
    );
    repo.git(&["add", "data.dvx"]).ok();
    repo.commit("hostile: 10^9 files");
    let mut failures = Vec::new();
    LIMIT.with(|l| l.set(8));
    for args in [&["ls", "HEAD", "data"][..], &["checkout"]] {
        let start = Instant::now();
        if let Some(f) = no_escape(repo, "DAG bomb (10^9 files)", args, true) {
            failures.push(format!(
                "{f}\n(after {:.1}s)",
                start.elapsed().as_secs_f64()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n==========\n"));
}

/// `files`/`bytes` of a pointer are informational and unchecked: absurd values must not
/// crash anything (two datasets of u64::MAX files each).
#[test]
fn absurd_pointer_counts_do_not_crash() {
    let e = env();
    let repo = &e.repo;
    repo.write("d2/f", b"d2\n");
    repo.dvx(&["add", "d2"]).ok();
    repo.dvx(&["push"]).ok();
    for p in ["data.dvx", "d2.dvx"] {
        let t = repo.read_str(p);
        let t = t
            .lines()
            .map(|l| {
                if l.starts_with("files =") {
                    "files = 18446744073709551615".to_string()
                } else if l.starts_with("bytes =") {
                    "bytes = 18446744073709551615".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        repo.write(p, t.as_bytes());
    }
    repo.commit_all("absurd counts");
    let mut failures = Vec::new();
    for args in [
        &["fetch"][..],
        &["fetch", "HEAD"],
        &["pull"],
        &["push"],
        &["status"],
        &["ls"],
        &["log"],
        &["log", "--json"],
        &["checkout", "HEAD"],
    ] {
        if let Some(f) = no_escape(
            repo,
            "pointer files = bytes = u64::MAX in two datasets",
            args,
            false,
        ) {
            failures.push(f);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n==========\n"));
}

/// A remote index file whose entry claims an offset near u64::MAX.
#[test]
fn remote_index_with_absurd_offset_is_rejected() {
    let e = env();
    let repo = &e.repo;
    let scratch = tempfile::tempdir().unwrap();
    let s = Store::open_or_create(&scratch.path().join("store"), &StoreOptions::default()).unwrap();
    let content = b"chunk behind an absurd offset\n";
    let root = put(&s, &tree(&[file(&s, b"a.txt", content)]));
    // The pack the writer sealed (and no index for it: we write our own).
    let packs: Vec<PathBuf> = {
        let mut v = Vec::new();
        find_files(
            &s.packs_dir(),
            &mut |p| p.extension().is_some_and(|x| x == "pack"),
            &mut v,
        );
        v
    };
    assert_eq!(packs.len(), 1);
    let pack_hex = packs[0].file_stem().unwrap().to_str().unwrap().to_string();
    let chunk = ChunkId::of(content);
    let mut idx = b"DVXIDX\0\0".to_vec();
    idx.extend_from_slice(&1u32.to_le_bytes());
    idx.extend_from_slice(&1u32.to_le_bytes());
    idx.extend_from_slice(&1u64.to_le_bytes());
    for b in 0..256u32 {
        let c: u32 = if b >= u32::from(chunk.0[0]) { 1 } else { 0 };
        idx.extend_from_slice(&c.to_le_bytes());
    }
    idx.extend_from_slice(&unhex(&pack_hex));
    idx.extend_from_slice(&chunk.0);
    idx.extend_from_slice(&0u32.to_le_bytes());
    idx.extend_from_slice(&(u64::MAX - 4).to_le_bytes());
    idx.extend_from_slice(&(content.len() as u32).to_le_bytes());
    idx.extend_from_slice(&(content.len() as u32).to_le_bytes());
    idx.extend_from_slice(&[0, 0, 0, 0]);
    let sum = blake3::hash(&idx);
    idx.extend_from_slice(sum.as_bytes());
    copy_objects(&scratch.path().join("store"), &e.remote);
    for f in fs::read_dir(e.remote.join("index"))
        .into_iter()
        .flatten()
        .flatten()
    {
        fs::remove_file(f.path()).unwrap();
    }
    write_file(&e.remote.join(format!("index/{}.idx", sum.to_hex())), &idx);
    repo.write(
        "data.dvx",
        pointer_text("data", "dir", &hex(&root)).as_bytes(),
    );
    repo.git(&["add", "data.dvx"]).ok();
    repo.commit("hostile remote index");
    let mut failures = Vec::new();
    for args in [&["fetch"][..], &["pull", "--force"]] {
        if let Some(f) = no_escape(
            repo,
            "remote index entry at offset u64::MAX - 4",
            args,
            true,
        ) {
            failures.push(f);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n==========\n"));
}
