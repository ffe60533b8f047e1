//! dvx-core errors as Python exceptions: `python/dvx/_errors.py` registers one class per error
//! kind at import, and every failed call raises the class of its kind with the command line's
//! message.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

struct Classes {
    base: Py<PyAny>,
    kinds: Py<PyDict>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

/// Called once by `dvx/__init__.py`: the base class and the class of each kind.
#[pyfunction]
pub fn _register_errors(py: Python<'_>, base: Py<PyAny>, kinds: Py<PyDict>) -> PyResult<()> {
    // A second import (importlib.reload) keeps the first classes: exceptions already raised
    // stay instances of what callers catch.
    let _ = CLASSES.get_or_init(py, || Classes { base, kinds });
    Ok(())
}

/// The Python exception for a dvx-core error.
pub fn to_py(err: dvx_core::Error) -> PyErr {
    let kind = err.kind().name();
    let message = dvx_core::redact_userinfo(&err.to_string());
    raise(kind, message)
}

/// The exception of `kind` with `message`.
pub fn raise(kind: &'static str, message: String) -> PyErr {
    Python::attach(|py| {
        let Some(classes) = CLASSES.get(py) else {
            return pyo3::exceptions::PyRuntimeError::new_err(format!("{kind}: {message}"));
        };
        let kinds = classes.kinds.bind(py);
        let class = match kinds.get_item(kind) {
            Ok(Some(c)) => c,
            _ => classes.base.bind(py).clone(),
        };
        match class.call1((message.clone(), kind)) {
            Ok(instance) => PyErr::from_value(instance),
            Err(e) => e,
        }
    })
}

/// Turns a dvx-core result into a Python one.
pub trait IntoPy<T> {
    /// The value, or the exception of the error's kind.
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for dvx_core::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
