//! The two places the module goes below PyO3's safe API, for speed that the benchmarks
//! (docs/PERFORMANCE.md, "Python API") showed matters: a `bytes` filled without a zero-fill
//! pass first, and listing entries built as `dvx.Entry` tuples without a call into Python.
#![allow(unsafe_code)]

use pyo3::exceptions::{PyOSError, PyOverflowError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple, PyType};

/// A new `bytes` of `len` bytes whose contents `fill` writes, called without the GIL.
/// `fill` must write every byte and return how many it wrote; fewer is an error.
pub fn bytes_filled<'py, E: Send>(
    py: Python<'py>,
    len: usize,
    fill: impl Send + FnOnce(&mut [u8]) -> Result<usize, E>,
    to_py: impl FnOnce(E) -> PyErr,
) -> PyResult<Bound<'py, PyBytes>> {
    let size = ffi::Py_ssize_t::try_from(len)
        .map_err(|_| PyOverflowError::new_err("read too large for one bytes object"))?;
    // SAFETY: a NULL source makes CPython allocate `len` bytes without copying; the new
    // object is owned here and referenced by nothing else until it is returned.
    let bytes = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyBytes_FromStringAndSize(std::ptr::null(), size))?
            .cast_into_unchecked::<PyBytes>()
    };
    // SAFETY: the buffer of a bytes object is `len` bytes long and lives as long as `bytes`.
    let data = unsafe { ffi::PyBytes_AsString(bytes.as_ptr()) } as usize;
    let wrote = py
        .detach(|| {
            // SAFETY: `bytes` is alive and unreachable from Python until this returns, so this
            // thread is its only writer; the GIL is not needed to write its buffer.
            let buf = unsafe { std::slice::from_raw_parts_mut(data as *mut u8, len) };
            fill(buf)
        })
        .map_err(to_py)?;
    if wrote != len {
        // Python never sees the half-written object: it is dropped here.
        return Err(PyOSError::new_err(format!(
            "read {wrote} of {len} bytes: the file ended early"
        )));
    }
    Ok(bytes)
}

/// An instance of `cls` (a `collections.namedtuple` class: a tuple subclass without extra
/// slots) holding `items`, as `tuple.__new__(cls, items)` makes it.
pub fn named_tuple<'py, const N: usize>(
    cls: &Bound<'py, PyType>,
    items: [Bound<'py, PyAny>; N],
) -> PyResult<Bound<'py, PyTuple>> {
    let py = cls.py();
    let items_atomic = items.iter().all(|i| {
        i.is_none()
            || i.is_exact_instance_of::<pyo3::types::PyString>()
            || i.is_exact_instance_of::<pyo3::types::PyInt>()
            || i.is_exact_instance_of::<pyo3::types::PyBool>()
    });
    // SAFETY: `PyType_GenericAlloc` makes a zeroed instance with room for N items of a
    // tuple subclass (checked at registration); each slot is then set exactly once while the
    // GIL is held, so no other code sees a NULL item.
    unsafe {
        let obj = Bound::from_owned_ptr_or_err(
            py,
            ffi::PyType_GenericAlloc(cls.as_ptr().cast(), N as ffi::Py_ssize_t),
        )?;
        for (i, item) in items.into_iter().enumerate() {
            if ffi::PyTuple_SetItem(obj.as_ptr(), i as ffi::Py_ssize_t, item.into_ptr()) != 0 {
                return Err(PyErr::fetch(py));
            }
        }
        // Strings, numbers and None cannot form a cycle: the collector need not track the
        // tuple (CPython untracks plain tuples of such items the same way). Listings of
        // millions of entries would otherwise run collections over all of them.
        if items_atomic {
            ffi::PyObject_GC_UnTrack(obj.as_ptr().cast());
        }
        Ok(obj.cast_into_unchecked::<PyTuple>())
    }
}

/// Checks that `cls` can be built by [`named_tuple`]: a subclass of tuple whose instances
/// are plain tuples in memory (no `__dict__` or slots of their own).
pub fn check_named_tuple(cls: &Bound<'_, PyType>) -> PyResult<()> {
    let tuple = cls.py().get_type::<PyTuple>();
    let plain = cls.is_subclass(&tuple)?
        && cls.getattr("__basicsize__")?.extract::<isize>()?
            == tuple.getattr("__basicsize__")?.extract::<isize>()?;
    if !plain {
        return Err(PyTypeError::new_err(format!(
            "{} is not a namedtuple class",
            cls.name()?
        )));
    }
    Ok(())
}
