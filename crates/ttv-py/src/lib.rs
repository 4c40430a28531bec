//! `ttv._native`: the Rust half of the `ttv` Python package.
//!
//! It owns one tokio runtime for the process and hands Python a [`client::NativeClient`] (the
//! configuration, the backends and the job store behind the library's one job façade,
//! [`ttv::facade::Jobs`]) and [`job::NativeJob`] handles (a job running on that runtime).
//! Every call that waits (planning, the store, a running job) releases the GIL, so other
//! Python threads keep running.
//!
//! The boundary is deliberately narrow: requests and options come in as JSON text, results
//! and errors go out as JSON text, and the Python package (`python/ttv`) turns them into
//! dataclasses and the original pipeline's exception classes. This module parses and
//! describes; selection, budgets, fallback, retries and sidecars stay in the library.

mod client;
mod describe;
mod job;
mod request;

use std::future::Future;
use std::sync::OnceLock;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    _native,
    NativeError,
    PyException,
    "A ttv error, its one argument the error as JSON text (kind, message, problems, backend, spend); the ttv package raises its own classes from it."
);

/// The process's runtime, started on first use.
fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::io::Result<tokio::runtime::Runtime>> = OnceLock::new();
    let built = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("ttv-runtime")
            .build()
    });
    built.as_ref().map_err(|e| {
        raise(&ttv::Error::new(
            ttv::ErrorKind::Io,
            format!("cannot start the async runtime: {e}"),
        ))
    })
}

/// Runs `fut` on the runtime with the GIL released, so other Python threads run meanwhile.
fn block_on<T: Send, F: Future<Output = T> + Send>(py: Python<'_>, fut: F) -> PyResult<T> {
    let rt = runtime()?;
    Ok(py.detach(|| rt.block_on(fut)))
}

/// The Python exception for a ttv error.
fn raise(err: &ttv::Error) -> PyErr {
    NativeError::new_err(describe::error(err).to_string())
}

/// Runs `fut` with the GIL released and turns its error into the Python exception.
fn call<T: Send, F: Future<Output = ttv::Result<T>> + Send>(py: Python<'_>, fut: F) -> PyResult<T> {
    block_on(py, fut)?.map_err(|e| raise(&e))
}

/// The version of the ttv library inside this module.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Every backend name ttv accepts, canonical names and aliases, in lower case.
#[pyfunction]
fn backend_names() -> Vec<&'static str> {
    describe::backend_names()
}

/// ttv's native module: the job façade for Python. Use the `ttv` package, not this module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("NativeError", m.py().get_type::<NativeError>())?;
    m.add_class::<client::NativeClient>()?;
    m.add_class::<job::NativeJob>()?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(backend_names, m)?)?;
    Ok(())
}
