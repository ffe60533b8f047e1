//! The native half of the `dvx` Python module (`dvx._core`): the command line as a function,
//! and the read and write operations of dvx-core for `python/dvx/`. Every call releases the
//! GIL while Rust works; errors become the exception classes `python/dvx/_errors.py` registers.

mod errors;
mod raw;
mod repo;

use pyo3::prelude::*;

/// Runs the `dvx` command line with `argv` (without the program name) in this process and
/// returns its exit status: the `dvx` command a wheel installs.
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<std::ffi::OsString>) -> i32 {
    let args = std::iter::once(std::ffi::OsString::from("dvx")).chain(argv);
    py.detach(|| dvx_cli::main_from(args))
}

/// The version of dvx.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(errors::_register_errors, m)?)?;
    m.add_function(wrap_pyfunction!(repo::_register_types, m)?)?;
    m.add_class::<repo::Repo>()?;
    m.add_class::<repo::File>()?;
    Ok(())
}
