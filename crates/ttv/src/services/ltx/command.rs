//! The `inference.py` command line for one LTX-Video job, built as data.
//!
//! `python inference.py --prompt … --height H --width W --num_frames N --frame_rate R --seed S
//! --pipeline_config <job copy> --output_path <folder>`, plus `--conditioning_media_paths`
//! with `--conditioning_start_frames` for images (frame 0, and the last frame for first +
//! last), `--negative_prompt`, `--image_cond_noise_scale` and `--offload_to_cpu` when set.
//! The flags are `InferenceConfig`'s fields (`ltx_video/inference.py`), parsed by
//! transformers' `HfArgumentParser`: lists take several values after one flag, and a bool
//! flag alone means true. The script runs on one GPU; there is no multi-GPU launcher.

use std::path::PathBuf;

use crate::request::Resolution;
use crate::services::local::{CommandSpec, Slot};

/// What one job asks `inference.py` for, every value decided.
#[derive(Debug, Clone, PartialEq)]
pub struct LtxJob {
    /// The checkout (`inference.py` imports `ltx_video` from it).
    pub repo: PathBuf,
    /// `--pipeline_config`: the job's copy, with local weights filled in.
    pub pipeline_config: PathBuf,
    /// `--width` / `--height` (multiples of 32).
    pub size: Resolution,
    /// `--num_frames` (8n+1).
    pub frames: u32,
    /// `--frame_rate`.
    pub frame_rate: u32,
    /// `--prompt`.
    pub prompt: String,
    /// `--negative_prompt`; the script's default when `None`.
    pub negative_prompt: Option<String>,
    /// `--seed`.
    pub seed: u64,
    /// `--output_path`: a folder; the script names the file.
    pub output_dir: PathBuf,
    /// `--conditioning_media_paths` with their `--conditioning_start_frames`.
    pub conditioning: Vec<(PathBuf, u32)>,
    /// `--image_cond_noise_scale`; the script's 0.15 when `None`.
    pub image_cond_noise_scale: Option<f64>,
    /// `--offload_to_cpu`.
    pub offload_to_cpu: bool,
    /// The sampling passes' step counts (progress).
    pub passes: Vec<u64>,
}

/// Builds the command for `job` on `slot`, run by `python`.
pub fn build(job: &LtxJob, python: &std::path::Path, slot: &Slot) -> CommandSpec {
    let mut c = CommandSpec::new(python);
    c.arg("inference.py");
    c.cwd = Some(job.repo.clone());
    c.env("PYTHONUNBUFFERED", "1");
    if let Some(devices) = slot.visible_devices() {
        c.env("CUDA_VISIBLE_DEVICES", devices);
    }
    c.flag("--prompt", &job.prompt);
    if let Some(neg) = &job.negative_prompt {
        c.flag("--negative_prompt", neg);
    }
    c.flag("--height", job.size.height)
        .flag("--width", job.size.width)
        .flag("--num_frames", job.frames)
        .flag("--frame_rate", job.frame_rate)
        .flag("--seed", job.seed)
        .flag("--pipeline_config", job.pipeline_config.display())
        .flag("--output_path", job.output_dir.display());
    if !job.conditioning.is_empty() {
        c.arg("--conditioning_media_paths");
        for (path, _) in &job.conditioning {
            c.arg(path.display().to_string());
        }
        c.arg("--conditioning_start_frames");
        for (_, frame) in &job.conditioning {
            c.arg(frame.to_string());
        }
    }
    if let Some(scale) = job.image_cond_noise_scale {
        c.flag("--image_cond_noise_scale", scale);
    }
    if job.offload_to_cpu {
        c.arg("--offload_to_cpu");
    }
    c
}
