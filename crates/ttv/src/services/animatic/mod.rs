//! `animatic`: the embedded backend. Pure Rust (plus the bundled OpenH264 source), no GPU,
//! no keys, always available, free.
//!
//! - image → video: a camera move over the first image (zoom, pan, tilt, push-in, orbit),
//!   chosen by `extra.camera` or the prompt's words, cross-fading to the last-frame image
//!   when one is given, so the clip ends exactly on it;
//! - text only → a designed title card (see [`title`]).
//!
//! Output is deterministic for a seed. Jobs run on a blocking thread inside this process; a
//! job's ticket is only meaningful to the process that submitted it, and resubmitting costs
//! nothing.

pub mod camera;
mod render;
pub mod title;

use std::collections::HashMap;
use std::io::BufWriter;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use crate::backend::{BackendKind, Event, EventSink, Output, Status, Ticket, VideoBackend};
use crate::capabilities::{
    Capabilities, DurationSupport, FpsSupport, ImageLimits, ResolutionSupport, Resolved,
};
use crate::cost::CostEstimate;
use crate::error::{Error, ErrorKind, Problem, Result};
use crate::media::encode::MAX_RESOLUTION;
use crate::request::{GenerationRequest, Mode, ResolutionSpec, VideoDuration};

use camera::CameraMove;
use render::{RenderSpec, Scene};
use title::TitleCard;

/// Canonical name.
pub const NAME: &str = "animatic";

/// Options from configuration.
#[derive(Debug, Clone, Default)]
pub struct AnimaticOptions {
    /// Camera move when neither the request nor the prompt names one.
    pub camera: Option<CameraMove>,
    /// Frame rate when the request gives none.
    pub fps: Option<u32>,
}

struct Job {
    frames: u32,
    done: AtomicU32,
    cancel: AtomicBool,
    result: Mutex<Option<Result<tempfile::TempPath>>>,
}

impl Job {
    fn holds(&self, path: &Path) -> bool {
        matches!(self.result.lock().as_deref(), Ok(Some(Ok(p))) if **p == *path)
    }
}

/// The embedded animatic renderer.
pub struct Animatic {
    caps: Capabilities,
    options: AnimaticOptions,
    jobs: Mutex<HashMap<String, Arc<Job>>>,
}

impl std::fmt::Debug for Animatic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Animatic")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Default for Animatic {
    fn default() -> Self {
        Self::new(AnimaticOptions::default())
    }
}

impl Animatic {
    /// A renderer with `options`.
    pub fn new(options: AnimaticOptions) -> Self {
        let caps = Capabilities {
            modes: vec![Mode::TextToVideo, Mode::ImageToVideo, Mode::FirstLastFrame],
            durations: DurationSupport::Range {
                min: VideoDuration::from_secs(1),
                max: VideoDuration::from_secs(30),
                step: VideoDuration::from_millis(1),
            },
            default_duration: VideoDuration::from_secs(5),
            resolutions: ResolutionSupport::Bounded {
                max: MAX_RESOLUTION,
                min_side: 64,
                multiple_of: 2,
            },
            default_resolution: ResolutionSpec::Tier(720),
            aspect_ratios: Vec::new(),
            fps: FpsSupport::Range { min: 8, max: 60 },
            default_fps: options.fps.unwrap_or(24),
            max_prompt_chars: 2000,
            images: ImageLimits::default(),
            audio: false,
            seed: true,
            negative_prompt: false,
            price_summary: "free".to_owned(),
        };
        Self {
            caps,
            options,
            jobs: Mutex::new(HashMap::new()),
        }
    }

    fn camera_for(&self, req: &GenerationRequest) -> Result<CameraMove> {
        if let Some(value) = req.extra.get("camera") {
            let text = value.as_str().unwrap_or_default();
            return text.parse().map_err(|allowed| {
                Error::invalid(vec![Problem::new("extra.camera", value, allowed)])
                    .with_backend(NAME)
            });
        }
        Ok(CameraMove::from_prompt(&req.prompt)
            .or(self.options.camera)
            .unwrap_or(CameraMove::ZoomIn))
    }

    fn job(&self, ticket: &Ticket) -> Result<Arc<Job>> {
        let jobs = self.jobs.lock().map_err(|_| poisoned())?;
        jobs.get(&ticket.id).cloned().ok_or_else(|| {
            Error::new(
                ErrorKind::JobFailed,
                format!(
                    "animatic job {} is not known to this process: animatic renders live in memory \
                     and end with the process; submit again (it is free)",
                    ticket.id
                ),
            )
            .with_backend(NAME)
        })
    }

    fn forget(&self, id: &str) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.remove(id);
        }
    }
}

fn poisoned() -> Error {
    Error::new(
        ErrorKind::Io,
        "animatic job table is unusable after a crash",
    )
    .with_backend(NAME)
}

/// Renders a title card reading `text` as a complete MP4 in memory: `duration` long at `fps`.
///
/// A small entry point for tools that need real video bytes without a job, such as the
/// provider simulator. Blocking and CPU-bound: call it from a blocking thread.
pub fn render_title_mp4(
    text: &str,
    size: crate::request::Resolution,
    fps: u32,
    duration: VideoDuration,
) -> Result<Vec<u8>> {
    let spec = RenderSpec {
        size,
        fps,
        frames: duration.frames_at(fps).max(1),
        scene: Scene::Title(Box::new(TitleCard::new(text, 0, size)?)),
    };
    render::render(spec, Vec::new(), &|_| {}, &AtomicBool::new(false))
}

/// A seed when the request gives none: fresh per job, recorded in the ticket.
fn fresh_seed() -> u64 {
    (uuid::Uuid::new_v4().as_u128() as u64) >> 1
}

#[async_trait]
impl VideoBackend for Animatic {
    fn id(&self) -> &'static str {
        NAME
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Embedded
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn validate(&self, req: &GenerationRequest) -> Result<Resolved> {
        let mut problems = Vec::new();
        let resolved = match self.caps.resolve(req) {
            Ok(r) => Some(r),
            Err(e) => {
                problems.extend(e.problems().iter().cloned());
                None
            }
        };
        if let Err(e) = self.camera_for(req) {
            problems.extend(e.problems().iter().cloned());
        }
        for key in req.extra.keys().filter(|k| k.as_str() != "camera") {
            problems.push(Problem::new(
                format!("extra.{key}"),
                &req.extra[key],
                "no such option: animatic takes only extra.camera",
            ));
        }
        match resolved {
            Some(r) if problems.is_empty() => Ok(r),
            _ => Err(Error::invalid(problems).with_backend(NAME)),
        }
    }

    fn estimate_cost(&self, req: &GenerationRequest) -> Result<CostEstimate> {
        let r = self.validate(req)?;
        Ok(CostEstimate::free(format!(
            "rendered locally: {} frames at {}",
            r.frames, r.resolution
        )))
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_millis(50)
    }

    async fn submit(&self, req: &GenerationRequest, resolved: &Resolved) -> Result<Ticket> {
        let camera = self.camera_for(req)?;
        let seed = req.seed.unwrap_or_else(fresh_seed);
        let id = uuid::Uuid::new_v4().to_string();
        let job = Arc::new(Job {
            frames: resolved.frames,
            done: AtomicU32::new(0),
            cancel: AtomicBool::new(false),
            result: Mutex::new(None),
        });
        self.jobs
            .lock()
            .map_err(|_| poisoned())?
            .insert(id.clone(), job.clone());

        let mode = resolved.mode;
        let spec_size = resolved.resolution;
        let (fps, frames) = (resolved.fps, resolved.frames);
        let (prompt, first, last) = (
            req.prompt.clone(),
            req.image.clone(),
            req.last_frame.clone(),
        );
        let worker = job.clone();
        tokio::task::spawn_blocking(move || {
            let outcome = (|| {
                let scene = match (mode, first) {
                    (Mode::TextToVideo, _) | (_, None) => {
                        Scene::Title(Box::new(TitleCard::new(&prompt, seed, spec_size)?))
                    }
                    (_, Some(first)) => Scene::Stills {
                        first: first.decode_rgb()?,
                        last: last.map(|l| l.decode_rgb()).transpose()?,
                        camera,
                    },
                };
                let file = tempfile::Builder::new()
                    .prefix("ttv-animatic-")
                    .suffix(".mp4")
                    .tempfile()
                    .map_err(|e| Error::io("cannot create a scratch file", e))?;
                let (handle, path) = file.into_parts();
                let spec = RenderSpec {
                    size: spec_size,
                    fps,
                    frames,
                    scene,
                };
                let progress = |n: u32| worker.done.store(n, Ordering::Relaxed);
                let out = render::render(spec, BufWriter::new(handle), &progress, &worker.cancel)?;
                let file = out
                    .into_inner()
                    .map_err(|e| Error::io("cannot write the scratch file", e.into_error()))?;
                file.sync_all()
                    .map_err(|e| Error::io("cannot flush the scratch file", e))?;
                Ok(path)
            })();
            if let Ok(mut slot) = worker.result.lock() {
                *slot = Some(outcome.map_err(|e: Error| e.with_backend(NAME)));
            }
        });

        Ok(Ticket {
            backend: NAME.to_owned(),
            id,
            model: None,
            data: json!({ "seed": seed, "camera": camera.name() }),
            submitted_at: chrono::Utc::now(),
        })
    }

    async fn poll(&self, ticket: &Ticket) -> Result<Status> {
        let job = self.job(ticket)?;
        let mut slot = job.result.lock().map_err(|_| poisoned())?;
        Ok(match slot.take() {
            None => Status::Running {
                progress: Some(job.done.load(Ordering::Relaxed) as f32 / job.frames.max(1) as f32),
            },
            Some(Ok(path)) => {
                let output = Output::File {
                    path: path.to_path_buf(),
                };
                // Keep the scratch file alive (and owned) until fetch or cancel.
                *slot = Some(Ok(path));
                Status::Succeeded { output, cost: None }
            }
            Some(Err(e)) if e.kind() == ErrorKind::Cancelled => {
                drop(slot);
                self.forget(&ticket.id);
                Status::Cancelled
            }
            Some(Err(e)) => {
                drop(slot);
                self.forget(&ticket.id);
                Status::Failed(e)
            }
        })
    }

    async fn fetch(&self, output: &Output, into: &Path, events: EventSink<'_>) -> Result<u64> {
        let Output::File { path } = output else {
            return Err(
                Error::new(ErrorKind::Unsupported, "animatic outputs are local files")
                    .with_backend(NAME),
            );
        };
        let bytes = tokio::fs::copy(path, into)
            .await
            .map_err(|e| Error::io(format_args!("cannot copy {}", path.display()), e))?;
        events(Event::Downloading {
            received: bytes,
            total: Some(bytes),
        });
        // The scratch file is deleted with the job that holds it.
        self.jobs
            .lock()
            .map_err(|_| poisoned())?
            .retain(|_, job| !job.holds(path));
        Ok(bytes)
    }

    async fn cancel(&self, ticket: &Ticket) -> Result<()> {
        if let Ok(job) = self.job(ticket) {
            job.cancel.store(true, Ordering::Relaxed);
        }
        self.forget(&ticket.id);
        Ok(())
    }
}
