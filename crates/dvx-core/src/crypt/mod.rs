//! Encrypted remotes (docs/FORMAT.md section 11): the remote's master key, its copies under
//! `keys/` wrapped by passphrases, the keyed object names and the sealed objects.
//!
//! The master key is 32 random bytes made once per remote; it never leaves memory unwrapped
//! and is zeroed on drop. Two subkeys are derived from it with `blake3::derive_key`: one
//! permutes object ids into names, one seals contents with XChaCha20-Poly1305 (random 24-byte
//! nonces: the chance of any repeat under one key stays below 2^-32 for 2^80 messages, so
//! no counter needs to be kept anywhere).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use dvx_store::{Backend, BackendError};

mod passphrase;

pub(crate) use passphrase::{passphrase, Purpose};

/// Where the wrapped copies of the master key are.
pub(crate) const KEYS: &str = "keys/";
/// Nonce, then tag: what sealing adds to a message.
pub(crate) const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;
pub(crate) const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Upper bound of a key object (a few hundred bytes of JSON).
const MAX_KEY_OBJECT_LEN: u64 = 64 << 10;

const NAMES_CONTEXT: &str = "dvx 2026-12-02 encrypted remote v1: object names";
const CONTENTS_CONTEXT: &str = "dvx 2026-12-02 encrypted remote v1: object contents";
const KEY_FORMAT: &str = "dvx-remote-key";

/// Argon2id cost of new key objects: 64 MiB, 3 passes, one lane (about 0.1-0.3 s).
const KDF_M_KIB: u32 = 64 * 1024;
const KDF_T: u32 = 3;
const KDF_P: u32 = 1;
/// What a key object may ask for: a hostile one must not exhaust memory or time.
const KDF_MAX_M_KIB: u32 = 1024 * 1024;
const KDF_MAX_T: u32 = 32;
const KDF_MAX_P: u32 = 16;

/// Where a passphrase came from, for messages (never the passphrase itself).
const PASSPHRASE_SOURCES: &str = "set DVX_PASSPHRASE or DVX_PASSPHRASE_FILE, or \
    `passphrase_command` under [remotes.<name>] in .dvx/config.local.toml, or run on a terminal \
    to be asked";

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| Error::Encryption {
        remote: String::new(),
        message: format!("the system's random number generator failed: {e}"),
    })?;
    Ok(b)
}

/// The keys of one encrypted remote, derived from its master key. Never printed; every key
/// byte is zeroed on drop.
pub struct RemoteCrypt {
    master: Zeroizing<[u8; 32]>,
    names: Zeroizing<[u8; 32]>,
    contents: XChaCha20Poly1305,
    /// The key object that opened it.
    opened_by: String,
}

impl std::fmt::Debug for RemoteCrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RemoteCrypt(<keys hidden>)")
    }
}

impl RemoteCrypt {
    fn from_master(master: Zeroizing<[u8; 32]>, opened_by: String) -> RemoteCrypt {
        no_core_dumps();
        let names = Zeroizing::new(blake3::derive_key(NAMES_CONTEXT, &*master));
        let contents_key = Zeroizing::new(blake3::derive_key(CONTENTS_CONTEXT, &*master));
        let contents = XChaCha20Poly1305::new(&(*contents_key).into());
        RemoteCrypt {
            master,
            names,
            contents,
            opened_by,
        }
    }

    /// The id of the key object that opened the remote.
    pub fn opened_by(&self) -> &str {
        &self.opened_by
    }

    fn round(&self, i: u8, half: &[u8; 16]) -> [u8; 16] {
        let mut h = blake3::Hasher::new_keyed(&self.names);
        h.update(&[i]);
        h.update(half);
        let mut out = [0u8; 16];
        out.copy_from_slice(&h.finalize().as_bytes()[..16]);
        out
    }

    /// The name of an object whose plaintext name holds `id`: a keyed permutation of the id
    /// (a four-round Feistel network over 16-byte halves with keyed BLAKE3 as round
    /// function, Luby-Rackoff), so equal ids give equal names (deduplication) and names map
    /// back to ids for listings, while without the key a name says nothing of its id.
    pub(crate) fn hide(&self, id: &[u8; 32]) -> [u8; 32] {
        let (mut l, mut r) = halves(id);
        for i in 0..4u8 {
            let f = self.round(i, &r);
            let next = xor(&l, &f);
            l = r;
            r = next;
        }
        join(&l, &r)
    }

    /// The id an object name stands for (the inverse of [`RemoteCrypt::hide`]).
    pub(crate) fn reveal(&self, name: &[u8; 32]) -> [u8; 32] {
        let (mut l, mut r) = halves(name);
        for i in (0..4u8).rev() {
            let f = self.round(i, &l);
            let prev_l = xor(&r, &f);
            r = l;
            l = prev_l;
        }
        join(&l, &r)
    }

    /// `nonce ‖ ciphertext ‖ tag` of `plain`, authenticated with `aad`.
    pub(crate) fn seal(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
        let nonce: [u8; NONCE_LEN] = random()?;
        let ct = self
            .contents
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: &aad_of(aad),
                },
            )
            .map_err(|_| Error::Encryption {
                remote: String::new(),
                message: "encryption failed (message too long)".into(),
            })?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Seals in place: `frame` is `[24 bytes for the nonce] plaintext [16 bytes for the
    /// tag]`, and becomes the sealed message [`RemoteCrypt::seal`] would return.
    pub(crate) fn seal_in_place(&self, aad: &[u8], frame: &mut [u8]) -> Result<()> {
        use chacha20poly1305::aead::AeadInOut;
        let nonce: [u8; NONCE_LEN] = random()?;
        let len = frame.len();
        let (head, rest) = frame.split_at_mut(NONCE_LEN);
        head.copy_from_slice(&nonce);
        let (msg, tag_out) = rest.split_at_mut(len - SEAL_OVERHEAD);
        let tag = self
            .contents
            .encrypt_inout_detached(&XNonce::from(nonce), &aad_of(aad), msg.into())
            .map_err(|_| Error::Encryption {
                remote: String::new(),
                message: "encryption failed (message too long)".into(),
            })?;
        tag_out.copy_from_slice(&tag);
        Ok(())
    }

    /// Opens in place what [`RemoteCrypt::seal_in_place`] sealed: the plaintext, within
    /// `frame`, or None as for [`RemoteCrypt::open`] (the frame's bytes are then undefined).
    pub(crate) fn open_in_place<'f>(&self, aad: &[u8], frame: &'f mut [u8]) -> Option<&'f [u8]> {
        use chacha20poly1305::aead::AeadInOut;
        let len = frame.len();
        if len < SEAL_OVERHEAD {
            return None;
        }
        let (head, rest) = frame.split_at_mut(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = (&*head).try_into().ok()?;
        let (msg, tag) = rest.split_at_mut(len - SEAL_OVERHEAD);
        let tag: [u8; SEAL_OVERHEAD - NONCE_LEN] = (&*tag).try_into().ok()?;
        self.contents
            .decrypt_inout_detached(
                &XNonce::from(nonce),
                &aad_of(aad),
                (&mut *msg).into(),
                &chacha20poly1305::Tag::from(tag),
            )
            .ok()?;
        Some(msg)
    }

    /// The plaintext of a sealed message, or None when it is not what was sealed with this
    /// key and `aad` (altered, moved, or made by someone without the key).
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < SEAL_OVERHEAD {
            return None;
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        self.contents
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: &aad_of(aad),
                },
            )
            .ok()
    }
}

/// Keeps the opened key out of core dumps: the command line process is made non-dumpable
/// (Linux), which also keeps other users' debuggers out. Not a Python process: other dvx
/// processes recognise a lock holder with the module loaded by its `/proc` maps, which a
/// non-dumpable process hides (the command line is recognised by its `cmdline`).
fn no_core_dumps() {
    #[cfg(target_os = "linux")]
    {
        let cli = std::env::current_exe()
            .ok()
            .and_then(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy().starts_with("dvx"))
            })
            .unwrap_or(false);
        if cli {
            // Best effort: the key is zeroed on drop either way.
            let _ = rustix::process::set_dumpable_behavior(
                rustix::process::DumpableBehavior::NotDumpable,
            );
        }
    }
}

/// Every sealed message's associated data starts with the format and its version.
fn aad_of(aad: &[u8]) -> Vec<u8> {
    let mut v = b"dvx-encrypted-remote 1\0".to_vec();
    v.extend_from_slice(aad);
    v
}

fn halves(b: &[u8; 32]) -> ([u8; 16], [u8; 16]) {
    let mut l = [0u8; 16];
    let mut r = [0u8; 16];
    l.copy_from_slice(&b[..16]);
    r.copy_from_slice(&b[16..]);
    (l, r)
}

fn join(l: &[u8; 16], r: &[u8; 16]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(l);
    out[16..].copy_from_slice(r);
    out
}

fn xor(a: &[u8; 16], b: &[u8; 16]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for i in 0..16 {
        out[i] = a[i] ^ b[i];
    }
    out
}

/// A wrapped copy of the master key: `keys/<id>`, JSON.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    format: String,
    version: u32,
    kdf: String,
    m_kib: u32,
    t: u32,
    p: u32,
    salt: String,
    /// The master key sealed with the passphrase's key: nonce ‖ ciphertext ‖ tag, hex.
    wrapped: String,
    /// Unix seconds when it was made.
    created: u64,
}

impl KeyFile {
    /// What the wrapping authenticates besides the key: the format, the KDF settings and
    /// the object's id, so neither can be changed nor the object moved.
    fn aad(&self, id: &str) -> Vec<u8> {
        format!(
            "{} {} {} m={} t={} p={} salt={} id={id}",
            self.format, self.version, self.kdf, self.m_kib, self.t, self.p, self.salt
        )
        .into_bytes()
    }

    fn kek(&self, passphrase: &str) -> std::result::Result<Zeroizing<[u8; 32]>, String> {
        if self.kdf != "argon2id" {
            return Err(format!("uses the unknown KDF `{}`", self.kdf));
        }
        if self.m_kib > KDF_MAX_M_KIB || self.t > KDF_MAX_T || self.p > KDF_MAX_P {
            return Err("asks for more KDF memory or time than dvx allows".into());
        }
        let salt = hex_decode(&self.salt).ok_or("has a bad salt")?;
        let params = argon2::Params::new(self.m_kib, self.t, self.p, Some(32))
            .map_err(|e| format!("has bad KDF settings ({e})"))?;
        let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; 32]);
        a.hash_password_into(passphrase.as_bytes(), &salt, &mut *out)
            .map_err(|e| format!("KDF failed ({e})"))?;
        Ok(out)
    }

    fn wrap(master: &[u8; 32], id: &str, passphrase: &str) -> Result<KeyFile> {
        let mut f = KeyFile {
            format: KEY_FORMAT.into(),
            version: 1,
            kdf: "argon2id".into(),
            m_kib: KDF_M_KIB,
            t: KDF_T,
            p: KDF_P,
            salt: hex(&random::<16>()?),
            wrapped: String::new(),
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        let kek = f.kek(passphrase).map_err(|m| Error::Encryption {
            remote: String::new(),
            message: m,
        })?;
        let cipher = XChaCha20Poly1305::new(&(*kek).into());
        let nonce: [u8; NONCE_LEN] = random()?;
        let ct = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: master,
                    aad: &f.aad(id),
                },
            )
            .map_err(|_| Error::Encryption {
                remote: String::new(),
                message: "wrapping the key failed".into(),
            })?;
        let mut w = nonce.to_vec();
        w.extend_from_slice(&ct);
        f.wrapped = hex(&w);
        Ok(f)
    }

    /// The master key, if `passphrase` opens this copy.
    fn unwrap(
        &self,
        id: &str,
        passphrase: &str,
    ) -> std::result::Result<Option<Zeroizing<[u8; 32]>>, String> {
        let w = hex_decode(&self.wrapped).ok_or("has a bad wrapped key")?;
        if w.len() != NONCE_LEN + 32 + TAG_LEN {
            return Err("has a wrapped key of the wrong length".into());
        }
        let kek = self.kek(passphrase)?;
        let cipher = XChaCha20Poly1305::new(&(*kek).into());
        let nonce: [u8; NONCE_LEN] = w[..NONCE_LEN].try_into().expect("length checked");
        let plain = cipher.decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: &w[NONCE_LEN..],
                aad: &self.aad(id),
            },
        );
        Ok(plain.ok().map(|p| {
            let p = Zeroizing::new(p);
            let mut k = Zeroizing::new([0u8; 32]);
            k.copy_from_slice(&p);
            k
        }))
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

pub(crate) fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// A key object's id: 16 hex digits (the part of `keys/<id>` after the prefix).
fn valid_key_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// One wrapped key on a remote, as `dvx key list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// Its id (`keys/<id>`).
    pub id: String,
    /// Unix seconds when it was made (0 when the object cannot be read).
    pub created: u64,
    /// KDF and its settings, or what is wrong with the object.
    pub kdf: String,
}

fn rerr(label: &str) -> impl Fn(BackendError) -> Error + '_ {
    move |e| Error::Remote {
        remote: label.to_string(),
        source: e,
    }
}

/// The ids of the key objects on the remote.
pub(crate) fn key_ids(b: &dyn Backend, label: &str) -> Result<Vec<String>> {
    let mut ids: Vec<String> = b
        .list(KEYS)
        .map_err(rerr(label))?
        .into_iter()
        .filter_map(|o| o.key.strip_prefix(KEYS).map(str::to_string))
        .collect();
    ids.sort();
    Ok(ids)
}

fn read_key(
    b: &dyn Backend,
    label: &str,
    id: &str,
) -> Result<std::result::Result<KeyFile, String>> {
    if !valid_key_id(id) {
        return Ok(Err("is not a key object this dvx reads (bad name)".into()));
    }
    let bytes = match b.get(&format!("{KEYS}{id}"), MAX_KEY_OBJECT_LEN) {
        Ok(b) => b,
        Err(BackendError::NotFound { .. }) => return Ok(Err("vanished".into())),
        Err(e @ BackendError::Permanent { .. }) => return Ok(Err(format!("cannot be read: {e}"))),
        Err(e) => return Err(rerr(label)(e)),
    };
    Ok(match serde_json::from_slice::<KeyFile>(&bytes) {
        Ok(f) if f.format == KEY_FORMAT && f.version == 1 => Ok(f),
        Ok(f) if f.format == KEY_FORMAT => Err(format!(
            "is a key object of version {} (upgrade dvx)",
            f.version
        )),
        Ok(_) => Err("is not a dvx key object".into()),
        Err(e) => Err(format!("is damaged ({e})")),
    })
}

/// Lists the remote's key objects.
pub(crate) fn list_keys(b: &dyn Backend, label: &str) -> Result<Vec<KeyInfo>> {
    let mut out = Vec::new();
    for id in key_ids(b, label)? {
        out.push(match read_key(b, label, &id)? {
            Ok(f) => KeyInfo {
                id,
                created: f.created,
                kdf: format!("{} m={}KiB t={} p={}", f.kdf, f.m_kib, f.t, f.p),
            },
            Err(problem) => KeyInfo {
                id,
                created: 0,
                kdf: problem,
            },
        });
    }
    Ok(out)
}

/// Opens the remote's master key with `passphrase`: the first key object it opens.
pub(crate) fn unlock(b: &dyn Backend, label: &str, passphrase: &str) -> Result<RemoteCrypt> {
    let ids = key_ids(b, label)?;
    if ids.is_empty() {
        return Err(Error::WrongPassphrase {
            remote: label.to_string(),
            detail: format!(
                "it is configured as encrypted (`encrypt = true` in .dvx/config.toml) but holds \
                 no key object under {KEYS}: they were deleted, or this is not the remote that \
                 was encrypted. Restore {KEYS} from a backup; without a key object its data \
                 cannot be read"
            ),
        });
    }
    let mut damaged = Vec::new();
    for id in &ids {
        let f = match read_key(b, label, id)? {
            Ok(f) => f,
            Err(p) => {
                damaged.push(format!("{KEYS}{id} {p}"));
                continue;
            }
        };
        match f.unwrap(id, passphrase) {
            Ok(Some(master)) => return Ok(RemoteCrypt::from_master(master, id.clone())),
            Ok(None) => {}
            Err(p) => damaged.push(format!("{KEYS}{id} {p}")),
        }
    }
    let mut detail = format!(
        "the passphrase opens none of its {} key object{} ({})",
        ids.len(),
        if ids.len() == 1 { "" } else { "s" },
        ids.iter()
            .map(|i| format!("{KEYS}{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !damaged.is_empty() {
        detail.push_str(&format!("; unreadable: {}", damaged.join("; ")));
    }
    detail.push_str(
        ": wrong passphrase, or the key object it opened was removed (`dvx key list`) or \
         altered; nothing was read or written",
    );
    Err(Error::WrongPassphrase {
        remote: label.to_string(),
        detail,
    })
}

fn put_key(b: &dyn Backend, label: &str, master: &[u8; 32], passphrase: &str) -> Result<String> {
    let id = hex(&random::<8>()?);
    let f = KeyFile::wrap(master, &id, passphrase).map_err(|e| with_remote(e, label))?;
    let text = serde_json::to_vec_pretty(&f).map_err(|e| Error::Encode {
        what: format!("{KEYS}{id}"),
        detail: e.to_string(),
    })?;
    b.put(&format!("{KEYS}{id}"), text.into())
        .map_err(rerr(label))?;
    Ok(id)
}

fn with_remote(e: Error, label: &str) -> Error {
    match e {
        Error::Encryption { message, .. } => Error::Encryption {
            remote: label.to_string(),
            message,
        },
        e => e,
    }
}

/// Makes a new master key for an empty remote and its first key object.
pub(crate) fn create(b: &dyn Backend, label: &str, passphrase: &str) -> Result<RemoteCrypt> {
    let master = Zeroizing::new(random::<32>().map_err(|e| with_remote(e, label))?);
    let id = put_key(b, label, &master, passphrase)?;
    Ok(RemoteCrypt::from_master(master, id))
}

/// Adds a key object wrapping the open master key with another passphrase; returns its id.
pub(crate) fn add_key(
    b: &dyn Backend,
    label: &str,
    crypt: &RemoteCrypt,
    passphrase: &str,
) -> Result<String> {
    put_key(b, label, &crypt.master, passphrase)
}

/// Deletes a key object; the last one is refused (the data would be lost).
pub(crate) fn remove_key(b: &dyn Backend, label: &str, id: &str) -> Result<()> {
    let ids = key_ids(b, label)?;
    if !ids.iter().any(|i| i == id) {
        return Err(Error::InvalidArgument {
            argument: "id",
            message: format!(
                "remote {label} has no key object {KEYS}{id} (`dvx key list` shows them)"
            ),
        });
    }
    if ids.len() == 1 {
        return Err(Error::Encryption {
            remote: label.to_string(),
            message: format!(
                "{KEYS}{id} is its last key object: without it no passphrase opens the \
                 remote and its data is lost. Add another first (`dvx key add`)"
            ),
        });
    }
    b.delete(&format!("{KEYS}{id}")).map_err(rerr(label))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dvx_store::backend::MemoryBackend;

    fn crypt() -> RemoteCrypt {
        RemoteCrypt::from_master(Zeroizing::new([7u8; 32]), "x".into())
    }

    #[test]
    fn names_are_a_keyed_permutation() {
        let c = crypt();
        let other = RemoteCrypt::from_master(Zeroizing::new([8u8; 32]), "y".into());
        for i in 0..200u32 {
            let id = *blake3::hash(&i.to_le_bytes()).as_bytes();
            let name = c.hide(&id);
            assert_ne!(name, id);
            assert_eq!(c.reveal(&name), id);
            assert_eq!(c.hide(&id), name, "deterministic: dedup works");
            assert_ne!(other.hide(&id), name, "another key, another name");
        }
    }

    #[test]
    fn sealed_messages_open_only_unaltered_with_their_aad() {
        let c = crypt();
        let s = c.seal(b"trees/ab/cd", b"hello").expect("seal");
        assert_eq!(s.len(), 5 + SEAL_OVERHEAD);
        assert_eq!(c.open(b"trees/ab/cd", &s).as_deref(), Some(&b"hello"[..]));
        assert!(c.open(b"trees/ab/ce", &s).is_none(), "moved");
        for i in 0..s.len() {
            let mut t = s.clone();
            t[i] ^= 1;
            assert!(c.open(b"trees/ab/cd", &t).is_none(), "byte {i} flipped");
        }
        assert_ne!(
            c.seal(b"k", b"hello").expect("seal"),
            c.seal(b"k", b"hello").expect("seal")
        );
        let other = RemoteCrypt::from_master(Zeroizing::new([8u8; 32]), "y".into());
        assert!(other.open(b"trees/ab/cd", &s).is_none(), "another key");
        let mut frame = vec![0u8; 5 + SEAL_OVERHEAD];
        frame[24..29].copy_from_slice(b"hello");
        c.seal_in_place(b"k", &mut frame).expect("seal in place");
        assert_eq!(c.open(b"k", &frame).as_deref(), Some(&b"hello"[..]));
    }

    #[test]
    fn keys_wrap_unwrap_add_remove() {
        let b = MemoryBackend::new();
        let c = create(&b, "r", "first pass").expect("create");
        let id1 = c.opened_by().to_string();
        let name = c.hide(&[1u8; 32]);
        let again = unlock(&b, "r", "first pass").expect("unlock");
        assert_eq!(again.hide(&[1u8; 32]), name);
        let e = unlock(&b, "r", "wrong").expect_err("wrong passphrase");
        assert!(matches!(e, Error::WrongPassphrase { .. }), "{e}");
        assert!(!e.to_string().contains("wrong\""), "{e}");
        let id2 = add_key(&b, "r", &again, "second pass").expect("add");
        let by2 = unlock(&b, "r", "second pass").expect("second opens");
        assert_eq!(by2.hide(&[1u8; 32]), name);
        assert_eq!(list_keys(&b, "r").expect("list").len(), 2);
        remove_key(&b, "r", &id1).expect("remove first");
        assert!(unlock(&b, "r", "first pass").is_err());
        let e = remove_key(&b, "r", &id2).expect_err("last key");
        assert!(matches!(e, Error::Encryption { .. }), "{e}");
        // A key object altered (its KDF settings) no longer opens.
        let key = format!("{KEYS}{id2}");
        let text = String::from_utf8(b.get(&key, 1 << 20).expect("get")).expect("utf8");
        b.put(
            &key,
            text.replace("\"t\": 3", "\"t\": 4").into_bytes().into(),
        )
        .expect("put");
        assert!(unlock(&b, "r", "second pass").is_err());
    }
}
