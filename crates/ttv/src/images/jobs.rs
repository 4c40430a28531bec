//! Image jobs: the image counterpart of the job façade, so that every front end (the CLI's
//! `ttv image`, the film's keyframe source) makes images the same way.
//!
//! An image job is a row in the job store (kind `image`) before anything is sent, checked
//! against the budgets with the same ledger as videos, and follows the same never-pay-twice
//! rule: the paid call is repeated only when its error proves the provider never got it; an
//! ambiguous failure leaves the job `unknown` for `ttv jobs resolve`. Running a job id again
//! carries that job on: a done job is reported (or copied to a new destination), a failed one
//! gets a new attempt. Output paths get the video's safety checks, and a sidecar
//! (`NAME.json`) describes the image.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use serde::Serialize;
use serde_json::json;

use crate::backend::{Ticket, unsettled};
use crate::budget::Budget;
use crate::capabilities::Resolved;
use crate::cost::CostEstimate;
use crate::error::{Error, ErrorKind, Result, Spend};
use crate::facade::output::{self, Rules};
use crate::images::registry::ImageRegistry;
use crate::images::{GeneratedImage, ImageBackend, ImageRequest, ResolvedImage, save_verified};
use crate::layers::{Op, may_repeat};
use crate::media::atomic::{AtomicFile, write_atomically};
use crate::request::{Mode, VideoDuration};
use crate::retry::RetryPolicy;
use crate::store::{Job, JobEvent, JobKind, JobState, NewJob, Store};

/// Extensions an image output is expected to have.
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "webp"];

/// What to make.
#[derive(Debug, Clone)]
pub struct ImageJobSpec {
    /// The request.
    pub request: ImageRequest,
    /// The image backend by name or alias; the registry's default when absent.
    pub backend: Option<String>,
    /// Where the image goes.
    pub out: PathBuf,
    /// The job id (idempotency key); a fresh one when absent.
    pub job_id: Option<String>,
    /// Files the request reads (its reference images), never to be overwritten.
    pub inputs: Vec<PathBuf>,
}

/// A checked, priced image job, before anything is spent.
#[derive(Debug, Clone)]
pub struct ImagePlan {
    /// The job id.
    pub job_id: String,
    /// The backend chosen.
    pub backend: Arc<dyn ImageBackend>,
    /// The request.
    pub request: ImageRequest,
    /// The request made concrete.
    pub resolved: ResolvedImage,
    /// The price.
    pub estimate: CostEstimate,
    /// Where the image goes (absolute).
    pub out: PathBuf,
    /// Things worth saying (an output name that does not look like an image).
    pub warnings: Vec<String>,
}

/// A finished image job.
#[derive(Debug, Clone, Serialize)]
pub struct ImageMade {
    /// The job id.
    pub job_id: String,
    /// The image.
    pub image: GeneratedImage,
    /// The estimate it was made under.
    pub estimate: CostEstimate,
    /// Its sidecar.
    pub sidecar: PathBuf,
    /// Whether it was made before this run (nothing was sent now).
    pub already_done: bool,
}

/// Makes image jobs: the registry, the store, budgets and the retry policy.
#[derive(Debug, Clone)]
pub struct ImageJobs {
    registry: ImageRegistry,
    store: Option<Store>,
    budget: Budget,
    retry: RetryPolicy,
    data_dir: Option<PathBuf>,
}

impl ImageJobs {
    /// Image jobs over `registry`, without a store (plans only) until [`ImageJobs::with_store`].
    pub fn new(registry: ImageRegistry, budget: Budget, retry: RetryPolicy) -> Self {
        Self {
            registry,
            store: None,
            budget,
            retry,
            data_dir: None,
        }
    }

    /// Keeps jobs in `store`; nothing under `data_dir` may be an output.
    pub fn with_store(mut self, store: Store, data_dir: Option<PathBuf>) -> Self {
        self.store = Some(store);
        self.data_dir = data_dir;
        self
    }

    /// The image backends.
    pub fn registry(&self) -> &ImageRegistry {
        &self.registry
    }

    /// Chooses the backend, validates the request (every problem at once), prices it and
    /// checks the destination. Spends nothing and writes nothing.
    pub fn plan(&self, spec: ImageJobSpec) -> Result<ImagePlan> {
        let backend = self.registry.get("--backend", spec.backend.as_deref())?;
        let resolved = backend.validate(&spec.request)?;
        let estimate = backend.estimate_cost(&spec.request, &resolved)?;
        let rules = Rules {
            inputs: &spec.inputs,
            protected: &[],
            data_dir: self.data_dir.as_deref(),
        };
        // The video checks' own warning is about video names; images get theirs.
        output::check(&spec.out, &rules)?;
        let mut warnings = Vec::new();
        let ext = spec
            .out
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        if !ext.is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str())) {
            warnings.push(format!(
                "{} does not end in .png, .jpg or .webp; the image is written as {} anyway",
                spec.out.display(),
                backend
                    .capabilities()
                    .outputs
                    .first()
                    .map_or("PNG".to_owned(), ToString::to_string)
            ));
        }
        Ok(ImagePlan {
            job_id: spec.job_id.unwrap_or_else(crate::jobs::new_job_id),
            out: std::path::absolute(&spec.out).unwrap_or(spec.out),
            backend,
            request: spec.request,
            resolved,
            estimate,
            warnings,
        })
    }

    /// Runs a planned job: records it, checks the budgets, makes the image, verifies and
    /// saves it with its sidecar. Without a store the image is made with no record.
    pub async fn run(&self, plan: ImagePlan) -> Result<ImageMade> {
        let Some(store) = self.store.clone() else {
            let image = plan.backend.generate(&plan.request, &plan.out).await?;
            return finish(&plan, image, None);
        };
        let id = plan.job_id.clone();
        let existing = blocking({
            let (store, id) = (store.clone(), id.clone());
            move || store.get(&id).map_err(Error::from)
        })
        .await?;
        match existing {
            None => {
                let new = NewJob {
                    id: id.clone(),
                    backend: plan.backend.id().to_owned(),
                    model: plan.backend.model().map(str::to_owned),
                    request: serde_json::to_value(&plan.request).unwrap_or_default(),
                    resolved: as_resolved(&plan),
                    estimate: plan.estimate.clone(),
                    out: plan.out.clone(),
                };
                let store = store.clone();
                blocking(move || {
                    store
                        .create_kind(&new, JobKind::Image)
                        .map(drop)
                        .map_err(Error::from)
                })
                .await?;
            }
            Some(job) => {
                if let Some(done) = self.carried_on(&store, &plan, job).await? {
                    return Ok(done);
                }
            }
        }
        self.check_budget(&store, &plan).await?;
        self.make(&store, &plan).await
    }

    /// A job already in the store: reported when done, retried when failed, refused when its
    /// paid request is unsettled. `None`: carry on with the paid call.
    async fn carried_on(
        &self,
        store: &Store,
        plan: &ImagePlan,
        job: Job,
    ) -> Result<Option<ImageMade>> {
        let id = job.id.clone();
        if job.kind != JobKind::Image {
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!("job {id} is a video job; give an image job a new --job-id"),
            ));
        }
        match job.state {
            JobState::Created => Ok(None),
            JobState::Failed | JobState::Cancelled => {
                apply(store, &id, JobEvent::Retry).await?;
                Ok(None)
            }
            JobState::Done => self.report_done(plan, &job).await.map(Some),
            JobState::Unknown => Err(unsettled(
                job.error.as_deref().unwrap_or("the answer was lost"),
                Some(&id),
            )),
            JobState::Submitting => {
                apply(store, &id, JobEvent::Interrupted).await?;
                Err(unsettled("ttv stopped while sending it", Some(&id)))
            }
            JobState::Submitted | JobState::Running | JobState::Downloading => Err(Error::new(
                ErrorKind::Unsettled,
                format!(
                    "job {id}'s image was paid for but ttv stopped before saving it, and image APIs keep no copy to fetch again; \
                     `ttv jobs resolve {id} --failed` closes it, then run it again with a new --job-id"
                ),
            )
            .with_spend(Spend::Yes)),
        }
    }

    /// A done job: its image where it was made, copied to `plan.out` when that differs.
    async fn report_done(&self, plan: &ImagePlan, job: &Job) -> Result<ImageMade> {
        let (from, to) = (job.out.clone(), plan.out.clone());
        let bytes = tokio::fs::read(&from).await.map_err(|e| {
            Error::io(
                format_args!(
                    "job {} is done but its image {} cannot be read",
                    job.id,
                    from.display()
                ),
                e,
            )
        })?;
        let path = if from == to {
            from
        } else {
            blocking(move || write_atomically(&to, &bytes)).await?
        };
        let image = tokio::fs::read(&path)
            .await
            .map_err(|e| Error::io(format_args!("cannot read {}", path.display()), e))?;
        let checked =
            crate::media::image::ImageInput::from_bytes("out", path.display().to_string(), image)?;
        let generated = GeneratedImage {
            path,
            backend: job.backend.clone(),
            model: job.model.clone(),
            resolved: plan.resolved,
            size: checked.resolution(),
            format: checked.format(),
            sha256: checked.sha256().to_owned(),
            bytes: checked.bytes().len() as u64,
            provider_id: job.ticket.as_ref().map(|t| t.id.clone()),
            charged: job.charged.clone(),
            seed: None,
            generation_secs: 0.0,
        };
        let mut made = finish(plan, generated, Some(&job.id))?;
        made.already_done = true;
        Ok(made)
    }

    async fn check_budget(&self, store: &Store, plan: &ImagePlan) -> Result<()> {
        if !self.budget.is_limited() {
            return Ok(());
        }
        let ledger = blocking({
            let store = store.clone();
            move || store.ledger().map_err(Error::from)
        })
        .await?;
        if let Err(err) = self.budget.check(
            plan.backend.id(),
            plan.estimate.usd.micros,
            &ledger,
            Utc::now(),
        ) {
            // Refused before anything is sent: failed, with nothing counted in the ledger (a
            // run with the same id later tries again, as for videos).
            apply(store, &plan.job_id, JobEvent::Failed(err.to_string())).await?;
            return Err(err.with_backend(plan.backend.id()));
        }
        Ok(())
    }

    /// The paid call, recorded step by step, then verification and the sidecar.
    async fn make(&self, store: &Store, plan: &ImagePlan) -> Result<ImageMade> {
        let id = &plan.job_id;
        let backend = plan.backend.id();
        let file = AtomicFile::new(&plan.out)?;
        apply(store, id, JobEvent::BeginSubmit).await?;
        let started = Instant::now();
        let mut retry = 0;
        let output = loop {
            match plan.backend.create(&plan.request, &plan.resolved).await {
                Ok(output) => break output,
                Err(err) if may_repeat(Op::Submit, &err) => {
                    match self.retry.next_wait(
                        retry,
                        err.retry_after(),
                        tokio::time::Instant::now(),
                        None,
                    ) {
                        Some(wait) => {
                            tracing::info!(job = %id, backend, error = %err, ?wait, "image request refused before it was taken; sending it again");
                            retry += 1;
                            tokio::time::sleep(wait).await;
                        }
                        None => return Err(self.not_sent(store, id, err).await),
                    }
                }
                Err(err) => match err.spend() {
                    Spend::No => return Err(self.not_sent(store, id, err).await),
                    Spend::Maybe => {
                        apply(
                            store,
                            id,
                            JobEvent::SubmitAmbiguous(err.message().to_owned()),
                        )
                        .await?;
                        return Err(unsettled(err.message(), Some(id)).with_backend(backend));
                    }
                    Spend::Yes => {
                        apply(store, id, JobEvent::Submitted(ticket(plan, None))).await?;
                        apply(store, id, JobEvent::Failed(err.message().to_owned())).await?;
                        return Err(err);
                    }
                },
            }
        };
        let generation_secs = started.elapsed().as_secs_f64();
        apply(
            store,
            id,
            JobEvent::Submitted(ticket(plan, output.provider_id.clone())),
        )
        .await?;
        apply(
            store,
            id,
            JobEvent::Downloading {
                charged: output.charged.clone(),
            },
        )
        .await?;
        let mut image = match save_verified(backend, output, file, &plan.resolved).await {
            Ok(image) => image,
            Err(err) => {
                apply(store, id, JobEvent::Failed(err.message().to_owned())).await?;
                return Err(err);
            }
        };
        image.model = plan.backend.model().map(str::to_owned);
        image.generation_secs = generation_secs;
        if image.path != plan.out {
            let (store, id, path) = (store.clone(), id.clone(), image.path.clone());
            blocking(move || store.set_out(&id, &path).map(drop).map_err(Error::from)).await?;
        }
        apply(store, id, JobEvent::Done).await?;
        finish(plan, image, Some(id))
    }

    async fn not_sent(&self, store: &Store, id: &str, err: Error) -> Error {
        if let Err(e) = apply(store, id, JobEvent::SubmitNotSent(err.message().to_owned())).await {
            return e;
        }
        if let Err(e) = apply(store, id, JobEvent::Failed(err.message().to_owned())).await {
            return e;
        }
        err
    }
}

/// The ticket of an image job: the provider's id for the generation, else the job id.
fn ticket(plan: &ImagePlan, provider_id: Option<String>) -> Ticket {
    Ticket {
        backend: plan.backend.id().to_owned(),
        id: provider_id.unwrap_or_else(|| plan.job_id.clone()),
        model: plan.backend.model().map(str::to_owned),
        data: serde_json::Value::Null,
        submitted_at: Utc::now(),
    }
}

/// The image as the store's `resolved` column holds it: a one-frame clip of its size.
fn as_resolved(plan: &ImagePlan) -> Resolved {
    Resolved {
        mode: if plan.request.references.is_empty() {
            Mode::TextToVideo
        } else {
            Mode::ImageToVideo
        },
        duration: VideoDuration::from_secs(1),
        resolution: plan.resolved.size,
        fps: 1,
        frames: 1,
    }
}

/// Writes the sidecar and assembles the result.
fn finish(plan: &ImagePlan, image: GeneratedImage, job_id: Option<&str>) -> Result<ImageMade> {
    let sidecar = crate::sidecar::path_for(&image.path);
    let description = json!({
        "kind": "image",
        "job_id": job_id,
        "backend": image.backend,
        "model": image.model,
        "request": plan.request,
        "resolved": plan.resolved,
        "size": image.size,
        "format": image.format,
        "sha256": image.sha256,
        "bytes": image.bytes,
        "estimate": plan.estimate,
        "charged": image.charged,
        "provider_id": image.provider_id,
        "seed": image.seed,
        "made_at": Utc::now(),
    });
    let text = serde_json::to_vec_pretty(&description).unwrap_or_default();
    write_atomically(&sidecar, &text)?;
    Ok(ImageMade {
        job_id: job_id.map_or_else(|| plan.job_id.clone(), str::to_owned),
        image,
        estimate: plan.estimate.clone(),
        sidecar,
        already_done: false,
    })
}

async fn apply(store: &Store, id: &str, event: JobEvent) -> Result<Job> {
    let (store, id) = (store.clone(), id.to_owned());
    blocking(move || store.apply(&id, &event).map_err(Error::from)).await
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("a background task failed: {e}")))?
}

/// Where an image lands when no path is given: `ttv-TIME-JOBID.png` in `dir`.
pub fn default_out(dir: &Path, job_id: &str) -> PathBuf {
    dir.join(format!(
        "ttv-{}-{job_id}.png",
        Utc::now().format("%Y%m%d-%H%M%S")
    ))
}
