//! `wan` (aliases `wan2.1`, `wan2.2`): Wan2.1 / Wan2.2 run on this machine's GPUs through the
//! repositories' own `generate.py`.
//!
//! Each request mode maps onto a `--task` with its own checkpoint folder: text-to-video
//! (`t2v-14B`, `t2v-1.3B`, `t2v-A14B`, or `ti2v-5B`), image-to-video (`i2v-14B`, `i2v-A14B`,
//! or `ti2v-5B` with `--image`) and first+last frame (`flf2v-14B`, Wan2.1 only). The task is
//! read from the checkpoint folder's conventional name or set explicitly. Sizes are the
//! task's `SUPPORTED_SIZES`; frame counts are 4n+1 at 16 fps (24 fps for ti2v-5B).
//! Offloading (`--offload_model`, `--t5_cpu`) is chosen from the GPU's free memory unless
//! configured; several GPUs run through `torchrun` with FSDP and sequence parallelism.
//!
//! A model folder in diffusers format (it holds `model_index.json`, e.g.
//! `Wan-AI/Wan2.1-T2V-14B-Diffusers`) is served instead by the persistent worker
//! ([`crate::services::local::worker`]): the pipeline is loaded once and kept for the next
//! segment, on one GPU. Its task is still read from the folder name (or `t2v_task` /
//! `i2v_task`), and `wan2_dir` must still name a checkout. The worker is given what
//! `generate.py` would use ([`worker_request`]): the task's steps, shift (as the scheduler's
//! `flow_shift`; `sample_solver` picks UniPC or DPM++, diffusers' equivalents of Wan's
//! flow-matching solvers) and guidance (Wan2.2 A14B: the high-noise expert's as
//! `guidance_scale`, the low-noise one's as `guidance_scale_2`), Wan's own negative prompt,
//! and for an image the frame in the image's shape (see [`WanTask::frame_size_for_image`]).
//! `t5_cpu` and `convert_model_dtype` are `generate.py` settings and are refused there.
//!
//! Differences from `providers/local-models.md`, checked against the repositories:
//! - Wan2.1's current `generate.py` has no `--fp8` flag (an older revision had one), and has
//!   `--ring_size` next to `--ulysses_size`; `ulysses_size × ring_size` must equal the GPU
//!   count and the Ulysses degree must divide the head count (40 for 14B, 12 for 1.3B).
//! - Wan2.2's `generate.py` has no `--ring_size`: `--ulysses_size` must equal the GPU count
//!   and divide the heads (40 for A14B, 24 for ti2v-5B), so e.g. 3 GPUs are refused.
//! - Default `--sample_shift` in Wan2.1 is 5.0, 3.0 for i2v at 480p, and 16 for flf2v and
//!   vace; Wan2.2 takes steps/shift/guide scale from the task config (t2v-A14B: 40 steps,
//!   shift 12, guide (3, 4); i2v-A14B: 40, 5, (3.5, 3.5); ti2v-5B: 50, 5, 5). ttv passes
//!   `--sample_shift` / `--sample_guide_scale` only when configured, so the script's own
//!   per-task rules apply; `--sample_steps` is always passed (the same per-task defaults).
//! - `--offload_model` defaults to True on one GPU and False with several; ttv always passes
//!   it, chosen from free memory.
//! - `generate.py` takes no negative prompt (it always uses `sample_neg_prompt`), so a
//!   request's negative prompt is refused for checkpoint folders; the worker takes one.
//! - For an image, `--size` is an area: the frame takes the image's shape, so the size ttv
//!   reports (and verifies) is that frame, not the nominal size.
//! - Wan2.1's image-to-video checkpoints come as separate 480P and 720P downloads; the task
//!   accepts all four sizes with either.
//!
//! The scripts open input images with PIL, which ignores EXIF orientation, so a rotated photo
//! is written to the job folder upright (as PNG).

mod command;
pub mod task;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use crate::backend::{Availability, BackendKind, EventSink, Output, Status, Ticket, VideoBackend};
use crate::capabilities::{
    Capabilities, DurationSupport, FpsSupport, ImageLimits, ResolutionSupport, Resolved,
};
use crate::cost::CostEstimate;
use crate::error::{Error, ErrorKind, Problem, Result};
use crate::request::{
    AspectRatio, GenerationRequest, Mode, Resolution, ResolutionSpec, VideoDuration,
};
use crate::services::local::LocalRun;
use crate::services::local::pool::WorkerPool;
use crate::services::local::worker::{
    ImageFit, LoadRequest, SchedulerSpec, WorkerPipeline, WorkerRequest,
};
use crate::services::local::{
    self, ExpectedOutput, GpuProbe, GpuSlots, JobSpec, JobTable, LocalJob, MemoryPlan, SizeTable,
    job,
};

pub use command::{Launcher, WanJob, build as build_command};
pub use task::{WanTask, WanVersion};

/// Canonical name.
pub const NAME: &str = "wan";

/// The T5 encoder file every Wan2.1 and Wan2.2 checkpoint folder holds; its presence is the
/// cheap check that weights were downloaded.
const WEIGHTS_MARKER: &str = "models_t5_umt5-xxl-enc-bf16.pth";

/// The file every diffusers-format folder (`Wan-AI/Wan2.1-T2V-14B-Diffusers` ...) holds:
/// such a folder is served by the persistent worker instead of `generate.py`.
const DIFFUSERS_MARKER: &str = "model_index.json";

/// Shortest and longest clips offered: 4n+1 frames from 17 to 161 at 16 fps.
const MIN_FRAMES: u32 = 17;
const MAX_FRAMES: u32 = 161;

/// Options from configuration (`wan2_dir`, `i2v_model_dir`, `flf2v_model_dir`, `frame_num`,
/// `sample_steps`, `sample_shift`, `guide_scale`, `base_seed`; `total_gpus` and
/// `parallel_segments` are in [`LocalRun`]), plus ttv's own.
#[derive(Debug, Clone, PartialEq)]
pub struct WanOptions {
    /// `wan2_dir`: a Wan2.1 or Wan2.2 checkout (holds `generate.py`).
    pub wan2_dir: PathBuf,
    /// Text-to-video checkpoint folder. When absent, the README's folder names are looked
    /// for inside `wan2_dir` (`Wan2.1-T2V-14B`, `Wan2.1-T2V-1.3B`, `Wan2.2-T2V-A14B`,
    /// `Wan2.2-TI2V-5B`).
    pub t2v_model_dir: Option<PathBuf>,
    /// `i2v_model_dir`: image-to-video checkpoint folder (looked for likewise).
    pub i2v_model_dir: Option<PathBuf>,
    /// `flf2v_model_dir`: first+last-frame checkpoint folder (Wan2.1).
    pub flf2v_model_dir: Option<PathBuf>,
    /// The `--task` of the text-to-video folder, when its name does not say.
    pub t2v_task: Option<WanTask>,
    /// The `--task` of the image-to-video folder, when its name does not say.
    pub i2v_task: Option<WanTask>,
    /// `frame_num`: frames when the request gives no duration (4n+1).
    pub frame_num: Option<u32>,
    /// `sample_steps`.
    pub sample_steps: Option<u32>,
    /// `sample_shift`.
    pub sample_shift: Option<f64>,
    /// `guide_scale` (`--sample_guide_scale`).
    pub guide_scale: Option<f64>,
    /// `base_seed`: the seed when the request gives none.
    pub base_seed: Option<u64>,
    /// Force `--offload_model`; chosen from free GPU memory when absent.
    pub offload_model: Option<bool>,
    /// Force `--t5_cpu`; chosen from free GPU memory when absent.
    pub t5_cpu: Option<bool>,
    /// Force `--convert_model_dtype` (Wan2.2); on when offloading on one GPU, as the
    /// Wan2.2 README runs it, when absent.
    pub convert_model_dtype: Option<bool>,
    /// Programs, GPUs, job folders and deadlines.
    pub run: LocalRun,
}

impl WanOptions {
    /// The same options with every path absolute (against the current folder): the script
    /// runs in the checkout, where a relative path would name something else.
    pub fn absolute(mut self) -> Self {
        let abs = |p: &mut Option<PathBuf>| {
            if let Some(p) = p.as_mut() {
                *p = local::absolute(p);
            }
        };
        self.wan2_dir = local::absolute(&self.wan2_dir);
        abs(&mut self.t2v_model_dir);
        abs(&mut self.i2v_model_dir);
        abs(&mut self.flf2v_model_dir);
        self.run = self.run.absolute_in(Path::new(""));
        self
    }

    /// Options for the checkout at `wan2_dir`, everything else at its default.
    pub fn new(wan2_dir: impl Into<PathBuf>) -> Self {
        Self {
            wan2_dir: wan2_dir.into(),
            t2v_model_dir: None,
            i2v_model_dir: None,
            flf2v_model_dir: None,
            t2v_task: None,
            i2v_task: None,
            frame_num: None,
            sample_steps: None,
            sample_shift: None,
            guide_scale: None,
            base_seed: None,
            offload_model: None,
            t5_cpu: None,
            convert_model_dtype: None,
            run: LocalRun::default(),
        }
    }
}

/// How a model folder is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// The repository's `generate.py`, one process per job (original checkpoint folders).
    Script,
    /// The persistent diffusers worker, loaded once (diffusers-format folders).
    Worker,
}

/// A checkpoint folder and the task it runs.
#[derive(Debug, Clone, PartialEq)]
struct Model {
    task: WanTask,
    dir: PathBuf,
    via: Via,
}

/// Everything decided for one request.
#[derive(Debug, Clone)]
struct Prepared {
    resolved: Resolved,
    model: Model,
    /// The nominal `--size`; for image input, the area (the frame is `resolved.resolution`).
    size: Resolution,
    steps: u32,
    shift: Option<f64>,
    guide_scale: Option<f64>,
    solver: Option<String>,
}

/// The Wan backend.
pub struct Wan {
    options: WanOptions,
    /// Text-to-video, image-to-video and first+last-frame models, when present.
    t2v: Option<Model>,
    i2v: Option<Model>,
    flf2v: Option<Model>,
    /// What is wrong with the installation, found without running anything.
    static_problems: Vec<String>,
    caps: Capabilities,
    gpu: GpuProbe,
    slots: Arc<GpuSlots>,
    jobs: JobTable,
    pool: Arc<WorkerPool>,
}

impl std::fmt::Debug for Wan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wan")
            .field("wan2_dir", &self.options.wan2_dir)
            .field("t2v", &self.t2v)
            .field("i2v", &self.i2v)
            .field("flf2v", &self.flf2v)
            .finish_non_exhaustive()
    }
}

/// The availability of a backend that has no options at all.
pub fn not_configured() -> Availability {
    Availability::Unavailable {
        reason: "set wan2_dir to a Wan2.1 or Wan2.2 checkout (and download weights into it)"
            .to_owned(),
    }
}

impl Wan {
    /// A backend for `options`, probing GPUs with `options.run.nvidia_smi` when first asked.
    pub fn new(options: WanOptions) -> Self {
        let probe = options.run.gpu_probe();
        Self::with_gpu_probe(options, probe)
    }

    /// A backend whose GPU answers come from `gpu` (tests, or callers that probed already).
    /// Relative paths in `options` are taken from the current folder.
    pub fn with_gpu_probe(options: WanOptions, gpu: GpuProbe) -> Self {
        let options = options.absolute();
        let mut problems = Vec::new();
        let version = detect_version(&options.wan2_dir, &mut problems);
        let mut t2v = None;
        let mut i2v = None;
        let mut flf2v = None;
        if let Some(version) = version {
            t2v = find_model(
                "t2v_model_dir",
                options.t2v_model_dir.as_deref(),
                options.t2v_task,
                Mode::TextToVideo,
                version,
                &options.wan2_dir,
                &mut problems,
            );
            i2v = find_model(
                "i2v_model_dir",
                options.i2v_model_dir.as_deref(),
                options.i2v_task,
                Mode::ImageToVideo,
                version,
                &options.wan2_dir,
                &mut problems,
            );
            flf2v = find_model(
                "flf2v_model_dir",
                options.flf2v_model_dir.as_deref(),
                None,
                Mode::FirstLastFrame,
                version,
                &options.wan2_dir,
                &mut problems,
            );
            // ti2v-5B does image-to-video with the same weights.
            if i2v.is_none() && t2v.as_ref().is_some_and(|m| m.task == WanTask::Ti2v5B) {
                i2v = t2v.clone();
            }
            if t2v.is_none() && i2v.is_none() && flf2v.is_none() && problems.is_empty() {
                problems.push(format!(
                    "no Wan weights found: set i2v_model_dir / flf2v_model_dir / t2v_model_dir, \
                     or download a checkpoint into {} under its README name (e.g. \
                     huggingface-cli download Wan-AI/{version}-T2V-{} --local-dir {}/{version}-T2V-{})",
                    options.wan2_dir.display(),
                    if version == WanVersion::V2_1 { "14B" } else { "A14B" },
                    options.wan2_dir.display(),
                    if version == WanVersion::V2_1 { "14B" } else { "A14B" },
                ));
            }
        }
        problems.extend(options.run.python_problem());
        let gpus = options.run.gpus_per_job();
        if gpus > 1 {
            if local::command::find_program(&options.run.torchrun).is_none() {
                problems.push(format!(
                    "torchrun not found ({}): needed for total_gpus {}; install PyTorch in this \
                     Python or set local.torchrun",
                    options.run.torchrun.display(),
                    options.run.total_gpus
                ));
            }
            for m in [&t2v, &i2v, &flf2v].into_iter().flatten() {
                if !m.task.has_ring_attention() && !m.task.heads().is_multiple_of(gpus) {
                    problems.push(format!(
                        "{} cannot run on {gpus} GPUs: Wan2.2 needs --ulysses_size equal to the \
                         GPU count and dividing its {} attention heads; use {}",
                        m.task,
                        m.task.heads(),
                        divisors(m.task.heads())
                    ));
                }
            }
        }
        if gpus > 1 {
            for m in [&t2v, &i2v, &flf2v].into_iter().flatten() {
                if m.via == Via::Worker {
                    problems.push(format!(
                        "{} is a diffusers folder, served by the persistent worker on one GPU; \
                         set total_gpus to 1 (or parallel_segments to total_gpus), or use the \
                         original checkpoint for torchrun",
                        m.dir.display()
                    ));
                }
            }
        }
        let worker = [&t2v, &i2v, &flf2v]
            .into_iter()
            .flatten()
            .find(|m| m.via == Via::Worker);
        if let Some(m) = worker {
            for (key, set) in [
                ("t5_cpu", options.t5_cpu.is_some()),
                ("convert_model_dtype", options.convert_model_dtype.is_some()),
            ] {
                if set {
                    problems.push(format!(
                        "{key} is a generate.py setting, but {} is a diffusers folder served by \
                         the worker, which offloads with offload_model only; remove {key}",
                        m.dir.display()
                    ));
                }
            }
        }
        if let Some(n) = options.frame_num
            && !task::is_4n_plus_1(n)
        {
            problems.push(format!(
                "frame_num {n} is not 4n+1; use {}",
                task::nearest_4n_plus_1(n)
            ));
        }

        let models: Vec<&Model> = [&t2v, &i2v, &flf2v].into_iter().flatten().collect();
        let mut caps = capabilities(&models);
        caps.negative_prompt = models.iter().any(|m| m.via == Via::Worker);
        let pool = Arc::new(options.run.worker_pool("wan-worker"));
        Self {
            pool,
            slots: Arc::new(options.run.slots()),
            options,
            t2v,
            i2v,
            flf2v,
            static_problems: problems,
            caps,
            gpu,
            jobs: JobTable::default(),
        }
    }

    /// The model that serves `mode`, if its weights are here.
    fn model(&self, mode: Mode) -> Option<&Model> {
        match mode {
            Mode::TextToVideo => self.t2v.as_ref(),
            Mode::ImageToVideo => self.i2v.as_ref(),
            Mode::FirstLastFrame => self.flf2v.as_ref(),
        }
    }

    fn prepare(&self, req: &GenerationRequest) -> Result<Prepared> {
        let mode = req.mode();
        let Some(model) = self.model(mode).cloned() else {
            let key = match mode {
                Mode::TextToVideo => "t2v_model_dir",
                Mode::ImageToVideo => "i2v_model_dir",
                Mode::FirstLastFrame => "flf2v_model_dir",
            };
            let offered: Vec<_> = self.caps.modes.iter().map(|m| m.short()).collect();
            return Err(Error::invalid(vec![Problem::new(
                "mode",
                mode.short(),
                format!(
                    "a mode with weights here ({}); set {key} to offer {}",
                    offered.join(", "),
                    mode.short()
                ),
            )])
            .with_backend(NAME));
        };
        let task = model.task;
        let mut problems = Vec::new();

        let table = size_table(task);
        let aspect = req.effective_aspect(&[], AspectRatio::LANDSCAPE);
        let size = match table.pick(req.resolution, aspect, req.aspect_ratio.is_some()) {
            Ok(s) => s,
            Err(mut p) => {
                p.allowed = format!("for {task}: {}", p.allowed);
                problems.push(p);
                table.sizes()[0]
            }
        };
        // The generic checks run on the request with the size settled.
        let settled = GenerationRequest {
            resolution: Some(ResolutionSpec::Exact(size)),
            aspect_ratio: None,
            ..req.clone()
        };
        if let Err(e) = self.caps.resolve(&settled) {
            problems.extend(e.problems().iter().cloned());
        }
        // For an image, the size is an area and the frame takes the image's shape.
        let frame = match (mode, &req.image) {
            (Mode::ImageToVideo, Some(img)) => task.frame_size_for_image(size, img.resolution()),
            _ => size,
        };
        // Without any worker folder the capability check above has refused it already.
        if req.negative_prompt.is_some() && self.caps.negative_prompt && model.via == Via::Script {
            problems.push(Problem::new(
                "negative_prompt",
                "given",
                "none with generate.py, which always uses Wan's own negative prompt (a \
                 diffusers-format model folder, served by the worker, takes one)",
            ));
        }
        let fps = req.fps.unwrap_or(task.fps());
        if fps != task.fps() && self.caps.fps.allows(fps) {
            problems.push(Problem::new(
                "fps",
                fps,
                format!("{} ({task} writes {} fps)", task.fps(), task.fps()),
            ));
        }

        let extra = |key: &str| req.extra.get(key);
        let frames = match (extra("frame_num"), req.duration) {
            (Some(v), _) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) if task::is_4n_plus_1(n) && (MIN_FRAMES..=MAX_FRAMES).contains(&n) => n,
                _ => {
                    problems.push(Problem::new(
                        "extra.frame_num",
                        v,
                        format!("a 4n+1 frame count from {MIN_FRAMES} to {MAX_FRAMES}"),
                    ));
                    task.default_frames()
                }
            },
            (None, Some(d)) => {
                task::nearest_4n_plus_1(d.frames_at(fps)).clamp(MIN_FRAMES, MAX_FRAMES)
            }
            (None, None) => self.options.frame_num.unwrap_or(task.default_frames()),
        };
        let mut number = |key: &str, ok: &dyn Fn(f64) -> bool, allowed: &str| -> Option<f64> {
            let v = extra(key)?;
            match v.as_f64().filter(|x| ok(*x)) {
                Some(x) => Some(x),
                None => {
                    problems.push(Problem::new(format!("extra.{key}"), v, allowed));
                    None
                }
            }
        };
        let steps = number(
            "sample_steps",
            &|x| x.fract() == 0.0 && (1.0..=200.0).contains(&x),
            "a whole number of steps from 1 to 200",
        )
        .map(|x| x as u32)
        .or(self.options.sample_steps)
        .unwrap_or(task.sampling_defaults(size).steps);
        let shift =
            number("sample_shift", &|x| x > 0.0, "a positive number").or(self.options.sample_shift);
        let guide_scale = number("sample_guide_scale", &|x| x >= 0.0, "a number ≥ 0")
            .or(self.options.guide_scale);
        let solver = match extra("sample_solver") {
            None => None,
            Some(v) => match v.as_str() {
                Some(s @ ("unipc" | "dpm++")) => Some(s.to_owned()),
                _ => {
                    problems.push(Problem::new("extra.sample_solver", v, "unipc or dpm++"));
                    None
                }
            },
        };
        for key in req.extra.keys() {
            if !EXTRA_KEYS.contains(&key.as_str()) {
                problems.push(Problem::new(
                    format!("extra.{key}"),
                    &req.extra[key],
                    format!("no such option: wan takes {}", EXTRA_KEYS.join(", ")),
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Error::invalid(problems).with_backend(NAME));
        }
        let duration = VideoDuration::from_millis(frames * 1000 / fps);
        Ok(Prepared {
            resolved: Resolved {
                mode,
                duration,
                resolution: frame,
                fps,
                frames,
            },
            model,
            size,
            steps,
            shift,
            guide_scale,
            solver,
        })
    }

    /// How to fit the job on one GPU: configured, or read from free memory.
    fn memory_plan(&self, task: WanTask) -> Result<MemoryPlan> {
        if let (Some(offload), Some(t5_cpu)) = (self.options.offload_model, self.options.t5_cpu) {
            return Ok(MemoryPlan {
                offload,
                text_encoder_cpu: t5_cpu,
            });
        }
        let free = local::free_mib_now(&self.gpu)?;
        let needs = task.memory();
        let plan = needs.plan(free).ok_or_else(|| {
            Error::new(
                ErrorKind::Unavailable,
                format!(
                    "{task} needs about {} GiB free on one GPU even with offload and T5 on the CPU; \
                     the GPU has {:.1} GiB free (set offload_model and t5_cpu to override)",
                    needs.minimum_gib,
                    free as f64 / 1024.0
                ),
            )
        })?;
        Ok(MemoryPlan {
            offload: self.options.offload_model.unwrap_or(plan.offload),
            text_encoder_cpu: self.options.t5_cpu.unwrap_or(plan.text_encoder_cpu),
        })
    }

    /// The command a request would run, without running it: for `ttv validate --explain`
    /// style displays and for tests. Inputs are named as they would be in `job_dir`.
    pub fn command_for(&self, req: &GenerationRequest, job_dir: &Path) -> Result<CommandPreview> {
        let p = self.prepare(req)?;
        if p.model.via == Via::Worker {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "{} is a diffusers folder: it runs in the persistent worker, not a command line",
                    p.model.dir.display()
                ),
            )
            .with_backend(NAME));
        }
        let memory = if self.options.run.gpus_per_job() > 1 {
            MemoryPlan {
                offload: false,
                text_encoder_cpu: false,
            }
        } else {
            self.memory_plan(p.model.task)?
        };
        let job = self.job(req, &p, job_dir, memory, req.seed.unwrap_or(0));
        Ok(CommandPreview {
            commands: self
                .slots
                .slots()
                .iter()
                .map(|slot| command::build(&job, &self.launcher(), slot))
                .collect(),
        })
    }

    fn launcher(&self) -> Launcher {
        Launcher {
            python: self.options.run.python.clone(),
            torchrun: self.options.run.torchrun.clone(),
            repo: self.options.wan2_dir.clone(),
            gpus: self.options.run.gpus_per_job(),
            parallel: self.options.run.parallel_segments.max(1),
        }
    }

    fn job(
        &self,
        req: &GenerationRequest,
        p: &Prepared,
        dir: &Path,
        memory: MemoryPlan,
        seed: u64,
    ) -> WanJob {
        let image = |name: &str, input: &crate::media::image::ImageInput| {
            dir.join(format!("{name}.{}", local::input_image_extension(input)))
        };
        let (image_arg, first_last) = match (p.resolved.mode, &req.image, &req.last_frame) {
            (Mode::FirstLastFrame, Some(first), Some(last)) => (
                None,
                Some((image("first_frame", first), image("last_frame", last))),
            ),
            (Mode::ImageToVideo, Some(first), _) => (Some(image("image", first)), None),
            _ => (None, None),
        };
        let single = self.options.run.gpus_per_job() == 1;
        WanJob {
            task: p.model.task,
            ckpt_dir: p.model.dir.clone(),
            size: p.size,
            frames: p.resolved.frames,
            prompt: req.prompt.clone(),
            image: image_arg,
            first_last,
            steps: p.steps,
            shift: p.shift,
            guide_scale: p.guide_scale,
            solver: p.solver.clone(),
            seed,
            save_file: dir.join("output.mp4"),
            memory,
            convert_model_dtype: self
                .options
                .convert_model_dtype
                .unwrap_or(single && memory.offload),
        }
    }
}

impl Wan {
    /// Hands the job to the persistent worker, which loads the pipeline on first use and
    /// keeps it for the next segment.
    fn submit_to_worker(
        &self,
        id: String,
        dir: PathBuf,
        p: &Prepared,
        job: WanJob,
        negative_prompt: Option<&str>,
    ) -> Ticket {
        let load = LoadRequest {
            pipeline: match p.resolved.mode {
                Mode::ImageToVideo => WorkerPipeline::WanImageToVideo,
                _ => WorkerPipeline::Wan,
            },
            model: p.model.dir.display().to_string(),
            device: None,
            dtype: None,
            offload: job.memory.offload,
            upsampler: None,
        };
        let request = worker_request(&job, p.resolved.resolution, p.resolved.fps, negative_prompt);
        self.jobs.insert(
            self.pool
                .start_job(id.clone(), NAME, dir.clone(), load, request),
        );
        Ticket {
            backend: NAME.to_owned(),
            id,
            model: Some(job.task.name().to_owned()),
            data: json!({
                "task": job.task.name(),
                "via": "worker",
                "seed": job.seed,
                "job_dir": dir,
                "save_file": job.save_file,
                "frames": job.frames,
                "size": format!("{}*{}", job.size.width, job.size.height),
            }),
            submitted_at: chrono::Utc::now(),
        }
    }

    /// Stops the persistent worker, if one was started. Dropping the backend also stops it.
    pub async fn shutdown_worker(&self) {
        self.pool.shutdown().await;
    }
}

/// The worker request that runs `job` as `generate.py` would: its defaults for the task at
/// the nominal size (negative prompt, steps, shift, both experts' guidance on Wan2.2 A14B),
/// the solver as the matching diffusers scheduler, and the frame in the image's shape.
pub fn worker_request(
    job: &WanJob,
    frame: Resolution,
    fps: u32,
    negative_prompt: Option<&str>,
) -> WorkerRequest {
    let defaults = job.task.sampling_defaults(job.size);
    let mut request = WorkerRequest::new(
        job.prompt.clone(),
        frame,
        job.frames,
        job.steps,
        job.seed,
        fps,
        job.save_file.clone(),
    );
    request.negative_prompt = Some(
        negative_prompt
            .unwrap_or(task::DEFAULT_NEGATIVE_PROMPT)
            .to_owned(),
    );
    request.image = job.image.clone();
    request.image_fit = if job.task == WanTask::Ti2v5B {
        ImageFit::Cover
    } else {
        ImageFit::Resize
    };
    // One configured scale serves both experts, as generate.py's float flag does.
    request.guidance_scale = Some(job.guide_scale.unwrap_or(defaults.guide_scale));
    if let Some(low) = defaults.guide_scale_low_noise {
        request.pipeline_args.insert(
            "guidance_scale_2".to_owned(),
            json!(job.guide_scale.unwrap_or(low)),
        );
    }
    let class = match job.solver.as_deref() {
        Some("dpm++") => "DPMSolverMultistepScheduler",
        _ => "UniPCMultistepScheduler",
    };
    request.scheduler = Some(SchedulerSpec {
        class: class.to_owned(),
        overrides: [(
            "flow_shift".to_owned(),
            json!(job.shift.unwrap_or(defaults.shift)),
        )]
        .into_iter()
        .collect(),
    });
    request
}

/// The command lines a request would run, one per GPU slot.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandPreview {
    /// Slot 0's command first.
    pub commands: Vec<local::CommandSpec>,
}

const EXTRA_KEYS: &[&str] = &[
    "frame_num",
    "sample_steps",
    "sample_shift",
    "sample_guide_scale",
    "sample_solver",
];

fn divisors(n: u32) -> String {
    let d: Vec<_> = (2..=n)
        .filter(|d| n.is_multiple_of(*d))
        .map(|d| d.to_string())
        .collect();
    format!("1 or {}", d.join(", "))
}

fn size_table(task: WanTask) -> SizeTable {
    SizeTable {
        rows: task
            .sizes()
            .into_iter()
            .map(|r| {
                // ti2v-5B's 704-line sizes are its 720p.
                let tier = if r.short_side() >= 700 { 720 } else { 480 };
                (tier, r)
            })
            .collect(),
    }
}

fn capabilities(models: &[&Model]) -> Capabilities {
    let mut modes: Vec<Mode> = models
        .iter()
        .flat_map(|m| m.task.modes().iter().copied())
        .collect();
    modes.sort();
    modes.dedup();
    let mut sizes: Vec<Resolution> = Vec::new();
    let mut fps: Vec<u32> = Vec::new();
    for m in models {
        for s in m.task.sizes() {
            if !sizes.contains(&s) {
                sizes.push(s);
            }
        }
        if !fps.contains(&m.task.fps()) {
            fps.push(m.task.fps());
        }
    }
    let primary = models.first().map(|m| m.task).unwrap_or(WanTask::T2v14B);
    if sizes.is_empty() {
        sizes = primary.sizes();
    }
    if fps.is_empty() {
        fps.push(primary.fps());
    }
    let max_fps = fps.iter().copied().max().unwrap_or(16);
    let min_fps = fps.iter().copied().min().unwrap_or(16);
    Capabilities {
        modes,
        durations: DurationSupport::Range {
            min: VideoDuration::from_millis((MIN_FRAMES - 1) * 1000 / max_fps),
            max: VideoDuration::from_millis(MAX_FRAMES * 1000 / min_fps),
            step: VideoDuration::from_millis(1),
        },
        default_duration: VideoDuration::from_secs(5),
        resolutions: ResolutionSupport::OneOf(sizes.clone()),
        default_resolution: ResolutionSpec::Exact(sizes[0]),
        aspect_ratios: Vec::new(),
        fps: FpsSupport::OneOf(fps),
        default_fps: primary.fps(),
        max_prompt_chars: 2000,
        images: ImageLimits::default(),
        audio: false,
        seed: true,
        negative_prompt: false,
        price_summary: "free (local GPU)".to_owned(),
    }
}

/// Reads which Wan a checkout is from its task table.
fn detect_version(dir: &Path, problems: &mut Vec<String>) -> Option<WanVersion> {
    let not_a_checkout = |why: &str| {
        format!(
            "wan2_dir {} is not a Wan2.1 or Wan2.2 checkout ({why}); set wan2_dir to a clone of \
             github.com/Wan-Video/Wan2.1 or Wan2.2",
            dir.display()
        )
    };
    if !dir.is_dir() {
        problems.push(not_a_checkout("no such folder"));
        return None;
    }
    if !dir.join("generate.py").is_file() {
        problems.push(not_a_checkout("no generate.py"));
        return None;
    }
    let configs = std::fs::read_to_string(dir.join("wan/configs/__init__.py")).unwrap_or_default();
    if configs.contains("'t2v-A14B'") || configs.contains("\"t2v-A14B\"") {
        Some(WanVersion::V2_2)
    } else if configs.contains("'t2v-14B'") || configs.contains("\"t2v-14B\"") {
        Some(WanVersion::V2_1)
    } else {
        problems.push(not_a_checkout(
            "wan/configs/__init__.py lists no known task",
        ));
        None
    }
}

/// README folder names looked for inside the checkout, per mode.
fn conventional_dirs(version: WanVersion, mode: Mode) -> &'static [&'static str] {
    match (version, mode) {
        (WanVersion::V2_1, Mode::TextToVideo) => &["Wan2.1-T2V-14B", "Wan2.1-T2V-1.3B"],
        (WanVersion::V2_1, Mode::ImageToVideo) => &["Wan2.1-I2V-14B-720P", "Wan2.1-I2V-14B-480P"],
        (WanVersion::V2_1, Mode::FirstLastFrame) => &["Wan2.1-FLF2V-14B-720P"],
        (WanVersion::V2_2, Mode::TextToVideo) => &["Wan2.2-T2V-A14B", "Wan2.2-TI2V-5B"],
        (WanVersion::V2_2, Mode::ImageToVideo) => &["Wan2.2-I2V-A14B", "Wan2.2-TI2V-5B"],
        (WanVersion::V2_2, Mode::FirstLastFrame) => &[],
    }
}

fn default_task(version: WanVersion, mode: Mode) -> Option<WanTask> {
    match (version, mode) {
        (WanVersion::V2_1, Mode::TextToVideo) => Some(WanTask::T2v14B),
        (WanVersion::V2_1, Mode::ImageToVideo) => Some(WanTask::I2v14B),
        (WanVersion::V2_1, Mode::FirstLastFrame) => Some(WanTask::Flf2v14B),
        (WanVersion::V2_2, Mode::TextToVideo) => Some(WanTask::T2vA14B),
        (WanVersion::V2_2, Mode::ImageToVideo) => Some(WanTask::I2vA14B),
        (WanVersion::V2_2, Mode::FirstLastFrame) => None,
    }
}

/// The model for `mode`: the configured folder (whose problems are reported) or the first
/// README-named folder with weights inside the checkout (silently skipped when absent).
fn find_model(
    key: &str,
    configured: Option<&Path>,
    task: Option<WanTask>,
    mode: Mode,
    version: WanVersion,
    repo: &Path,
    problems: &mut Vec<String>,
) -> Option<Model> {
    let check = |dir: &Path, problems: &mut Vec<String>, loud: bool| -> Option<Model> {
        let named = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(WanTask::from_checkpoint_name);
        let Some(task) = task.or(named).or(default_task(version, mode)) else {
            if loud {
                problems.push(format!(
                    "{key} {}: {version} has no {} task",
                    dir.display(),
                    mode.short()
                ));
            }
            return None;
        };
        let mut report = |p: String| {
            if loud {
                problems.push(p);
            }
        };
        if task.version() != version {
            report(format!(
                "{key} {} holds {task} ({}) but wan2_dir is a {version} checkout",
                dir.display(),
                task.version()
            ));
            return None;
        }
        if !task.modes().contains(&mode) {
            report(format!(
                "{key} {} holds {task}, which does not do {}",
                dir.display(),
                mode.short()
            ));
            return None;
        }
        let via = if dir.join(WEIGHTS_MARKER).is_file() {
            Via::Script
        } else if dir.join(DIFFUSERS_MARKER).is_file() && mode != Mode::FirstLastFrame {
            Via::Worker
        } else {
            report(format!(
                "no Wan weights in {key} {} (neither {WEIGHTS_MARKER} for generate.py nor \
                 {DIFFUSERS_MARKER} for the diffusers worker); download the checkpoint there",
                dir.display()
            ));
            return None;
        };
        Some(Model {
            task,
            dir: dir.to_path_buf(),
            via,
        })
    };
    match configured {
        Some(dir) => check(dir, problems, true),
        None => conventional_dirs(version, mode)
            .iter()
            .map(|name| repo.join(name))
            .find_map(|dir| check(&dir, problems, false)),
    }
}

#[async_trait]
impl VideoBackend for Wan {
    fn id(&self) -> &'static str {
        NAME
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Local
    }

    fn model(&self) -> Option<&str> {
        self.t2v
            .as_ref()
            .or(self.i2v.as_ref())
            .or(self.flf2v.as_ref())
            .map(|m| m.task.name())
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn availability(&self) -> Availability {
        // With several GPUs per job (sharded) or offload configured, memory is the user's call.
        let smallest = [&self.t2v, &self.i2v, &self.flf2v]
            .into_iter()
            .flatten()
            .map(|m| (m.task.name(), m.task.memory().minimum_gib))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .filter(|_| {
                self.options.run.gpus_per_job() == 1 && self.options.offload_model.is_none()
            });
        local::availability(
            &self.static_problems,
            &self.gpu,
            self.options.run.total_gpus,
            smallest,
        )
    }

    fn validate(&self, req: &GenerationRequest) -> Result<Resolved> {
        self.prepare(req).map(|p| p.resolved)
    }

    fn estimate_cost(&self, req: &GenerationRequest) -> Result<CostEstimate> {
        let p = self.prepare(req)?;
        Ok(CostEstimate::free(format!(
            "local GPU: {} × {} steps, {} frames at {} on {} GPU(s)",
            p.model.task,
            p.steps,
            p.resolved.frames,
            p.size,
            self.options.run.gpus_per_job()
        )))
    }

    fn poll_interval(&self) -> Duration {
        self.options.run.poll_interval
    }

    async fn submit(&self, req: &GenerationRequest, _resolved: &Resolved) -> Result<Ticket> {
        if let Availability::Unavailable { reason } = self.availability() {
            return Err(Error::new(ErrorKind::Unavailable, reason).with_backend(NAME));
        }
        let p = self.prepare(req)?;
        let memory = if self.options.run.gpus_per_job() > 1 {
            MemoryPlan {
                offload: false,
                text_encoder_cpu: false,
            }
        } else {
            self.memory_plan(p.model.task)
                .map_err(|e| e.with_backend(NAME))?
        };
        let (id, dir) = job::create_job_dir(&self.options.run.work_dir, NAME)?;
        let seed = req
            .seed
            .or(self.options.base_seed)
            .unwrap_or_else(local::fresh_seed);
        let wan_job = self.job(req, &p, &dir, memory, seed);
        write_inputs(&wan_job, req).await?;
        if p.model.via == Via::Worker {
            let negative = req.negative_prompt.as_deref();
            return Ok(self.submit_to_worker(id, dir, &p, wan_job, negative));
        }

        let launcher = self.launcher();
        let for_command = wan_job.clone();
        let spec = JobSpec {
            id: id.clone(),
            backend: NAME,
            dir: dir.clone(),
            output: ExpectedOutput::File(wan_job.save_file.clone()),
            timeout: self.options.run.timeout,
            steps: vec![u64::from(wan_job.steps)],
            command: Box::new(move |slot| command::build(&for_command, &launcher, slot)),
        };
        self.jobs.insert(LocalJob::start(spec, self.slots.clone()));
        Ok(Ticket {
            backend: NAME.to_owned(),
            id,
            model: Some(wan_job.task.name().to_owned()),
            data: json!({
                "task": wan_job.task.name(),
                "seed": seed,
                "job_dir": dir,
                "save_file": wan_job.save_file,
                "frames": wan_job.frames,
                "steps": wan_job.steps,
                "size": format!("{}*{}", wan_job.size.width, wan_job.size.height),
            }),
            submitted_at: chrono::Utc::now(),
        })
    }

    async fn poll(&self, ticket: &Ticket) -> Result<Status> {
        Ok(self.jobs.poll(NAME, ticket).await)
    }

    async fn fetch(&self, output: &Output, into: &Path, events: EventSink<'_>) -> Result<u64> {
        job::copy_output(NAME, output, into, events).await
    }

    async fn cancel(&self, ticket: &Ticket) -> Result<()> {
        self.jobs.cancel(ticket);
        Ok(())
    }
}

/// Writes the request's images into the job folder under the names the command uses.
async fn write_inputs(job: &WanJob, req: &GenerationRequest) -> Result<()> {
    match (&job.image, &job.first_last, &req.image, &req.last_frame) {
        (Some(path), _, Some(img), _) => local::write_input_image(img, path).await,
        (_, Some((first, last)), Some(a), Some(b)) => {
            local::write_input_image(a, first).await?;
            local::write_input_image(b, last).await
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
