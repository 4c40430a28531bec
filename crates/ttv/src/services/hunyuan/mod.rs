//! `hunyuan` (alias `hunyuan_video`): Tencent HunyuanVideo on this machine's GPUs, through
//! the repositories' own scripts — `sample_video.py` (Tencent/HunyuanVideo) for
//! text-to-video and `sample_image2video.py` (Tencent/HunyuanVideo-I2V) for image-to-video.
//!
//! Sizes are the README's table (540p: 960x544, 544x960, 832x624, 624x832, 720x720; 720p:
//! 1280x720, 720x1280, 1104x832, 832x1104, 960x960), frame counts 4n+1 up to 129 at 24 fps.
//! `--use-cpu-offload` is chosen from free GPU memory unless configured; several GPUs run
//! through `torchrun` with xDiT's `--ulysses-degree` / `--ring-degree`.
//!
//! Differences from `providers/local-models.md`, checked against the repositories
//! (HunyuanVideo at fa14b00, HunyuanVideo-I2V at e44c1d9):
//! - `--save-path` is a folder, not a file: the script names the video
//!   `<time>_seed<seed>_<prompt>.mp4` itself, so ttv gives each job its own folder and takes
//!   the `.mp4` it finds there.
//! - The VAE and text encoders are found through the `MODEL_BASE` environment variable
//!   (default `./ckpts`), not `--model-base`; ttv sets both, and passes `--dit-weight`
//!   explicitly because its default is a path relative to the working folder.
//! - HunyuanVideo-I2V loads its transformer from `--i2v-dit-weight` in `--i2v-mode`, not from
//!   `--dit-weight`; its `--flow-shift` default is 17.0 and `--embedded-cfg-scale` has no
//!   default, so ttv always passes both: shift 7.0 with `--i2v-stability` and 17.0 without
//!   (the README: "7 with `--i2v-stability` for more stable video, 17 without for more
//!   dynamic video"). `--i2v-resolution` also takes `360p`. Multi-GPU I2V sets
//!   `ALLOW_RESIZE_FOR_SP=1`.
//! - The VAE is read from `<MODEL_BASE>/hunyuan-video-t2v-720p/vae` (I2V:
//!   `hunyuan-video-i2v-720p/vae`, `hyvideo/constants.py` `VAE_PATH`); the install check
//!   looks for it with the transformer and text encoders.
//! - Both scripts save `<save-path>/<%Y-%m-%d-%H:%M:%S>_seed<seed>_<prompt.strip()[:100]
//!   without "/">.mp4`, after the GPU work. A prompt whose first 100 characters take more
//!   than 216 bytes of UTF-8 (about 72 CJK characters) makes a name over the 255-byte limit,
//!   so such a prompt is refused before anything starts.
//! - With `--cfg-scale` above 1 and no `--neg-prompt`, the scripts use their
//!   `NEGATIVE_PROMPT` (`hyvideo/constants.py`); the worker is given the same text.
//! - `--neg-prompt` only takes effect with `--cfg-scale` above 1 (default 1.0), so this
//!   backend accepts a negative prompt only when `cfg_scale` is configured above 1.
//! - xDiT splits the latent height or width by the GPU count; a size that splits neither way
//!   is refused before anything starts. The Ulysses degree must divide the 24 heads, the
//!   rest goes to ring attention (5 GPUs: `--ulysses-degree 1 --ring-degree 5`).
//! - The scripts save at 24 fps regardless of settings.
//!
//! With `diffusers_model` set (a diffusers-format folder such as
//! `hunyuanvideo-community/HunyuanVideo`), text-to-video runs in the persistent worker
//! ([`crate::services::local::worker`]) instead: the pipeline loads once and serves every
//! segment, on one GPU. It honours what `sample_video.py` does: `embedded_cfg_scale` as
//! diffusers' `guidance_scale`, `cfg_scale` as `true_cfg_scale` with the negative prompt (the
//! scripts' default one when the request has none), `flow_shift` as the
//! `FlowMatchEulerDiscreteScheduler`'s `shift` (diffusers samples in the reversed direction,
//! so `flow_reverse: false` is refused there), `infer_steps`, `video_length`, the seed, and
//! `use_cpu_offload` as model CPU offload.

mod command;

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
use crate::services::local::worker::{LoadRequest, SchedulerSpec, WorkerPipeline, WorkerRequest};
use crate::services::local::{
    self, ExpectedOutput, GpuProbe, GpuSlots, JobSpec, JobTable, LocalJob, MemoryNeeds, SizeTable,
    job,
};

pub use command::{HunyuanJob, Launcher, Script, build as build_command, splits_across};

/// Canonical name.
pub const NAME: &str = "hunyuan";

/// Frames per second the scripts write.
pub const FPS: u32 = 24;

/// `NEGATIVE_PROMPT` of HunyuanVideo's `hyvideo/constants.py`: the scripts' negative prompt
/// when classifier-free guidance is on and none is given.
pub const DEFAULT_NEGATIVE_PROMPT: &str = "Aerial view, aerial view, overexposed, low quality, deformation, a poor composition, bad hands, bad teeth, bad eyes, bad limbs, distortion";

/// The longest file name (in bytes) the file systems the scripts write to allow.
const NAME_MAX: usize = 255;

const MIN_FRAMES: u32 = 17;
const MAX_FRAMES: u32 = 129;
const DEFAULT_FRAMES: u32 = 129;

/// Options from configuration (the `hunyuan_video` section; `total_gpus` and
/// `parallel_segments` are in [`LocalRun`]).
#[derive(Debug, Clone, PartialEq)]
pub struct HunyuanOptions {
    /// A Tencent/HunyuanVideo checkout (`sample_video.py`), for text-to-video.
    pub repo_dir: Option<PathBuf>,
    /// Its weights folder (`--model-base`); `<repo_dir>/ckpts` when absent.
    pub model_base: Option<PathBuf>,
    /// The transformer weights; `<model_base>/hunyuan-video-t2v-720p/transformers/
    /// mp_rank_00_model_states.pt` when absent.
    pub dit_weight: Option<PathBuf>,
    /// A Tencent/HunyuanVideo-I2V checkout (`sample_image2video.py`), for image-to-video.
    pub i2v_repo_dir: Option<PathBuf>,
    /// Its weights folder; `<i2v_repo_dir>/ckpts` when absent.
    pub i2v_model_base: Option<PathBuf>,
    /// The I2V transformer weights; `<i2v_model_base>/hunyuan-video-i2v-720p/transformers/
    /// mp_rank_00_model_states.pt` when absent.
    pub i2v_dit_weight: Option<PathBuf>,
    /// `--video-length` when the request gives no duration (4n+1).
    pub video_length: Option<u32>,
    /// `--infer-steps` (50).
    pub infer_steps: Option<u32>,
    /// `--flow-shift` (7.0).
    pub flow_shift: Option<f64>,
    /// `--embedded-cfg-scale` (6.0).
    pub embedded_cfg_scale: Option<f64>,
    /// `--cfg-scale`; above 1 turns on classifier-free guidance and the negative prompt.
    pub cfg_scale: Option<f64>,
    /// `--flow-reverse`; on unless turned off.
    pub flow_reverse: bool,
    /// `--i2v-stability`; on unless turned off.
    pub i2v_stability: bool,
    /// Force `--use-cpu-offload`; chosen from free GPU memory when absent.
    pub use_cpu_offload: Option<bool>,
    /// The seed when the request gives none.
    pub seed: Option<u64>,
    /// A diffusers-format HunyuanVideo folder (`hunyuanvideo-community/HunyuanVideo`): when
    /// set, text-to-video runs in the persistent worker, loaded once for many segments,
    /// instead of `sample_video.py` (it wins over `repo_dir`).
    pub diffusers_model: Option<PathBuf>,
    /// Programs, GPUs, job folders and deadlines.
    pub run: LocalRun,
}

impl Default for HunyuanOptions {
    fn default() -> Self {
        Self {
            repo_dir: None,
            model_base: None,
            dit_weight: None,
            i2v_repo_dir: None,
            i2v_model_base: None,
            i2v_dit_weight: None,
            video_length: None,
            infer_steps: None,
            flow_shift: None,
            embedded_cfg_scale: None,
            cfg_scale: None,
            flow_reverse: true,
            i2v_stability: true,
            use_cpu_offload: None,
            seed: None,
            diffusers_model: None,
            run: LocalRun::default(),
        }
    }
}

impl HunyuanOptions {
    /// The same options with every path absolute (against the current folder): the scripts
    /// run in their checkout, where a relative path would name something else.
    pub fn absolute(mut self) -> Self {
        for p in [
            &mut self.repo_dir,
            &mut self.model_base,
            &mut self.dit_weight,
            &mut self.i2v_repo_dir,
            &mut self.i2v_model_base,
            &mut self.i2v_dit_weight,
            &mut self.diffusers_model,
        ]
        .into_iter()
        .flatten()
        {
            *p = local::absolute(p);
        }
        self.run = self.run.absolute_in(Path::new(""));
        self
    }
}

/// A checkout with its weights.
#[derive(Debug, Clone, PartialEq)]
struct Install {
    repo: PathBuf,
    model_base: PathBuf,
    dit_weight: PathBuf,
    /// Served by the persistent worker (a diffusers folder) rather than the script.
    worker: bool,
}

/// The availability of a backend that has no options at all.
pub fn not_configured() -> Availability {
    Availability::Unavailable {
        reason: "set hunyuan_video.repo_dir to a Tencent/HunyuanVideo checkout (or \
                 i2v_repo_dir to a HunyuanVideo-I2V checkout) with its ckpts downloaded"
            .to_owned(),
    }
}

/// The HunyuanVideo backend.
pub struct Hunyuan {
    options: HunyuanOptions,
    t2v: Option<Install>,
    i2v: Option<Install>,
    static_problems: Vec<String>,
    caps: Capabilities,
    gpu: GpuProbe,
    slots: Arc<GpuSlots>,
    jobs: JobTable,
    pool: Arc<WorkerPool>,
}

impl std::fmt::Debug for Hunyuan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hunyuan")
            .field("t2v", &self.t2v)
            .field("i2v", &self.i2v)
            .finish_non_exhaustive()
    }
}

fn size_table() -> SizeTable {
    let r = Resolution::new;
    SizeTable {
        rows: vec![
            (720, r(1280, 720)),
            (720, r(720, 1280)),
            (720, r(1104, 832)),
            (720, r(832, 1104)),
            (720, r(960, 960)),
            (540, r(960, 544)),
            (540, r(544, 960)),
            (540, r(832, 624)),
            (540, r(624, 832)),
            (540, r(720, 720)),
        ],
    }
}

/// Nominal sizes for image-to-video, whose real size follows the image: the `--i2v-resolution`
/// tiers, with 360p added.
fn i2v_size_table() -> SizeTable {
    let mut t = size_table();
    let r = Resolution::new;
    t.rows
        .extend([(360, r(640, 360)), (360, r(360, 640)), (360, r(480, 480))]);
    t
}

impl Hunyuan {
    /// A backend for `options`, probing GPUs with `options.run.nvidia_smi` when first asked.
    pub fn new(options: HunyuanOptions) -> Self {
        let probe = options.run.gpu_probe();
        Self::with_gpu_probe(options, probe)
    }

    /// A backend whose GPU answers come from `gpu`. Relative paths in `options` are taken
    /// from the current folder.
    pub fn with_gpu_probe(options: HunyuanOptions, gpu: GpuProbe) -> Self {
        let options = options.absolute();
        let mut problems = Vec::new();
        let mut t2v = options.repo_dir.as_deref().and_then(|repo| {
            check_install(
                "repo_dir",
                repo,
                "sample_video.py",
                options.model_base.as_deref(),
                options.dit_weight.as_deref(),
                "hunyuan-video-t2v-720p",
                &["text_encoder", "text_encoder_2"],
                &mut problems,
            )
        });
        let i2v = options.i2v_repo_dir.as_deref().and_then(|repo| {
            check_install(
                "i2v_repo_dir",
                repo,
                "sample_image2video.py",
                options.i2v_model_base.as_deref(),
                options.i2v_dit_weight.as_deref(),
                "hunyuan-video-i2v-720p",
                &["text_encoder_i2v", "text_encoder_2"],
                &mut problems,
            )
        });
        if let Some(dir) = &options.diffusers_model {
            if !dir.join("model_index.json").is_file() {
                problems.push(format!(
                    "diffusers_model {} has no model_index.json; download a diffusers-format \
                     HunyuanVideo there (e.g. hunyuanvideo-community/HunyuanVideo)",
                    dir.display()
                ));
            } else if options.run.gpus_per_job() > 1 {
                problems.push(
                    "diffusers_model is served by the persistent worker on one GPU; set \
                     total_gpus to 1 (or parallel_segments to total_gpus)"
                        .to_owned(),
                );
            } else if !options.flow_reverse {
                problems.push(
                    "flow_reverse: false cannot be honoured by diffusers_model: diffusers' \
                     HunyuanVideo scheduler always samples in the reversed direction; remove \
                     flow_reverse or use repo_dir (sample_video.py)"
                        .to_owned(),
                );
            } else {
                t2v = Some(Install {
                    repo: dir.clone(),
                    model_base: dir.clone(),
                    dit_weight: dir.clone(),
                    worker: true,
                });
            }
        }
        if options.repo_dir.is_none()
            && options.i2v_repo_dir.is_none()
            && options.diffusers_model.is_none()
            && let Availability::Unavailable { reason } = not_configured()
        {
            problems.push(reason);
        }
        problems.extend(options.run.python_problem());
        if options.run.gpus_per_job() > 1
            && local::command::find_program(&options.run.torchrun).is_none()
        {
            problems.push(format!(
                "torchrun not found ({}): needed for total_gpus {}; install PyTorch or set local.torchrun",
                options.run.torchrun.display(),
                options.run.total_gpus
            ));
        }
        if let Some(n) = options.video_length
            && !(n >= 1 && (n - 1).is_multiple_of(4))
        {
            problems.push(format!("video_length {n} is not 4n+1"));
        }
        let mut modes = Vec::new();
        if t2v.is_some() {
            modes.push(Mode::TextToVideo);
        }
        if i2v.is_some() {
            modes.push(Mode::ImageToVideo);
        }
        let caps = Capabilities {
            modes,
            durations: DurationSupport::Range {
                min: VideoDuration::from_millis((MIN_FRAMES - 1) * 1000 / FPS),
                max: VideoDuration::from_millis(MAX_FRAMES * 1000 / FPS),
                step: VideoDuration::from_millis(1),
            },
            default_duration: VideoDuration::from_millis(DEFAULT_FRAMES * 1000 / FPS),
            resolutions: ResolutionSupport::OneOf(i2v_size_table().sizes()),
            default_resolution: ResolutionSpec::Exact(Resolution::new(1280, 720)),
            aspect_ratios: Vec::new(),
            fps: FpsSupport::OneOf(vec![FPS]),
            default_fps: FPS,
            max_prompt_chars: 2000,
            images: ImageLimits::default(),
            audio: false,
            seed: true,
            negative_prompt: options.cfg_scale.is_some_and(|c| c > 1.0),
            price_summary: "free (local GPU)".to_owned(),
        };
        let pool = Arc::new(options.run.worker_pool("hunyuan-worker"));
        Self {
            pool,
            slots: Arc::new(options.run.slots()),
            options,
            t2v,
            i2v,
            static_problems: problems,
            caps,
            gpu,
            jobs: JobTable::default(),
        }
    }

    fn prepare(&self, req: &GenerationRequest, dir: &Path, seed: u64) -> Result<HunyuanJob> {
        let mode = req.mode();
        let install = match mode {
            Mode::TextToVideo => self.t2v.as_ref(),
            Mode::ImageToVideo => self.i2v.as_ref(),
            Mode::FirstLastFrame => None,
        };
        let Some(install) = install else {
            let hint = match mode {
                Mode::TextToVideo => "; set repo_dir to a HunyuanVideo checkout for t2v",
                Mode::ImageToVideo => "; set i2v_repo_dir to a HunyuanVideo-I2V checkout for i2v",
                Mode::FirstLastFrame => "; HunyuanVideo has no first+last-frame mode",
            };
            let offered: Vec<_> = self.caps.modes.iter().map(|m| m.short()).collect();
            return Err(Error::invalid(vec![Problem::new(
                "mode",
                mode.short(),
                format!("a mode with weights here ({}){hint}", offered.join(", ")),
            )])
            .with_backend(NAME));
        };
        let mut problems = Vec::new();
        let table = if mode == Mode::ImageToVideo {
            i2v_size_table()
        } else {
            size_table()
        };
        let aspect = req.effective_aspect(&[], AspectRatio::LANDSCAPE);
        let size = match table.pick(req.resolution, aspect, req.aspect_ratio.is_some()) {
            Ok(s) => s,
            Err(p) => {
                problems.push(p);
                table.sizes()[0]
            }
        };
        let gpus = self.options.run.gpus_per_job();
        if mode == Mode::TextToVideo && !splits_across(size, gpus) {
            let ok: Vec<_> = table
                .sizes()
                .into_iter()
                .filter(|s| splits_across(*s, gpus))
                .map(|s| s.to_string())
                .collect();
            problems.push(Problem::new(
                "resolution",
                size,
                format!(
                    "a size xDiT can split across {gpus} GPUs: {}",
                    if ok.is_empty() {
                        "none; change total_gpus".to_owned()
                    } else {
                        ok.join(", ")
                    }
                ),
            ));
        }
        let settled = GenerationRequest {
            resolution: Some(ResolutionSpec::Exact(size)),
            aspect_ratio: None,
            ..req.clone()
        };
        if let Err(e) = self.caps.resolve(&settled) {
            problems.extend(e.problems().iter().cloned());
        }
        let frames = match (req.extra.get("video_length"), req.duration) {
            (Some(v), _) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) if (MIN_FRAMES..=MAX_FRAMES).contains(&n) && (n - 1).is_multiple_of(4) => n,
                _ => {
                    problems.push(Problem::new(
                        "extra.video_length",
                        v,
                        format!("a 4n+1 frame count from {MIN_FRAMES} to {MAX_FRAMES}"),
                    ));
                    DEFAULT_FRAMES
                }
            },
            (None, Some(d)) => {
                let n = d.frames_at(FPS);
                (4 * ((n.saturating_sub(1) + 2) / 4) + 1).clamp(MIN_FRAMES, MAX_FRAMES)
            }
            (None, None) => self.options.video_length.unwrap_or(DEFAULT_FRAMES),
        };
        let steps = match req.extra.get("infer_steps") {
            None => self.options.infer_steps.unwrap_or(50),
            Some(v) => match v.as_u64().filter(|n| (1..=200).contains(n)) {
                Some(n) => n as u32,
                None => {
                    problems.push(Problem::new(
                        "extra.infer_steps",
                        v,
                        "a whole number of steps from 1 to 200",
                    ));
                    50
                }
            },
        };
        for key in req.extra.keys() {
            if !["video_length", "infer_steps"].contains(&key.as_str()) {
                problems.push(Problem::new(
                    format!("extra.{key}"),
                    &req.extra[key],
                    "no such option: hunyuan takes video_length, infer_steps",
                ));
            }
        }
        if !install.worker
            && let Some(p) = file_name_problem(&req.prompt)
        {
            problems.push(p);
        }
        if !problems.is_empty() {
            return Err(Error::invalid(problems).with_backend(NAME));
        }
        let script = match (mode, &req.image) {
            (Mode::ImageToVideo, Some(img)) => Script::ImageToVideo {
                dit_weight: install.dit_weight.clone(),
                image: dir.join(format!("image.{}", local::input_image_extension(img))),
                tier: table
                    .rows
                    .iter()
                    .find(|(_, r)| *r == size)
                    .map(|(t, _)| *t)
                    .unwrap_or(720),
                stability: self.options.i2v_stability,
            },
            _ => Script::TextToVideo {
                dit_weight: install.dit_weight.clone(),
            },
        };
        Ok(HunyuanJob {
            script,
            repo: install.repo.clone(),
            model_base: install.model_base.clone(),
            size,
            frames,
            steps,
            prompt: req.prompt.clone(),
            negative_prompt: req.negative_prompt.clone(),
            cfg_scale: self.options.cfg_scale,
            embedded_cfg_scale: self.options.embedded_cfg_scale.unwrap_or(6.0),
            flow_shift: self.options.flow_shift.unwrap_or(match mode {
                Mode::ImageToVideo if !self.options.i2v_stability => 17.0,
                _ => 7.0,
            }),
            flow_reverse: self.options.flow_reverse,
            seed,
            save_dir: dir.join("out"),
            cpu_offload: false,
        })
    }

    fn resolved(job: &HunyuanJob, mode: Mode) -> Resolved {
        Resolved {
            mode,
            duration: VideoDuration::from_millis(job.frames * 1000 / FPS),
            resolution: job.size,
            fps: FPS,
            frames: job.frames,
        }
    }

    /// Whether to pass `--use-cpu-offload`: configured, or read from free memory against the
    /// README's minimum (60 GB at 720p, 45 GB at 540p).
    fn cpu_offload(&self, job: &HunyuanJob) -> Result<bool> {
        if let Some(forced) = self.options.use_cpu_offload {
            return Ok(forced);
        }
        let free = local::free_mib_now(&self.gpu)?;
        let needs = memory(job.size);
        let plan = needs.plan(free).ok_or_else(|| {
            Error::new(
                ErrorKind::Unavailable,
                format!(
                    "HunyuanVideo needs about {} GiB free on one GPU even with CPU offload; the \
                     GPU has {:.1} GiB free (set use_cpu_offload to override)",
                    needs.minimum_gib,
                    free as f64 / 1024.0
                ),
            )
        })?;
        Ok(plan.offload)
    }

    fn launcher(&self) -> Launcher {
        Launcher {
            python: self.options.run.python.clone(),
            torchrun: self.options.run.torchrun.clone(),
            gpus: self.options.run.gpus_per_job(),
            parallel: self.options.run.parallel_segments.max(1),
        }
    }

    /// The commands a request would run (one per GPU slot), without running them.
    pub fn command_for(
        &self,
        req: &GenerationRequest,
        job_dir: &Path,
    ) -> Result<Vec<local::CommandSpec>> {
        if req.mode() == Mode::TextToVideo && self.t2v.as_ref().is_some_and(|i| i.worker) {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "text-to-video runs in the persistent worker (diffusers_model), not a command line",
            )
            .with_backend(NAME));
        }
        let mut job = self.prepare(req, job_dir, req.seed.unwrap_or(0))?;
        if self.options.run.gpus_per_job() == 1 {
            job.cpu_offload = self.cpu_offload(&job)?;
        }
        Ok(self
            .slots
            .slots()
            .iter()
            .map(|slot| command::build(&job, &self.launcher(), slot))
            .collect())
    }
}

impl Hunyuan {
    /// Hands a text-to-video job to the persistent worker (diffusers `HunyuanVideoPipeline`,
    /// loaded once), with every setting `sample_video.py` would use (see [`worker_request`]).
    fn submit_to_worker(&self, id: String, dir: PathBuf, job: HunyuanJob) -> Ticket {
        let load = LoadRequest {
            pipeline: WorkerPipeline::Hunyuan,
            model: job.model_base.display().to_string(),
            device: None,
            dtype: None,
            offload: job.cpu_offload,
            upsampler: None,
        };
        let request = worker_request(&job);
        self.jobs.insert(
            self.pool
                .start_job(id.clone(), NAME, dir.clone(), load, request),
        );
        Ticket {
            backend: NAME.to_owned(),
            id,
            model: Some("HunyuanVideo (diffusers)".to_owned()),
            data: json!({
                "via": "worker",
                "seed": job.seed,
                "job_dir": dir,
                "save_dir": job.save_dir,
                "frames": job.frames,
                "size": job.size.to_string(),
            }),
            submitted_at: chrono::Utc::now(),
        }
    }

    /// Stops the persistent worker, if one was started. Dropping the backend also stops it.
    pub async fn shutdown_worker(&self) {
        self.pool.shutdown().await;
    }
}

/// The worker request for `job`: `embedded_cfg_scale` is diffusers' `guidance_scale`,
/// `cfg_scale` its `true_cfg_scale` (with the scripts' default negative prompt when the
/// request has none), `flow_shift` the scheduler's `shift`.
pub fn worker_request(job: &HunyuanJob) -> WorkerRequest {
    let mut request = WorkerRequest::new(
        job.prompt.clone(),
        job.size,
        job.frames,
        job.steps,
        job.seed,
        FPS,
        job.save_dir.join("output.mp4"),
    );
    request.guidance_scale = Some(job.embedded_cfg_scale);
    if let Some(cfg) = job.cfg_scale.filter(|c| *c > 1.0) {
        request
            .pipeline_args
            .insert("true_cfg_scale".to_owned(), json!(cfg));
        request.negative_prompt = Some(
            job.negative_prompt
                .clone()
                .unwrap_or_else(|| DEFAULT_NEGATIVE_PROMPT.to_owned()),
        );
    }
    request.scheduler = Some(SchedulerSpec {
        class: "FlowMatchEulerDiscreteScheduler".to_owned(),
        overrides: [("shift".to_owned(), json!(job.flow_shift))]
            .into_iter()
            .collect(),
    });
    request
}

/// Why the scripts could not save a video for `prompt`, if they could not: they name the
/// file `<date-time>_seed<seed>_<first 100 characters>.mp4`, which must fit in a file name.
fn file_name_problem(prompt: &str) -> Option<Problem> {
    let head: String = prompt
        .trim()
        .chars()
        .take(100)
        .filter(|c| *c != '/')
        .collect();
    // "2025-01-01-00:00:00" + "_seed" + up to 10 digits + "_" + head + ".mp4"
    let fixed = 19 + 5 + 10 + 1 + 4;
    let room = NAME_MAX - fixed;
    (head.len() > room).then(|| {
        Problem::new(
            "prompt",
            format!("{} bytes in its first 100 characters", head.len()),
            format!(
                "at most {room} bytes of UTF-8 in the first 100 characters (about {} CJK \
                 characters or {} emoji): HunyuanVideo's script names its output file from them \
                 and a file name holds {NAME_MAX} bytes; shorten the prompt's opening, or use \
                 hunyuan_video.diffusers_model (the worker names its own file)",
                room / 3,
                room / 4
            ),
        )
    })
}

/// GPU memory for one HunyuanVideo job: resident sizes from the README (60 GB for
/// 720x1280x129f, 45 GB for 544x960x129f); the offloaded minimum is an estimate.
fn memory(size: Resolution) -> MemoryNeeds {
    let resident = if size.pixels() > 720 * 720 {
        60.0
    } else {
        45.0
    };
    MemoryNeeds {
        resident_gib: resident,
        offload_gib: 24.0,
        minimum_gib: 24.0,
    }
}

#[allow(clippy::too_many_arguments)]
fn check_install(
    key: &str,
    repo: &Path,
    script: &str,
    model_base: Option<&Path>,
    dit_weight: Option<&Path>,
    transformer_folder: &str,
    encoders: &[&str],
    problems: &mut Vec<String>,
) -> Option<Install> {
    if !repo.join(script).is_file() {
        problems.push(format!(
            "{key} {} has no {script}; set it to a checkout of {}",
            repo.display(),
            if script == "sample_video.py" {
                "github.com/Tencent/HunyuanVideo"
            } else {
                "github.com/Tencent/HunyuanVideo-I2V"
            }
        ));
        return None;
    }
    let model_base = model_base
        .map(Path::to_path_buf)
        .unwrap_or_else(|| repo.join("ckpts"));
    let dit_weight = dit_weight.map(Path::to_path_buf).unwrap_or_else(|| {
        model_base
            .join(transformer_folder)
            .join("transformers/mp_rank_00_model_states.pt")
    });
    let mut missing: Vec<String> = Vec::new();
    if !dit_weight.exists() {
        missing.push(dit_weight.display().to_string());
    }
    let vae = model_base.join(transformer_folder).join("vae");
    if !vae.is_dir() {
        missing.push(vae.display().to_string());
    }
    for e in encoders {
        let p = model_base.join(e);
        if !p.is_dir() {
            missing.push(p.display().to_string());
        }
    }
    if !missing.is_empty() {
        problems.push(format!(
            "HunyuanVideo weights missing for {key}: {} (see ckpts/README.md in the repository \
             for the downloads)",
            missing.join(", ")
        ));
        return None;
    }
    Some(Install {
        repo: repo.to_path_buf(),
        model_base,
        dit_weight,
        worker: false,
    })
}

#[async_trait]
impl VideoBackend for Hunyuan {
    fn id(&self) -> &'static str {
        NAME
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Local
    }

    fn model(&self) -> Option<&str> {
        match (&self.t2v, &self.i2v) {
            (Some(_), _) => Some("HunyuanVideo"),
            (None, Some(_)) => Some("HunyuanVideo-I2V"),
            _ => None,
        }
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn availability(&self) -> Availability {
        // Several GPUs per job shard the model; forced offload is the user's call.
        let smallest = (self.options.run.gpus_per_job() == 1
            && self.options.use_cpu_offload.is_none())
        .then(|| {
            (
                "HunyuanVideo",
                memory(Resolution::new(960, 544)).minimum_gib,
            )
        });
        local::availability(
            &self.static_problems,
            &self.gpu,
            self.options.run.total_gpus,
            smallest,
        )
    }

    fn validate(&self, req: &GenerationRequest) -> Result<Resolved> {
        let job = self.prepare(req, Path::new("."), 0)?;
        Ok(Self::resolved(&job, req.mode()))
    }

    fn estimate_cost(&self, req: &GenerationRequest) -> Result<CostEstimate> {
        let job = self.prepare(req, Path::new("."), 0)?;
        Ok(CostEstimate::free(format!(
            "local GPU: HunyuanVideo × {} steps, {} frames at {} on {} GPU(s)",
            job.steps,
            job.frames,
            job.size,
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
        let seed = req
            .seed
            .or(self.options.seed)
            .unwrap_or_else(local::fresh_seed);
        // Validate before creating anything on disk.
        let mut hy_job = self.prepare(req, Path::new("."), seed)?;
        if self.options.run.gpus_per_job() == 1 {
            hy_job.cpu_offload = self
                .cpu_offload(&hy_job)
                .map_err(|e| e.with_backend(NAME))?;
        }
        let (id, dir) = job::create_job_dir(&self.options.run.work_dir, NAME)?;
        let offload = hy_job.cpu_offload;
        hy_job = self.prepare(req, &dir, seed)?;
        hy_job.cpu_offload = offload;
        std::fs::create_dir_all(&hy_job.save_dir).map_err(|e| {
            Error::io(
                format_args!("cannot create {}", hy_job.save_dir.display()),
                e,
            )
        })?;
        if let (Script::ImageToVideo { image, .. }, Some(img)) = (&hy_job.script, &req.image) {
            local::write_input_image(img, image).await?;
        }
        if self.t2v.as_ref().is_some_and(|i| i.worker) && req.mode() == Mode::TextToVideo {
            return Ok(self.submit_to_worker(id, dir, hy_job));
        }
        let launcher = self.launcher();
        let for_command = hy_job.clone();
        let spec = JobSpec {
            id: id.clone(),
            backend: NAME,
            dir: dir.clone(),
            output: ExpectedOutput::Mp4In(hy_job.save_dir.clone()),
            timeout: self.options.run.timeout,
            steps: vec![u64::from(hy_job.steps)],
            command: Box::new(move |slot| command::build(&for_command, &launcher, slot)),
        };
        self.jobs.insert(LocalJob::start(spec, self.slots.clone()));
        Ok(Ticket {
            backend: NAME.to_owned(),
            id,
            model: self.model().map(str::to_owned),
            data: json!({
                "seed": seed,
                "job_dir": dir,
                "save_dir": hy_job.save_dir,
                "frames": hy_job.frames,
                "steps": hy_job.steps,
                "size": hy_job.size.to_string(),
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

#[cfg(test)]
mod tests;
