//! `ltx` (aliases `ltx_video`, `ltxv`, `ltx-video`): Lightricks LTX-Video on this machine's
//! GPU, through the repository's own `inference.py`, or through the persistent worker with
//! diffusers' `LTXConditionPipeline` for a diffusers-format model folder.
//!
//! Facts, and where they come from:
//! - Lightricks/LTX-Video at 5260738: `inference.py` parses `InferenceConfig`
//!   (`ltx_video/inference.py`) with `HfArgumentParser`: `--prompt`, `--negative_prompt`
//!   (default "worst quality, inconsistent motion, blurry, jittery, distorted"), `--height`
//!   (704), `--width` (1216), `--num_frames` (121), `--frame_rate` (30), `--seed` (171198),
//!   `--pipeline_config` (its default names a 0.9.7 config the repository no longer has, so
//!   ttv always passes one), `--output_path` (a folder; the file is named
//!   `video_output_0_<words>_<seed>_<H>x<W>x<N>_<i>.mp4`), `--offload_to_cpu` (offloads only
//!   on GPUs under 30 GB), `--image_cond_noise_scale` (0.15), `--conditioning_media_paths`,
//!   `--conditioning_strengths`, `--conditioning_start_frames` (image-to-video is an image at
//!   frame 0; first + last frame adds one at the last frame). Sizes are padded up to
//!   multiples of 32 and frame counts to 8n+1, then cropped back; ttv offers only such sizes
//!   and counts, so nothing is padded. The README: "works best on resolutions under
//!   720 x 1280 and number of frames below 257"; the default since 0.9.6 is 1216x704 at 30
//!   fps. The script is single-GPU (no launcher, no sequence parallelism).
//! - `configs/*.yaml` (see [`pipeline`]): dev and distilled variants, `base` or `multi-scale`
//!   pipelines (a first pass at 2/3 of the size, the spatial latent upscaler, a refining
//!   pass). The weights named there are downloaded from the hub at run time unless they are
//!   local files, so ttv requires them in `models_dir` and hands the script a copy of the
//!   config with their absolute paths. Prompts under `prompt_enhancement_words_threshold`
//!   words (120) would be rewritten by Florence-2 and Llama-3.2 models; ttv turns that off
//!   unless `enhance_prompt` is set, so the prompt is used as written.
//! - huggingface/diffusers at 58eb52c (`pipelines/ltx/pipeline_ltx_condition.py`,
//!   `pipeline_ltx_latent_upsample.py`, `docs/source/en/api/pipelines/ltx_video.md`):
//!   `LTXConditionPipeline` takes `conditions` (an image at a `frame_index`), `frame_rate`,
//!   `decode_timestep` (0.05) and `decode_noise_scale` (0.025) for the timestep-aware VAE,
//!   `image_cond_noise_scale`; distilled models want `guidance_scale` 1.0 and the timesteps
//!   `[1000, 993, 987, 981, 975, 909, 725, 0.03]`, with `[1000, 909, 725, 421, 0]` at
//!   `denoise_strength` 0.999 for the refining pass (0.9.8: `tone_map_compression_ratio`
//!   0.6); dev models refine with 10 steps at `denoise_strength` 0.4.
//!
//! The same request means the same on both paths: size, frames, frame rate, seed, negative
//! prompt (the script's default when none), images and `image_cond_noise_scale`. Steps and
//! guidance come from the pipeline config for `inference.py`; for the worker they are the
//! variant's defaults above unless `num_inference_steps` / `guidance_scale` are set (which
//! only the worker takes).

mod command;
pub mod pipeline;

use std::collections::BTreeMap;
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
use crate::services::local::pool::WorkerPool;
use crate::services::local::worker::{
    ImageFit, LoadRequest, RefinePass, WorkerPipeline, WorkerRequest,
};
use crate::services::local::{
    self, ExpectedOutput, GpuProbe, GpuSlots, JobSpec, JobTable, LocalJob, LocalRun, MemoryNeeds,
    SizeTable, job,
};

pub use command::{LtxJob, build as build_command};
use pipeline::PipelineConfig;

/// Canonical name.
pub const NAME: &str = "ltx";

/// `InferenceConfig.negative_prompt`'s default (also diffusers' documented one).
pub const DEFAULT_NEGATIVE_PROMPT: &str =
    "worst quality, inconsistent motion, blurry, jittery, distorted";

/// The pipeline config used when none is configured (the README's examples).
pub const DEFAULT_PIPELINE_CONFIG: &str = "ltxv-13b-0.9.8-distilled.yaml";

/// Frame rates offered; `frame_rate` is also an input of the model.
const FPS: [u32; 3] = [24, 25, 30];
const DEFAULT_FPS: u32 = 30;
/// 8n+1 frames from 9 to 257 (the README: best below 257).
const MIN_FRAMES: u32 = 9;
const MAX_FRAMES: u32 = 257;
const DEFAULT_FRAMES: u32 = 121;
/// Sides are multiples of 32, from 256 to 1280 with the short side at most 768.
const SIDE_MULTIPLE: u32 = 32;
const MIN_SIDE: u32 = 256;

/// The distilled models' timesteps (diffusers' LTX documentation).
const DISTILLED_TIMESTEPS: [f64; 8] = [1000.0, 993.0, 987.0, 981.0, 975.0, 909.0, 725.0, 0.03];
const DISTILLED_REFINE_TIMESTEPS: [f64; 5] = [1000.0, 909.0, 725.0, 421.0, 0.0];
/// `downscale_factor` of the multi-scale configs.
const DOWNSCALE: f64 = 0.6666666;

/// Which LTX-Video weights: guidance- and timestep-distilled, or the full model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// `dev`: classifier-free guidance, tens of steps.
    Dev,
    /// `distilled`: guidance 1, eight steps.
    Distilled,
}

impl std::str::FromStr for Variant {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dev" => Ok(Self::Dev),
            "distilled" => Ok(Self::Distilled),
            _ => Err("dev or distilled".to_owned()),
        }
    }
}

/// Options from configuration (the `ltx_video` section; `total_gpus` and
/// `parallel_segments` are in [`LocalRun`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LtxOptions {
    /// A Lightricks/LTX-Video checkout (`inference.py`, `configs/`).
    pub repo_dir: Option<PathBuf>,
    /// A config file name in `<repo_dir>/configs/`, or a path to one.
    pub pipeline_config: PathBuf,
    /// Where the weights the config names are; `repo_dir` when absent (where the script
    /// itself would look).
    pub models_dir: Option<PathBuf>,
    /// A local T5 text encoder folder (`text_encoder/`, `tokenizer/`).
    pub text_encoder: Option<PathBuf>,
    /// Frames when the request gives no duration (8n+1).
    pub num_frames: Option<u32>,
    /// Frames per second when the request gives none.
    pub frame_rate: Option<u32>,
    /// The seed when the request gives none.
    pub seed: Option<u64>,
    /// Force `--offload_to_cpu` (or the worker's model offload); from free memory when absent.
    pub offload_to_cpu: Option<bool>,
    /// Let the script's prompt enhancer rewrite short prompts.
    pub enhance_prompt: bool,
    /// `image_cond_noise_scale`; 0.15 when absent.
    pub image_cond_noise_scale: Option<f64>,
    /// A diffusers-format LTX-Video 0.9.5+ folder: served by the worker, winning over
    /// `repo_dir`.
    pub diffusers_model: Option<PathBuf>,
    /// A diffusers-format latent upsampler: the worker renders multi-scale.
    pub diffusers_upsampler: Option<PathBuf>,
    /// The worker's variant; from the folder name when absent.
    pub variant: Option<Variant>,
    /// Worker only: first-pass steps.
    pub num_inference_steps: Option<u32>,
    /// Worker only: guidance scale.
    pub guidance_scale: Option<f64>,
    /// Programs, GPUs, job folders and deadlines.
    pub run: LocalRun,
}

impl Default for LtxOptions {
    fn default() -> Self {
        Self {
            repo_dir: None,
            pipeline_config: PathBuf::from(DEFAULT_PIPELINE_CONFIG),
            models_dir: None,
            text_encoder: None,
            num_frames: None,
            frame_rate: None,
            seed: None,
            offload_to_cpu: None,
            enhance_prompt: false,
            image_cond_noise_scale: None,
            diffusers_model: None,
            diffusers_upsampler: None,
            variant: None,
            num_inference_steps: None,
            guidance_scale: None,
            run: LocalRun::default(),
        }
    }
}

impl LtxOptions {
    /// The same options with every path absolute (against the current folder); a bare
    /// pipeline config name stays a name in the checkout's `configs/`.
    pub fn absolute(mut self) -> Self {
        for p in [
            &mut self.repo_dir,
            &mut self.models_dir,
            &mut self.text_encoder,
            &mut self.diffusers_model,
            &mut self.diffusers_upsampler,
        ]
        .into_iter()
        .flatten()
        {
            *p = local::absolute(p);
        }
        if self.pipeline_config.components().count() > 1 {
            self.pipeline_config = local::absolute(&self.pipeline_config);
        }
        self.run = self.run.absolute_in(Path::new(""));
        self
    }
}

/// The availability of a backend that has no options at all.
pub fn not_configured() -> Availability {
    Availability::Unavailable {
        reason: "set ltx_video.repo_dir to a Lightricks/LTX-Video checkout with the weights its \
                 pipeline config names (or ltx_video.diffusers_model to a diffusers-format model)"
            .to_owned(),
    }
}

/// A checkout with a pipeline config whose weights are in `models_dir`.
#[derive(Debug, Clone)]
struct Checkout {
    repo: PathBuf,
    config: PipelineConfig,
    models_dir: PathBuf,
}

/// How the model runs here.
#[derive(Debug, Clone)]
enum Install {
    /// `inference.py`.
    Script(Checkout),
    /// The persistent worker with a diffusers folder.
    Worker {
        model: PathBuf,
        upsampler: Option<PathBuf>,
        variant: Variant,
    },
}

/// The LTX-Video backend.
pub struct Ltx {
    options: LtxOptions,
    install: Option<Install>,
    static_problems: Vec<String>,
    caps: Capabilities,
    gpu: GpuProbe,
    slots: Arc<GpuSlots>,
    jobs: JobTable,
    pool: Arc<WorkerPool>,
}

impl std::fmt::Debug for Ltx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ltx")
            .field("install", &self.install)
            .finish_non_exhaustive()
    }
}

/// Everything decided for one request.
#[derive(Debug, Clone)]
struct Prepared {
    resolved: Resolved,
    negative_prompt: Option<String>,
}

fn size_table() -> SizeTable {
    let r = Resolution::new;
    SizeTable {
        rows: vec![
            (720, r(1216, 704)),
            (720, r(704, 1216)),
            (720, r(1024, 768)),
            (720, r(768, 1024)),
            (720, r(768, 768)),
            (480, r(768, 512)),
            (480, r(512, 768)),
            (480, r(832, 480)),
            (480, r(480, 832)),
            (480, r(640, 640)),
        ],
    }
}

fn size_support() -> ResolutionSupport {
    ResolutionSupport::Bounded {
        max: Resolution::new(1280, 768),
        min_side: MIN_SIDE,
        multiple_of: SIDE_MULTIPLE,
    }
}

impl Ltx {
    /// A backend for `options`, probing GPUs with `options.run.nvidia_smi` when first asked.
    pub fn new(options: LtxOptions) -> Self {
        let probe = options.run.gpu_probe();
        Self::with_gpu_probe(options, probe)
    }

    /// A backend whose GPU answers come from `gpu`. Relative paths in `options` are taken
    /// from the current folder.
    pub fn with_gpu_probe(options: LtxOptions, gpu: GpuProbe) -> Self {
        let options = options.absolute();
        let mut problems = Vec::new();
        let install = match (&options.diffusers_model, &options.repo_dir) {
            (Some(model), _) => worker_install(&options, model, &mut problems),
            (None, Some(repo)) => script_install(&options, repo, &mut problems),
            (None, None) => {
                if let Availability::Unavailable { reason } = not_configured() {
                    problems.push(reason);
                }
                None
            }
        };
        problems.extend(options.run.python_problem());
        if options.run.gpus_per_job() > 1 {
            problems.push(format!(
                "LTX-Video runs on one GPU per job; with total_gpus {} set parallel_segments to \
                 {} so each job gets its own",
                options.run.total_gpus, options.run.total_gpus
            ));
        }
        if let Some(n) = options.num_frames
            && !is_8n_plus_1(n)
        {
            problems.push(format!(
                "ltx_video.num_frames {n} is not 8n+1; use {}",
                nearest_8n_plus_1(n)
            ));
        }
        let conditions_anywhere = match &install {
            Some(Install::Script(c)) => c.config.conditions_anywhere(),
            _ => true,
        };
        let mut modes = vec![Mode::TextToVideo, Mode::ImageToVideo];
        if conditions_anywhere {
            modes.push(Mode::FirstLastFrame);
        }
        let caps = Capabilities {
            modes,
            durations: DurationSupport::Range {
                min: VideoDuration::from_millis((MIN_FRAMES - 1) * 1000 / DEFAULT_FPS),
                max: VideoDuration::from_millis(MAX_FRAMES * 1000 / FPS[0]),
                step: VideoDuration::from_millis(1),
            },
            default_duration: VideoDuration::from_millis(DEFAULT_FRAMES * 1000 / DEFAULT_FPS),
            resolutions: size_support(),
            default_resolution: ResolutionSpec::Exact(Resolution::new(1216, 704)),
            aspect_ratios: Vec::new(),
            fps: FpsSupport::OneOf(FPS.to_vec()),
            default_fps: options.frame_rate.unwrap_or(DEFAULT_FPS),
            max_prompt_chars: 2000,
            images: ImageLimits::default(),
            audio: false,
            seed: true,
            negative_prompt: true,
            price_summary: "free (local GPU)".to_owned(),
        };
        let pool = Arc::new(options.run.worker_pool("ltx-worker"));
        Self {
            pool,
            slots: Arc::new(options.run.slots()),
            install: if problems.is_empty() { install } else { None },
            options,
            static_problems: problems,
            caps,
            gpu,
            jobs: JobTable::default(),
        }
    }

    /// Stops the persistent worker, if one was started. Dropping the backend also stops it.
    pub async fn shutdown_worker(&self) {
        self.pool.shutdown().await;
    }

    fn prepare(&self, req: &GenerationRequest) -> Result<Prepared> {
        let mode = req.mode();
        let mut problems = Vec::new();
        if !self.caps.modes.contains(&mode) {
            problems.push(Problem::new(
                "mode",
                mode.short(),
                "t2v or i2v: this checkpoint (before 0.9.5) cannot condition on a last frame",
            ));
        }
        let aspect = req.effective_aspect(&[], AspectRatio::LANDSCAPE);
        let size = match req.resolution {
            Some(ResolutionSpec::Exact(r)) => r,
            spec => match size_table().pick(spec, aspect, req.aspect_ratio.is_some()) {
                Ok(r) => r,
                Err(p) => {
                    problems.push(p);
                    Resolution::new(1216, 704)
                }
            },
        };
        let settled = GenerationRequest {
            resolution: Some(ResolutionSpec::Exact(size)),
            aspect_ratio: None,
            ..req.clone()
        };
        if let Err(e) = self.caps.resolve(&settled) {
            problems.extend(e.problems().iter().cloned());
        }
        let fps = req.fps.unwrap_or(self.caps.default_fps);
        let frames = match (req.extra.get("num_frames"), req.duration) {
            (Some(v), _) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) if is_8n_plus_1(n) && (MIN_FRAMES..=MAX_FRAMES).contains(&n) => n,
                _ => {
                    problems.push(Problem::new(
                        "extra.num_frames",
                        v,
                        format!("an 8n+1 frame count from {MIN_FRAMES} to {MAX_FRAMES}"),
                    ));
                    DEFAULT_FRAMES
                }
            },
            (None, Some(d)) => nearest_8n_plus_1(d.frames_at(fps)).clamp(MIN_FRAMES, MAX_FRAMES),
            (None, None) => self.options.num_frames.unwrap_or(DEFAULT_FRAMES),
        };
        for key in req.extra.keys().filter(|k| *k != "num_frames") {
            problems.push(Problem::new(
                format!("extra.{key}"),
                &req.extra[key],
                "no such option: ltx takes num_frames",
            ));
        }
        if !problems.is_empty() {
            return Err(Error::invalid(problems).with_backend(NAME));
        }
        Ok(Prepared {
            resolved: Resolved {
                mode,
                duration: VideoDuration::from_millis(frames * 1000 / fps),
                resolution: size,
                fps,
                frames,
            },
            negative_prompt: req.negative_prompt.clone(),
        })
    }

    /// Whether to offload: configured, or read from free memory.
    fn offload(&self, needs: MemoryNeeds) -> Result<bool> {
        if let Some(forced) = self.options.offload_to_cpu {
            return Ok(forced);
        }
        let free = local::free_mib_now(&self.gpu)?;
        let plan = needs.plan(free).ok_or_else(|| {
            Error::new(
                ErrorKind::Unavailable,
                format!(
                    "LTX-Video needs about {} GiB free on one GPU even with offload; the GPU has \
                     {:.1} GiB free (set ltx_video.offload_to_cpu to override)",
                    needs.minimum_gib,
                    free as f64 / 1024.0
                ),
            )
        })?;
        Ok(plan.offload)
    }

    fn install(&self) -> Result<&Install> {
        match &self.install {
            Some(i) => Ok(i),
            None => Err(
                Error::new(ErrorKind::Unavailable, self.static_problems.join("; "))
                    .with_backend(NAME),
            ),
        }
    }

    /// The `inference.py` job for `req` in `dir`: the script's flags, and the pipeline
    /// config copy it will read (not written here).
    fn script_job(
        &self,
        req: &GenerationRequest,
        p: &Prepared,
        checkout: &Checkout,
        dir: &Path,
        seed: u64,
        offload: bool,
    ) -> LtxJob {
        let image = |name: &str, input: &crate::media::image::ImageInput| {
            dir.join(format!("{name}.{}", local::input_image_extension(input)))
        };
        let last = p.resolved.frames - 1;
        let conditioning = match (p.resolved.mode, &req.image, &req.last_frame) {
            (Mode::FirstLastFrame, Some(a), Some(b)) => {
                vec![(image("first_frame", a), 0), (image("last_frame", b), last)]
            }
            (Mode::ImageToVideo, Some(a), _) => vec![(image("image", a), 0)],
            _ => Vec::new(),
        };
        LtxJob {
            repo: checkout.repo.clone(),
            pipeline_config: dir.join("pipeline_config.yaml"),
            size: p.resolved.resolution,
            frames: p.resolved.frames,
            frame_rate: p.resolved.fps,
            prompt: req.prompt.clone(),
            negative_prompt: p.negative_prompt.clone(),
            seed,
            output_dir: dir.join("out"),
            conditioning,
            image_cond_noise_scale: self.options.image_cond_noise_scale,
            offload_to_cpu: offload,
            passes: checkout.config.passes(),
        }
    }

    /// The command a request would run, without running it (for displays and tests).
    pub fn command_for(
        &self,
        req: &GenerationRequest,
        job_dir: &Path,
    ) -> Result<local::CommandSpec> {
        let p = self.prepare(req)?;
        let Install::Script(checkout) = self.install()? else {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "diffusers_model runs in the persistent worker, not a command line",
            )
            .with_backend(NAME));
        };
        let offload = self.offload(memory(checkout.config.checkpoint().unwrap_or_default()))?;
        let job = self.script_job(req, &p, checkout, job_dir, req.seed.unwrap_or(0), offload);
        Ok(command::build(
            &job,
            &self.options.run.python,
            &local::Slot::whole_machine(),
        ))
    }

    /// The worker request for `req`: the script's defaults, the variant's sampling.
    pub fn worker_request_for(
        &self,
        req: &GenerationRequest,
        job_dir: &Path,
    ) -> Result<WorkerRequest> {
        let p = self.prepare(req)?;
        let Install::Worker {
            variant, upsampler, ..
        } = self.install()?
        else {
            return Err(
                Error::new(ErrorKind::Unsupported, "repo_dir runs inference.py").with_backend(NAME),
            );
        };
        Ok(self.worker_request(
            req,
            &p,
            *variant,
            upsampler.is_some(),
            job_dir,
            req.seed.unwrap_or(0),
        ))
    }

    fn worker_request(
        &self,
        req: &GenerationRequest,
        p: &Prepared,
        variant: Variant,
        multi_scale: bool,
        dir: &Path,
        seed: u64,
    ) -> WorkerRequest {
        let distilled = variant == Variant::Distilled;
        let steps = self.options.num_inference_steps.unwrap_or(if distilled {
            DISTILLED_TIMESTEPS.len() as u32
        } else {
            40
        });
        let mut r = WorkerRequest::new(
            req.prompt.clone(),
            p.resolved.resolution,
            p.resolved.frames,
            steps,
            seed,
            p.resolved.fps,
            dir.join("out").join("output.mp4"),
        );
        r.negative_prompt = Some(
            p.negative_prompt
                .clone()
                .unwrap_or_else(|| DEFAULT_NEGATIVE_PROMPT.to_owned()),
        );
        r.image_fit = ImageFit::Cover;
        let image = |name: &str, input: &crate::media::image::ImageInput| {
            dir.join(format!("{name}.{}", local::input_image_extension(input)))
        };
        match (p.resolved.mode, &req.image, &req.last_frame) {
            (Mode::FirstLastFrame, Some(a), Some(b)) => {
                r.image = Some(image("first_frame", a));
                r.last_image = Some(image("last_frame", b));
            }
            (Mode::ImageToVideo, Some(a), _) => r.image = Some(image("image", a)),
            _ => {}
        }
        r.guidance_scale =
            Some(
                self.options
                    .guidance_scale
                    .unwrap_or(if distilled { 1.0 } else { 3.0 }),
            );
        let args = &mut r.pipeline_args;
        args.insert("decode_timestep".into(), json!(0.05));
        args.insert("decode_noise_scale".into(), json!(0.025));
        args.insert(
            "image_cond_noise_scale".into(),
            json!(self.options.image_cond_noise_scale.unwrap_or(0.15)),
        );
        if distilled && self.options.num_inference_steps.is_none() {
            args.insert("timesteps".into(), json!(DISTILLED_TIMESTEPS));
        }
        if multi_scale {
            let mut second = BTreeMap::new();
            let mut upsample = BTreeMap::new();
            upsample.insert("adain_factor".to_owned(), json!(1.0));
            if distilled {
                second.insert("timesteps".to_owned(), json!(DISTILLED_REFINE_TIMESTEPS));
                second.insert("denoise_strength".to_owned(), json!(0.999));
                upsample.insert("tone_map_compression_ratio".to_owned(), json!(0.6));
            } else {
                second.insert("num_inference_steps".to_owned(), json!(10));
                second.insert("denoise_strength".to_owned(), json!(0.4));
            }
            r.refine = Some(RefinePass {
                downscale: DOWNSCALE,
                args: second,
                upsample_args: upsample,
                steps: 4,
            });
        }
        r
    }
}

fn worker_install(
    options: &LtxOptions,
    model: &Path,
    problems: &mut Vec<String>,
) -> Option<Install> {
    if !model.join("model_index.json").is_file() {
        problems.push(format!(
            "ltx_video.diffusers_model {} has no model_index.json; download a diffusers-format \
             LTX-Video 0.9.5 or later there (e.g. Lightricks/LTX-Video-0.9.8-13B-distilled)",
            model.display()
        ));
        return None;
    }
    if let Some(up) = &options.diffusers_upsampler
        && !up.join("model_index.json").is_file()
        && !up.join("config.json").is_file()
    {
        problems.push(format!(
            "ltx_video.diffusers_upsampler {} holds no diffusers latent upsampler (no \
             model_index.json); download e.g. Lightricks/ltxv-spatial-upscaler-0.9.7 there",
            up.display()
        ));
        return None;
    }
    for (key, set) in [
        ("enhance_prompt", options.enhance_prompt),
        ("text_encoder", options.text_encoder.is_some()),
    ] {
        if set {
            problems.push(format!(
                "ltx_video.{key} is an inference.py setting; diffusers_model (the worker) uses \
                 the model folder's own text encoder and never rewrites prompts; remove {key}"
            ));
        }
    }
    let named = model
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let variant = options.variant.unwrap_or(if named.contains("distilled") {
        Variant::Distilled
    } else {
        Variant::Dev
    });
    Some(Install::Worker {
        model: model.to_path_buf(),
        upsampler: options.diffusers_upsampler.clone(),
        variant,
    })
}

fn script_install(
    options: &LtxOptions,
    repo: &Path,
    problems: &mut Vec<String>,
) -> Option<Install> {
    if !repo.join("inference.py").is_file() {
        problems.push(format!(
            "ltx_video.repo_dir {} has no inference.py; set it to a checkout of \
             github.com/Lightricks/LTX-Video",
            repo.display()
        ));
        return None;
    }
    for (key, set) in [
        ("num_inference_steps", options.num_inference_steps.is_some()),
        ("guidance_scale", options.guidance_scale.is_some()),
        ("variant", options.variant.is_some()),
        ("diffusers_upsampler", options.diffusers_upsampler.is_some()),
    ] {
        if set {
            problems.push(format!(
                "ltx_video.{key} applies to diffusers_model (the worker); inference.py takes \
                 its sampling from the pipeline config: remove {key}, or pick a config"
            ));
        }
    }
    let path = if options.pipeline_config.components().count() > 1 {
        options.pipeline_config.clone()
    } else {
        // `ltxv-2b-0.9.8-distilled` means the file of that name in configs/.
        let mut name = options.pipeline_config.clone();
        if name.extension().is_none() {
            name.set_extension("yaml");
        }
        repo.join("configs").join(name)
    };
    let config = match PipelineConfig::read(&path) {
        Ok(c) => c,
        Err(e) => {
            problems.push(format!("ltx_video.pipeline_config: {e}"));
            return None;
        }
    };
    let models_dir = options
        .models_dir
        .clone()
        .unwrap_or_else(|| repo.to_path_buf());
    let missing: Vec<String> = config
        .weight_files(&models_dir)
        .into_iter()
        .filter(|f| !f.is_file())
        .map(|f| f.display().to_string())
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "LTX-Video weights missing for {}: {} (huggingface-cli download Lightricks/LTX-Video \
             <file> --local-dir {}; or set ltx_video.models_dir)",
            path.display(),
            missing.join(", "),
            models_dir.display()
        ));
        return None;
    }
    if let Some(te) = &options.text_encoder
        && !(te.join("text_encoder").is_dir() && te.join("tokenizer").is_dir())
    {
        problems.push(format!(
            "ltx_video.text_encoder {} needs text_encoder/ and tokenizer/ folders (a download of \
             PixArt-alpha/PixArt-XL-2-1024-MS)",
            te.display()
        ));
        return None;
    }
    Some(Install::Script(Checkout {
        repo: repo.to_path_buf(),
        config,
        models_dir,
    }))
}

/// GPU memory for one job, by model size read from the checkpoint or folder name. Estimates
/// (the README gives none): the 13B model in bf16 with its T5 encoder, the 2B one, and 13B in
/// fp8.
fn memory(name: &str) -> MemoryNeeds {
    let name = name.to_ascii_lowercase();
    if name.contains("2b") {
        MemoryNeeds {
            resident_gib: 16.0,
            offload_gib: 10.0,
            minimum_gib: 8.0,
        }
    } else if name.contains("fp8") {
        MemoryNeeds {
            resident_gib: 28.0,
            offload_gib: 18.0,
            minimum_gib: 14.0,
        }
    } else {
        MemoryNeeds {
            resident_gib: 44.0,
            offload_gib: 26.0,
            minimum_gib: 20.0,
        }
    }
}

/// Whether `frames` is a frame count LTX-Video's VAE produces: 8n+1.
pub fn is_8n_plus_1(frames: u32) -> bool {
    frames >= 1 && (frames - 1).is_multiple_of(8)
}

/// The 8n+1 frame count nearest to `frames` (ties go up).
pub fn nearest_8n_plus_1(frames: u32) -> u32 {
    8 * ((frames.saturating_sub(1) + 4) / 8) + 1
}

/// Writes the request's images into the job folder under the names the job uses.
async fn write_inputs(req: &GenerationRequest, mode: Mode, dir: &Path) -> Result<()> {
    let path = |name: &str, input: &crate::media::image::ImageInput| {
        dir.join(format!("{name}.{}", local::input_image_extension(input)))
    };
    match (mode, &req.image, &req.last_frame) {
        (Mode::FirstLastFrame, Some(a), Some(b)) => {
            local::write_input_image(a, &path("first_frame", a)).await?;
            local::write_input_image(b, &path("last_frame", b)).await
        }
        (Mode::ImageToVideo, Some(a), _) => local::write_input_image(a, &path("image", a)).await,
        _ => Ok(()),
    }
}

#[async_trait]
impl VideoBackend for Ltx {
    fn id(&self) -> &'static str {
        NAME
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Local
    }

    fn model(&self) -> Option<&str> {
        match &self.install {
            Some(Install::Script(c)) => c.config.checkpoint(),
            Some(Install::Worker { .. }) => Some("LTX-Video (diffusers)"),
            None => None,
        }
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn availability(&self) -> Availability {
        let name = match &self.install {
            Some(Install::Script(c)) => c.config.checkpoint().unwrap_or_default().to_owned(),
            Some(Install::Worker { model, .. }) => model.display().to_string(),
            None => String::new(),
        };
        let smallest = (self.options.offload_to_cpu.is_none())
            .then(|| ("LTX-Video", memory(&name).minimum_gib));
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
            "local GPU: LTX-Video, {} frames at {} and {} fps on 1 GPU",
            p.resolved.frames, p.resolved.resolution, p.resolved.fps
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
        let install = self.install()?.clone();
        let name = match &install {
            Install::Script(c) => c.config.checkpoint().unwrap_or_default().to_owned(),
            Install::Worker { model, .. } => model.display().to_string(),
        };
        let offload = self
            .offload(memory(&name))
            .map_err(|e| e.with_backend(NAME))?;
        let seed = req
            .seed
            .or(self.options.seed)
            .unwrap_or_else(local::fresh_seed);
        let (id, dir) = job::create_job_dir(&self.options.run.work_dir, NAME)?;
        let out = dir.join("out");
        std::fs::create_dir_all(&out)
            .map_err(|e| Error::io(format_args!("cannot create {}", out.display()), e))?;
        write_inputs(req, p.resolved.mode, &dir).await?;
        let ticket = |via: &str, steps: Vec<u64>| Ticket {
            backend: NAME.to_owned(),
            id: id.clone(),
            model: self.model().map(str::to_owned),
            data: json!({
                "via": via,
                "seed": seed,
                "job_dir": dir,
                "save_dir": out,
                "frames": p.resolved.frames,
                "passes": steps,
                "size": p.resolved.resolution.to_string(),
            }),
            submitted_at: chrono::Utc::now(),
        };
        match install {
            Install::Worker {
                model,
                upsampler,
                variant,
            } => {
                let load = LoadRequest {
                    pipeline: WorkerPipeline::Ltx,
                    model: model.display().to_string(),
                    device: None,
                    dtype: None,
                    offload,
                    upsampler: upsampler.as_ref().map(|u| u.display().to_string()),
                };
                let request =
                    self.worker_request(req, &p, variant, upsampler.is_some(), &dir, seed);
                let t = ticket("worker", Vec::new());
                self.jobs.insert(
                    self.pool
                        .start_job(id.clone(), NAME, dir.clone(), load, request),
                );
                Ok(t)
            }
            Install::Script(checkout) => {
                let job = self.script_job(req, &p, &checkout, &dir, seed, offload);
                let copy = checkout.config.for_job(
                    &checkout.models_dir,
                    self.options.text_encoder.as_deref(),
                    self.options.enhance_prompt,
                );
                let yaml = serde_saphyr::to_string(&copy).map_err(|e| {
                    Error::new(
                        ErrorKind::Io,
                        format!("cannot write the pipeline config: {e}"),
                    )
                })?;
                tokio::fs::write(&job.pipeline_config, yaml)
                    .await
                    .map_err(|e| {
                        Error::io(
                            format_args!("cannot write {}", job.pipeline_config.display()),
                            e,
                        )
                    })?;
                let t = ticket("script", job.passes.clone());
                let python = self.options.run.python.clone();
                let spec = JobSpec {
                    id: id.clone(),
                    backend: NAME,
                    dir: dir.clone(),
                    output: ExpectedOutput::Mp4In(out.clone()),
                    timeout: self.options.run.timeout,
                    steps: job.passes.clone(),
                    command: Box::new(move |slot| command::build(&job, &python, slot)),
                };
                self.jobs.insert(LocalJob::start(spec, self.slots.clone()));
                Ok(t)
            }
        }
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
