//! A short-lived lock file serialising edits of shared files (.gitignore, pointers being
//! staged) between concurrent dvx processes. A lock whose holder is gone is broken.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

pub struct LockFile {
    path: PathBuf,
}

fn holder_alive(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return true;
    };
    match text.trim().parse::<u32>() {
        // The pid is alive and is still a dvx (not a recycled pid of something else).
        Ok(pid) => pid == std::process::id() || is_dvx(pid),
        // Being written right now, unless it has been empty for a while (its writer died
        // between creating and writing it).
        Err(_) => std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_none_or(|age| age < Duration::from_secs(10)),
    }
}

/// Whether process `pid` may be a running dvx. A live process is never judged dead: the OS is
/// asked whether the pid exists ([`pid_alive`]), and where `/proc` shows the process (Linux),
/// a live pid counts only if it runs a program named dvx: by the name of its executable, or
/// of its argv[0] when the executable cannot be read (another user's process). Only the file
/// name counts: a directory named dvx in the path (a checkout of dvx's own sources) does not.
/// A Python process with the `dvx` module loaded counts as a dvx (its `_core` library mapped);
/// another user's Python, whose mapped libraries cannot be read, always does.
///
/// Without `/proc` (macOS, the BSDs) the name is not checked: a pid recycled by another
/// program keeps a lock or a temporary file alive until that program ends (a waiting dvx
/// times out and names the lock), which is safe, only less tidy.
pub(crate) fn is_dvx(pid: u32) -> bool {
    if !pid_alive(pid) {
        return false;
    }
    let named_dvx = |p: &Path| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("dvx"))
    };
    if let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe")) {
        // A Python process runs dvx as its module (`dvx._core`, the wheel's command too).
        return named_dvx(&exe) || loads_dvx_module(pid);
    }
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(c) => {
            let argv0 = c.split(|&b| b == 0).next().unwrap_or_default();
            let argv0 = Path::new(&*String::from_utf8_lossy(argv0)).to_path_buf();
            // Whether another user's Python has dvx's module loaded cannot be seen (its maps
            // are as closed as its exe): it counts as a dvx while it lives.
            named_dvx(&argv0) || runs_python(&argv0)
        }
        // Nothing to read: no /proc here, one that hides other users' processes
        // (`hidepid`), or the process just ended. The OS's answer stands.
        Err(_) => pid_alive(pid),
    }
}

/// Whether a program is a Python interpreter, by its file name (`python3.11`, `ipython`).
fn runs_python(argv0: &Path) -> bool {
    argv0.file_name().is_some_and(|n| {
        let n = n.to_string_lossy();
        ["python", "ipython", "pypy"]
            .iter()
            .any(|p| n.starts_with(p))
    })
}

/// Whether process `pid` has the native module of the `dvx` Python package mapped (a file
/// named `_core*` in a directory named `dvx`, as a wheel installs it).
fn loads_dvx_module(pid: u32) -> bool {
    let Ok(maps) = std::fs::read(format!("/proc/{pid}/maps")) else {
        return false;
    };
    maps.split(|&b| b == b'\n').any(|line| {
        let path = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
        let mut parts = path.rsplit(|&b| b == b'/');
        let file = parts.next().unwrap_or_default();
        let dir = parts.next().unwrap_or_default();
        dir == b"dvx" && file.starts_with(b"_core")
    })
}

/// Whether a process with this pid exists, asked of the OS (`kill(pid, 0)`, which sends
/// nothing): no such process (`ESRCH`) is dead; one we may not signal (`EPERM`, another
/// user's) or any other answer is alive. Pid 0 and pids past `i32::MAX` name no single
/// process (`kill` would address a process group), so they are dead.
#[cfg(unix)]
pub(crate) fn pid_alive(pid: u32) -> bool {
    use rustix::process::{test_kill_process, Pid};
    let Some(pid) = i32::try_from(pid)
        .ok()
        .filter(|&p| p > 0)
        .and_then(Pid::from_raw)
    else {
        return false;
    };
    !matches!(test_kill_process(pid), Err(rustix::io::Errno::SRCH))
}

/// Without a way to ask, every process is taken to be alive (a lock then times out and
/// names its file; a leftover temporary file stays).
#[cfg(not(unix))]
pub(crate) fn pid_alive(_pid: u32) -> bool {
    true
}

impl LockFile {
    pub fn acquire(path: &Path, timeout: Duration) -> Result<LockFile> {
        let start = Instant::now();
        if let Some(dir) = path.parent() {
            crate::fsx::create_dir_all(dir)?;
        }
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(mut f) => {
                    let _ = write!(f, "{}", std::process::id());
                    return Ok(LockFile {
                        path: path.to_path_buf(),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let old = std::fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|m| m.elapsed().ok())
                        .is_some_and(|age| age > Duration::from_secs(2));
                    if old && !holder_alive(path) {
                        let _ = std::fs::remove_file(path);
                        continue;
                    }
                    if start.elapsed() > timeout {
                        return Err(Error::Locked {
                            path: path.to_path_buf(),
                            what: "timed out waiting for the lock: another dvx is running; if none is, remove that file".into(),
                            holder: std::fs::read_to_string(path).ok().map(|h| h.trim().to_string()),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(Error::io("create lock", path, e)),
            }
        }
    }
}

impl LockFile {
    /// Takes the lock without waiting: fails if a live process holds it; a lock left by a
    /// process that is gone (a crashed gc) is removed and taken.
    pub fn try_acquire(path: &Path) -> Result<LockFile> {
        // The lock appears with its pid already inside (written to a temporary file, then
        // hard-linked into place, which fails if the lock exists), so it is never empty.
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        let tmp = dvx_store::fs::temp_path(dir);
        std::fs::write(&tmp, std::process::id().to_string())
            .map_err(|e| Error::io("create lock", &tmp, e))?;
        let result = Self::link_lock(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        result
    }

    fn link_lock(tmp: &Path, path: &Path) -> Result<LockFile> {
        for _ in 0..3 {
            match std::fs::hard_link(tmp, path) {
                Ok(()) => {
                    return Ok(LockFile {
                        path: path.to_path_buf(),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    // Locks taken here are never empty, so an empty one is debris (from a
                    // crash of an older dvx): stale.
                    let empty = std::fs::read(path).is_ok_and(|b| b.is_empty());
                    if !empty && holder_alive(path) {
                        return Err(Error::Locked {
                            path: path.to_path_buf(),
                            what: "another dvx gc is running: wait for it to finish".into(),
                            holder: std::fs::read_to_string(path)
                                .ok()
                                .map(|h| h.trim().to_string()),
                        });
                    }
                    // Stale: its holder died. Move it aside atomically, then retry.
                    let aside = path.with_extension(format!("stale-{}", std::process::id()));
                    if std::fs::rename(path, &aside).is_ok() {
                        let _ = std::fs::remove_file(&aside);
                    }
                }
                Err(e) => return Err(Error::io("create lock", path, e)),
            }
        }
        Err(Error::Locked {
            path: path.to_path_buf(),
            what: "cannot take the lock: it keeps reappearing; another dvx may be starting".into(),
            holder: None,
        })
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_os_tells_a_live_process_from_a_gone_one() {
        assert!(pid_alive(std::process::id()));
        // Always there; another user's process (EPERM) when not run as root.
        assert!(pid_alive(1));
        // Not single processes: 0 and negative pids address process groups.
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let pid = child.id();
        child.wait().expect("wait");
        assert!(!pid_alive(pid), "a reaped child is gone");
        assert!(!is_dvx(pid));
    }

    #[test]
    fn python_interpreters_are_known_by_name() {
        for p in [
            "python3",
            "/usr/bin/python3.11",
            "python",
            "ipython3",
            "pypy3",
        ] {
            assert!(runs_python(Path::new(p)), "{p}");
        }
        for p in ["bash", "/usr/bin/sleep", "/opt/python/bin/node", ""] {
            assert!(!runs_python(Path::new(p)), "{p}");
        }
    }

    /// A Python process (the wheel's `dvx`, a notebook) is a dvx once it has mapped dvx's
    /// native module, and only then: a lock it holds is not stale.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_python_process_with_the_dvx_module_loaded_is_dvx() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mapped_by = |sub: &str| {
            let d = dir.path().join(sub);
            std::fs::create_dir_all(&d).expect("mkdir");
            let module = d.join("_core.abi3.so");
            std::fs::write(&module, [0u8; 4096]).expect("write");
            // Maps the file as the loader would, then waits for its stdin to close.
            let mut child = std::process::Command::new("python3")
                .args([
                    "-c",
                    "import mmap, sys\n\
                     f = open(sys.argv[1], 'rb')\n\
                     m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)\n\
                     print('mapped', flush=True)\n\
                     sys.stdin.read()",
                ])
                .arg(&module)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("python3");
            let mut line = String::new();
            std::io::BufRead::read_line(
                &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
                &mut line,
            )
            .expect("read");
            assert_eq!(line, "mapped\n");
            child
        };
        let mut dvx = mapped_by("site-packages/dvx");
        let mut other = mapped_by("site-packages/other");
        assert!(is_dvx(dvx.id()), "python with dvx/_core.abi3.so mapped");
        assert!(
            !is_dvx(other.id()),
            "python with another package's _core mapped"
        );
        for c in [&mut dvx, &mut other] {
            drop(c.stdin.take());
            c.wait().expect("wait");
        }
    }
}
