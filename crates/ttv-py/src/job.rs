//! A job running on the module's runtime, as Python sees it: progress events to take, a
//! result to wait for (with the GIL released), callbacks for asyncio, and a cancel handle.
//!
//! The run itself is the library's ([`ttv::facade::Jobs::run`] or the film pipeline's); this
//! file only carries its events and its end across to Python.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use pyo3::prelude::*;
use serde_json::Value;
use ttv::facade::Cancel;

use crate::NativeError;

/// What the run has told so far.
#[derive(Default)]
struct State {
    /// Events not yet taken by Python, as JSON text.
    events: Vec<String>,
    /// The latest event, for `status()`.
    last: Option<String>,
    /// The result as JSON text, or the error as JSON text.
    result: Option<Result<String, String>>,
    /// Called once, with no argument, when the result is in.
    callbacks: Vec<Py<PyAny>>,
}

/// The meeting point of the run (on the runtime) and Python (waiting or polling).
#[derive(Default)]
pub struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a progress event.
    pub fn event(&self, event: Value) {
        let text = event.to_string();
        let mut state = self.lock();
        state.last = Some(text.clone());
        state.events.push(text);
        drop(state);
        self.changed.notify_all();
    }

    /// Records the end of the run and calls the callbacks (taking the GIL for them).
    pub fn finish(&self, result: Result<Value, Value>) {
        let mut state = self.lock();
        state.result = Some(result.map(|v| v.to_string()).map_err(|e| e.to_string()));
        let callbacks = std::mem::take(&mut state.callbacks);
        drop(state);
        self.changed.notify_all();
        if !callbacks.is_empty() {
            Python::attach(|py| {
                for callback in callbacks {
                    if let Err(e) = callback.call0(py) {
                        e.write_unraisable(py, None);
                    }
                }
            });
        }
    }
}

/// A running (or finished) ttv job. Made by `NativeClient.submit` and `NativeClient.film`.
#[pyclass(module = "ttv._native", frozen)]
pub struct NativeJob {
    id: String,
    backend: Option<String>,
    kind: &'static str,
    shared: Arc<Shared>,
    cancel: Cancel,
}

impl NativeJob {
    /// A handle on the run that reports to `shared` and stops on `cancel`.
    pub fn new(
        id: String,
        backend: Option<String>,
        kind: &'static str,
        shared: Arc<Shared>,
        cancel: Cancel,
    ) -> Self {
        Self {
            id,
            backend,
            kind,
            shared,
            cancel,
        }
    }
}

#[pymethods]
impl NativeJob {
    /// The job id (the film run id for a film).
    #[getter]
    fn id(&self) -> &str {
        &self.id
    }

    /// The backend chosen for the job (None for a film).
    #[getter]
    fn backend(&self) -> Option<&str> {
        self.backend.as_deref()
    }

    /// `video` or `film`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind
    }

    /// Waits up to `seconds` (with the GIL released) for an event or the end; returns
    /// whether the job has ended and the events (JSON text) that arrived since the last call.
    fn wait_step(&self, py: Python<'_>, seconds: f64) -> (bool, Vec<String>) {
        let limit = Duration::from_secs_f64(seconds.clamp(0.0, 3600.0));
        let shared = self.shared.clone();
        py.detach(move || {
            let mut state = shared.lock();
            if state.events.is_empty() && state.result.is_none() {
                state = shared
                    .changed
                    .wait_timeout(state, limit)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            (state.result.is_some(), std::mem::take(&mut state.events))
        })
    }

    /// Whether the job has ended.
    fn done(&self) -> bool {
        self.shared.lock().result.is_some()
    }

    /// The latest progress event (JSON text), if any.
    fn last_event(&self) -> Option<String> {
        self.shared.lock().last.clone()
    }

    /// The result as JSON text; raises `NativeError` when the job failed or has not ended.
    fn result(&self) -> PyResult<String> {
        match &self.shared.lock().result {
            Some(Ok(json)) => Ok(json.clone()),
            Some(Err(json)) => Err(NativeError::new_err(json.clone())),
            None => Err(NativeError::new_err(
                crate::describe::error(&ttv::Error::new(
                    ttv::ErrorKind::InvalidRequest,
                    format!("job {} has not ended yet; wait for it first", self.id),
                ))
                .to_string(),
            )),
        }
    }

    /// Asks the run to stop: the remote job is cancelled where the backend can, the job is
    /// recorded as cancelled, and the result becomes a `cancelled` error.
    fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Calls `callback()` once when the job ends (at once when it has), from a runtime
    /// thread holding the GIL.
    fn on_done(&self, py: Python<'_>, callback: Py<PyAny>) -> PyResult<()> {
        let mut state = self.shared.lock();
        if state.result.is_none() {
            state.callbacks.push(callback);
            return Ok(());
        }
        drop(state);
        callback.call0(py).map(|_| ())
    }

    fn __repr__(&self) -> String {
        format!("NativeJob(id={:?}, kind={:?})", self.id, self.kind)
    }
}
