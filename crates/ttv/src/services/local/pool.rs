//! One persistent worker per backend, started on first use and kept between jobs.
//!
//! Requests are served one at a time (the worker holds one pipeline on one GPU). A request
//! for a different pipeline or weights restarts the worker; a worker that stopped answering
//! is replaced on the next request. Stopping a job while the worker generates for it kills
//! the worker (the only way to interrupt a pipeline midway); the next request starts a new
//! one. Stopping a job that is still waiting for the worker just withdraws it.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{Mutex, watch};

use crate::error::{Error, ErrorKind, Result};

use super::job::LocalJob;
use super::worker::{LoadRequest, Worker, WorkerOptions, WorkerOutput, WorkerRequest};

/// A lazily started, reused worker.
#[derive(Debug)]
pub struct WorkerPool {
    options: WorkerOptions,
    current: Mutex<Option<(LoadRequest, Worker)>>,
}

fn cancelled() -> Error {
    Error::new(ErrorKind::Cancelled, "the job was cancelled")
}

/// Runs `fut` unless `stop` turns true first; `None` when stopped.
async fn unless_stopped<T>(
    fut: impl Future<Output = T>,
    stop: &mut watch::Receiver<bool>,
) -> Option<T> {
    tokio::select! {
        out = fut => Some(out),
        _ = stop.wait_for(|s| *s) => None,
    }
}

impl WorkerPool {
    /// A pool that will start workers with `options`.
    pub fn new(options: WorkerOptions) -> Self {
        Self {
            options,
            current: Mutex::new(None),
        }
    }

    /// Generates with the pipeline `load`, starting or reloading the worker when needed,
    /// unless `stop` turns true first.
    pub async fn generate(
        &self,
        load: &LoadRequest,
        request: &WorkerRequest,
        progress: &(dyn Fn(f32) + Send + Sync),
        stop: &mut watch::Receiver<bool>,
    ) -> Result<WorkerOutput> {
        let mut current = unless_stopped(self.current.lock(), stop)
            .await
            .ok_or_else(cancelled)?;
        let reusable = match current.as_mut() {
            Some((loaded, worker)) if loaded == load => worker.health().await.is_ok(),
            _ => false,
        };
        if !reusable {
            if let Some((_, old)) = current.take() {
                let _ = old.stop().await;
            }
            let options = self.options.clone();
            let started = unless_stopped(
                async move {
                    let mut worker = Worker::start(options).await?;
                    worker.load(load).await?;
                    Ok::<_, Error>(worker)
                },
                stop,
            )
            .await
            .ok_or_else(cancelled)??;
            *current = Some((load.clone(), started));
        }
        let Some((_, worker)) = current.as_mut() else {
            return Err(Error::new(ErrorKind::Io, "the model worker vanished"));
        };
        match unless_stopped(worker.generate(request, progress), stop).await {
            Some(Ok(out)) => Ok(out),
            Some(Err(e)) => {
                if worker.health().await.is_err() {
                    *current = None;
                }
                Err(e)
            }
            None => {
                if let Some((_, worker)) = current.take() {
                    worker.kill_now().await;
                }
                Err(cancelled())
            }
        }
    }

    /// Runs one generation as a job of `backend`, waiting its turn for the worker.
    pub fn start_job(
        self: &Arc<Self>,
        id: String,
        backend: &'static str,
        dir: PathBuf,
        load: LoadRequest,
        request: WorkerRequest,
    ) -> Arc<LocalJob> {
        let pool = self.clone();
        LocalJob::start_task(id, backend, dir, move |progress, mut stop| {
            Box::pin(async move {
                let out = pool
                    .generate(&load, &request, &*progress, &mut stop)
                    .await
                    .map_err(|e| e.with_backend(backend))?;
                Ok(out.output)
            })
        })
    }

    /// Stops the worker if one runs.
    pub async fn shutdown(&self) {
        if let Some((_, worker)) = self.current.lock().await.take() {
            let _ = worker.stop().await;
        }
    }
}
