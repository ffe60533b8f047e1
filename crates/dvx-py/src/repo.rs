//! `dvx._core.Repo` and `dvx._core.File`: a repository opened once ([`dvx_core::Access`]) and a
//! positioned reader of one file. `python/dvx/_repo.py` wraps them into the public API; values
//! cross as dicts that it turns into dataclasses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple, PyType};

use dvx_core::{Access, LsEntry, NoProgress, SourceSetup};

use crate::errors::IntoPy;

/// A repository opened for reading and, when local, for the operations of the command line.
#[pyclass(module = "dvx._core", frozen)]
pub struct Repo {
    access: Access,
    cache_dir: PathBuf,
    /// Relative paths are relative to this directory.
    base: PathBuf,
    remote: Option<String>,
}

/// One file of one version, read at any offset without the GIL.
#[pyclass(module = "dvx._core", frozen)]
pub struct File {
    reader: dvx_core::FileReader,
}

/// Whether a repository argument names a git URL rather than a local path.
fn is_url(spec: &str) -> bool {
    if spec.contains("://") {
        return true;
    }
    // scp-like `user@host:path`
    match spec.split_once(':') {
        Some((host, _)) => host.contains('@') && !host.contains('/'),
        None => false,
    }
}

fn cwd() -> PyResult<PathBuf> {
    std::env::current_dir()
        .map_err(|e| crate::errors::raise("io", format!("cannot read the current directory: {e}")))
}

#[pymethods]
impl Repo {
    /// Opens `spec` (a path, a git URL, or None for the repository around `base`).
    #[new]
    #[pyo3(signature = (spec, base, remote=None, remote_url=None, offline=false, cache_dir=None))]
    fn new(
        py: Python<'_>,
        spec: Option<String>,
        base: Option<PathBuf>,
        remote: Option<String>,
        remote_url: Option<String>,
        offline: bool,
        cache_dir: Option<PathBuf>,
    ) -> PyResult<Repo> {
        let here = cwd()?;
        let cache_dir = match cache_dir {
            Some(c) => c,
            None => dvx_core::env::cache_dir(&here).ok_or_else(|| {
                crate::errors::raise(
                    "invalid_config",
                    "no cache directory: set DVX_CACHE_DIR (or XDG_CACHE_HOME or HOME)".into(),
                )
            })?,
        };
        py.detach(|| {
            let env = dvx_core::env::cloud();
            match spec {
                Some(url) if is_url(&url) => {
                    let setup = SourceSetup {
                        cache_dir: cache_dir.clone(),
                        offline,
                        remote_url,
                        cwd: here.clone(),
                    };
                    let access = Access::source(&url, &setup, env)?;
                    Ok(Repo {
                        access,
                        cache_dir,
                        base: here,
                        remote,
                    })
                }
                spec => {
                    let start = match (&spec, &base) {
                        (Some(s), _) => here.join(s),
                        (None, Some(b)) => b.clone(),
                        (None, None) => here.clone(),
                    };
                    let store = dvx_core::env::store_dir(&here);
                    // A named repository: paths are relative to its root; else to `base`.
                    let rel_to = match spec {
                        Some(_) => None,
                        None => Some(start.as_path()),
                    };
                    let access =
                        Access::local(&start, rel_to, store, remote.clone(), offline, env)?;
                    let base = access.base().unwrap_or(&start).to_path_buf();
                    Ok(Repo {
                        access,
                        cache_dir,
                        base,
                        remote,
                    })
                }
            }
        })
        .py()
    }

    /// The worktree's root (None for a repository read by URL).
    #[getter]
    fn root(&self) -> Option<PathBuf> {
        self.access.root().map(Path::to_path_buf)
    }

    /// Where the repository is: its `origin` URL, else its path; a source's URL.
    #[getter]
    fn url(&self) -> String {
        self.access.url()
    }

    /// The full commit id `rev` names now.
    fn resolve(&self, py: Python<'_>, rev: String) -> PyResult<String> {
        py.detach(|| self.access.resolve(&rev)).py()
    }

    /// A reader of `path` at `rev`.
    #[pyo3(signature = (path, rev=None))]
    fn open(&self, py: Python<'_>, path: String, rev: Option<String>) -> PyResult<File> {
        let reader = py.detach(|| self.access.file(&path, rev.as_deref())).py()?;
        Ok(File { reader })
    }

    /// The bytes of `path` at `rev`.
    #[pyo3(signature = (path, rev=None))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        path: String,
        rev: Option<String>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let reader = py.detach(|| self.access.file(&path, rev.as_deref())).py()?;
        read_range(py, &reader, 0, reader.size())
    }

    /// The entries of `path` at `rev`, as dicts of `dvx.Entry`'s fields.
    #[pyo3(signature = (path=None, rev=None, recursive=true))]
    fn ls<'py>(
        &self,
        py: Python<'py>,
        path: Option<String>,
        rev: Option<String>,
        recursive: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let entries = py
            .detach(|| self.access.ls(path.as_deref(), rev.as_deref(), recursive))
            .py()?;
        let cls = entry_class(py)?;
        let items = entries
            .iter()
            .map(|e| entry_tuple(py, cls, e))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// The entry of one path at `rev`.
    #[pyo3(signature = (path, rev=None))]
    fn info<'py>(
        &self,
        py: Python<'py>,
        path: String,
        rev: Option<String>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let e = py.detach(|| self.access.info(&path, rev.as_deref())).py()?;
        entry_tuple(py, entry_class(py)?, &e)
    }

    /// Writes `path` at `rev` to `out`, or to a copy under the user cache; returns its path.
    #[pyo3(signature = (path, rev=None, out=None))]
    fn get(
        &self,
        py: Python<'_>,
        path: String,
        rev: Option<String>,
        out: Option<PathBuf>,
    ) -> PyResult<PathBuf> {
        let out = out.map(|o| self.base.join(o));
        py.detach(|| {
            self.access.get(
                &path,
                rev.as_deref(),
                out.as_deref(),
                &self.cache_dir,
                &NoProgress,
            )
        })
        .py()
    }

    /// The version id of the dataset holding `path` at `rev`.
    #[pyo3(signature = (path, rev=None))]
    fn id(&self, py: Python<'_>, path: String, rev: Option<String>) -> PyResult<String> {
        py.detach(|| self.access.id(&path, rev.as_deref()))
            .py()
            .map(|id| id.to_string())
    }

    /// The versions of a dataset (or every dataset), newest first.
    #[pyo3(signature = (path=None))]
    fn log<'py>(&self, py: Python<'py>, path: Option<String>) -> PyResult<Bound<'py, PyList>> {
        let ws = self.access.workspace().py()?;
        let entries = py
            .detach(|| dvx_core::log(ws, path.as_deref().map(Path::new), &self.base))
            .py()?;
        let list = PyList::empty(py);
        for e in &entries {
            let d = PyDict::new(py);
            d.set_item("path", &e.path)?;
            d.set_item("commit", &e.commit.id)?;
            d.set_item(
                "date",
                dvx_core::rfc3339(e.commit.time, e.commit.tz_offset_seconds),
            )?;
            d.set_item("id", e.id.map(|i| i.to_string()))?;
            d.set_item("files", e.files)?;
            d.set_item("bytes", e.bytes)?;
            d.set_item("message", &e.message)?;
            d.set_item("meta", e.meta.clone())?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// Where the version of the dataset holding `path` at `rev` comes from.
    #[pyo3(signature = (path, rev=None))]
    fn dataset<'py>(
        &self,
        py: Python<'py>,
        path: String,
        rev: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let i = py
            .detach(|| self.access.dataset(&path, rev.as_deref()))
            .py()?;
        let d = PyDict::new(py);
        d.set_item("repo", &i.repo)?;
        d.set_item("commit", &i.commit)?;
        d.set_item("path", &i.path)?;
        d.set_item("id", i.id.to_string())?;
        d.set_item("files", i.files)?;
        d.set_item("bytes", i.bytes)?;
        d.set_item("remote", &i.remote)?;
        Ok(d)
    }

    /// `dvx add`: saves new versions of the datasets at `paths`.
    #[pyo3(signature = (paths, message=None, meta=None))]
    fn add<'py>(
        &self,
        py: Python<'py>,
        paths: Vec<PathBuf>,
        message: Option<String>,
        meta: Option<BTreeMap<String, String>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let ws = self.access.workspace().py()?;
        let opts = dvx_core::AddOptions {
            paths,
            cwd: self.base.clone(),
            message,
            meta: meta.unwrap_or_default(),
            ..Default::default()
        };
        let r = py.detach(|| dvx_core::add(ws, &opts, &NoProgress)).py()?;
        let list = PyList::empty(py);
        for d in &r.datasets {
            let x = PyDict::new(py);
            x.set_item("path", &d.path)?;
            x.set_item("id", d.id.to_string())?;
            x.set_item("previous", d.previous.map(|p| p.to_string()))?;
            x.set_item("files", d.files)?;
            x.set_item("bytes", d.bytes)?;
            list.append(x)?;
        }
        Ok(list)
    }

    /// `dvx status` of `paths` (empty: every dataset).
    #[pyo3(signature = (paths=Vec::new()))]
    fn status<'py>(&self, py: Python<'py>, paths: Vec<PathBuf>) -> PyResult<Bound<'py, PyList>> {
        let ws = self.access.workspace().py()?;
        let r = py
            .detach(|| dvx_core::status(ws, &self.base, &paths, &NoProgress))
            .py()?;
        let list = PyList::empty(py);
        for d in &r.datasets {
            let x = PyDict::new(py);
            x.set_item("path", &d.path)?;
            x.set_item("pointer", &d.pointer)?;
            x.set_item("id", d.id.to_string())?;
            x.set_item("state", d.state.as_str())?;
            x.set_item("added", d.added.clone())?;
            x.set_item("modified", d.modified.clone())?;
            x.set_item("deleted", d.deleted.clone())?;
            list.append(x)?;
        }
        Ok(list)
    }

    /// `dvx checkout [rev] [paths]`.
    #[pyo3(signature = (rev=None, paths=Vec::new(), force=false))]
    fn checkout<'py>(
        &self,
        py: Python<'py>,
        rev: Option<String>,
        paths: Vec<PathBuf>,
        force: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let ws = self.access.workspace().py()?;
        let opts = dvx_core::CheckoutOptions {
            rev,
            paths,
            cwd: self.base.clone(),
            force,
        };
        let r = py
            .detach(|| dvx_core::checkout(ws, &opts, &NoProgress))
            .py()?;
        checkout_list(py, &r)
    }

    /// `dvx push`.
    #[pyo3(signature = (revs=Vec::new(), all_revs=false, remote=None))]
    fn push<'py>(
        &self,
        py: Python<'py>,
        revs: Vec<String>,
        all_revs: bool,
        remote: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let ws = self.access.workspace().py()?;
        let opts = dvx_core::PushOptions {
            revs,
            all_revs,
            remote: remote.or_else(|| self.remote.clone()),
        };
        let r = py
            .detach(|| dvx_core::push(ws, &opts, &dvx_core::env::cloud(), &NoProgress))
            .py()?;
        transfer_dict(py, &r)
    }

    /// `dvx fetch`.
    #[pyo3(signature = (revs=Vec::new(), paths=Vec::new(), remote=None))]
    fn fetch<'py>(
        &self,
        py: Python<'py>,
        revs: Vec<String>,
        paths: Vec<PathBuf>,
        remote: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let ws = self.access.workspace().py()?;
        let opts = dvx_core::FetchOptions {
            revs,
            paths,
            cwd: self.base.clone(),
            remote: remote.or_else(|| self.remote.clone()),
        };
        let r = py
            .detach(|| dvx_core::fetch(ws, &opts, &dvx_core::env::cloud(), &NoProgress))
            .py()?;
        transfer_dict(py, &r)
    }

    /// `dvx pull`.
    #[pyo3(signature = (rev=None, paths=Vec::new(), remote=None, force=false))]
    fn pull<'py>(
        &self,
        py: Python<'py>,
        rev: Option<String>,
        paths: Vec<PathBuf>,
        remote: Option<String>,
        force: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let ws = self.access.workspace().py()?;
        let opts = dvx_core::PullOptions {
            rev,
            paths,
            cwd: self.base.clone(),
            remote: remote.or_else(|| self.remote.clone()),
            force,
            cache_dir: Some(self.cache_dir.clone()),
        };
        let r = py
            .detach(|| dvx_core::pull(ws, &opts, &dvx_core::env::cloud(), &NoProgress))
            .py()?;
        transfer_dict(py, &r)
    }
}

#[pymethods]
impl File {
    /// Bytes in the file.
    #[getter]
    fn size(&self) -> u64 {
        self.reader.size()
    }

    /// BLAKE3 hex of the whole file.
    #[getter]
    fn digest(&self) -> String {
        self.reader.digest().to_hex()
    }

    /// The file's path in the repository.
    #[getter]
    fn path(&self) -> &str {
        self.reader.path()
    }

    /// Up to `n` bytes at `offset` (fewer only at the end of the file).
    fn read_at<'py>(&self, py: Python<'py>, offset: u64, n: u64) -> PyResult<Bound<'py, PyBytes>> {
        read_range(py, &self.reader, offset, n)
    }
}

/// `n` bytes at `offset` (clipped to the file), read into a new `bytes` without the GIL.
fn read_range<'py>(
    py: Python<'py>,
    reader: &dvx_core::FileReader,
    offset: u64,
    n: u64,
) -> PyResult<Bound<'py, PyBytes>> {
    let len = n.min(reader.size().saturating_sub(offset)) as usize;
    crate::raw::bytes_filled(
        py,
        len,
        |buf| reader.read_at(offset, buf),
        crate::errors::to_py,
    )
}

/// The `dvx.Entry` of a listing entry.
fn entry_tuple<'py>(
    py: Python<'py>,
    cls: &Bound<'py, PyType>,
    e: &LsEntry,
) -> PyResult<Bound<'py, PyTuple>> {
    // Interned kinds: a listing of millions of entries creates no kind string twice.
    let kind = match e.kind {
        "file" => intern!(py, "file"),
        "dir" => intern!(py, "dir"),
        _ => intern!(py, "symlink"),
    };
    crate::raw::named_tuple(
        cls,
        [
            e.path.as_str().into_pyobject(py)?.into_any(),
            e.size.into_pyobject(py)?.into_any(),
            e.digest.as_deref().into_pyobject(py)?.into_any(),
            kind.clone().into_any(),
            pyo3::types::PyBool::new(py, e.executable)
                .to_owned()
                .into_any(),
            e.target.as_deref().into_pyobject(py)?.into_any(),
        ],
    )
}

/// The `dvx.Entry` class, registered by `python/dvx/_repo.py`.
fn entry_class(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    ENTRY
        .get(py)
        .map(|c| c.bind(py))
        .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("dvx.Entry is not registered"))
}

static ENTRY: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Called once by `dvx/_repo.py`: the class listing entries are made of.
#[pyfunction]
pub fn _register_types(py: Python<'_>, entry: Bound<'_, PyType>) -> PyResult<()> {
    crate::raw::check_named_tuple(&entry)?;
    let _ = ENTRY.get_or_init(py, || entry.unbind());
    Ok(())
}

fn checkout_list<'py>(
    py: Python<'py>,
    r: &dvx_core::CheckoutReport,
) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for d in &r.datasets {
        let x = PyDict::new(py);
        x.set_item("path", &d.path)?;
        x.set_item("id", d.id.to_string())?;
        x.set_item("written", d.written)?;
        x.set_item("bytes_written", d.bytes_written)?;
        x.set_item("removed", d.removed)?;
        x.set_item("unchanged", d.unchanged)?;
        list.append(x)?;
    }
    Ok(list)
}

fn transfer_dict<'py>(
    py: Python<'py>,
    r: &dvx_core::TransferReport,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("remote", &r.remote)?;
    d.set_item("datasets", r.datasets)?;
    d.set_item("files", r.files)?;
    d.set_item("bytes", r.bytes)?;
    d.set_item("transferred", r.transferred)?;
    d.set_item("objects", r.objects)?;
    d.set_item("requests", r.requests)?;
    d.set_item("chunks", r.chunks)?;
    d.set_item("seconds", r.seconds)?;
    match &r.checkout {
        Some(c) => d.set_item("checkout", checkout_list(py, c)?)?,
        None => d.set_item("checkout", py.None())?,
    }
    d.set_item("fallbacks", r.fallbacks.clone())?;
    Ok(d)
}
